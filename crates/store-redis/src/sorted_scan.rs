//! The [`KeySorter`]'s file I/O run off the async runtime: the async side of the bounded key
//! set a logical backup and a restore drill both scan into (ARCHITECTURE.md, invariant 6).

use crate::key_sorter::{KeySorter, SortedKeys};
use crate::RedisError;

/// Runs `work` on `value` in a blocking task (the sorter's file I/O) and hands `value` back.
pub(crate) async fn blocking<T, F>(mut value: T, work: F) -> Result<T, RedisError>
where
    T: Send + 'static,
    F: FnOnce(&mut T) -> Result<(), crate::SpillError> + Send + 'static,
{
    let outcome = tokio::task::spawn_blocking(move || work(&mut value).map(|()| value)).await;
    Ok(outcome.map_err(RedisError::KeySorterTask)??)
}

/// The next batch of up to `n` keys.
pub(crate) async fn next_batch(
    keys: SortedKeys,
    n: usize,
) -> Result<(SortedKeys, Vec<Vec<u8>>), RedisError> {
    let outcome = tokio::task::spawn_blocking(move || {
        let mut keys = keys;
        keys.batch(n).map(|batch| (keys, batch))
    })
    .await;
    Ok(outcome.map_err(RedisError::KeySorterTask)??)
}

/// The keys a sorter gathered, sorted and each once.
pub(crate) async fn finish(sorter: KeySorter) -> Result<SortedKeys, RedisError> {
    let sorted = tokio::task::spawn_blocking(move || sorter.finish()).await;
    Ok(sorted.map_err(RedisError::KeySorterTask)??)
}
