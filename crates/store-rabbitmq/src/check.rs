//! [`RabbitmqCheck`]: `lifeboat verify` reads a dump to its end and checks its structure and
//! counts against the manifest, without touching any broker.

use async_trait::async_trait;
use backup_core::{FormatCheck, Manifest, Report, StoreError};
use serde_json::{json, Value};
use tokio::io::AsyncRead;

use crate::definitions::{parse_element, Counts};
use crate::error::RabbitmqError;
use crate::format::DumpReader;
use crate::scan::Event;

/// The format check `verify` runs on a dump of one of [`crate::DUMP_FORMATS`]: every
/// definitions object must be valid JSON of the right shape, every message line well formed
/// and in order, the trailer's counts must match, and the object and message counts must equal
/// the manifest's.
#[derive(Debug, Default)]
pub struct RabbitmqCheck;

impl RabbitmqCheck {
    /// The check.
    pub fn new() -> Self {
        Self
    }
}

/// What a dump holds, counted while streaming it.
#[derive(Debug, Default)]
pub(crate) struct DumpCounts {
    pub counts: Counts,
    pub messages: Option<u64>,
}

/// Streams a dump, counting objects (one at a time in memory) and messages.
pub(crate) async fn count_dump(
    input: &mut (dyn AsyncRead + Send + Unpin),
    dump_format: &str,
) -> Result<DumpCounts, RabbitmqError> {
    let mut reader = DumpReader::new(input, dump_format)?;
    let mut counts = Counts::default();
    let mut sections = 0usize;
    reader
        .read_definitions(|event| {
            match event {
                Event::Element { section, raw } => {
                    let obj = parse_element(&section, &raw)?;
                    counts.add(&section, &obj);
                }
                Event::SectionStart(_) => sections += 1,
                Event::Field { key, raw } => {
                    serde_json::from_slice::<Value>(&raw)
                        .map_err(|e| format!("field `{key}` is not valid JSON: {e}"))?;
                }
            }
            Ok(())
        })
        .await?;
    if sections == 0 {
        return Err(RabbitmqError::format(
            "rabbitmq-definitions",
            "no definitions section (users, vhosts, queues...) found",
        ));
    }
    counts.fill();
    let messages = if reader.has_messages() {
        let mut n = 0u64;
        while reader.next_message().await?.is_some() {
            n += 1;
        }
        Some(n)
    } else {
        reader.finish().await?;
        None
    };
    Ok(DumpCounts { counts, messages })
}

/// Compares what the dump holds with the manifest's metadata (written by this store's
/// source); a manifest without those counts is not compared.
pub(crate) fn compare_with_manifest(
    found: &DumpCounts,
    manifest: &Manifest,
) -> Result<Value, RabbitmqError> {
    let meta = &manifest.metadata;
    let mut compared = serde_json::Map::new();
    if let Some(Value::Object(expected)) = meta.get("counts") {
        for (section, n) in expected {
            let want = n.as_u64().unwrap_or(0);
            let have = found.counts.sections.get(section).copied().unwrap_or(0);
            if want != have {
                return Err(RabbitmqError::Mismatch {
                    what: format!("{section} in the definitions"),
                    expected: want.to_string(),
                    actual: have.to_string(),
                });
            }
            compared.insert(section.clone(), json!(have));
        }
    }
    if let Some(want) = meta
        .get("messages")
        .and_then(|m| m.get("total"))
        .and_then(Value::as_u64)
    {
        let have = found.messages.unwrap_or(0);
        if want != have {
            return Err(RabbitmqError::Mismatch {
                what: "messages".to_string(),
                expected: want.to_string(),
                actual: have.to_string(),
            });
        }
        compared.insert("messages".into(), json!(have));
    }
    Ok(Value::Object(compared))
}

pub(crate) fn describe_counts(found: &DumpCounts) -> String {
    let c = &found.counts.sections;
    let n = |k: &str| c.get(k).copied().unwrap_or(0);
    let mut text = format!(
        "{} vhost(s), {} user(s), {} queue(s), {} exchange(s), {} binding(s), {} policy(ies)",
        n("vhosts"),
        n("users"),
        n("queues"),
        n("exchanges"),
        n("bindings"),
        n("policies")
    );
    if let Some(m) = found.messages {
        text.push_str(&format!(", {m} message(s)"));
    }
    text
}

#[async_trait]
impl FormatCheck for RabbitmqCheck {
    fn formats(&self) -> &'static [&'static str] {
        crate::FORMATS
    }

    async fn check(
        &self,
        input: &mut (dyn AsyncRead + Send + Unpin),
        manifest: &Manifest,
    ) -> Result<Report, StoreError> {
        let found = count_dump(input, &manifest.dump_format).await?;
        let compared = compare_with_manifest(&found, manifest)?;
        Ok(Report {
            summary: format!(
                "valid {} dump: {}",
                manifest.dump_format,
                describe_counts(&found)
            ),
            details: json!({
                "counts": found.counts.sections,
                "vhost_counts": found.counts.vhosts,
                "messages": found.messages,
                "matches_manifest": compared,
            }),
        })
    }
}
