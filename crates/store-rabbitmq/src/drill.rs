//! [`RabbitmqDrill`]: `lifeboat verify --deep` imports the backup into scratch vhosts on the
//! source's broker, compares what the broker then holds with the manifest, and deletes the
//! scratch vhosts, also when something fails.
//!
//! Each vhost of the backup gets its own scratch vhost
//! `lifeboat_verify_<time>_<host+boot>_<pid>_<random>_<n>` (one per source vhost, so two
//! vhosts with a queue of the same name do not collide; the name says whose it is, see
//! [`backup_core::scratch_name`]); its
//! parameters, policies, queues, exchanges and bindings are imported there with their `vhost`
//! renamed, and its messages republished there (in a transaction per vhost). Users,
//! permissions and topic permissions are broker-wide and are only counted, never imported.
//!
//! Parameters that *do* something are not imported either: a dynamic shovel or a federation
//! upstream in a scratch vhost would start moving real messages (a shovel's source is usually
//! a real queue of this or another broker). They are counted from the dump, listed in the
//! report (`parameters_not_imported`) and left out of the broker-side comparison.
//!
//! Permissions: the drill grants the management user and the AMQP user (when `amqp_url`
//! names another one) full permissions on each scratch vhost it creates, so it never depends
//! on what they hold on the real vhosts; the grants go away with the scratch vhosts.
//!
//! A drill killed outright cannot delete its scratch vhosts: each drill first deletes those
//! whose drill is provably gone (never a user's vhost, whose name cannot have that shape, nor
//! one of a drill still running).

use std::collections::BTreeMap;
use std::time::Instant;

use async_trait::async_trait;
use backup_core::scratch_name::{self, ScratchName};
use backup_core::{FormatCheck, Manifest, Report, StoreError};
use lifeboat_edge::percent;
use serde_json::{json, Value};
use tokio::io::AsyncRead;

use crate::api::Api;
use crate::check::{compare_with_manifest, describe_counts, DumpCounts};
use crate::definitions::{vhost_of, Definitions, VHOST_SECTIONS};
use crate::endpoint::Endpoints;
use crate::error::{RabbitmqError, Step};
use crate::format::DumpFormat;
use crate::metadata::RabbitmqMetadata;
use crate::options::RabbitmqOptions;
use crate::publish::Publisher;
use crate::reader::DumpReader;

/// `verify --deep`: a restore drill into scratch vhosts next to the source.
#[derive(Debug)]
pub struct RabbitmqDrill {
    api: Api,
}

impl RabbitmqDrill {
    /// A drill on the broker of the source with `options`.
    pub fn new(options: &RabbitmqOptions) -> Result<Self, RabbitmqError> {
        let api = Api::new(Endpoints::resolve(options, None)?)?;
        Ok(Self { api })
    }

    async fn run(
        &self,
        input: &mut (dyn AsyncRead + Send + Unpin),
        manifest: &Manifest,
        scratch: &mut Vec<String>,
    ) -> Result<Report, RabbitmqError> {
        let started = Instant::now();
        let metadata = RabbitmqMetadata::of(manifest)?;
        let mut reader = DumpReader::new(input, DumpFormat::of(manifest)?);
        let backup = reader.read_all_definitions().await?;
        self.delete_orphans().await;
        let prefix = scratch_name::new_name(SCRATCH_PREFIX);
        let mut map = BTreeMap::new();
        for (n, vhost) in backup.vhost_names().into_iter().enumerate() {
            map.insert(vhost, format!("{prefix}_{n}"));
        }
        // Create every scratch vhost and import its objects.
        let mut not_imported: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (source, target) in &map {
            scratch.push(target.clone());
            self.api.put_vhost(Step::Scratch, target).await?;
            // The drill's own scratch vhost (deleted afterwards, with its permissions): the
            // management user (RabbitMQ grants it on creation anyway) and the AMQP user the
            // messages are republished as (another user when `amqp_url` has credentials) get
            // full permissions there, whatever they hold elsewhere.
            self.api
                .grant(Step::Scratch, target, self.api.username())
                .await?;
            let amqp_user = &self.api.amqp().username;
            if amqp_user != self.api.username() {
                if let Err(e) = self.api.grant(Step::Scratch, target, amqp_user).await {
                    // Not a user of the internal database (LDAP...): its access is not ours
                    // to grant; publishing says so clearly if it has none.
                    tracing::warn!(user = %amqp_user, vhost = %target, error = %e, "could not grant the AMQP user permissions on the drill's scratch vhost");
                }
            }
            let (doc, left_out) = renamed(&backup, source, target);
            if !left_out.is_empty() {
                tracing::info!(vhost = %source, parameters = ?left_out, "drill: shovel and federation parameters are not imported into the scratch vhost (they would move real messages)");
                not_imported.insert(source.clone(), left_out);
            }
            self.api.post_definitions(Step::Import, &doc).await?;
        }
        let mut published = None;
        if reader.has_messages() {
            let mut publisher = Publisher::new(self.api.amqp().clone()).renaming(map.clone());
            let result = async {
                let mut n = 0u64;
                while let Some(m) = reader.next_message().await? {
                    publisher.publish(&m).await?;
                    n += 1;
                }
                Ok::<_, RabbitmqError>(n)
            }
            .await;
            match result {
                Ok(_) => published = Some(publisher.commit().await?),
                Err(e) => {
                    publisher.abort().await;
                    return Err(e);
                }
            }
        } else {
            reader.finish().await?;
        }
        let restore_ms = started.elapsed().as_millis() as u64;

        // The stream against the manifest.
        let found = DumpCounts {
            counts: backup.counts(),
            messages: published,
        };
        let mut comparison = compare_with_manifest(&found, &metadata)?;
        // The broker against the stream, vhost by vhost.
        let mut per_vhost = serde_json::Map::new();
        for (source, target) in &map {
            let path = format!("/api/definitions/{}", percent::encode_component(target));
            let imported = self.api.definitions(Step::Scratch, &path).await?;
            let expected = found.counts.vhosts.get(source).cloned().unwrap_or_default();
            let mut row = serde_json::Map::new();
            let left_out = not_imported.get(source).map_or(0, Vec::len) as u64;
            for section in VHOST_SECTIONS {
                let mut want = expected.get(*section).copied().unwrap_or(0);
                if *section == "parameters" {
                    want = want.saturating_sub(left_out);
                }
                let have = imported.section(section).len() as u64;
                if want != have {
                    return Err(RabbitmqError::Mismatch {
                        what: format!(
                            "{section} of vhost `{source}` after importing it into `{target}`"
                        ),
                        expected: want.to_string(),
                        actual: have.to_string(),
                    });
                }
                row.insert((*section).to_string(), json!(have));
            }
            per_vhost.insert(source.clone(), Value::Object(row));
        }
        if let Value::Object(c) = &mut comparison {
            c.insert("vhosts".into(), Value::Object(per_vhost));
        }
        Ok(Report {
            summary: format!(
                "restore drill into {} scratch vhost(s) on {} matched the manifest: {} (restore took {restore_ms} ms)",
                map.len(),
                self.api.display(),
                describe_counts(&found)
            ),
            details: json!({
                "scratch_vhosts": map,
                "parameters_not_imported": not_imported,
                "comparison": comparison,
                "restore_ms": restore_ms,
            }),
        })
    }
}

/// The prefix of scratch vhost names.
const SCRATCH_PREFIX: &str = "lifeboat_verify_";

impl RabbitmqDrill {
    /// Deletes the scratch vhosts left by drills that are gone. Best effort: a failure is
    /// logged, and the drill goes on.
    async fn delete_orphans(&self) {
        let vhosts: Vec<Value> = match self
            .api
            .get_json(Step::Scratch, "/api/vhosts?columns=name")
            .await
        {
            Ok(vhosts) => vhosts,
            Err(e) => {
                tracing::warn!(error = %e, "cannot look for scratch vhosts of dead drills");
                return;
            }
        };
        for vhost in vhosts.iter().filter_map(|v| v.get("name")?.as_str()) {
            let Some(why) = ScratchName::parse(SCRATCH_PREFIX, vhost).and_then(|n| n.orphaned())
            else {
                continue;
            };
            tracing::warn!(
                vhost,
                "deleting the scratch vhost of a restore drill that died: {why}"
            );
            if let Err(e) = self.api.delete_vhost(Step::Scratch, vhost).await {
                tracing::warn!(vhost, error = %e, "could not delete a dead drill's scratch vhost");
            }
        }
    }
}

/// Whether a vhost parameter starts work of its own once imported: a dynamic shovel or a
/// federation upstream (set) consumes from and publishes to real queues and brokers.
fn is_active_parameter(obj: &Value) -> bool {
    let component = obj.get("component").and_then(Value::as_str).unwrap_or("");
    component.starts_with("shovel") || component.starts_with("federation")
}

/// The objects of vhost `source` with their vhost renamed to `target`, as an import document,
/// without the active parameters (returned as `component/name`, see [`is_active_parameter`]).
fn renamed(backup: &Definitions, source: &str, target: &str) -> (Value, Vec<String>) {
    let mut doc = serde_json::Map::new();
    let mut left_out = Vec::new();
    if let Some(v) = backup.fields.get("rabbit_version") {
        doc.insert("rabbit_version".into(), v.clone());
    }
    for section in VHOST_SECTIONS {
        let objects: Vec<Value> = backup
            .section(section)
            .iter()
            .filter(|o| vhost_of(section, o) == Some(source))
            .filter(|o| {
                let active = *section == "parameters" && is_active_parameter(o);
                if active {
                    left_out.push(format!(
                        "{}/{}",
                        o.get("component").and_then(Value::as_str).unwrap_or(""),
                        o.get("name").and_then(Value::as_str).unwrap_or("")
                    ));
                }
                !active
            })
            .map(|o| {
                let mut o = o.clone();
                if let Some(map) = o.as_object_mut() {
                    map.insert("vhost".into(), json!(target));
                }
                o
            })
            .collect();
        doc.insert((*section).to_string(), Value::Array(objects));
    }
    (Value::Object(doc), left_out)
}

#[async_trait]
impl FormatCheck for RabbitmqDrill {
    fn formats(&self) -> &'static [&'static str] {
        crate::FORMATS
    }

    async fn check(
        &self,
        input: &mut (dyn AsyncRead + Send + Unpin),
        manifest: &Manifest,
    ) -> Result<Report, StoreError> {
        let mut scratch = Vec::new();
        let result = self.run(input, manifest, &mut scratch).await;
        let mut cleanup_error = None;
        for vhost in &scratch {
            if let Err(e) = self.api.delete_vhost(Step::Scratch, vhost).await {
                tracing::error!(vhost, error = %e, "could not delete the drill's scratch vhost: delete it by hand");
                cleanup_error.get_or_insert(e);
            }
        }
        let report = result?;
        if let Some(e) = cleanup_error {
            return Err(e.into());
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn shovels_and_federation_upstreams_are_never_imported_into_a_scratch_vhost() {
        let mut backup = Definitions::default();
        backup.sections.insert(
            "parameters".into(),
            vec![
                json!({"vhost": "v", "component": "shovel", "name": "move-orders",
                       "value": {"src-uri": "amqp://", "src-queue": "orders",
                                 "dest-uri": "amqp://elsewhere", "dest-queue": "orders"}}),
                json!({"vhost": "v", "component": "federation-upstream", "name": "up",
                       "value": {"uri": "amqp://upstream"}}),
                json!({"vhost": "v", "component": "vhost-limits", "name": "limits",
                       "value": {"max-queues": 10}}),
                json!({"vhost": "w", "component": "shovel", "name": "other", "value": {}}),
            ],
        );
        backup.sections.insert(
            "queues".into(),
            vec![json!({"vhost": "v", "name": "orders", "durable": true})],
        );
        let (doc, left_out) = renamed(&backup, "v", "scratch");
        assert_eq!(left_out, ["shovel/move-orders", "federation-upstream/up"]);
        assert_eq!(
            doc["parameters"],
            json!([{"vhost": "scratch", "component": "vhost-limits", "name": "limits",
                    "value": {"max-queues": 10}}])
        );
        assert_eq!(doc["queues"][0]["vhost"], "scratch");
        assert!(!doc.to_string().contains("amqp://"));
    }
}
