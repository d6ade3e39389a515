//! [`Rig`]: a scratch folder with one storage (`main`: fs, or S3 behind a fault proxy) and
//! the sources the kill points run: `big`, a files source large enough that a kill lands
//! mid-stream, and `small`, for the prune points.

use lifeboat_testing::FaultProxy;

use crate::harness::{runtime, s3_addr, write_noise, Bucket, Scratch};

/// The kind of the storage under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A local folder, `./backups`.
    Fs,
    /// A bucket on the test S3 server, reached through a fault proxy.
    S3,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Fs => "fs",
            Kind::S3 => "s3",
        })
    }
}

/// The size of `big`'s noise file: at the debug binary's pace (checksums, compression) a
/// backup of it takes about half a second, so kill points land inside the stream.
pub const BIG_BYTES: usize = 8 << 20;

/// A scratch folder and its storage.
pub struct Rig {
    /// The folder and its config.
    pub scratch: Scratch,
    /// The storage's kind.
    pub kind: Kind,
    /// For S3: the proxy in front of the server (passing; it measures the bytes).
    pub proxy: Option<FaultProxy>,
    /// For S3: the bucket.
    pub bucket: Option<Bucket>,
}

impl Rig {
    /// A rig on `kind` with `retention` for both sources, or `None` when S3 is unavailable
    /// (and not required).
    pub fn new(kind: Kind, retention: &str, seed: u64) -> Option<Rig> {
        let scratch = Scratch::new();
        let (storage, proxy, bucket) = match kind {
            Kind::Fs => (
                "kind = \"fs\"\nroot = \"./backups\"\n".to_owned(),
                None,
                None,
            ),
            Kind::S3 => {
                let bucket = Bucket::create("lifeboat-faults")?;
                let proxy = runtime()
                    .block_on(FaultProxy::start(s3_addr()))
                    .expect("starting the fault proxy");
                (bucket.storage_toml(&proxy.url()), Some(proxy), Some(bucket))
            }
        };
        // zstd in the pipeline (no worker threads): one core per run, two runs at once.
        scratch.write_config(&format!(
            "[storage.main]\n{storage}\n[compression]\nalgorithm = \"zstd\"\nlevel = 1\nworkers = 0\n\n\
             [[sources]]\nname = \"big\"\nkind = \"files\"\npaths = [\"data\"]\nretention = {retention}\n\n\
             [[sources]]\nname = \"small\"\nkind = \"files\"\npaths = [\"little\"]\nretention = {retention}\n"
        ));
        write_noise(&scratch.join("data/big.bin"), BIG_BYTES, seed);
        for i in 0..16u64 {
            write_noise(
                &scratch.join(&format!("data/sub/file-{i}.bin")),
                4096 + i as usize * 512,
                seed ^ i,
            );
        }
        write_noise(&scratch.join("little/a.bin"), 32 * 1024, seed ^ 0xa);
        write_noise(&scratch.join("little/b.bin"), 16 * 1024, seed ^ 0xb);
        Some(Rig {
            scratch,
            kind,
            proxy,
            bucket,
        })
    }

    /// Bytes uploaded so far: the fs temp folder's content, or what the proxy forwarded up.
    pub fn uploaded(&self) -> u64 {
        match &self.proxy {
            Some(proxy) => proxy.stats().bytes_up,
            None => crate::harness::dir_bytes(&self.scratch.join("backups/.lifeboat-tmp")),
        }
    }

    /// Whether `source`'s lock is held (a killed run's stays behind).
    pub fn locked(&self, source: &str) -> bool {
        let key = format!("{source}/lock.json");
        match &self.bucket {
            Some(bucket) => bucket.objects().iter().any(|(k, _)| *k == key),
            None => self.scratch.join(&format!("backups/{key}")).exists(),
        }
    }

    /// The storage's leftovers given what `list --json` shows.
    pub fn leftovers(&self, listed: &[serde_json::Value]) -> crate::harness::Leftovers {
        match &self.bucket {
            Some(bucket) => bucket.leftovers(listed),
            None => crate::harness::fs_leftovers(&self.scratch.join("backups"), listed),
        }
    }
}
