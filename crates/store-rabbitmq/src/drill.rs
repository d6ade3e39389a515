//! [`RabbitmqDrill`]: `lifeboat verify --deep` imports the backup into scratch vhosts on the
//! source's broker, compares what the broker then holds with the manifest, and deletes the
//! scratch vhosts, also when something fails.
//!
//! Each vhost of the backup gets its own scratch vhost `lifeboat_verify_<random>_<n>` (one
//! per source vhost, so two vhosts with a queue of the same name do not collide); its
//! parameters, policies, queues, exchanges and bindings are imported there with their `vhost`
//! renamed, and its messages republished there (in a transaction per vhost). Users,
//! permissions and topic permissions are broker-wide and are only counted, never imported.

use std::collections::BTreeMap;
use std::time::Instant;

use async_trait::async_trait;
use backup_core::{FormatCheck, Manifest, Report, StoreError};
use serde_json::{json, Value};
use tokio::io::AsyncRead;

use crate::api::Api;
use crate::check::{compare_with_manifest, describe_counts, DumpCounts};
use crate::definitions::{vhost_of, Definitions, VHOST_SECTIONS};
use crate::error::{RabbitmqError, Step};
use crate::format::DumpReader;
use crate::options::{encode_segment, Endpoints, RabbitmqOptions};
use crate::publish::Publisher;
use crate::target::fetch_definitions;

/// `verify --deep`: a restore drill into scratch vhosts next to the source.
#[derive(Debug)]
pub struct RabbitmqDrill {
    endpoints: Endpoints,
    api: Api,
}

impl RabbitmqDrill {
    /// A drill on the broker of the source with `options`.
    pub fn new(options: &RabbitmqOptions) -> Result<Self, RabbitmqError> {
        let endpoints = Endpoints::resolve(options, None)?;
        let api = Api::new(endpoints.api.clone(), endpoints.amqp.clone())?;
        Ok(Self { endpoints, api })
    }

    async fn run(
        &self,
        input: &mut (dyn AsyncRead + Send + Unpin),
        manifest: &Manifest,
        scratch: &mut Vec<String>,
    ) -> Result<Report, RabbitmqError> {
        let started = Instant::now();
        let mut reader = DumpReader::new(input, &manifest.dump_format)?;
        let backup = reader.read_all_definitions().await?;
        let prefix = format!("lifeboat_verify_{:08x}", rand::random::<u32>());
        let mut map = BTreeMap::new();
        for (n, vhost) in backup.vhost_names().into_iter().enumerate() {
            map.insert(vhost, format!("{prefix}_{n}"));
        }
        // Create every scratch vhost and import its objects.
        for (source, target) in &map {
            scratch.push(target.clone());
            self.api.put_vhost(Step::Scratch, target).await?;
            self.api.grant_self(Step::Scratch, target).await?;
            let doc = renamed(&backup, source, target);
            self.api.post_definitions(Step::Import, &doc).await?;
        }
        let mut published = None;
        if reader.has_messages() {
            let mut publisher = Publisher::new(self.endpoints.amqp.clone()).renaming(map.clone());
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
        let mut comparison = compare_with_manifest(&found, manifest)?;
        // The broker against the stream, vhost by vhost.
        let mut per_vhost = serde_json::Map::new();
        for (source, target) in &map {
            let imported = fetch_definitions(
                &self.api,
                Step::Scratch,
                &format!("/api/definitions/{}", encode_segment(target)),
            )
            .await?;
            let expected = found.counts.vhosts.get(source).cloned().unwrap_or_default();
            let mut row = serde_json::Map::new();
            for section in VHOST_SECTIONS {
                let want = expected.get(*section).copied().unwrap_or(0);
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
                "comparison": comparison,
                "restore_ms": restore_ms,
            }),
        })
    }
}

/// The objects of vhost `source` with their vhost renamed to `target`, as an import document.
fn renamed(backup: &Definitions, source: &str, target: &str) -> Value {
    let mut doc = serde_json::Map::new();
    if let Some(v) = backup.fields.get("rabbit_version") {
        doc.insert("rabbit_version".into(), v.clone());
    }
    for section in VHOST_SECTIONS {
        let objects: Vec<Value> = backup
            .section(section)
            .iter()
            .filter(|o| vhost_of(section, o) == Some(source))
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
    Value::Object(doc)
}

#[async_trait]
impl FormatCheck for RabbitmqDrill {
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
