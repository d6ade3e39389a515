//! [`fake_tool`]: a stand-in for a client tool (`pg_dump`, `pg_restore`...) that misbehaves on
//! cue, put first on `PATH` or in a store's `bin_dir`.

use std::path::{Path, PathBuf};

/// The line that hands `--version` to the real tool, for fakes that must pass the version
/// check.
pub const REAL_VERSION: &str = "if [ \"$1\" = --version ]; then exec \"$REAL\" --version; fi";

/// Writes an executable bash script `dir/name` running `body`, in which `$REAL` is the real
/// tool of that name on `PATH` (empty when there is none), and returns its path.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let tool = lifeboat_testing::fake_tool(dir.path(), "pg_dump", "echo 'pg_dump (PostgreSQL) 9.6'");
/// let out = std::process::Command::new(&tool).arg("--version").output()?;
/// assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "pg_dump (PostgreSQL) 9.6");
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn fake_tool(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let real = std::process::Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .unwrap_or_default();
    let script = dir.join(name);
    let text = format!("#!/bin/bash\nREAL='{real}'\n{body}\n");
    std::fs::write(&script, text)
        .unwrap_or_else(|err| panic!("cannot write {}: {err}", script.display()));
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|err| panic!("cannot chmod {}: {err}", script.display()));
    script
}
