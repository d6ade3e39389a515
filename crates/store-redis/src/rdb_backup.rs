//! The `rdb` backup: the snapshot streamed from the server ([`crate::repl`]) into the
//! pipeline, while an in-process parser checks it (magic, every opcode and value, CRC64) and
//! computes the key digest for the manifest.

use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::digest::{type_name, KeyDigest};
use crate::endpoint::Endpoint;
use crate::options::Mode;
use crate::rdb::{Item, RdbParser};
use crate::{repl, RedisError, RedisMetadata};

/// Streams a snapshot of `ep` to `out` and returns what the parser found.
pub(crate) async fn rdb_backup(
    ep: &Endpoint,
    out: &mut (dyn AsyncWrite + Send + Unpin),
) -> Result<RedisMetadata, RedisError> {
    let (pipe_w, pipe_r) = tokio::io::duplex(256 * 1024);
    let transfer = async move {
        let mut pipe_w = pipe_w;
        let r = repl::snapshot(ep, out, &mut pipe_w).await;
        let _ = pipe_w.shutdown().await;
        r
    };
    let parse = async move {
        let mut parser = RdbParser::open(pipe_r, false).await?;
        let mut digest = KeyDigest::default();
        let mut functions = 0u64;
        while let Some(item) = parser.next().await? {
            match item {
                Item::Entry(e) => {
                    digest.add(e.db, &e.key, type_name(e.rdb_type), e.expire_ms.is_some())
                }
                Item::Function(_) => functions += 1,
            }
        }
        parser.expect_end().await?;
        Ok::<_, RedisError>((parser.version, parser.checksum_verified, digest, functions))
    };
    // A failed transfer explains the parser's failure (its stream stopped early); the
    // parser's own finding (a corrupt snapshot) comes from a transfer that went on to its end
    // (the tee ignores a parser that stopped).
    let (t, (version, checksum, digest, functions)) = match tokio::join!(transfer, parse) {
        (Err(e), _) | (Ok(_), Err(e)) => return Err(e),
        (Ok(t), Ok(p)) => (t, p),
    };
    Ok(RedisMetadata {
        mode: Some(Mode::Rdb),
        point_in_time: true,
        rdb_version: Some(version),
        rdb_bytes: Some(t.bytes),
        diskless: Some(t.diskless),
        checksum_verified: Some(checksum),
        functions: Some(functions),
        ..RedisMetadata::of_keys(&digest)
    })
}
