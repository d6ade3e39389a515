//! Names of restore drills' scratch databases and vhosts that say whose they are.
//!
//! A drill killed outright cannot drop what it created on a server. So the name of each
//! scratch object carries its creation time and its owner — a hash of the host, a hash of
//! the boot, the pid — and the next drill on any host drops the ones whose owner is provably
//! gone (README "Stores", `verify --deep`):
//!
//! ```text
//! <prefix><unix seconds, 10 digits>_<host hash 6 hex><boot hash 4 hex>_<pid>_<6 random [a-z0-9]>
//! lifeboat_verify_1764892800_3fa9c1b20e_4242_k3x9a0
//! ```
//!
//! [`ScratchName::orphaned`] says which are orphans: made on this host in an earlier boot,
//! or in this boot by a pid that no longer exists, or older than [`FOREIGN_STALE_AFTER`]
//! (another host's drill, or a pid now alive again that cannot be proven to be the owner).
//! Only names of exactly this shape are ever considered, so a user's `lifeboat_verify_orders`
//! is never one. At 52 bytes with the prefix above, a name leaves room for `_<n>` in
//! PostgreSQL's 63-byte identifiers.

use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::process::ProcRoot;

/// How old a scratch object of another host (or of a pid that looks alive) must be before any
/// drill drops it: far longer than a drill runs.
pub const FOREIGN_STALE_AFTER: Duration = Duration::days(7);

const RANDOM_LEN: usize = 6;

/// The parts of a scratch name (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScratchName {
    /// When it was made, unix seconds.
    pub created: i64,
    /// 6 hex digits of the host name's hash.
    pub host: String,
    /// 4 hex digits of the boot id's hash.
    pub boot: String,
    /// The owner's pid.
    pub pid: u32,
    /// What followed the random part (a bundle's `_<n>`), without the leading `_`.
    pub rest: String,
}

/// This host's hash and this boot's, as names carry them.
fn host_and_boot(proc: &ProcRoot) -> (String, String) {
    let hash = |text: &str| hex::encode(Sha256::digest(text.as_bytes()));
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    let boot = proc.boot_id().unwrap_or_default();
    (hash(&host)[..6].to_owned(), hash(&boot)[..4].to_owned())
}

/// A new scratch name for this process: `<prefix><time>_<host><boot>_<pid>_<random>`.
pub fn new_name(prefix: &str) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    let random: String = (0..RANDOM_LEN)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect();
    let (host, boot) = host_and_boot(&ProcRoot::default());
    format!(
        "{prefix}{:010}_{host}{boot}_{}_{random}",
        OffsetDateTime::now_utc().unix_timestamp(),
        std::process::id()
    )
}

impl ScratchName {
    /// Parses `name` if it is exactly `<prefix>` and the shape above (then `_<anything>`).
    pub fn parse(prefix: &str, name: &str) -> Option<Self> {
        let body = name.strip_prefix(prefix)?;
        let mut parts = body.splitn(5, '_');
        let created = parts.next()?;
        let tag = parts.next()?;
        let pid = parts.next()?;
        let random = parts.next()?;
        let rest = match parts.next() {
            None => "",
            Some("") => return None,
            Some(rest) => rest,
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let ok = created.len() == 10
            && digits(created)
            && tag.len() == 10
            && tag.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            && digits(pid)
            && pid.len() <= 10
            && random.len() == RANDOM_LEN
            && random
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !ok {
            return None;
        }
        Some(Self {
            created: created.parse().ok()?,
            host: tag[..6].to_owned(),
            boot: tag[6..].to_owned(),
            pid: pid.parse().ok()?,
            rest: rest.to_owned(),
        })
    }

    /// Why this object's drill is gone, or `None` if it may still run.
    pub fn orphaned(&self) -> Option<String> {
        self.orphaned_in(&ProcRoot::default(), OffsetDateTime::now_utc())
    }

    fn orphaned_in(&self, proc: &ProcRoot, now: OffsetDateTime) -> Option<String> {
        let (host, boot) = host_and_boot(proc);
        if self.host == host && proc.available() {
            if self.boot != boot {
                return Some("its drill ran before this host rebooted".into());
            }
            if proc.alive(self.pid) == Some(false) {
                return Some(format!("its drill (pid {}) is gone", self.pid));
            }
        }
        let age = now.unix_timestamp().saturating_sub(self.created);
        (age > FOREIGN_STALE_AFTER.whole_seconds())
            .then(|| format!("it is older than {FOREIGN_STALE_AFTER}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "lifeboat_verify_";

    #[test]
    fn new_names_parse_back_and_fit_postgres() {
        let name = new_name(P);
        assert!(name.len() <= 52, "{name}");
        let parsed = ScratchName::parse(P, &name).unwrap();
        assert_eq!(parsed.pid, std::process::id());
        assert_eq!(parsed.rest, "");
        let part = ScratchName::parse(P, &format!("{name}_12")).unwrap();
        assert_eq!(part.rest, "12");
        assert_ne!(new_name(P), name);
    }

    #[test]
    fn user_names_are_never_scratch_names() {
        for name in [
            "lifeboat_verify_orders",
            "lifeboat_verify_1764892800_3fa9c1b20e_4242",
            "lifeboat_verify_1764892800_3fa9c1b20e_4242_k3x9a",
            "lifeboat_verify_1764892800_3fa9c1b20E_4242_k3x9a0",
            "lifeboat_verify_176489280_3fa9c1b20e_4242_k3x9a0",
            "lifeboat_verify_1764892800_3fa9c1b20e_x_k3x9a0",
            "lifeboat_verify_1764892800_3fa9c1b20e_4242_k3x9a0_",
            "my_lifeboat_verify_1764892800_3fa9c1b20e_4242_k3x9a0",
            "lifeboat_verify_20261121t020000z_3f9a1c_k3x9a0qz",
        ] {
            assert_eq!(ScratchName::parse(P, name), None, "{name}");
        }
        assert!(
            ScratchName::parse(P, "lifeboat_verify_1764892800_3fa9c1b20e_4242_k3x9a0").is_some()
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn orphans_are_told_by_host_boot_pid_and_age() {
        let now = OffsetDateTime::now_utc();
        let mine = ScratchName::parse(P, &new_name(P)).unwrap();
        // This process's own: never an orphan while fresh.
        let proc = ProcRoot::default();
        assert_eq!(mine.orphaned(), None);
        // Its pid gone: an orphan at once.
        let dead = ScratchName {
            pid: 4_000_000_000,
            ..mine.clone()
        };
        assert!(dead.orphaned_in(&proc, now).unwrap().contains("gone"));
        // An earlier boot of this host.
        let rebooted = ScratchName {
            boot: if mine.boot == "0000" { "0001" } else { "0000" }.into(),
            ..mine.clone()
        };
        assert!(rebooted
            .orphaned_in(&proc, now)
            .unwrap()
            .contains("rebooted"));
        // Another host's: only by age, whatever its pid.
        let foreign = ScratchName {
            host: if mine.host == "000000" {
                "000001"
            } else {
                "000000"
            }
            .into(),
            pid: 4_000_000_000,
            ..mine.clone()
        };
        assert_eq!(foreign.orphaned_in(&proc, now), None);
        assert!(foreign
            .orphaned_in(&proc, now + Duration::days(8))
            .is_some());
    }
}
