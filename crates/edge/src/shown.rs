//! Showing bytes read from storage (or sent by a server) in a message: escaped and capped.
//!
//! A tampered object can hold anything: terminal escape sequences, a bidi override, a line
//! break that forges a log line, megabytes of text. Every error that quotes such bytes shows
//! them through [`excerpt`] (a name, a value) or wraps a parser's error in [`Shown`], so a
//! message says what was wrong and where, never more than a short, printable excerpt.

use std::error::Error;
use std::fmt::{self, Write as _};

use crate::cause_chain::Cause;

/// The most characters of stored text [`excerpt`] shows.
pub const EXCERPT_CHARS: usize = 64;

/// The most characters of a parser's message [`Shown`] keeps (it quotes excerpts itself).
pub const MESSAGE_CHARS: usize = 240;

/// Whether `c` must not reach a terminal or a log line as it is: control characters (C0, DEL,
/// C1) and the invisible characters that reorder or hide text (bidi controls, zero widths).
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// `text` with every unsafe character escaped (`\n`, `\u{1b}`), cut after `max` characters
/// (escapes count at their escaped length), with `…` where it was cut.
fn clean(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max + 8));
    let mut shown = 0;
    for c in text.chars() {
        let piece: String = if is_unsafe(c) {
            c.escape_debug().collect()
        } else {
            c.to_string()
        };
        let width = piece.chars().count();
        if shown + width > max {
            out.push('…');
            return out;
        }
        out.push_str(&piece);
        shown += width;
    }
    out
}

/// Bytes from storage as a short printable excerpt: invalid UTF-8 as `\xNN`, unsafe
/// characters escaped, at most [`EXCERPT_CHARS`] characters, and the full length when cut.
///
/// ```
/// use lifeboat_edge::shown::excerpt;
///
/// assert_eq!(excerpt(b"orders"), "orders");
/// assert_eq!(excerpt(b"\x1b[2Jred\n"), "\\u{1b}[2Jred\\n");
/// assert!(excerpt(&[b'a'; 10_000]).ends_with("… (10000 bytes)"));
/// ```
pub fn excerpt(bytes: &[u8]) -> String {
    let mut text = String::new();
    for chunk in bytes.utf8_chunks() {
        text.push_str(chunk.valid());
        for b in chunk.invalid() {
            // A byte that is not UTF-8, as `\xNN` (a backslash is printable: `clean` keeps it).
            let _ = write!(text, "\\x{b:02x}");
        }
        if text.len() > EXCERPT_CHARS * 8 {
            break;
        }
    }
    let mut out = clean(&text, EXCERPT_CHARS);
    if out.ends_with('…') {
        let _ = write!(out, " ({} bytes)", bytes.len());
    }
    out
}

/// A longer text from storage or a server (a recorded summary, a parser's message): unsafe
/// characters escaped, at most [`MESSAGE_CHARS`] characters.
pub fn message(text: &str) -> String {
    clean(text, MESSAGE_CHARS)
}

/// [`excerpt`] of a string.
pub fn excerpt_str(text: &str) -> String {
    excerpt(text.as_bytes())
}

/// A parser's error about bytes from storage (serde_json's `unknown variant `…``, `invalid
/// type: string "…"`), whose text quotes those bytes: shown with unsafe characters escaped and
/// cut at [`MESSAGE_CHARS`], its causes likewise. The original stays reachable with
/// [`Shown::get`] for typed matching (a line and column, an error category).
///
/// ```
/// use lifeboat_edge::shown::Shown;
///
/// // A JSON string may hold an escape sequence as `\u001b`.
/// let bad = serde_json::from_str::<u8>(r#""\u001b]0;owned\u0007""#).unwrap_err();
/// let err = Shown::new(bad);
/// assert!(!err.to_string().contains('\u{1b}'));
/// assert_eq!(err.get::<serde_json::Error>().map(|e| e.line()), Some(1));
/// ```
pub struct Shown(Box<Inner>);

/// Boxed, so that an error enum holding a [`Shown`] stays as small as one holding the
/// parser's own (boxed) error.
struct Inner {
    original: Box<dyn Error + Send + Sync>,
    text: String,
    cause: Option<Box<Cause>>,
}

impl Shown {
    /// Wraps `error`, cleaning its text and its causes'.
    pub fn new(error: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        let original = error.into();
        let text = clean(&original.to_string(), MESSAGE_CHARS);
        let cause = Cause::chain_of(original.as_ref(), |text: String| {
            clean(&text, MESSAGE_CHARS)
        });
        Self(Box::new(Inner {
            original,
            text,
            cause,
        }))
    }

    /// The wrapped error, if it is a `T`.
    pub fn get<T: Error + 'static>(&self) -> Option<&T> {
        self.0.original.downcast_ref::<T>()
    }
}

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.text)
    }
}

impl fmt::Debug for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the original's Debug: it may hold the whole blob.
        f.debug_tuple("Shown").field(&self.0.text).finish()
    }
}

impl Error for Shown {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.0
            .cause
            .as_deref()
            .map(|cause| cause as &(dyn Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_escape_and_cap() {
        assert_eq!(excerpt(b"a\xffb"), "a\\xffb");
        assert_eq!(excerpt("x\u{202E}y".as_bytes()), "x\\u{202e}y");
        assert_eq!(excerpt(b"line\r\nforged"), "line\\r\\nforged");
        let long = excerpt(&[b'z'; 1 << 20]);
        assert!(long.len() < 100, "{long}");
        assert!(long.ends_with("… (1048576 bytes)"));
        // Escapes count at their escaped width, so the cap holds for any input.
        let escapes = excerpt(&[0x1b; 1000]);
        assert!(escapes.chars().count() < 90, "{escapes}");
        assert!(!escapes.chars().any(char::is_control));
    }

    #[test]
    fn parser_errors_are_cleaned_and_kept() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        enum Kind {
            Zstd,
        }
        let json = format!("\"\\u001b[31m{}\"", "A".repeat(100_000));
        let err = Shown::new(serde_json::from_str::<Kind>(&json).unwrap_err());
        let text = err.to_string();
        assert!(
            text.starts_with("unknown variant `\\u{1b}[31mAAA"),
            "{text}"
        );
        assert!(text.chars().count() <= MESSAGE_CHARS + 1, "{text}");
        assert!(!format!("{err:?}").contains('\u{1b}'));
        assert!(err.get::<serde_json::Error>().is_some());
    }
}
