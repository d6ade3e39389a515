// Shared by the targets that run async code (included with `#[path]`): one current-thread
// runtime per process.

use std::future::Future;
use std::sync::OnceLock;

/// Runs `f` to completion on the process's runtime.
pub fn block_on<F: Future>(f: F) -> F::Output {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a tokio runtime")
    })
    .block_on(f)
}
