//! [`Cause`]: an error's cause chain re-told with rewritten texts, shared by the wrappers that
//! clean an error for display (`shown::Shown`, `Scrubbed`) while keeping the original for
//! `downcast`.

use std::error::Error;
use std::fmt;

/// One level of a rewritten cause chain: its text, and the next cause.
#[derive(Debug)]
pub(crate) struct Cause {
    text: String,
    next: Option<Box<Cause>>,
}

impl Cause {
    /// The causes of `error` (not `error` itself), each text passed through `rewrite`.
    pub(crate) fn chain_of(
        error: &(dyn Error + 'static),
        mut rewrite: impl FnMut(String) -> String,
    ) -> Option<Box<Cause>> {
        let mut texts = Vec::new();
        let mut next = error.source();
        while let Some(cause) = next {
            texts.push(rewrite(cause.to_string()));
            next = cause.source();
        }
        texts
            .into_iter()
            .rev()
            .fold(None, |next, text| Some(Box::new(Cause { text, next })))
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Error for Cause {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.next
            .as_deref()
            .map(|cause| cause as &(dyn Error + 'static))
    }
}
