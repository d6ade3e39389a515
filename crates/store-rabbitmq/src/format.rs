//! The two dump formats and a reader shared by restore, `verify` and drills.
//!
//! - `rabbitmq-definitions` (extension `json`): one definitions document, the shape of
//!   `GET /api/definitions` (the exact bytes the broker sent when the whole broker is backed
//!   up).
//! - `rabbitmq-definitions+messages` (extension `jsonl`): JSON lines:
//!   1. a [`Header`] (`{"type":"header","format":"lifeboat-rabbitmq/1",...}`);
//!   2. the definitions document on one line;
//!   3. one [`MessageRecord`] per message (`{"type":"message","vhost":..,"queue":..,"index":..,
//!      "redelivered":..,"exchange":..,"routing_key":..,"properties":{..},"payload":"<base64>"}`),
//!      grouped by queue, in queue order, `index` counting from 0 in each queue;
//!   4. a [`Trailer`] (`{"type":"trailer","messages":N,"queues":[..],"skipped":[..]}`) with the
//!      count of every queue, so a truncated dump is always detected.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};

use crate::definitions::{Definitions, MAX_OBJECT_BYTES};
use crate::error::RabbitmqError;
use crate::fields::Properties;
use crate::scan::{Event, Scanner};

/// The definitions-only format.
pub const DEFINITIONS_FORMAT: &str = "rabbitmq-definitions";
/// The definitions-and-messages format.
pub const MESSAGES_FORMAT: &str = "rabbitmq-definitions+messages";
/// The `format` of a messages dump's header line.
pub const MESSAGES_HEADER_FORMAT: &str = "lifeboat-rabbitmq/1";

/// The largest message line accepted on restore (a 128 MiB message, the broker's maximum,
/// grows by a third in base64).
const MAX_LINE_BYTES: usize = 180 << 20;

/// The first line of a messages dump.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Always [`MESSAGES_HEADER_FORMAT`].
    pub format: String,
    /// The broker's version.
    #[serde(default)]
    pub rabbitmq_version: Option<String>,
    /// The vhosts selected (`None`: the whole broker).
    #[serde(default)]
    pub vhosts: Option<Vec<String>>,
    /// The per-queue limit in force.
    pub max_messages_per_queue: u64,
}

/// One message line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct MessageRecord {
    pub vhost: String,
    pub queue: String,
    /// Position in the queue at backup time, from 0.
    pub index: u64,
    /// Whether the message had been delivered before the backup read it.
    pub redelivered: bool,
    /// The exchange it was originally published to.
    pub exchange: String,
    /// Its original routing key.
    pub routing_key: String,
    pub properties: Properties,
    /// The body, base64.
    pub payload: String,
}

impl MessageRecord {
    /// The decoded body.
    pub fn body(&self) -> Result<Vec<u8>, String> {
        BASE64
            .decode(&self.payload)
            .map_err(|e| format!("bad base64 payload: {e}"))
    }
}

/// The messages taken from one queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueCount {
    /// The vhost.
    pub vhost: String,
    /// The queue.
    pub queue: String,
    /// Messages written.
    pub messages: u64,
    /// Messages the queue held when it was read (more than `messages` when the limit cut it).
    pub depth: u64,
}

/// A queue whose messages were not backed up, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// The vhost.
    pub vhost: String,
    /// The queue.
    pub queue: String,
    /// Why, e.g. `has 2 consumers`.
    pub reason: String,
}

/// The last line of a messages dump.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Trailer {
    /// Message lines in the dump.
    pub messages: u64,
    /// Per queue read.
    pub queues: Vec<QueueCount>,
    /// Queues not read.
    pub skipped: Vec<Skipped>,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Line {
    Header(Header),
    Message(Box<MessageRecord>),
    Trailer(Trailer),
}

/// Reads a dump of either format: the definitions first, then (messages format) the messages
/// one by one, checking the structure as it goes.
pub(crate) struct DumpReader<'a> {
    input: BufReader<&'a mut (dyn AsyncRead + Send + Unpin)>,
    format: &'static str,
    line: u64,
    header: Option<Header>,
    /// Messages seen per (vhost, queue), in order of first appearance.
    seen: Vec<((String, String), u64)>,
    total: u64,
    trailer: Option<Trailer>,
}

impl<'a> DumpReader<'a> {
    /// A reader for `dump_format` (one of [`crate::FORMATS`]).
    pub fn new(
        input: &'a mut (dyn AsyncRead + Send + Unpin),
        dump_format: &str,
    ) -> Result<Self, RabbitmqError> {
        let format = match dump_format {
            DEFINITIONS_FORMAT => DEFINITIONS_FORMAT,
            MESSAGES_FORMAT => MESSAGES_FORMAT,
            other => {
                return Err(RabbitmqError::WrongDumpFormat {
                    found: other.to_string(),
                })
            }
        };
        Ok(Self {
            input: BufReader::with_capacity(256 << 10, input),
            format,
            line: 0,
            header: None,
            seen: Vec::new(),
            total: 0,
            trailer: None,
        })
    }

    fn bad(&self, reason: impl Into<String>) -> RabbitmqError {
        let reason = reason.into();
        RabbitmqError::format(
            self.format,
            if self.format == MESSAGES_FORMAT && self.line > 0 {
                format!("line {}: {reason}", self.line)
            } else {
                reason
            },
        )
    }

    /// Whether the dump holds messages.
    pub fn has_messages(&self) -> bool {
        self.format == MESSAGES_FORMAT
    }

    /// Reads the definitions, handing each scanner event to `on_event` (which may keep or
    /// count it), with bounded memory.
    pub async fn read_definitions(
        &mut self,
        mut on_event: impl FnMut(Event) -> Result<(), String>,
    ) -> Result<(), RabbitmqError> {
        if self.format == MESSAGES_FORMAT {
            let line = self
                .read_line()
                .await?
                .ok_or_else(|| self.bad("the dump is empty"))?;
            match serde_json::from_slice::<Line>(&line) {
                Ok(Line::Header(h)) if h.format == MESSAGES_HEADER_FORMAT => self.header = Some(h),
                Ok(Line::Header(h)) => {
                    return Err(self.bad(format!("unknown header format `{}`", h.format)))
                }
                _ => return Err(self.bad("the first line is not a lifeboat-rabbitmq header")),
            }
            self.line += 1;
        }
        let mut scanner = Scanner::new(MAX_OBJECT_BYTES);
        let mut events = Vec::new();
        loop {
            let buf = self.input.fill_buf().await.map_err(RabbitmqError::Input)?;
            if buf.is_empty() {
                break;
            }
            let (part, end_of_line) = if self.format == MESSAGES_FORMAT {
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
            result.map_err(|e| self.bad(format!("definitions: {e}")))?;
            for event in events.drain(..) {
                on_event(event).map_err(|e| self.bad(format!("definitions: {e}")))?;
            }
            if end_of_line.is_some() {
                break;
            }
        }
        scanner
            .finish(&mut events)
            .map_err(|e| self.bad(format!("definitions: {e}")))?;
        for event in events.drain(..) {
            on_event(event).map_err(|e| self.bad(format!("definitions: {e}")))?;
        }
        if self.format == DEFINITIONS_FORMAT {
            // The scanner accepts only whitespace after the document, up to EOF.
            return Ok(());
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
        if self.format == DEFINITIONS_FORMAT || self.trailer.is_some() {
            return Ok(None);
        }
        let Some(line) = self.read_line().await? else {
            return Err(self.bad(format!(
                "the dump ends after {} message(s) without its trailer line: it is truncated",
                self.total
            )));
        };
        let parsed: Line = serde_json::from_slice(&line)
            .map_err(|e| self.bad(format!("not a message or trailer line: {e}")))?;
        match parsed {
            Line::Header(_) => Err(self.bad("a second header line")),
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
                            return Err(self.bad(format!(
                                "messages of queue `{}` in vhost `{}` are not contiguous",
                                m.queue, m.vhost
                            )));
                        }
                        self.seen.push((key, 1));
                        0
                    }
                };
                if m.index != expected {
                    return Err(self.bad(format!(
                        "message index {} of queue `{}` should be {expected}",
                        m.index, m.queue
                    )));
                }
                m.body().map_err(|e| self.bad(e))?;
                if let Some(h) = &m.properties.headers {
                    crate::fields::json_to_table(h).map_err(|e| self.bad(e))?;
                }
                self.total += 1;
                Ok(Some(m))
            }
            Line::Trailer(t) => {
                self.check_trailer(&t)?;
                if self.read_line().await?.is_some() {
                    return Err(self.bad("data after the trailer line"));
                }
                self.trailer = Some(t);
                Ok(None)
            }
        }
    }

    fn check_trailer(&self, t: &Trailer) -> Result<(), RabbitmqError> {
        if t.messages != self.total {
            return Err(self.bad(format!(
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
                return Err(self.bad(format!(
                    "the trailer counts {} message(s) for queue `{}` in vhost `{}`, the dump holds {have}",
                    q.messages, q.queue, q.vhost
                )));
            }
        }
        let listed: u64 = t.queues.iter().map(|q| q.messages).sum();
        if listed != self.total {
            return Err(self.bad("messages of queues missing from the trailer"));
        }
        Ok(())
    }

    /// Reads the rest of a definitions-only dump, which must be whitespace only (already
    /// checked by the scanner, which ends at EOF for this format).
    pub async fn finish(&mut self) -> Result<(), RabbitmqError> {
        if self.format == MESSAGES_FORMAT {
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
            return Err(self.bad("data after the definitions document"));
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
            return Err(self.bad(format!("a line longer than {MAX_LINE_BYTES} bytes")));
        } else {
            return Err(self.bad("the last line has no newline: the dump is truncated"));
        }
        Ok(Some(line))
    }
}

/// Serializes one line (with its `\n`).
pub(crate) fn line_bytes(line: &Line) -> Vec<u8> {
    // Serializing these plain structs cannot fail.
    let mut bytes = serde_json::to_vec(line).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// A message record from what was read.
pub(crate) fn message_line(
    vhost: &str,
    queue: &str,
    index: u64,
    delivery: &lapin::message::Delivery,
) -> Vec<u8> {
    line_bytes(&Line::Message(Box::new(MessageRecord {
        vhost: vhost.to_string(),
        queue: queue.to_string(),
        index,
        redelivered: delivery.redelivered,
        exchange: delivery.exchange.as_str().to_string(),
        routing_key: delivery.routing_key.as_str().to_string(),
        properties: Properties::from_amqp(&delivery.properties),
        payload: BASE64.encode(&delivery.data),
    })))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
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
        let mut reader = DumpReader::new(&mut input, MESSAGES_FORMAT)?;
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
