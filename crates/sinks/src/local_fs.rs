//! Private permissions on a local fs storage (README.md, "What a backup is"): directories 0700,
//! files 0600.
//!
//! Without `unsafe` there is no umask to set, so lifeboat creates every directory itself with
//! an explicit mode (before OpenDAL would create it with the default 0777 & ~umask), and every
//! file it writes is created 0600 (`create_new` with a mode: uploads in `local_writer`, small
//! objects in [`link_if_absent`]), so no file is ever more open, not even in the temp folder.

use std::io;
use std::path::Path;

/// Mode of the directories lifeboat creates.
pub const DIR_MODE: u32 = 0o700;

/// Mode of the files lifeboat writes.
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` and its missing parents with mode 0700. Existing directories are left alone.
#[cfg_attr(not(feature = "fs"), allow(dead_code))]
pub fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(DIR_MODE);
    }
    builder.create(dir)
}

/// Async [`create_private_dir_all`].
pub async fn create_private_dir_all_async(dir: &Path) -> io::Result<()> {
    let mut builder = tokio::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    builder.mode(DIR_MODE);
    builder.create(dir).await
}

/// Sets the mode of an existing directory to 0700.
#[cfg_attr(not(feature = "fs"), allow(dead_code))]
pub fn make_dir_private(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(DIR_MODE))
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// Creates `target` holding `data` only if it does not exist, atomically and never partially
/// visible: the data is written and synced to a fresh file in `tmp_dir` (same filesystem),
/// which is then hard-linked to `target`; `link(2)` fails if `target` exists. Returns whether
/// this call created it. On a filesystem without hard links (e.g. FAT), falls back to an
/// exclusive create (`O_EXCL`) of `target` written in place, still atomic as to who creates it,
/// but a reader may briefly see it incomplete.
pub async fn link_if_absent(tmp_dir: &Path, target: &Path, data: &[u8]) -> io::Result<bool> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);

    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let temp = tmp_dir.join(format!(
        "create-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    write_new_private(&temp, data).await?;
    let linked = tokio::fs::hard_link(&temp, target).await;
    // The temp name is ours alone; failing to remove it only leaves a stray temp file.
    let _ = tokio::fs::remove_file(&temp).await;
    match linked {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(link) => match write_new_private(target, data).await {
            Ok(()) => Ok(true),
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(create) => Err(io::Error::new(
                create.kind(),
                ExclusiveCreateFailed { create, link },
            )),
        },
    }
}

/// Both ways [`link_if_absent`] creates a file failed: the hard link, then the exclusive
/// create it falls back to (whose error is the cause).
#[derive(Debug, thiserror::Error)]
#[error("{create} (after hard link failed: {link})")]
struct ExclusiveCreateFailed {
    /// Why the exclusive create failed.
    #[source]
    create: io::Error,
    /// Why the hard link failed first.
    link: io::Error,
}

/// Creates `path` (which must not exist) with mode 0600, writes `data` and syncs it.
async fn write_new_private(path: &Path, data: &[u8]) -> io::Result<()> {
    use tokio::io::AsyncWriteExt;

    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(FILE_MODE);
    let mut file = options.open(path).await?;
    let written = async {
        file.write_all(data).await?;
        file.sync_all().await
    }
    .await;
    if written.is_err() {
        // We created it: leave no incomplete file behind.
        drop(file);
        let _ = tokio::fs::remove_file(path).await;
    }
    written
}
