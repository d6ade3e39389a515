//! [`RabbitmqTarget`]: compare the backup with the broker, refuse conflicts, import the
//! definitions vhost by vhost, then republish the messages.

use std::collections::BTreeMap;
use std::time::Instant;

use async_trait::async_trait;
use backup_core::{Manifest, Report, RestoreOptions, StoreError, Target};
use serde_json::{json, Map, Value};
use tokio::io::AsyncRead;

use crate::access::{
    denied_vhosts, has_entry, user_is_known, vhosts_receiving_messages, Denied, Users,
};
use crate::amqp::{amqp_error, connect, passive_declare, scrubbed};
use crate::api::{object_path, Api};
use crate::definitions::{vhost_of, Definitions};
use crate::diff::{Change, Diff, Item};
use crate::endpoint::Endpoints;
use crate::error::{chain_text, RabbitmqError, Step};
use crate::format::DumpFormat;
use crate::metadata::RabbitmqMetadata;
use crate::options::RabbitmqOptions;
use crate::publish::Publisher;
use crate::reader::DumpReader;
use crate::responses::{Overview, QueueStats};

/// The restore side: the source's own broker, or the management URL given with `--to`.
#[derive(Debug)]
pub struct RabbitmqTarget {
    api: Api,
}

impl RabbitmqTarget {
    /// A target for the source with `options`, or the management API at `to` (a URL such as
    /// `http://user:password@host:15672`; without credentials, the source's are used; its
    /// certificate is checked with the source's `tls_ca_file` and `tls_insecure`).
    pub fn new(options: &RabbitmqOptions, to: Option<&str>) -> Result<Self, RabbitmqError> {
        let api = Api::new(Endpoints::resolve(options, to)?)?;
        Ok(Self { api })
    }

    async fn restore_inner(
        &self,
        input: &mut (dyn AsyncRead + Send + Unpin),
        manifest: &Manifest,
        options: &RestoreOptions,
    ) -> Result<Report, RabbitmqError> {
        let started = Instant::now();
        let metadata = RabbitmqMetadata::of(manifest)?;
        let mut reader = DumpReader::new(input, DumpFormat::of(manifest)?);
        let backup = reader.read_all_definitions().await?;
        if !reader.has_messages() {
            // Definitions only: read to EOF before touching the broker.
            reader.finish().await?;
        }
        let current = self.api.definitions(Step::Diff, "/api/definitions").await?;
        let mut diff = Diff::new(&backup, &current);
        // Messages: the user they are republished as must be able to publish into each vhost
        // receiving some once the definitions are imported; refused now, before any change.
        let mut denied = Vec::new();
        if reader.has_messages() {
            let vhosts = vhosts_receiving_messages(metadata.messages.as_ref(), &backup);
            let users = Users {
                amqp: &self.api.amqp().username,
                api: self.api.username(),
            };
            if user_is_known(users.amqp, &backup, &current) {
                denied = denied_vhosts(&diff, &current, &users, &vhosts, options.force);
            } else {
                tracing::info!(
                    user = users.amqp,
                    "the AMQP user is not in the target's or the backup's user database \
                     (another auth backend?): its permissions cannot be checked before the import"
                );
            }
            if !denied.is_empty() && !options.dry_run {
                return Err(self.no_permission(&denied));
            }
            diff.extra_conflicts = self
                .queues_holding_messages(&diff, &backup, &current)
                .await?;
        }
        let conflicts = diff.conflicts();

        if options.dry_run {
            let mut messages = 0u64;
            while reader.next_message().await?.is_some() {
                messages += 1;
            }
            let verdict = if !denied.is_empty() {
                "the restore would be refused (the AMQP user lacks permissions, see below)"
            } else if conflicts.is_empty() || options.force {
                "the restore would proceed"
            } else {
                "the restore would be refused without --force"
            };
            let mut permission_lines = String::new();
            for d in &denied {
                permission_lines.push_str(&format!(
                    "\n  ! permission: user `{}` could not publish into {}",
                    self.api.amqp().username,
                    d.describe()
                ));
            }
            if !denied.is_empty() {
                permission_lines.push_str(&format!("\n  {}", self.no_permission(&denied)));
            }
            let summary = format!(
                "{verdict} on {}: {}{permission_lines}{}",
                self.describe(),
                diff.render(200),
                if reader.has_messages() {
                    format!("\n  {messages} message(s) would be republished")
                } else {
                    String::new()
                }
            );
            let denied: Vec<String> = denied.iter().map(Denied::describe).collect();
            return Ok(Report {
                summary,
                details: json!({
                    "dry_run": true,
                    "diff": diff.details(),
                    "messages": messages,
                    "publish_permission_missing": denied,
                }),
            });
        }
        if !conflicts.is_empty() && !options.force {
            return Err(RabbitmqError::Conflicts {
                target: self.describe(),
                conflicts,
            });
        }

        let applied = self.apply(&diff, &backup).await?;
        let mut published = 0;
        let mut publisher_details = Value::Null;
        if reader.has_messages() {
            let mut publisher = Publisher::new(self.api.amqp().clone());
            let result = async {
                while let Some(message) = reader.next_message().await? {
                    publisher.publish(&message).await?;
                }
                Ok::<_, RabbitmqError>(())
            }
            .await;
            if let Err(e) = result {
                publisher.abort().await;
                return Err(e);
            }
            let per_queue: Vec<Value> = publisher
                .counts
                .iter()
                .map(|((v, q), n)| json!({"vhost": v, "queue": q, "messages": n}))
                .collect();
            let dropped = publisher.user_id_dropped;
            published = publisher.commit().await?;
            publisher_details = json!({ "queues": per_queue, "user_id_dropped": dropped });
        }
        let restore_ms = started.elapsed().as_millis() as u64;
        let summary = format!(
            "restored into {}: {} object(s) created, {} already there{}{}",
            self.describe(),
            applied.created,
            diff.identical(),
            if applied.overwritten > 0 {
                format!(", {} overwritten (--force)", applied.overwritten)
            } else {
                String::new()
            },
            if reader.has_messages() {
                format!(", {published} message(s) republished")
            } else {
                String::new()
            }
        );
        Ok(Report {
            summary,
            details: json!({
                "target": self.describe(),
                "diff": diff.details(),
                "created": applied.created,
                "overwritten": applied.overwritten,
                "messages": published,
                "message_queues": publisher_details,
                "restore_ms": restore_ms,
            }),
        })
    }

    /// The refusal for vhosts the AMQP user could not publish into.
    fn no_permission(&self, denied: &[Denied]) -> RabbitmqError {
        RabbitmqError::NoPublishPermission {
            target: self.describe(),
            user: self.api.amqp().username.clone(),
            denied: denied.iter().map(Denied::describe).collect(),
        }
    }

    /// Queues of a messages backup that already exist (identically) and hold messages:
    /// republishing would append to them, so they count as conflicts.
    ///
    /// Counted with a passive declare over AMQP (exact), or, in a vhost where the AMQP user has
    /// no permission entry yet (the import would grant it), from the management API's queue
    /// statistics (which can lag by a few seconds).
    async fn queues_holding_messages(
        &self,
        diff: &Diff,
        backup: &Definitions,
        current: &Definitions,
    ) -> Result<Vec<String>, RabbitmqError> {
        let mut by_vhost: BTreeMap<&str, Vec<&Item>> = BTreeMap::new();
        for item in &diff.items {
            if item.section == "queues" && item.change == Change::Identical {
                if let Some(v) = vhost_of("queues", &item.object) {
                    by_vhost.entry(v).or_default().push(item);
                }
            }
        }
        let mut found = Vec::new();
        let amqp = self.api.amqp();
        let user = amqp.username.as_str();
        let judged = user_is_known(user, backup, current);
        for (vhost, items) in by_vhost {
            if judged && !has_entry(current, user, vhost) {
                for item in items {
                    let name = item
                        .object
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    let queue: QueueStats = self
                        .api
                        .get_json(Step::Diff, &object_path("queues", vhost, name))
                        .await?;
                    let n = queue.messages;
                    if n > 0 {
                        found.push(format!(
                            "queue {vhost}/{name} already holds {n} message(s); republishing would append to them"
                        ));
                    }
                }
                continue;
            }
            let connection = connect(amqp, vhost, Step::Diff).await?;
            for item in items {
                let name = item
                    .object
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let channel = connection
                    .create_channel()
                    .await
                    .map_err(|e| amqp_error(amqp, vhost, Step::Diff, "channel.open", e))?;
                match passive_declare(&channel, name).await {
                    Ok(q) if q.message_count() > 0 => found.push(format!(
                        "queue {vhost}/{name} already holds {} message(s); republishing would append to them",
                        q.message_count()
                    )),
                    Ok(_) => {}
                    Err(e) => tracing::debug!(vhost, queue = name, error = %chain_text(&scrubbed(amqp, e)), "passive declare failed"),
                }
                let _ = channel.close(200, "checked").await;
            }
            let _ = connection.close(200, "checked").await;
        }
        Ok(found)
    }

    /// Imports what the diff says: global objects first, then each vhost's objects.
    async fn apply(&self, diff: &Diff, backup: &Definitions) -> Result<Applied, RabbitmqError> {
        let mut applied = Applied::default();
        let wanted: Vec<&Item> = diff
            .items
            .iter()
            .filter(|i| !matches!(i.change, Change::Identical))
            .collect();
        // --force: queues and exchanges cannot be redeclared with other arguments, so the
        // conflicting ones are deleted first (with their messages).
        for item in wanted
            .iter()
            .filter(|i| matches!(i.change, Change::Conflict { .. }))
        {
            applied.overwritten += 1;
            let kind = match item.section {
                "queues" => "queues",
                "exchanges" => "exchanges",
                _ => continue,
            };
            let vhost = vhost_of(item.section, &item.object).unwrap_or_default();
            let name = item
                .object
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            tracing::warn!(
                vhost,
                name,
                "--force: deleting the conflicting {} to recreate it",
                crate::definitions::noun(item.section)
            );
            self.api
                .delete(Step::Import, &object_path(kind, vhost, name))
                .await?;
        }
        applied.created = wanted.len() - applied.overwritten;

        let version = backup
            .fields
            .get("rabbit_version")
            .cloned()
            .unwrap_or_else(|| json!("3.10.0"));
        let document = |items: &[&Item]| -> Value {
            let mut doc = Map::new();
            doc.insert("rabbit_version".into(), version.clone());
            for item in items {
                if let Some(a) = doc
                    .entry(item.section.to_string())
                    .or_insert_with(|| Value::Array(Vec::new()))
                    .as_array_mut()
                {
                    a.push(item.object.clone());
                }
            }
            Value::Object(doc)
        };
        let global: Vec<&Item> = wanted
            .iter()
            .copied()
            .filter(|i| {
                matches!(
                    i.section,
                    "users" | "vhosts" | "permissions" | "topic_permissions"
                )
            })
            .collect();
        if !global.is_empty() {
            self.api
                .post_definitions(Step::Import, &document(&global))
                .await?;
        }
        let mut per_vhost: BTreeMap<&str, Vec<&Item>> = BTreeMap::new();
        for item in wanted.iter().copied().filter(|i| {
            !matches!(
                i.section,
                "users" | "vhosts" | "permissions" | "topic_permissions"
            )
        }) {
            per_vhost
                .entry(vhost_of(item.section, &item.object).unwrap_or_default())
                .or_default()
                .push(item);
        }
        for (vhost, items) in per_vhost {
            tracing::info!(vhost, objects = items.len(), "importing definitions");
            self.api
                .post_definitions(Step::Import, &document(&items))
                .await?;
        }
        Ok(applied)
    }
}

#[derive(Debug, Default)]
struct Applied {
    created: usize,
    overwritten: usize,
}

#[async_trait]
impl Target for RabbitmqTarget {
    fn formats(&self) -> &'static [&'static str] {
        crate::FORMATS
    }

    fn describe(&self) -> String {
        format!("RabbitMQ at {}", self.api.display())
    }

    async fn prepare(&self, _: &Manifest, _: &RestoreOptions) -> Result<(), StoreError> {
        // The pipeline has refused the formats not in `formats()`. Here: reachable, and the
        // credentials valid. The comparison with the backup needs the backup's definitions, so
        // conflicts are found in `restore`, before anything is changed.
        self.api
            .get_json::<Overview>(Step::Preflight, "/api/overview")
            .await?;
        Ok(())
    }

    async fn restore(
        &self,
        input: &mut (dyn AsyncRead + Send + Unpin),
        manifest: &Manifest,
        options: &RestoreOptions,
    ) -> Result<Report, StoreError> {
        Ok(self.restore_inner(input, manifest, options).await?)
    }
}
