//! What a restore would do: each object of the backup is to be created, exists identically,
//! or conflicts (same name, different arguments or properties).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use crate::definitions::{identity, normalize, noun, Definitions, SECTIONS};

/// What happens to one object.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Change {
    /// Not in the target: created.
    Create,
    /// In the target with the same definition: left alone.
    Identical,
    /// In the target with another definition: the restore is refused without `--force`.
    Conflict {
        /// The differing fields, e.g. `arguments: backup {..}, target {..}`.
        differences: String,
    },
}

/// One object of the backup and what happens to it.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub section: &'static str,
    pub key: String,
    pub object: Value,
    pub change: Change,
}

impl Item {
    /// e.g. `queue orders/q1: arguments differ (backup {...}, target {...})`.
    pub fn describe(&self) -> String {
        match &self.change {
            Change::Conflict { differences } => {
                format!("{} {}: {differences}", noun(self.section), self.key)
            }
            _ => format!("{} {}", noun(self.section), self.key),
        }
    }
}

/// The whole comparison.
#[derive(Debug, Clone, Default)]
pub(crate) struct Diff {
    pub items: Vec<Item>,
    /// Global parameters in the backup (never restored: they describe the old broker).
    pub global_parameters: usize,
    /// Extra conflicts found outside the definitions (queues holding messages).
    pub extra_conflicts: Vec<String>,
}

impl Diff {
    /// Compares the backup's definitions with the target's current ones.
    pub fn new(backup: &Definitions, target: &Definitions) -> Self {
        let mut diff = Diff {
            global_parameters: backup.section("global_parameters").len(),
            ..Diff::default()
        };
        for section in SECTIONS
            .iter()
            .copied()
            .filter(|s| *s != "global_parameters")
        {
            let existing: BTreeMap<String, Value> = target
                .section(section)
                .iter()
                .map(|o| (identity(section, o), normalize(section, o)))
                .collect();
            let mut seen = BTreeSet::new();
            for object in backup.section(section) {
                let key = identity(section, object);
                if !seen.insert(key.clone()) {
                    continue;
                }
                let change = match existing.get(&key) {
                    None => Change::Create,
                    Some(current) => {
                        let mine = normalize(section, object);
                        if &mine == current {
                            Change::Identical
                        } else {
                            Change::Conflict {
                                differences: differences(&mine, current),
                            }
                        }
                    }
                };
                diff.items.push(Item {
                    section,
                    key,
                    object: object.clone(),
                    change,
                });
            }
        }
        diff
    }

    /// The conflicts, one line each.
    pub fn conflicts(&self) -> Vec<String> {
        self.items
            .iter()
            .filter(|i| matches!(i.change, Change::Conflict { .. }))
            .map(Item::describe)
            .chain(self.extra_conflicts.iter().cloned())
            .collect()
    }

    fn count(&self, f: impl Fn(&Change) -> bool) -> usize {
        self.items.iter().filter(|i| f(&i.change)).count()
    }

    /// Objects to create.
    pub fn creates(&self) -> usize {
        self.count(|c| matches!(c, Change::Create))
    }

    /// Objects already there.
    pub fn identical(&self) -> usize {
        self.count(|c| matches!(c, Change::Identical))
    }

    /// A human diff: counts, then one line per object (creates and identical objects beyond
    /// `max_lines` are only counted).
    pub fn render(&self, max_lines: usize) -> String {
        let conflicts = self.conflicts();
        let mut text = format!(
            "{} object(s) to create, {} already exist identically, {} conflict",
            self.creates(),
            self.identical(),
            conflicts.len()
        );
        if self.global_parameters > 0 {
            text.push_str(&format!(
                "; {} global parameter(s) (cluster name and id of the old broker) are not restored",
                self.global_parameters
            ));
        }
        for c in &conflicts {
            text.push_str(&format!("\n  ! conflict: {c}"));
        }
        let mut shown = 0;
        for (mark, wanted) in [("+ create", true), ("= exists", false)] {
            for item in self.items.iter().filter(|i| match i.change {
                Change::Create => wanted,
                Change::Identical => !wanted,
                Change::Conflict { .. } => false,
            }) {
                if shown == max_lines {
                    text.push_str("\n  ... (see --json details for the full list)");
                    return text;
                }
                text.push_str(&format!("\n  {mark}: {}", item.describe()));
                shown += 1;
            }
        }
        text
    }

    /// Structured details for reports.
    pub fn details(&self) -> Value {
        let list = |f: &dyn Fn(&Change) -> bool| -> Vec<String> {
            self.items
                .iter()
                .filter(|i| f(&i.change))
                .map(Item::describe)
                .collect()
        };
        json!({
            "create": list(&|c| matches!(c, Change::Create)),
            "identical": list(&|c| matches!(c, Change::Identical)),
            "conflicts": self.conflicts(),
            "global_parameters_not_restored": self.global_parameters,
        })
    }
}

fn differences(mine: &Value, theirs: &Value) -> String {
    let (Value::Object(a), Value::Object(b)) = (mine, theirs) else {
        return format!("backup {mine}, target {theirs}");
    };
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| {
            let show = |v: Option<&Value>| {
                v.map_or("(none)".to_string(), |v| {
                    if k == "password_hash" {
                        "<hash>".to_string()
                    } else {
                        v.to_string()
                    }
                })
            };
            format!(
                "{k} differs (backup {}, target {})",
                show(a.get(k)),
                show(b.get(k))
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::definitions::from_json as defs;

    #[test]
    fn classifies_objects() {
        let backup = defs(json!({
            "queues": [
                {"vhost": "v", "name": "new", "durable": true, "arguments": {}},
                {"vhost": "v", "name": "same", "durable": true, "arguments": {}},
                {"vhost": "v", "name": "other", "durable": true, "arguments": {"x-max-length": 5}},
            ],
            "users": [{"name": "u", "password_hash": "secret-hash", "tags": ["a"]}],
            "global_parameters": [{"name": "cluster_name", "value": "x"}],
        }));
        let target = defs(json!({
            "queues": [
                {"vhost": "v", "name": "same", "durable": true},
                {"vhost": "v", "name": "other", "durable": true, "arguments": {"x-max-length": 6}},
            ],
            "users": [{"name": "u", "password_hash": "other-hash", "tags": "a"}],
        }));
        let d = Diff::new(&backup, &target);
        assert_eq!(d.creates(), 1);
        assert_eq!(d.identical(), 1);
        let conflicts = d.conflicts();
        assert_eq!(conflicts.len(), 2, "{conflicts:?}");
        assert!(conflicts
            .iter()
            .any(|c| c.contains("queue v/other: arguments differ")));
        assert!(!d.render(100).contains("secret-hash"));
        assert!(d.render(100).contains("global parameter"));
    }
}
