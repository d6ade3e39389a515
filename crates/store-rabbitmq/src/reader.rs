//! [`DumpReader`]: reads a dump of either format for restore, `verify` and drills, checking
//! its structure as it goes (see [`crate::format`] for the formats).

use std::collections::BTreeMap;

use lifeboat_edge::shown::{excerpt_str, Shown};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};

use crate::definitions::{Definitions, MAX_OBJECT_BYTES};
use crate::error::{Malformed, RabbitmqError};
use crate::fields::json_to_table;
use crate::format::{DumpFormat, Header, Line, MessageRecord, Trailer, MESSAGES_HEADER_FORMAT};
use crate::scan::{Event, Scanner};

/// The largest message line accepted on restore (a 128 MiB message, the broker's maximum,
/// grows by a third in base64).
const MAX_LINE_BYTES: usize = 180 << 20;

/// Reads a dump of either format: the definitions first, then (messages format) the messages
/// one by one, checking the structure as it goes.
pub(crate) struct DumpReader<'a> {
    input: BufReader<&'a mut (dyn AsyncRead + Send + Unpin)>,
    format: DumpFormat,
    line: u64,
    header: Option<Header>,
    /// Messages seen per (vhost, queue), in order of first appearance.
    seen: Vec<((String, String), u64)>,
    total: u64,
    trailer: Option<Trailer>,
}

impl<'a> DumpReader<'a> {
    /// A reader of a dump in `format`.
    pub fn new(input: &'a mut (dyn AsyncRead + Send + Unpin), format: DumpFormat) -> Self {
        Self {
            input: BufReader::with_capacity(256 << 10, input),
            format,
            line: 0,
            header: None,
            seen: Vec::new(),
            total: 0,
            trailer: None,
        }
    }

    /// The error for `problem`, at the current line of a messages dump.
    fn bad(&self, problem: impl Into<Malformed>) -> RabbitmqError {
        RabbitmqError::Format {
            format: self.format.name(),
            line: (self.has_messages() && self.line > 0).then_some(self.line),
            problem: problem.into(),
        }
    }

    /// The error for a problem described in this crate's words.
    fn invalid(&self, reason: impl Into<String>) -> RabbitmqError {
        self.bad(Malformed::invalid(reason))
    }

    /// Whether the dump holds messages.
    pub fn has_messages(&self) -> bool {
        self.format == DumpFormat::Messages
    }

    /// Reads the definitions, handing each scanner event to `on_event` (which may keep or
    /// count it), with bounded memory.
    pub async fn read_definitions(
        &mut self,
        mut on_event: impl FnMut(Event) -> Result<(), Malformed>,
    ) -> Result<(), RabbitmqError> {
        if self.has_messages() {
            let line = self
                .read_line()
                .await?
                .ok_or_else(|| self.invalid("the dump is empty"))?;
            match serde_json::from_slice::<Line>(&line) {
                Ok(Line::Header(h)) if h.format == MESSAGES_HEADER_FORMAT => self.header = Some(h),
                Ok(Line::Header(h)) => {
                    return Err(self.invalid(format!(
                        "unknown header format `{}`",
                        excerpt_str(&h.format)
                    )))
                }
                _ => return Err(self.invalid("the first line is not a lifeboat-rabbitmq header")),
            }
            self.line += 1;
        }
        let mut scanner = Scanner::new(MAX_OBJECT_BYTES);
        let mut events = Vec::new();
        let one_line = self.has_messages();
        loop {
            let buf = self.input.fill_buf().await.map_err(RabbitmqError::Input)?;
            if buf.is_empty() {
                break;
            }
            let (part, end_of_line) = if one_line {
                match buf.iter().position(|&b| b == b'\n') {
                    Some(i) => (&buf[..i], Some(i + 1)),
                    None => (buf, None),
                }
            } else {
                (buf, None)
            };
            let used = end_of_line.unwrap_or(part.len());
            let result = scanner.feed(part, &mut events);
            self.input.consume(used);
            result.map_err(|e| self.bad(e))?;
            for event in events.drain(..) {
                on_event(event).map_err(|e| self.bad(e))?;
            }
            if end_of_line.is_some() {
                break;
            }
        }
        // A definitions-only dump: the scanner accepts only whitespace after the document.
        scanner.finish(&mut events).map_err(|e| self.bad(e))?;
        for event in events.drain(..) {
            on_event(event).map_err(|e| self.bad(e))?;
        }
        Ok(())
    }

    /// Reads the whole definitions document into memory (see [`Definitions`] for why).
    pub async fn read_all_definitions(&mut self) -> Result<Definitions, RabbitmqError> {
        let mut defs = Definitions::default();
        self.read_definitions(|e| defs.add(e)).await?;
        defs.check_shape().map_err(|e| self.bad(e))?;
        Ok(defs)
    }

    /// The next message, or `None` after a trailer whose counts match (or at the end of a
    /// definitions-only dump). Must be called after [`Self::read_definitions`].
    pub async fn next_message(&mut self) -> Result<Option<MessageRecord>, RabbitmqError> {
        if !self.has_messages() || self.trailer.is_some() {
            return Ok(None);
        }
        let Some(line) = self.read_line().await? else {
            return Err(self.invalid(format!(
                "the dump ends after {} message(s) without its trailer line: it is truncated",
                self.total
            )));
        };
        let parsed: Line =
            serde_json::from_slice(&line).map_err(|e| self.bad(Malformed::Line(Shown::new(e))))?;
        match parsed {
            Line::Header(_) => Err(self.invalid("a second header line")),
            Line::Message(m) => {
                let m = *m;
                let key = (m.vhost.clone(), m.queue.clone());
                let expected = match self.seen.last_mut() {
                    Some((k, n)) if *k == key => {
                        *n += 1;
                        *n - 1
                    }
                    _ => {
                        if self.seen.iter().any(|(k, _)| *k == key) {
                            return Err(self.invalid(format!(
                                "messages of queue `{}` in vhost `{}` are not contiguous",
                                excerpt_str(&m.queue),
                                excerpt_str(&m.vhost)
                            )));
                        }
                        self.seen.push((key, 1));
                        0
                    }
                };
                if m.index != expected {
                    return Err(self.invalid(format!(
                        "message index {} of queue `{}` should be {expected}",
                        m.index,
                        excerpt_str(&m.queue)
                    )));
                }
                m.body().map_err(|e| self.bad(e))?;
                if let Some(h) = &m.properties.headers {
                    json_to_table(h).map_err(|e| self.bad(e))?;
                }
                self.total += 1;
                Ok(Some(m))
            }
            Line::Trailer(t) => {
                self.check_trailer(&t)?;
                if self.read_line().await?.is_some() {
                    return Err(self.invalid("data after the trailer line"));
                }
                self.trailer = Some(t);
                Ok(None)
            }
        }
    }

    fn check_trailer(&self, t: &Trailer) -> Result<(), RabbitmqError> {
        if t.messages != self.total {
            return Err(self.invalid(format!(
                "the trailer counts {} message(s), the dump holds {}",
                t.messages, self.total
            )));
        }
        let seen: BTreeMap<(String, String), u64> = self.seen.iter().cloned().collect();
        for q in &t.queues {
            let have = seen
                .get(&(q.vhost.clone(), q.queue.clone()))
                .copied()
                .unwrap_or(0);
            if have != q.messages {
                return Err(self.invalid(format!(
                    "the trailer counts {} message(s) for queue `{}` in vhost `{}`, the dump holds {have}",
                    q.messages,
                    excerpt_str(&q.queue),
                    excerpt_str(&q.vhost)
                )));
            }
        }
        let listed: u64 = t.queues.iter().map(|q| q.messages).sum();
        if listed != self.total {
            return Err(self.invalid("messages of queues missing from the trailer"));
        }
        Ok(())
    }

    /// Reads the rest of a definitions-only dump, which must be whitespace only (already
    /// checked by the scanner, which ends at EOF for this format).
    pub async fn finish(&mut self) -> Result<(), RabbitmqError> {
        if self.has_messages() {
            while self.next_message().await?.is_some() {}
            return Ok(());
        }
        let mut rest = Vec::new();
        (&mut self.input)
            .take(1 << 20)
            .read_to_end(&mut rest)
            .await
            .map_err(RabbitmqError::Input)?;
        if rest.iter().any(|b| !b.is_ascii_whitespace()) {
            return Err(self.invalid("data after the definitions document"));
        }
        Ok(())
    }

    /// One line without its `\n`, or `None` at EOF.
    async fn read_line(&mut self) -> Result<Option<Vec<u8>>, RabbitmqError> {
        let mut line = Vec::new();
        let n = (&mut self.input)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut line)
            .await
            .map_err(RabbitmqError::Input)?;
        if n == 0 {
            return Ok(None);
        }
        self.line += 1;
        if line.last() == Some(&b'\n') {
            line.pop();
        } else if line.len() > MAX_LINE_BYTES {
            return Err(self.invalid(format!("a line longer than {MAX_LINE_BYTES} bytes")));
        } else {
            return Err(self.invalid("the last line has no newline: the dump is truncated"));
        }
        Ok(Some(line))
    }
}
#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::fields::Properties;
    use crate::format::{line_bytes, QueueCount};
    use base64::engine::general_purpose::STANDARD as BASE64;
    use base64::Engine;
    use proptest::prelude::*;

    /// Writes a messages dump of `queues` (each a list of payloads) the way the source does.
    fn dump(queues: &[(String, Vec<Vec<u8>>)]) -> Vec<u8> {
        let mut out = line_bytes(&Line::Header(Header {
            format: MESSAGES_HEADER_FORMAT.to_string(),
            rabbitmq_version: Some("3.10.8".into()),
            vhosts: None,
            max_messages_per_queue: 10,
        }));
        out.extend_from_slice(b"{\"vhosts\":[{\"name\":\"v\"}],\"queues\":[]}\n");
        let mut trailer = Trailer::default();
        for (queue, payloads) in queues {
            for (i, p) in payloads.iter().enumerate() {
                out.extend(line_bytes(&Line::Message(Box::new(MessageRecord {
                    vhost: "v".into(),
                    queue: queue.clone(),
                    index: i as u64,
                    redelivered: false,
                    exchange: String::new(),
                    routing_key: queue.clone(),
                    properties: Properties::default(),
                    payload: BASE64.encode(p),
                }))));
            }
            trailer.messages += payloads.len() as u64;
            trailer.queues.push(QueueCount {
                vhost: "v".into(),
                queue: queue.clone(),
                messages: payloads.len() as u64,
                depth: payloads.len() as u64,
            });
        }
        out.extend(line_bytes(&Line::Trailer(trailer)));
        out
    }

    async fn read(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, RabbitmqError> {
        let mut input: &[u8] = bytes;
        let mut reader = DumpReader::new(&mut input, DumpFormat::Messages);
        reader.read_all_definitions().await?;
        let mut out = Vec::new();
        while let Some(m) = reader.next_message().await? {
            out.push((m.queue.clone(), m.body().unwrap()));
        }
        Ok(out)
    }

    fn queues() -> impl Strategy<Value = Vec<(String, Vec<Vec<u8>>)>> {
        prop::collection::btree_map(
            "[a-z\"\\\\\n]{1,6}",
            prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 0..6),
            0..4,
        )
        .prop_map(|m| m.into_iter().collect())
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    }

    proptest! {
        #[test]
        fn messages_dumps_round_trip(queues in queues()) {
            let bytes = dump(&queues);
            let got = runtime().block_on(read(&bytes)).unwrap();
            let want: Vec<(String, Vec<u8>)> = queues
                .iter()
                .flat_map(|(q, ps)| ps.iter().map(move |p| (q.clone(), p.clone())))
                .collect();
            prop_assert_eq!(got, want);
        }

        #[test]
        fn any_truncation_is_corrupt(queues in queues(), cut in 0.0f64..1.0) {
            let bytes = dump(&queues);
            let at = ((bytes.len() as f64) * cut) as usize;
            prop_assume!(at < bytes.len());
            let err = runtime().block_on(read(&bytes[..at])).unwrap_err();
            prop_assert_eq!(err.kind(), backup_core::StoreErrorKind::Corrupt);
        }
    }

    #[test]
    fn reordered_or_miscounted_dumps_are_corrupt() {
        let q = vec![
            ("a".to_string(), vec![b"1".to_vec(), b"2".to_vec()]),
            ("b".to_string(), vec![b"3".to_vec()]),
        ];
        let text = String::from_utf8(dump(&q)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        // Swap the two messages of queue a: indexes out of order.
        let mut swapped = lines.clone();
        swapped.swap(2, 3);
        // Drop a message: the trailer no longer matches.
        let mut dropped = lines.clone();
        dropped.remove(4);
        // A second header.
        let mut doubled = lines.clone();
        doubled.insert(2, lines[0]);
        for bad in [swapped, dropped, doubled] {
            let bytes = format!("{}\n", bad.join("\n"));
            let err = runtime().block_on(read(bytes.as_bytes())).unwrap_err();
            assert_eq!(err.kind(), backup_core::StoreErrorKind::Corrupt, "{err}");
        }
        assert!(runtime().block_on(read(text.as_bytes())).is_ok());
    }
}
