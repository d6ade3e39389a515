//! What every fault test uses: the seed, a scratch folder with a config and the binary run
//! with a hang guard or killed on cue, the catalog as `list --json` shows it, the leftovers
//! of a storage, a throw-away S3 bucket and the runtime the fault proxies run on.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::Value;

/// The environment variable that replays a run: its seed.
pub const SEED_VAR: &str = "LIFEBOAT_FAULT_SEED";

/// The environment variable for the number of kill points per group (benches set it high).
pub const RUNS_VAR: &str = "FAULT_RUNS";

/// The environment variable naming another `lifeboat` binary to run (a release build, for
/// the benches); default: the one this test was built with.
pub const BIN_VAR: &str = "LIFEBOAT_FAULT_BIN";

/// How long any one command may take before the test calls it hung and kills it (far above
/// what any of them needs; a hang is the failure being looked for, not slowness).
pub const HANG_GUARD: Duration = Duration::from_secs(300);

/// The seed of one test, printed at its start and again if it fails.
pub struct Seed {
    /// The seed.
    pub value: u64,
    test: &'static str,
}

impl Seed {
    /// The seed for `test`: `LIFEBOAT_FAULT_SEED` if set, else a fresh one; and the test's own
    /// generator (the seed mixed with the test's name, so tests do not share one stream).
    pub fn new(test: &'static str) -> (Seed, StdRng) {
        let value = match std::env::var(SEED_VAR) {
            Ok(text) => text
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("{SEED_VAR}={text:?} is not a u64")),
            Err(_) => rand::random(),
        };
        eprintln!("{test}: seed {value} (replay with {SEED_VAR}={value})");
        let mixed = test.bytes().fold(value, |h: u64, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        (Seed { value, test }, StdRng::seed_from_u64(mixed))
    }
}

impl Drop for Seed {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "{}: FAILED with seed {}; replay with {SEED_VAR}={} cargo test -p lifeboat-cli --test faults {}",
                self.test, self.value, self.value, self.test
            );
        }
    }
}

/// Kill points per group: `FAULT_RUNS`, else `default` (the CI's short mode).
pub fn runs(default: usize) -> usize {
    std::env::var(RUNS_VAR)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// The runtime the fault proxies and S3 helpers run on, shared by every test of the binary
/// (the tests themselves block on the processes they run).
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}

/// What a finished command did.
#[derive(Debug)]
pub struct Ran {
    /// The exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// Its stdout.
    pub stdout: String,
    /// Its stderr.
    pub stderr: String,
}

impl Ran {
    /// Panics, with both outputs, unless the exit code is `code`.
    #[track_caller]
    pub fn expect_code(&self, code: i32, what: &str) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "{what}: expected exit {code}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

/// How a command that was to be killed ended.
#[derive(Debug)]
pub enum Killed {
    /// Killed with SIGKILL while it ran.
    Killed,
    /// It finished before the kill point came.
    Finished(ExitStatus),
}

/// A scratch folder holding `lifeboat.toml`; the binary runs there.
pub struct Scratch {
    /// The folder (removed on drop).
    pub dir: tempfile::TempDir,
    spawned: std::cell::Cell<u32>,
}

impl Scratch {
    /// An empty scratch folder.
    pub fn new() -> Scratch {
        Scratch {
            dir: tempfile::tempdir().expect("a temp dir"),
            spawned: std::cell::Cell::new(0),
        }
    }

    /// The folder's path.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A path inside the folder.
    pub fn join(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// Writes `lifeboat.toml`.
    pub fn write_config(&self, text: &str) {
        std::fs::write(self.join("lifeboat.toml"), text).expect("writing the config");
    }

    /// The binary with `args`, in the folder, with the test S3 credentials in its environment
    /// and nothing inherited that would change its behaviour.
    pub fn command(&self, args: &[&str]) -> Command {
        let bin = std::env::var_os(BIN_VAR).map_or_else(
            || PathBuf::from(env!("CARGO_BIN_EXE_lifeboat")),
            PathBuf::from,
        );
        let mut cmd = Command::new(bin);
        cmd.current_dir(self.path())
            .args(args)
            .env_remove("LIFEBOAT_CONFIG")
            .env_remove("LIFEBOAT_LOG")
            .env("NO_COLOR", "1")
            .env("TEST_S3_KEY", "test")
            .env("TEST_S3_SECRET", "test")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `args` to the end (killed and failed past [`HANG_GUARD`]).
    pub fn run(&self, args: &[&str]) -> Ran {
        self.run_guarded(args, HANG_GUARD)
    }

    /// Runs `args` to the end; past `guard` it is killed and the test fails (the command hung).
    pub fn run_guarded(&self, args: &[&str], guard: Duration) -> Ran {
        let (mut child, out, err) = self.spawn_logged(args);
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("waiting for lifeboat") {
                break status;
            }
            if started.elapsed() > guard {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "`lifeboat {}` still ran after {guard:?}: it hangs\n--- stderr\n{}",
                    args.join(" "),
                    std::fs::read_to_string(&err).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let ran = Ran {
            code: status.code(),
            stdout: std::fs::read_to_string(&out).unwrap_or_default(),
            stderr: std::fs::read_to_string(&err).unwrap_or_default(),
        };
        let _ = std::fs::remove_file(out);
        let _ = std::fs::remove_file(err);
        ran
    }

    /// Runs `args` and kills it (SIGKILL) as soon as `due` says so, checking every
    /// millisecond; returns how it ended and its stderr.
    pub fn run_and_kill(
        &self,
        args: &[&str],
        mut due: impl FnMut(Duration) -> bool,
    ) -> (Killed, String) {
        let (mut child, out, err) = self.spawn_logged(args);
        let started = Instant::now();
        let ended = loop {
            if let Some(status) = child.try_wait().expect("waiting for lifeboat") {
                break Killed::Finished(status);
            }
            if due(started.elapsed()) {
                kill(&mut child);
                break Killed::Killed;
            }
            assert!(
                started.elapsed() < HANG_GUARD,
                "`lifeboat {}` neither finished nor reached its kill point",
                args.join(" ")
            );
            std::thread::sleep(Duration::from_millis(1));
        };
        let stderr = std::fs::read_to_string(&err).unwrap_or_default();
        let _ = std::fs::remove_file(out);
        let _ = std::fs::remove_file(err);
        (ended, stderr)
    }

    /// Starts `args` with stdout and stderr in files of the folder (no pipe to fill).
    fn spawn_logged(&self, args: &[&str]) -> (Child, PathBuf, PathBuf) {
        let n = self.spawned.get() + 1;
        self.spawned.set(n);
        let out = self.join(&format!(".run-{n}.out"));
        let err = self.join(&format!(".run-{n}.err"));
        let child = self
            .command(args)
            .stdout(std::fs::File::create(&out).expect("a log file"))
            .stderr(std::fs::File::create(&err).expect("a log file"))
            .spawn()
            .expect("starting lifeboat");
        (child, out, err)
    }

    /// `lifeboat list --json [args]`, which must succeed.
    pub fn list(&self, args: &[&str]) -> Vec<Value> {
        let mut full = vec!["list", "--json"];
        full.extend_from_slice(args);
        let ran = self.run(&full);
        ran.expect_code(0, "list");
        serde_json::from_str(&ran.stdout).expect("list --json prints JSON")
    }

    /// The ids `list --json [args]` shows.
    pub fn ids(&self, args: &[&str]) -> Vec<String> {
        ids(&self.list(args))
    }

    /// Verifies every backup listed (each id, in every storage holding it): all must pass.
    /// Returns how many were verified.
    pub fn verify_all(&self, listed: &[Value]) -> usize {
        for backup in listed {
            let source = backup["source"].as_str().expect("a source");
            let id = backup["id"].as_str().expect("an id");
            self.run(&["verify", source, "--id", id])
                .expect_code(0, &format!("verify {source} --id {id}"));
        }
        listed.len()
    }
}

/// SIGKILL, then reap.
fn kill(child: &mut Child) {
    // `Child::kill` is SIGKILL on Unix: no handler runs, exactly a crash.
    let _ = child.kill();
    let _ = child.wait();
}

/// The ids of a `list --json` array.
pub fn ids(listed: &[Value]) -> Vec<String> {
    listed
        .iter()
        .map(|b| b["id"].as_str().expect("an id").to_owned())
        .collect()
}

/// Writes `len` bytes of incompressible noise to `path` (a fast generator seeded by `seed`).
pub fn write_noise(path: &Path, len: usize, seed: u64) {
    let mut state = seed | 1;
    let mut data = Vec::with_capacity(len + 8);
    while data.len() < len {
        // xorshift64*: plenty for bytes zstd cannot shrink.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        data.extend_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    data.truncate(len);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("a folder for the noise");
    }
    std::fs::write(path, data).expect("writing noise");
}

/// Bytes of every file under `path` (0 if it does not exist; entries vanishing during the
/// walk are skipped: the folder may be written to while it is measured).
pub fn dir_bytes(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&entry.path()),
            Ok(t) if t.is_file() => entry.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

/// A folder's tree as relative path → (size, a digest of the content), to compare trees.
pub fn tree(path: &Path) -> BTreeMap<String, (u64, u64)> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, (u64, u64)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .expect("reading a tree")
            .flatten()
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let relative = path
                .strip_prefix(root)
                .expect("inside the root")
                .display()
                .to_string();
            if entry.file_type().expect("a type").is_dir() {
                out.insert(format!("{relative}/"), (0, 0));
                walk(root, &path, out);
            } else {
                let bytes = std::fs::read(&path).expect("reading a file");
                let digest = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                    (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
                });
                out.insert(relative, (bytes.len() as u64, digest));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(path, path, &mut out);
    out
}

/// What a storage holds that is not part of a listed backup.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Leftovers {
    /// Files (or objects) outside every listed backup, temp files and stale locks included.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Empty folders that are not lifeboat's own (`<root>`, `<root>/.lifeboat-tmp`,
    /// `<root>/<source>`), e.g. a killed backup's `<source>/<id>/`.
    pub empty_dirs: u64,
    /// Open multipart uploads (S3).
    pub uploads: u64,
    /// Their paths, for the failure message.
    pub names: Vec<String>,
}

impl Leftovers {
    /// `N B in F files, D empty folders, U open uploads`, for the summaries.
    pub fn line(&self) -> String {
        format!(
            "{} B in {} files, {} empty folders, {} open uploads",
            self.bytes, self.files, self.empty_dirs, self.uploads
        )
    }

    /// Whether there is nothing left over.
    pub fn is_empty(&self) -> bool {
        self.files == 0 && self.bytes == 0 && self.empty_dirs == 0 && self.uploads == 0
    }
}

/// The leftovers of the fs storage at `root`, given the backups `list --json` shows: every
/// file or empty folder under the root that is not `<source>/<id>/*` of a listed backup.
pub fn fs_leftovers(root: &Path, listed: &[Value]) -> Leftovers {
    let kept: Vec<PathBuf> = listed
        .iter()
        .map(|b| {
            root.join(b["source"].as_str().expect("a source"))
                .join(b["id"].as_str().expect("an id"))
        })
        .collect();
    let mut found = Leftovers::default();
    fn walk(root: &Path, dir: &Path, kept: &[PathBuf], found: &mut Leftovers) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let entries: Vec<_> = entries.flatten().collect();
        let own = dir == root
            || dir.parent() == Some(root)
            || dir.file_name().is_some_and(|n| n == ".lifeboat-tmp");
        if entries.is_empty() && !own {
            found.empty_dirs += 1;
            found.names.push(format!("{}/", dir.display()));
        }
        for entry in entries {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => walk(root, &path, kept, found),
                Ok(_) => {
                    if !kept.iter().any(|k| path.parent() == Some(k.as_path())) {
                        found.files += 1;
                        found.bytes += entry.metadata().map_or(0, |m| m.len());
                        found.names.push(path.display().to_string());
                    }
                }
                Err(_) => {}
            }
        }
    }
    walk(root, root, &kept, &mut found);
    found
}

/// Sets the modification time of everything under `path` back by `by`: what the leftovers of
/// a killed run look like once the leftover grace has passed.
pub fn age_tree(path: &Path, by: Duration) {
    let Ok(entries) = std::fs::read_dir(path) else {
        return;
    };
    for entry in entries.flatten() {
        let p = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            age_tree(&p, by);
        }
        let when = SystemTime::now() - by;
        if let Ok(file) = std::fs::File::open(&p) {
            let _ = file.set_times(
                std::fs::FileTimes::new()
                    .set_modified(when)
                    .set_accessed(when),
            );
        }
    }
}

/// The S3 endpoint of the tests.
pub fn s3_endpoint() -> String {
    std::env::var("LIFEBOAT_TEST_S3_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:9000".into())
}

/// The S3 server's address, for a proxy in front of it.
pub fn s3_addr() -> std::net::SocketAddr {
    let endpoint = s3_endpoint();
    let host = endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    std::net::ToSocketAddrs::to_socket_addrs(&host)
        .ok()
        .and_then(|mut a| a.next())
        .unwrap_or_else(|| panic!("LIFEBOAT_TEST_S3_ENDPOINT {endpoint} is not host:port"))
}

/// A fresh bucket on the test S3 server, emptied and removed on drop.
pub struct Bucket {
    /// Its name.
    pub name: String,
    client: reqwest::Client,
}

impl Bucket {
    /// Creates a bucket named after `prefix`, or `None` (after
    /// [`lifeboat_testing::service_unavailable`]) when the server is unreachable.
    pub fn create(prefix: &str) -> Option<Bucket> {
        let name = format!("{prefix}-{:08x}", rand::random::<u32>());
        let client = reqwest::Client::new();
        let url = format!("{}/{name}", s3_endpoint());
        match runtime().block_on(client.put(&url).send()) {
            Ok(response) if response.status().is_success() => Some(Bucket { name, client }),
            Ok(response) => panic!("creating bucket {name} failed: {}", response.status()),
            Err(err) => {
                lifeboat_testing::service_unavailable(format_args!(
                    "S3 server at {} unreachable ({err})",
                    s3_endpoint()
                ));
                None
            }
        }
    }

    /// A `[storage.NAME]` body for this bucket at `endpoint` (a proxy's URL, or the server's).
    pub fn storage_toml(&self, endpoint: &str) -> String {
        format!(
            "kind = \"s3\"\nbucket = \"{}\"\nendpoint = \"{endpoint}\"\nregion = \"us-east-1\"\n\
             access_key_id = \"${{TEST_S3_KEY}}\"\nsecret_access_key = \"${{TEST_S3_SECRET}}\"\n",
            self.name
        )
    }

    fn get(&self, query: &str) -> String {
        let url = format!("{}/{}?{query}", s3_endpoint(), self.name);
        runtime().block_on(async {
            let response = self.client.get(&url).send().await.expect("S3 listing");
            assert!(
                response.status().is_success(),
                "{url}: {}",
                response.status()
            );
            response.text().await.expect("S3 listing body")
        })
    }

    /// Every object: key and size.
    pub fn objects(&self) -> Vec<(String, u64)> {
        let body = self.get("list-type=2&max-keys=1000");
        assert!(
            !body.contains("<IsTruncated>true"),
            "more than 1000 objects"
        );
        xml_items(&body, "Contents")
            .into_iter()
            .map(|item| {
                let key = xml_field(item, "Key").to_owned();
                let size = xml_field(item, "Size").parse().expect("an object size");
                (key, size)
            })
            .collect()
    }

    /// The open multipart uploads: key and upload id.
    pub fn uploads(&self) -> Vec<(String, String)> {
        let body = self.get("uploads");
        xml_items(&body, "Upload")
            .into_iter()
            .map(|item| {
                (
                    xml_field(item, "Key").to_owned(),
                    xml_field(item, "UploadId").to_owned(),
                )
            })
            .collect()
    }

    /// The bucket's leftovers given the backups `list --json` shows: objects outside every
    /// listed backup's folder, and open multipart uploads.
    pub fn leftovers(&self, listed: &[Value]) -> Leftovers {
        let kept: Vec<String> = listed
            .iter()
            .map(|b| {
                format!(
                    "{}/{}/",
                    b["source"].as_str().expect("a source"),
                    b["id"].as_str().expect("an id")
                )
            })
            .collect();
        let mut found = Leftovers::default();
        for (key, size) in self.objects() {
            if !kept.iter().any(|k| key.starts_with(k.as_str())) {
                found.files += 1;
                found.bytes += size;
                found.names.push(key);
            }
        }
        for (key, _) in self.uploads() {
            found.uploads += 1;
            found.names.push(format!("upload of {key}"));
        }
        found
    }
}

impl Drop for Bucket {
    fn drop(&mut self) {
        let base = format!("{}/{}", s3_endpoint(), self.name);
        let (objects, uploads) = if std::thread::panicking() {
            (Vec::new(), Vec::new())
        } else {
            (self.objects(), self.uploads())
        };
        runtime().block_on(async {
            for (key, _) in objects {
                let _ = self.client.delete(format!("{base}/{key}")).send().await;
            }
            for (key, id) in uploads {
                let _ = self
                    .client
                    .delete(format!("{base}/{key}?uploadId={id}"))
                    .send()
                    .await;
            }
            let _ = self.client.delete(&base).send().await;
        });
    }
}

/// The bodies of every `<tag>...</tag>` in `xml`.
fn xml_items<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut items = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let body = &rest[start + open.len()..];
        let Some(end) = body.find(&close) else { break };
        items.push(&body[..end]);
        rest = &body[end + close.len()..];
    }
    items
}

/// The text of the first `<tag>` in `xml` (empty if none).
fn xml_field<'a>(xml: &'a str, tag: &str) -> &'a str {
    xml_items(xml, tag).first().copied().unwrap_or("")
}

/// A tmpfs mounted on a folder of its own, unmounted on drop (lazily if still busy).
pub struct Tmpfs {
    /// The mount point.
    pub path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (`"8m"`), or `None` (after
    /// [`lifeboat_testing::service_unavailable`]) when mounting is not allowed (not root).
    pub fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().expect("a mount point");
        let path = dir.path().join("mnt");
        std::fs::create_dir(&path).expect("a mount point");
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(&path)
            .output();
        match out {
            Ok(out) if out.status.success() => Some(Tmpfs { path, _dir: dir }),
            Ok(out) => {
                lifeboat_testing::service_unavailable(format_args!(
                    "cannot mount a tmpfs (needs root): {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
                None
            }
            Err(err) => {
                lifeboat_testing::service_unavailable(format_args!("cannot run mount: {err}"));
                None
            }
        }
    }

    /// Remounts it read-only (`true`) or read-write.
    pub fn set_read_only(&self, read_only: bool) {
        let option = if read_only {
            "remount,ro"
        } else {
            "remount,rw"
        };
        let out = Command::new("mount")
            .args(["-o", option])
            .arg(&self.path)
            .output()
            .expect("running mount");
        assert!(
            out.status.success(),
            "mount -o {option}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.path)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        }
    }
}
