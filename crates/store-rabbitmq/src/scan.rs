//! A streaming scanner for a definitions document (`GET /api/definitions`): it is fed the
//! document chunk by chunk and hands back each top-level field and each element of each
//! top-level array (`"queues": [ {...}, {...} ]`) as raw JSON bytes, so memory stays at one
//! element however many queues a broker has. The elements are then parsed with serde_json,
//! which checks them fully; the scanner checks the structure around them.

/// One piece of a definitions document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    /// A top-level field whose value is not an array, e.g. `"rabbitmq_version": "3.10.8"`.
    Field {
        /// The key.
        key: String,
        /// The value's raw JSON.
        raw: Vec<u8>,
    },
    /// A top-level array starts, e.g. `"queues": [`.
    SectionStart(String),
    /// One element of the top-level array `section`.
    Element {
        /// The array's key.
        section: String,
        /// The element's raw JSON.
        raw: Vec<u8>,
    },
}

/// Where the scanner is in the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the opening `{`.
    Start,
    /// After `{` or `,` at the top level: a key (or `}` when `first`).
    Key { first: bool },
    /// Inside a top-level key string.
    InKey { escape: bool },
    /// After a key: `:`.
    Colon,
    /// After `:`: a value.
    Value,
    /// Capturing a non-array top-level value.
    InField,
    /// After a value: `,` or `}`.
    AfterValue,
    /// Inside a top-level array: an element (or `]` when `first`).
    Element { first: bool },
    /// Capturing an element.
    InElement,
    /// After an element: `,` or `]`.
    AfterElement,
    /// After the closing `}`: only whitespace.
    Done,
}

/// Capturing one JSON value byte by byte until it ends.
#[derive(Debug, Default)]
struct Capture {
    raw: Vec<u8>,
    depth: u32,
    in_string: bool,
    escape: bool,
    /// A number or literal: ends at the first delimiter, which is not part of it.
    scalar: bool,
}

impl Capture {
    /// Feeds `b`; returns `Some(consumed)` when the value is complete (`consumed` false: `b`
    /// ends a scalar and belongs to the outer structure).
    fn push(&mut self, b: u8) -> Option<bool> {
        if self.raw.is_empty() {
            self.raw.push(b);
            match b {
                b'{' | b'[' => self.depth = 1,
                b'"' => self.in_string = true,
                _ => self.scalar = true,
            }
            return None;
        }
        if self.scalar {
            if matches!(b, b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r') {
                return Some(false);
            }
            self.raw.push(b);
            return None;
        }
        self.raw.push(b);
        if self.in_string {
            if self.escape {
                self.escape = false;
            } else if b == b'\\' {
                self.escape = true;
            } else if b == b'"' {
                self.in_string = false;
                if self.depth == 0 {
                    return Some(true);
                }
            }
            return None;
        }
        match b {
            b'"' => self.in_string = true,
            b'{' | b'[' => self.depth += 1,
            b'}' | b']' => {
                self.depth = self.depth.saturating_sub(1);
                if self.depth == 0 {
                    return Some(true);
                }
            }
            _ => {}
        }
        None
    }

    fn take(&mut self) -> Vec<u8> {
        let raw = std::mem::take(&mut self.raw);
        *self = Capture::default();
        raw
    }
}

/// The streaming scanner. Feed it with [`Scanner::feed`], then call [`Scanner::finish`].
#[derive(Debug)]
pub(crate) struct Scanner {
    state: State,
    key: Vec<u8>,
    section: String,
    capture: Capture,
    offset: u64,
    /// The largest element or field accepted, in bytes.
    max_value: usize,
}

/// A structural error of a definitions document, with the byte offset where it was found.
#[derive(Debug, thiserror::Error)]
#[error("{reason} at byte {offset}{}", cause.as_ref().map(|e| format!(": {e}")).unwrap_or_default())]
pub struct ScanError {
    /// What is wrong.
    pub reason: String,
    /// Where, counting from 0.
    pub offset: u64,
    /// The parser's error, for a top-level key that is not a JSON string.
    #[source]
    pub cause: Option<serde_json::Error>,
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

impl Scanner {
    /// A scanner for one document; values larger than `max_value` bytes are an error.
    pub fn new(max_value: usize) -> Self {
        Self {
            state: State::Start,
            key: Vec::new(),
            section: String::new(),
            capture: Capture::default(),
            offset: 0,
            max_value,
        }
    }

    fn err(&self, reason: impl Into<String>) -> ScanError {
        ScanError {
            reason: reason.into(),
            offset: self.offset,
            cause: None,
        }
    }

    /// Feeds the next chunk; complete pieces are appended to `events`.
    pub fn feed(&mut self, chunk: &[u8], events: &mut Vec<Event>) -> Result<(), ScanError> {
        for &b in chunk {
            self.byte(b, events)?;
            self.offset += 1;
        }
        Ok(())
    }

    fn byte(&mut self, b: u8, events: &mut Vec<Event>) -> Result<(), ScanError> {
        match self.state {
            State::Start => match b {
                b'{' => self.state = State::Key { first: true },
                b if is_ws(b) => {}
                _ => return Err(self.err("expected `{` opening the definitions")),
            },
            State::Key { first } => match b {
                b'"' => {
                    self.key.clear();
                    self.key.push(b'"');
                    self.state = State::InKey { escape: false };
                }
                b'}' if first => self.state = State::Done,
                b if is_ws(b) => {}
                _ => return Err(self.err("expected a key")),
            },
            State::InKey { escape } => {
                self.key.push(b);
                if self.key.len() > 1024 {
                    return Err(self.err("a top-level key longer than 1024 bytes"));
                }
                if escape {
                    self.state = State::InKey { escape: false };
                } else if b == b'\\' {
                    self.state = State::InKey { escape: true };
                } else if b == b'"' {
                    self.state = State::Colon;
                }
            }
            State::Colon => match b {
                b':' => self.state = State::Value,
                b if is_ws(b) => {}
                _ => return Err(self.err("expected `:` after a key")),
            },
            State::Value => match b {
                b'[' => {
                    self.section = self.key_text()?;
                    events.push(Event::SectionStart(self.section.clone()));
                    self.state = State::Element { first: true };
                }
                b if is_ws(b) => {}
                b',' | b'}' | b']' | b':' => return Err(self.err("expected a value")),
                _ => {
                    self.state = State::InField;
                    self.capture_byte(b, events)?;
                }
            },
            State::InField | State::InElement => self.capture_byte(b, events)?,
            State::AfterValue => match b {
                b',' => self.state = State::Key { first: false },
                b'}' => self.state = State::Done,
                b if is_ws(b) => {}
                _ => return Err(self.err("expected `,` or `}` after a value")),
            },
            State::Element { first } => match b {
                b']' if first => self.state = State::AfterValue,
                b if is_ws(b) => {}
                b',' | b'}' | b']' | b':' => return Err(self.err("expected an array element")),
                _ => {
                    self.state = State::InElement;
                    self.capture_byte(b, events)?;
                }
            },
            State::AfterElement => match b {
                b',' => self.state = State::Element { first: false },
                b']' => self.state = State::AfterValue,
                b if is_ws(b) => {}
                _ => return Err(self.err("expected `,` or `]` after an array element")),
            },
            State::Done => {
                if !is_ws(b) {
                    return Err(self.err("data after the end of the definitions document"));
                }
            }
        }
        Ok(())
    }

    fn capture_byte(&mut self, b: u8, events: &mut Vec<Event>) -> Result<(), ScanError> {
        let done = self.capture.push(b);
        if self.capture.raw.len() > self.max_value {
            return Err(self.err(format!("a value larger than {} bytes", self.max_value)));
        }
        let Some(consumed) = done else {
            return Ok(());
        };
        let raw = self.capture.take();
        let in_element = self.state == State::InElement;
        if in_element {
            events.push(Event::Element {
                section: self.section.clone(),
                raw,
            });
            self.state = State::AfterElement;
        } else {
            events.push(Event::Field {
                key: self.key_text()?,
                raw,
            });
            self.state = State::AfterValue;
        }
        if !consumed {
            // The delimiter that ended a scalar belongs to the structure around it.
            self.byte(b, events)?;
        }
        Ok(())
    }

    fn key_text(&self) -> Result<String, ScanError> {
        serde_json::from_slice::<String>(&self.key).map_err(|e| ScanError {
            cause: Some(e),
            ..self.err("bad key")
        })
    }

    /// Checks that the document ended where it should (a scalar at the very end is flushed).
    pub fn finish(&mut self, events: &mut Vec<Event>) -> Result<(), ScanError> {
        if self.state == State::Done {
            return Ok(());
        }
        Err(self.err(if self.offset == 0 {
            "the definitions document is empty".to_string()
        } else {
            let _ = events;
            "the definitions document is truncated (no closing `}`)".to_string()
        }))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;
    use serde_json::{json, Value};

    fn scan_chunks(doc: &[u8], chunk: usize) -> Result<Vec<Event>, ScanError> {
        let mut scanner = Scanner::new(1 << 20);
        let mut events = Vec::new();
        for part in doc.chunks(chunk.max(1)) {
            scanner.feed(part, &mut events)?;
        }
        scanner.finish(&mut events)?;
        Ok(events)
    }

    /// Rebuilds the document from the events.
    fn rebuild(events: &[Event]) -> Value {
        let mut map = serde_json::Map::new();
        for e in events {
            match e {
                Event::Field { key, raw } => {
                    map.insert(key.clone(), serde_json::from_slice(raw).unwrap());
                }
                Event::SectionStart(s) => {
                    map.insert(s.clone(), Value::Array(vec![]));
                }
                Event::Element { section, raw } => {
                    if let Some(Value::Array(a)) = map.get_mut(section) {
                        a.push(serde_json::from_slice(raw).unwrap());
                    }
                }
            }
        }
        Value::Object(map)
    }

    #[test]
    fn scans_a_real_export() {
        let doc = br#"{"rabbit_version":"3.10.8","n":12,"t":true,"users":[{"name":"guest","tags":["administrator"]}],"vhosts":[{"name":"/"}],"queues":[],"bindings":[ {"a":"x\"]}"} , 3 ,"s"] }  "#;
        let events = scan_chunks(doc, 1).unwrap();
        assert_eq!(
            rebuild(&events),
            serde_json::from_slice::<Value>(doc.trim_ascii()).unwrap()
        );
        assert!(matches!(&events[1], Event::Field { key, raw } if key == "n" && raw == b"12"));
    }

    #[test]
    fn refuses_broken_documents() {
        for doc in [
            &b""[..],
            b"[]",
            b"{\"a\":[1,2}",
            b"{\"a\":[1,2]",
            b"{\"a\" 1}",
            b"{\"a\":1}x",
            b"{\"a\":[,]}",
            b"{\"a\":1,}",
        ] {
            assert!(
                scan_chunks(doc, 3).is_err(),
                "{}",
                String::from_utf8_lossy(doc)
            );
        }
        assert!(scan_chunks(b"{}", 1).unwrap().is_empty());
    }

    #[test]
    fn refuses_oversized_values() {
        let mut scanner = Scanner::new(8);
        let mut events = Vec::new();
        assert!(scanner
            .feed(br#"{"queues":[{"name":"a long name"}]}"#, &mut events)
            .is_err());
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            "[ -~\\\\\"\u{e9}\u{1F600}]{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-z\"\\\\]{0,6}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn round_trips_any_document(
            fields in prop::collection::btree_map("[a-z_\"]{1,8}", json_value(), 0..5),
            sections in prop::collection::btree_map("[A-Z]{1,8}", prop::collection::vec(json_value(), 0..5), 0..4),
            pretty in any::<bool>(),
            chunk in 1usize..64,
        ) {
            let mut map = serde_json::Map::new();
            for (k, v) in fields { if !v.is_array() { map.insert(k, v); } }
            for (k, v) in sections { map.insert(k, Value::Array(v)); }
            let doc = Value::Object(map);
            let text = if pretty { serde_json::to_vec_pretty(&doc).unwrap() } else { serde_json::to_vec(&doc).unwrap() };
            let events = scan_chunks(&text, chunk).unwrap();
            prop_assert_eq!(rebuild(&events), doc);
        }

        #[test]
        fn truncation_is_always_detected(
            sections in prop::collection::vec(json_value(), 1..5),
            cut in 0.0f64..1.0,
        ) {
            let text = serde_json::to_vec(&json!({"queues": sections})).unwrap();
            let at = ((text.len() as f64) * cut) as usize;
            prop_assume!(at < text.len());
            prop_assert!(scan_chunks(&text[..at], 7).is_err());
        }
    }
}
