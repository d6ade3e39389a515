// Shared by the targets (included with `#[path]`): one current-thread runtime per process.

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

/// An error's text (with its causes) must be bounded and free of control characters, whatever
/// the input: stored bytes never reach a terminal raw.
#[allow(dead_code)]
pub fn assert_shown_safely(err: &dyn std::error::Error) {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    assert!(
        text.len() < 4096,
        "an error of {} bytes: {:.200}",
        text.len(),
        text
    );
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "an error with a control character: {text:?}"
    );
}
