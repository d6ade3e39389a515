//! Entry points for the fuzz targets in `fuzz/` at the repository root (ARCHITECTURE.md, "Fuzz
//! a parser"), shared with the replay of their inputs in `tests/fuzz_inputs.rs`: each runs the
//! code that parses untrusted bytes (a stored dump, a server's replies) exactly as lifeboat
//! does. Hidden from the docs and not a stable API.

use crate::check::{digest_logical, digest_rdb};
use crate::rdb::RdbParser;
use crate::{ProtocolError, RedisError};

/// Parses `data` as an RDB file twice, as `verify` does (digest only) and as a restore does
/// (every value captured into a `DUMP` payload).
pub async fn rdb(data: &[u8]) -> Result<(), RedisError> {
    let verified = digest_rdb(data).await.map(|_| ());
    let mut parser = RdbParser::open(data, true).await?;
    while parser.next().await?.is_some() {}
    parser.expect_end().await?;
    verified
}

/// Reads `data` as a `redis-logical` dump, as `verify` and a restore do.
pub async fn logical(data: &[u8]) -> Result<(), RedisError> {
    digest_logical(data).await.map(|_| ())
}

/// Decodes `data` as a stream of RESP replies, as the raw connections do, and returns how
/// many replies it held. Panics if the codec breaks its own contract (a reply that consumes
/// nothing or more than it was given, a partial reply whose size hint is not past the data).
pub fn resp(data: &[u8]) -> Result<usize, ProtocolError> {
    let mut at = 0;
    let mut replies = 0;
    while at < data.len() {
        let mut need = 0;
        match crate::resp::parse(&data[at..], &mut need)? {
            Some((_, used)) => {
                assert!(used > 0 && used <= data.len() - at, "bad consumed count");
                at += used;
                replies += 1;
            }
            None => {
                assert!(need > data.len() - at, "a partial reply must ask for more");
                break;
            }
        }
    }
    Ok(replies)
}
