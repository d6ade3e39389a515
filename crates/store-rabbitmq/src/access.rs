//! Whether the user lifeboat republishes messages as may publish into each vhost that
//! receives messages, once the definitions are imported. Computed in the planning step (with
//! the diff, also for `--dry-run`) so that a restore that would fail at the AMQP connect is
//! refused before anything is changed.
//!
//! Publishing needs (RabbitMQ's internal authorization backend):
//! - a permission entry for the user on the vhost (any: without one the AMQP connect to the
//!   vhost is refused, whatever the user's tags);
//! - its `write` pattern matching `amq.default`, the name the default exchange is checked as
//!   (an empty pattern matches nothing, as in RabbitMQ; patterns match anywhere in the name,
//!   like `re:run`).
//!
//! The passive declares and `tx.select`/`tx.commit` need no permission.
//!
//! The permission the user holds after the import is, in order:
//! 1. the backup's entry for this user and vhost, if it is imported (created, identical, or a
//!    conflict with `--force`: the import overwrites);
//! 2. full permissions when the import creates the vhost and the user is the management user
//!    doing the import: RabbitMQ grants the acting user `.*` on a vhost it creates (seen on
//!    3.10 for `PUT /api/vhosts` and `POST /api/definitions` alike);
//! 3. the target's current entry.
//!
//! Users the target does not know and the backup does not hold (LDAP, OAuth 2, ...) cannot be
//! judged from definitions: the check is skipped for them (logged).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::definitions::{vhost_of, Definitions};
use crate::diff::{Change, Diff};
use crate::metadata::MessagesMetadata;

/// The exchange name RabbitMQ checks publishing to the default exchange against.
const DEFAULT_EXCHANGE: &str = "amq.default";

/// The users involved in a restore.
#[derive(Debug, Clone)]
pub(crate) struct Users<'a> {
    /// The AMQP user messages are republished as.
    pub amqp: &'a str,
    /// The management API user doing the import.
    pub api: &'a str,
}

/// A vhost the AMQP user could not publish into after the import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Denied {
    /// The vhost.
    pub vhost: String,
    /// Why, e.g. `no permission entry (neither the target nor the backup grants one)`.
    pub reason: String,
}

impl Denied {
    /// `vhost `v`: reason`.
    pub fn describe(&self) -> String {
        format!("vhost `{}`: {}", self.vhost, self.reason)
    }
}

/// The vhosts a restore republishes messages into: those with messages in the manifest's
/// metadata (`messages.queues`), or, without that list, every vhost of the backup with a
/// queue.
pub(crate) fn vhosts_receiving_messages(
    messages: Option<&MessagesMetadata>,
    backup: &Definitions,
) -> BTreeSet<String> {
    if let Some(messages) = messages {
        return messages
            .queues
            .iter()
            .filter(|q| q.messages > 0)
            .map(|q| q.vhost.clone())
            .collect();
    }
    backup
        .section("queues")
        .iter()
        .filter_map(|q| vhost_of("queues", q))
        .map(str::to_string)
        .collect()
}

/// Whether `user` is known to the internal user database of the target or the backup (only
/// such users' permissions are in definitions).
pub(crate) fn user_is_known(user: &str, backup: &Definitions, current: &Definitions) -> bool {
    [backup, current].iter().any(|d| {
        d.section("users")
            .iter()
            .any(|u| u.get("name").and_then(Value::as_str) == Some(user))
    })
}

/// Whether `user` holds any permission entry on `vhost` in `defs` (it can connect there).
pub(crate) fn has_entry(defs: &Definitions, user: &str, vhost: &str) -> bool {
    find_permission(defs.section("permissions"), user, vhost).is_some()
}

fn find_permission<'a>(permissions: &'a [Value], user: &str, vhost: &str) -> Option<&'a Value> {
    permissions.iter().find(|p| {
        p.get("user").and_then(Value::as_str) == Some(user)
            && p.get("vhost").and_then(Value::as_str) == Some(vhost)
    })
}

/// The vhosts of `vhosts` where `users.amqp` could not publish after the import the diff
/// describes (see the module doc for the rules).
pub(crate) fn denied_vhosts(
    diff: &Diff,
    current: &Definitions,
    users: &Users<'_>,
    vhosts: &BTreeSet<String>,
    force: bool,
) -> Vec<Denied> {
    // Which entry of the backup is imported for each vhost, and which vhosts are created.
    let mut imported: BTreeMap<&str, &Value> = BTreeMap::new();
    let mut created = BTreeSet::new();
    let mut in_backup = BTreeSet::new();
    for item in &diff.items {
        let applied = match item.change {
            Change::Create | Change::Identical => true,
            Change::Conflict { .. } => force,
        };
        match item.section {
            "permissions"
                if applied
                    && item.object.get("user").and_then(Value::as_str) == Some(users.amqp) =>
            {
                if let Some(v) = vhost_of("permissions", &item.object) {
                    imported.insert(v, &item.object);
                }
            }
            "vhosts" => {
                if let Some(v) = vhost_of("vhosts", &item.object) {
                    in_backup.insert(v);
                    if item.change == Change::Create {
                        created.insert(v);
                    }
                }
            }
            _ => {}
        }
    }
    let exists_now = |v: &str| {
        current
            .section("vhosts")
            .iter()
            .any(|o| vhost_of("vhosts", o) == Some(v))
    };
    let mut denied = Vec::new();
    for vhost in vhosts {
        let v = vhost.as_str();
        let reason = if !exists_now(v) && !in_backup.contains(v) {
            Some("the vhost does not exist on the target and the backup does not create it".into())
        } else if let Some(p) = imported.get(v) {
            write_denied(p).map(|why| format!("{why} (the permission imported from the backup)"))
        } else if created.contains(v) && users.amqp == users.api {
            None // RabbitMQ grants the importing user `.*` on a vhost it creates.
        } else if let Some(p) = find_permission(current.section("permissions"), users.amqp, v) {
            write_denied(p).map(|why| format!("{why} (the target's permission)"))
        } else {
            Some(
                "no permission entry: neither the target nor the backup grants this user \
                 anything on it, so the AMQP connection is refused"
                    .into(),
            )
        };
        if let Some(reason) = reason {
            denied.push(Denied {
                vhost: vhost.clone(),
                reason,
            });
        }
    }
    denied
}

/// Why a permission entry does not allow publishing to the default exchange, if it does not.
fn write_denied(permission: &Value) -> Option<String> {
    let pattern = permission
        .get("write")
        .and_then(Value::as_str)
        .unwrap_or("");
    if pattern.is_empty() {
        return Some("its write permission is empty".into());
    }
    match regex::Regex::new(pattern) {
        Ok(r) if r.is_match(DEFAULT_EXCHANGE) => None,
        Ok(_) => Some(format!(
            "its write permission `{pattern}` does not match `{DEFAULT_EXCHANGE}` (the default \
             exchange messages are republished to)"
        )),
        Err(e) => {
            // A PCRE feature the regex crate lacks: cannot tell, do not refuse.
            tracing::warn!(pattern, error = %e, "cannot evaluate a write permission pattern; assuming it allows publishing");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    use crate::definitions::from_json as defs;

    fn perm(user: &str, vhost: &str, write: &str) -> Value {
        json!({"user": user, "vhost": vhost, "configure": "", "write": write, "read": ""})
    }

    fn denied(backup: Value, current: Value, amqp: &str, force: bool) -> BTreeMap<String, String> {
        let (backup, current) = (defs(backup), defs(current));
        let diff = Diff::new(&backup, &current);
        let vhosts: BTreeSet<String> = ["v".to_string()].into();
        let users = Users { amqp, api: "admin" };
        denied_vhosts(&diff, &current, &users, &vhosts, force)
            .into_iter()
            .map(|d| (d.vhost, d.reason))
            .collect()
    }

    #[test]
    fn an_existing_vhost_without_an_entry_for_the_user_is_denied() {
        let d = denied(
            json!({"vhosts": [{"name": "v"}], "permissions": [perm("other", "v", ".*")]}),
            json!({"vhosts": [{"name": "v"}], "permissions": [perm("other", "v", ".*")]}),
            "admin",
            false,
        );
        assert!(d["v"].contains("no permission entry"), "{d:?}");
    }

    #[test]
    fn the_targets_or_the_backups_entry_grants_it() {
        for (backup, current) in [
            (json!([]), json!([perm("admin", "v", ".*")])),
            (json!([perm("admin", "v", "^amq\\.default$")]), json!([])),
            (json!([perm("admin", "v", "amq")]), json!([])),
        ] {
            let d = denied(
                json!({"vhosts": [{"name": "v"}], "permissions": backup}),
                json!({"vhosts": [{"name": "v"}], "permissions": current}),
                "admin",
                false,
            );
            assert!(d.is_empty(), "{d:?}");
        }
    }

    #[test]
    fn write_patterns_that_miss_the_default_exchange_are_denied() {
        for write in ["", "^orders$", "^$"] {
            let d = denied(
                json!({"vhosts": [{"name": "v"}]}),
                json!({"vhosts": [{"name": "v"}], "permissions": [perm("admin", "v", write)]}),
                "admin",
                false,
            );
            assert!(d["v"].contains("write permission"), "{write}: {d:?}");
        }
    }

    #[test]
    fn imported_permissions_overwrite_the_targets_with_force_only() {
        let backup = json!({"vhosts": [{"name": "v"}], "permissions": [perm("admin", "v", "")]});
        let current = json!({"vhosts": [{"name": "v"}], "permissions": [perm("admin", "v", ".*")]});
        // Without --force the conflicting entry stays (and the restore is refused for the
        // conflict anyway); with --force the backup's empty write permission replaces it.
        assert!(denied(backup.clone(), current.clone(), "admin", false).is_empty());
        let d = denied(backup, current, "admin", true);
        assert!(d["v"].contains("imported from the backup"), "{d:?}");
    }

    #[test]
    fn a_vhost_the_import_creates_grants_the_importing_user_only() {
        let backup = json!({"vhosts": [{"name": "v"}]});
        assert!(denied(backup.clone(), json!({}), "admin", false).is_empty());
        // Another AMQP user gets nothing from the vhost's creation.
        let d = denied(backup, json!({}), "publisher", false);
        assert!(d["v"].contains("no permission entry"), "{d:?}");
        // The backup's own entry for the importing user overrides the creator's grant.
        let d = denied(
            json!({"vhosts": [{"name": "v"}], "permissions": [perm("admin", "v", "^x$")]}),
            json!({}),
            "admin",
            false,
        );
        assert!(d["v"].contains("does not match `amq.default`"), "{d:?}");
    }

    #[test]
    fn a_vhost_nobody_creates_is_reported() {
        let d = denied(json!({}), json!({}), "admin", false);
        assert!(d["v"].contains("does not exist"), "{d:?}");
    }

    #[test]
    fn the_vhosts_with_messages_come_from_the_manifest_or_the_queues() {
        let backup = defs(json!({"queues": [
            {"vhost": "a", "name": "q"}, {"vhost": "b", "name": "q"}]}));
        let metadata: crate::RabbitmqMetadata =
            serde_json::from_value(json!({"messages": {"queues": [
            {"vhost": "a", "queue": "q", "messages": 3, "depth": 3},
            {"vhost": "b", "queue": "q", "messages": 0, "depth": 0}]}}))
            .unwrap();
        assert_eq!(
            vhosts_receiving_messages(metadata.messages.as_ref(), &backup),
            ["a".to_string()].into()
        );
        assert_eq!(
            vhosts_receiving_messages(None, &backup),
            ["a".to_string(), "b".to_string()].into()
        );
    }
}
