//! `restore --to PATH`: the raw RDB written to a staged file beside `PATH` while a parser
//! checks it (magic, every value, CRC64), renamed over `PATH` only once the whole stream was
//! read and checked (ARCHITECTURE.md, invariant 3).

use std::path::Path;
use std::time::Instant;

use backup_core::{Report, RestoreOptions};
use lifeboat_edge::staged::{Replace, StageError, StagedFile};
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use crate::check::digest_rdb;
use crate::digest::KeyDigest;
use crate::RedisError;

/// The mode of a restored `dump.rdb`: it holds every key of the backup.
const FILE_MODE: u32 = 0o600;

/// Writes the RDB read from `input` to `path` (or, for a dry run, only checks it).
pub(crate) async fn restore_file(
    path: &Path,
    input: &mut (dyn AsyncRead + Send + Unpin),
    o: &RestoreOptions,
) -> Result<Report, RedisError> {
    let started = Instant::now();
    let stage_err = |source| RedisError::Stage {
        path: path.to_path_buf(),
        source,
    };
    let (summary, bytes) = if o.dry_run {
        tee_check(input, None).await?
    } else {
        let staged = StagedFile::beside(path, FILE_MODE).map_err(stage_err)?;
        let mut file = staged.tokio_file().map_err(stage_err)?;
        let checked = tee_check(input, Some(&mut file)).await?;
        // The async handle may still hold a write in flight.
        file.flush().await.map_err(RedisError::Output)?;
        drop(file);
        let replace = if o.force {
            Replace::Always
        } else {
            Replace::Never
        };
        staged.commit(replace).map_err(|e| match e {
            StageError::Exists { .. } => RedisError::TargetNotEmpty {
                target: path.display().to_string(),
                what: "the file exists".into(),
            },
            other => stage_err(other),
        })?;
        checked
    };
    Ok(Report {
        summary: if o.dry_run {
            format!(
                "dry run: would write a {bytes}-byte dump.rdb ({} keys) to {}; nothing was changed",
                summary.keys(),
                path.display()
            )
        } else {
            format!(
                "wrote {} ({bytes} bytes, {} keys); load it by placing it as the server's dump.rdb (dir/dbfilename) while the server is stopped",
                path.display(),
                summary.keys()
            )
        },
        details: json!({
            "path": path.display().to_string(),
            "bytes": bytes,
            "keys": summary.keys(),
            "keys_per_db": summary.per_db_json(),
            "dry_run": o.dry_run,
            "restore_ms": started.elapsed().as_millis() as u64,
        }),
    })
}

/// Reads `input` to EOF, writing it to `file` (if any) while a parser checks it.
///
/// Its own loop rather than `lifeboat_edge::copy`: the bytes go to two outputs, and one of
/// them, the parser's pipe, may close early without that being the copy's failure (the
/// parser then reports what it found).
async fn tee_check(
    input: &mut (dyn AsyncRead + Send + Unpin),
    mut file: Option<&mut tokio::fs::File>,
) -> Result<(KeyDigest, u64), RedisError> {
    let (pipe_w, pipe_r) = tokio::io::duplex(256 * 1024);
    let copy = async move {
        let mut pipe_w = pipe_w;
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        loop {
            let n = input.read(&mut buf).await.map_err(RedisError::Input)?;
            if n == 0 {
                break;
            }
            if let Some(f) = file.as_mut() {
                f.write_all(&buf[..n]).await.map_err(RedisError::Output)?;
            }
            if pipe_w.write_all(&buf[..n]).await.is_err() {
                break; // the parser stopped: its error is reported
            }
            total += n as u64;
        }
        let _ = pipe_w.shutdown().await;
        Ok::<_, RedisError>(total)
    };
    let parse = async move { digest_rdb(pipe_r).await };
    let (c, p) = tokio::join!(copy, parse);
    let total = c?;
    let (digest, _) = p?;
    Ok((digest, total))
}
