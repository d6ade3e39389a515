//! The definitions document: its sections, the identity of each object, counts, and the
//! in-memory form restore works on.

use std::collections::BTreeMap;

use lifeboat_edge::shown::{excerpt, excerpt_str, Shown};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::Malformed;
use crate::scan::Event;

/// The largest single object (a queue, a user...) or top-level field accepted, in bytes.
pub(crate) const MAX_OBJECT_BYTES: usize = 16 << 20;

/// The sections of a definitions document, in the order RabbitMQ writes them.
pub(crate) const SECTIONS: &[&str] = &[
    "users",
    "vhosts",
    "permissions",
    "topic_permissions",
    "parameters",
    "global_parameters",
    "policies",
    "queues",
    "exchanges",
    "bindings",
];

/// The sections that belong to one vhost (and are counted per vhost).
pub(crate) const VHOST_SECTIONS: &[&str] =
    &["parameters", "policies", "queues", "exchanges", "bindings"];

/// The fields that name an object of `section` (bindings: every field, so a binding with other
/// arguments is another binding).
fn identity_fields(section: &str) -> &'static [&'static str] {
    match section {
        "users" | "vhosts" | "global_parameters" => &["name"],
        "permissions" => &["user", "vhost"],
        "topic_permissions" => &["user", "vhost", "exchange"],
        "parameters" => &["vhost", "component", "name"],
        "policies" | "queues" | "exchanges" => &["vhost", "name"],
        _ => &[],
    }
}

fn field_text(obj: &Value, field: &str) -> String {
    match obj.get(field) {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

/// The singular noun for an object of `section`.
pub(crate) fn noun(section: &str) -> &str {
    match section {
        "users" => "user",
        "vhosts" => "vhost",
        "permissions" => "permission",
        "topic_permissions" => "topic permission",
        "parameters" => "parameter",
        "global_parameters" => "global parameter",
        "policies" => "policy",
        "queues" => "queue",
        "exchanges" => "exchange",
        "bindings" => "binding",
        other => other,
    }
}

/// A key naming an object uniquely within its section, e.g. `orders/q1` for a queue.
pub(crate) fn identity(section: &str, obj: &Value) -> String {
    let fields = identity_fields(section);
    if fields.is_empty() {
        // Bindings (and unknown sections): the whole normalized object.
        let n = normalize(section, obj);
        return format!(
            "{}/{} -> {} {} (key `{}`{})",
            field_text(&n, "vhost"),
            field_text(&n, "source"),
            field_text(&n, "destination_type"),
            field_text(&n, "destination"),
            field_text(&n, "routing_key"),
            match n.get("arguments") {
                Some(Value::Object(m)) if !m.is_empty() =>
                    format!(", arguments {}", Value::Object(m.clone())),
                _ => String::new(),
            }
        );
    }
    fields
        .iter()
        .map(|f| field_text(obj, f))
        .collect::<Vec<_>>()
        .join("/")
}

/// The vhost an object belongs to (`None` for users and global parameters).
pub(crate) fn vhost_of<'a>(section: &str, obj: &'a Value) -> Option<&'a str> {
    match section {
        "users" | "global_parameters" => None,
        "vhosts" => obj.get("name").and_then(Value::as_str),
        _ => obj.get("vhost").and_then(Value::as_str),
    }
}

/// An object in a canonical form for comparison: empty objects, empty arrays and nulls are
/// dropped (absent and empty mean the same to RabbitMQ), user tags are a sorted list whether
/// the export wrote `"a,b"` or `["a","b"]`.
pub(crate) fn normalize(section: &str, obj: &Value) -> Value {
    let Value::Object(map) = obj else {
        return obj.clone();
    };
    let mut out = Map::new();
    for (k, v) in map {
        let v = if section == "users" && k == "tags" {
            let mut tags: Vec<String> = match v {
                Value::String(s) => s
                    .split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(String::from)
                    .collect(),
                Value::Array(a) => a
                    .iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect(),
                _ => Vec::new(),
            };
            tags.sort();
            Value::from(tags)
        } else {
            v.clone()
        };
        let empty = match &v {
            Value::Null => true,
            Value::Object(m) => m.is_empty(),
            Value::Array(a) => a.is_empty(),
            _ => false,
        };
        if !empty {
            out.insert(k.clone(), v);
        }
    }
    Value::Object(out)
}

/// The queue facts a message backup needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QueueInfo {
    pub vhost: String,
    pub name: String,
    pub durable: bool,
    pub auto_delete: bool,
    /// `classic`, `quorum` or `stream`.
    pub kind: String,
    /// The `x-delivery-limit` argument, when set.
    pub delivery_limit: Option<i64>,
}

impl QueueInfo {
    pub fn from_definition(obj: &Value) -> Self {
        let kind = obj
            .get("arguments")
            .and_then(|a| a.get("x-queue-type"))
            .and_then(Value::as_str)
            .or_else(|| obj.get("type").and_then(Value::as_str))
            .unwrap_or("classic")
            .to_string();
        Self {
            vhost: field_text(obj, "vhost"),
            name: field_text(obj, "name"),
            durable: obj.get("durable").and_then(Value::as_bool).unwrap_or(false),
            auto_delete: obj
                .get("auto_delete")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            kind,
            delivery_limit: obj
                .get("arguments")
                .and_then(|a| a.get("x-delivery-limit"))
                .and_then(Value::as_i64),
        }
    }
}

/// Object counts of a definitions document: per section, and per vhost for the sections that
/// live in one. This is what the manifest records and what `verify` compares.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Objects per section (`users`, `vhosts`, `queues`, ...).
    pub sections: BTreeMap<String, u64>,
    /// Per vhost: `queues`, `exchanges`, `bindings`, `policies`, `parameters`.
    pub vhosts: BTreeMap<String, BTreeMap<String, u64>>,
}

impl Counts {
    /// Counts one object of `section`.
    pub(crate) fn add(&mut self, section: &str, obj: &Value) {
        *self.sections.entry(section.to_string()).or_default() += 1;
        if section == "vhosts" {
            if let Some(v) = vhost_of(section, obj) {
                let entry = self.vhosts.entry(v.to_string()).or_default();
                for s in VHOST_SECTIONS {
                    entry.entry((*s).to_string()).or_default();
                }
            }
        } else if VHOST_SECTIONS.contains(&section) {
            if let Some(v) = vhost_of(section, obj) {
                *self
                    .vhosts
                    .entry(v.to_string())
                    .or_default()
                    .entry(section.to_string())
                    .or_default() += 1;
            }
        }
    }

    /// Makes sure every known section has an entry (0 when absent).
    pub(crate) fn fill(&mut self) {
        for s in SECTIONS {
            self.sections.entry((*s).to_string()).or_default();
        }
    }
}

/// A whole definitions document in memory (restore and drills need all of it to compare and
/// import; topology metadata is small next to messages, and the restore caps each object at
/// [`MAX_OBJECT_BYTES`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Definitions {
    /// Top-level fields that are not arrays (`rabbitmq_version`, ...), in order.
    pub fields: Map<String, Value>,
    /// Each section's objects, in document order.
    pub sections: BTreeMap<String, Vec<Value>>,
}

impl Definitions {
    /// Adds one scanner event; elements of known sections must be JSON objects.
    pub fn add(&mut self, event: Event) -> Result<(), Malformed> {
        match event {
            Event::Field { key, raw } => {
                let v = parse_field(&key, &raw)?;
                self.fields.insert(key, v);
            }
            Event::SectionStart(s) => {
                self.sections.entry(s).or_default();
            }
            Event::Element { section, raw } => {
                let v = parse_element(&section, &raw)?;
                self.sections.entry(section).or_default().push(v);
            }
        }
        Ok(())
    }

    /// The objects of `section` (empty when absent).
    pub fn section(&self, section: &str) -> &[Value] {
        self.sections.get(section).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Counts of every section and vhost.
    pub fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        for (section, objects) in &self.sections {
            for obj in objects {
                counts.add(section, obj);
            }
        }
        counts.fill();
        counts
    }

    /// The vhost names (from the `vhosts` section and from the objects).
    pub fn vhost_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.counts().vhosts.into_keys().collect();
        names.sort();
        names
    }

    /// Checks that the document looks like a RabbitMQ definitions export.
    pub fn check_shape(&self) -> Result<(), Malformed> {
        let has_any = SECTIONS.iter().any(|s| self.sections.contains_key(*s));
        if !has_any {
            return Err(Malformed::invalid(format!(
                "no definitions section found (expected some of {})",
                SECTIONS.join(", ")
            )));
        }
        Ok(())
    }
}

/// A document from its JSON (tests build the broker's and the backup's topology this way).
#[cfg(test)]
pub(crate) fn from_json(v: Value) -> Definitions {
    let mut d = Definitions::default();
    for (k, v) in v.as_object().into_iter().flatten() {
        d.sections
            .insert(k.clone(), v.as_array().cloned().unwrap_or_default());
    }
    d
}

/// Parses one element of `section`, which must be a JSON object when the section is known.
pub(crate) fn parse_element(section: &str, raw: &[u8]) -> Result<Value, Malformed> {
    // The dump may hold anything: messages quote it only as escaped, capped excerpts.
    let v: Value = serde_json::from_slice(raw).map_err(|source| Malformed::Element {
        section: excerpt_str(section),
        source: Shown::new(source),
    })?;
    if SECTIONS.contains(&section) && !v.is_object() {
        return Err(Malformed::NotAnObject {
            section: excerpt_str(section),
            value: excerpt(raw),
        });
    }
    Ok(v)
}

/// Parses the value of the top-level field `key`.
pub(crate) fn parse_field(key: &str, raw: &[u8]) -> Result<Value, Malformed> {
    serde_json::from_slice(raw).map_err(|source| Malformed::Field {
        key: excerpt_str(key),
        source: Shown::new(source),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn identities_and_normal_forms() {
        let q = json!({"vhost": "v", "name": "q", "durable": true, "arguments": {}});
        assert_eq!(identity("queues", &q), "v/q");
        assert_eq!(
            normalize("queues", &q),
            json!({"vhost": "v", "name": "q", "durable": true})
        );
        assert_eq!(
            normalize("users", &json!({"name": "u", "tags": "b,a"})),
            normalize(
                "users",
                &json!({"name": "u", "tags": ["a", "b"], "limits": {}})
            )
        );
        let b = json!({"vhost": "v", "source": "x", "destination": "q", "destination_type": "queue", "routing_key": "k", "arguments": {"a": 1}});
        assert!(identity("bindings", &b).contains("arguments"));
        assert_eq!(
            QueueInfo::from_definition(
                &json!({"vhost": "v", "name": "q", "arguments": {"x-queue-type": "quorum"}})
            )
            .kind,
            "quorum"
        );
    }

    #[test]
    fn counts_per_vhost() {
        let mut d = Definitions::default();
        d.sections.insert(
            "vhosts".into(),
            vec![json!({"name": "a"}), json!({"name": "b"})],
        );
        d.sections
            .insert("queues".into(), vec![json!({"vhost": "a", "name": "q"})]);
        let c = d.counts();
        assert_eq!(c.sections["queues"], 1);
        assert_eq!(c.sections["users"], 0);
        assert_eq!(c.vhosts["a"]["queues"], 1);
        assert_eq!(c.vhosts["b"]["queues"], 0);
        assert!(d.check_shape().is_ok());
        assert!(Definitions::default().check_shape().is_err());
    }
}

/// The delivery limit a policy list gives a quorum queue: RabbitMQ applies the one matching
/// policy of highest priority (`apply-to` all, queues or quorum_queues; `pattern` a regular
/// expression on the name). A pattern this crate cannot compile counts as matching, so a limit
/// is never missed.
pub(crate) fn policy_delivery_limit(policies: &[Value], vhost: &str, queue: &str) -> Option<i64> {
    let mut best: Option<(i64, &Value)> = None;
    for p in policies {
        if vhost_of("policies", p) != Some(vhost) {
            continue;
        }
        let applies = matches!(
            p.get("apply-to").and_then(Value::as_str).unwrap_or("all"),
            "all" | "queues" | "quorum_queues"
        );
        let pattern = p.get("pattern").and_then(Value::as_str).unwrap_or("");
        let matches = regex::Regex::new(pattern).map_or(true, |r| r.is_match(queue));
        if !applies || !matches {
            continue;
        }
        let priority = p.get("priority").and_then(Value::as_i64).unwrap_or(0);
        if best.is_none_or(|(b, _)| priority > b) {
            best = Some((priority, p));
        }
    }
    best.and_then(|(_, p)| p.get("definition")?.get("delivery-limit")?.as_i64())
}

#[cfg(test)]
mod policy_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_highest_priority_matching_policy_wins() {
        let policies = vec![
            json!({"vhost": "v", "name": "a", "pattern": "^q", "apply-to": "queues", "priority": 1, "definition": {"delivery-limit": 3}}),
            json!({"vhost": "v", "name": "b", "pattern": "^qq$", "apply-to": "all", "priority": 5, "definition": {"max-length": 3}}),
            json!({"vhost": "w", "name": "c", "pattern": ".*", "priority": 9, "definition": {"delivery-limit": 1}}),
            json!({"vhost": "v", "name": "d", "pattern": ".*", "apply-to": "exchanges", "priority": 9, "definition": {"delivery-limit": 1}}),
        ];
        assert_eq!(policy_delivery_limit(&policies, "v", "q1"), Some(3));
        assert_eq!(policy_delivery_limit(&policies, "v", "qq"), None);
        assert_eq!(policy_delivery_limit(&policies, "v", "other"), None);
        assert_eq!(policy_delivery_limit(&policies, "w", "x"), Some(1));
    }
}
