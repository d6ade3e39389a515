//! Streaming the definitions into the dump: the broker's bytes as they arrive (whole broker),
//! or the objects of the selected vhosts only, while counting every object for the manifest.

use std::collections::BTreeSet;

use serde_json::Value;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::api::Api;
use crate::definitions::{parse_element, parse_field, vhost_of, Counts, QueueInfo};
use crate::error::{Malformed, RabbitmqError, Step};
use crate::scan::Event;

/// Streams `GET /api/definitions` into `out` chunk by chunk (on one line when `one_line`, for
/// a messages dump), keeping the objects of `vhosts` only when given, and counting them.
pub(crate) async fn export_definitions(
    api: &Api,
    vhosts: Option<&[String]>,
    one_line: bool,
    out: &mut (dyn AsyncWrite + Send + Unpin),
) -> Result<Export, RabbitmqError> {
    let mut document = api.document(Step::Export, "/api/definitions").await?;
    let mut export = Export::new(vhosts, one_line);
    let mut events = Vec::new();
    let mut pending = Vec::with_capacity(64 << 10);
    loop {
        let chunk = document.next(&mut events).await?;
        if let Some(chunk) = &chunk {
            if export.passthrough() {
                export.raw_chunk(chunk, &mut pending);
            }
        }
        for event in events.drain(..) {
            export
                .event(event, &mut pending)
                .map_err(|e| document.bad(e))?;
        }
        if chunk.is_none() {
            break;
        }
        out.write_all(&pending)
            .await
            .map_err(RabbitmqError::Output)?;
        pending.clear();
    }
    export.finish(&mut pending);
    out.write_all(&pending)
        .await
        .map_err(RabbitmqError::Output)?;
    if let Some(wanted) = vhosts {
        let missing: Vec<&String> = wanted
            .iter()
            .filter(|v| !export.found_vhosts.contains(*v))
            .collect();
        if !missing.is_empty() {
            return Err(RabbitmqError::BadOption(format!(
                "vhost(s) {missing:?} do not exist on {}",
                api.display()
            )));
        }
    }
    Ok(export)
}

/// Consumes scanner events (and, without a filter, the raw chunks) and produces the bytes of
/// the definitions document to write.
pub(crate) struct Export {
    /// The selected vhosts (`None`: the whole broker, written byte for byte).
    filter: Option<BTreeSet<String>>,
    /// Replace raw newlines (whitespace in JSON) so the document fits on one line.
    one_line: bool,
    pub counts: Counts,
    pub queues: Vec<QueueInfo>,
    /// The policies written (small; used to find quorum queues' delivery limits).
    pub policies: Vec<Value>,
    pub rabbitmq_version: Option<String>,
    /// Filter mode: the users, held back until the permissions tell which are needed.
    held_users: Vec<(String, Vec<u8>, Value)>,
    /// Filter mode: users holding permissions in the selected vhosts.
    perm_users: BTreeSet<String>,
    /// Filter mode: vhosts found in the `vhosts` section.
    pub found_vhosts: BTreeSet<String>,
    /// Filter mode: output state.
    started: bool,
    open_section: Option<String>,
    section_first: bool,
    skip_section: bool,
}

impl Export {
    pub fn new(filter: Option<&[String]>, one_line: bool) -> Self {
        Self {
            filter: filter.map(|v| v.iter().cloned().collect()),
            one_line,
            counts: Counts::default(),
            queues: Vec::new(),
            policies: Vec::new(),
            rabbitmq_version: None,
            held_users: Vec::new(),
            perm_users: BTreeSet::new(),
            found_vhosts: BTreeSet::new(),
            started: false,
            open_section: None,
            section_first: true,
            skip_section: false,
        }
    }

    /// Whether raw chunks are written as they are (no filter).
    pub fn passthrough(&self) -> bool {
        self.filter.is_none()
    }

    /// Appends a raw chunk to `out` (passthrough mode).
    pub fn raw_chunk(&self, chunk: &[u8], out: &mut Vec<u8>) {
        self.push_bytes(chunk, out);
    }

    fn push_bytes(&self, bytes: &[u8], out: &mut Vec<u8>) {
        if self.one_line {
            out.extend(
                bytes
                    .iter()
                    .map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b }),
            );
        } else {
            out.extend_from_slice(bytes);
        }
    }

    fn open(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            out.push(b'{');
            self.started = true;
        } else {
            out.push(b',');
        }
    }

    fn close_section(&mut self, out: &mut Vec<u8>) {
        if self.open_section.take().is_some() && !self.skip_section {
            out.push(b']');
        }
        self.skip_section = false;
    }

    /// Handles one event; filter mode appends the bytes to write to `out`.
    pub fn event(&mut self, event: Event, out: &mut Vec<u8>) -> Result<(), Malformed> {
        match event {
            Event::Field { key, raw } => {
                if key == "rabbitmq_version"
                    || (key == "rabbit_version" && self.rabbitmq_version.is_none())
                {
                    self.rabbitmq_version = serde_json::from_slice::<String>(&raw).ok();
                }
                if !self.passthrough() {
                    parse_field(&key, &raw)?;
                    self.close_section(out);
                    self.open(out);
                    out.extend(serde_json::to_vec(&key).unwrap_or_default());
                    out.push(b':');
                    self.push_bytes(&raw, out);
                }
            }
            Event::SectionStart(section) => {
                if !self.passthrough() {
                    self.close_section(out);
                    // Users are written at the end; global parameters belong to the whole
                    // broker and are left out of a vhost selection.
                    self.skip_section = section == "users" || section == "global_parameters";
                    if !self.skip_section {
                        self.open(out);
                        out.extend(serde_json::to_vec(&section).unwrap_or_default());
                        out.extend_from_slice(b":[");
                    }
                    self.open_section = Some(section);
                    self.section_first = true;
                }
            }
            Event::Element { section, raw } => {
                let obj = parse_element(&section, &raw)?;
                let Some(filter) = &self.filter else {
                    self.count(&section, &obj);
                    return Ok(());
                };
                if section == "users" {
                    let name = obj
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string();
                    self.held_users.push((name, raw, obj));
                    return Ok(());
                }
                let keep = match vhost_of(&section, &obj) {
                    Some(v) => filter.contains(v),
                    None => section != "global_parameters",
                };
                if !keep {
                    return Ok(());
                }
                if section == "vhosts" {
                    if let Some(v) = vhost_of(&section, &obj) {
                        self.found_vhosts.insert(v.to_string());
                    }
                }
                if section == "permissions" || section == "topic_permissions" {
                    if let Some(u) = obj.get("user").and_then(Value::as_str) {
                        self.perm_users.insert(u.to_string());
                    }
                }
                if !self.section_first {
                    out.push(b',');
                }
                self.section_first = false;
                self.push_bytes(&raw, out);
                self.count(&section, &obj);
            }
        }
        Ok(())
    }

    fn count(&mut self, section: &str, obj: &Value) {
        self.counts.add(section, obj);
        if section == "queues" {
            self.queues.push(QueueInfo::from_definition(obj));
        }
        if section == "policies" {
            self.policies.push(obj.clone());
        }
    }

    /// Ends the document: filter mode writes the held users that hold permissions in the
    /// selected vhosts, and the closing brace.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        self.counts.fill();
        if self.passthrough() {
            return;
        }
        self.close_section(out);
        self.open(out);
        out.extend_from_slice(b"\"users\":[");
        let users = std::mem::take(&mut self.held_users);
        let mut first = true;
        for (name, raw, obj) in users {
            if !self.perm_users.contains(&name) {
                continue;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            self.push_bytes(&raw, out);
            self.count("users", &obj);
        }
        out.extend_from_slice(b"]}");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::scan::Scanner;
    use serde_json::json;

    fn run(doc: &Value, filter: Option<&[String]>) -> (Value, Export) {
        let text = serde_json::to_vec_pretty(doc).unwrap();
        let mut export = Export::new(filter, true);
        let mut scanner = Scanner::new(1 << 20);
        let mut out = Vec::new();
        let mut events = Vec::new();
        for chunk in text.chunks(5) {
            scanner.feed(chunk, &mut events).unwrap();
            if export.passthrough() {
                export.raw_chunk(chunk, &mut out);
            }
            for e in events.drain(..) {
                export.event(e, &mut out).unwrap();
            }
        }
        scanner.finish(&mut events).unwrap();
        export.finish(&mut out);
        assert!(!out.contains(&b'\n'));
        (serde_json::from_slice(&out).unwrap(), export)
    }

    fn sample() -> Value {
        json!({
            "rabbitmq_version": "3.10.8",
            "users": [{"name": "a", "tags": []}, {"name": "b", "tags": []}],
            "vhosts": [{"name": "v1"}, {"name": "v2"}],
            "permissions": [{"user": "a", "vhost": "v1", "configure": ".*", "write": ".*", "read": ".*"},
                            {"user": "b", "vhost": "v2", "configure": ".*", "write": ".*", "read": ".*"}],
            "global_parameters": [{"name": "cluster_name", "value": "x"}],
            "queues": [{"vhost": "v1", "name": "q", "durable": true}, {"vhost": "v2", "name": "q", "durable": true}],
            "bindings": []
        })
    }

    #[test]
    fn passthrough_keeps_everything() {
        let (out, export) = run(&sample(), None);
        assert_eq!(out, sample());
        assert_eq!(export.counts.sections["queues"], 2);
        assert_eq!(export.rabbitmq_version.as_deref(), Some("3.10.8"));
    }

    #[test]
    fn a_filter_keeps_the_vhost_and_its_users() {
        let (out, export) = run(&sample(), Some(&["v1".to_string()]));
        assert_eq!(out["vhosts"], json!([{"name": "v1"}]));
        assert_eq!(out["users"], json!([{"name": "a", "tags": []}]));
        assert_eq!(out["queues"].as_array().unwrap().len(), 1);
        assert!(out.get("global_parameters").is_none());
        assert_eq!(out["bindings"], json!([]));
        assert_eq!(export.counts.sections["users"], 1);
        assert_eq!(export.queues.len(), 1);
        assert!(export.found_vhosts.contains("v1"));
    }
}
