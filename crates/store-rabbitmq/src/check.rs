//! [`RabbitmqCheck`]: `lifeboat verify` reads a dump to its end and checks its structure and
//! counts against the manifest, without touching any broker.

use async_trait::async_trait;
use backup_core::{FormatCheck, Manifest, Report, StoreError};
use serde_json::{json, Value};
use tokio::io::AsyncRead;

use crate::definitions::{parse_element, parse_field, Counts};
use crate::error::{Malformed, RabbitmqError};
use crate::format::DumpFormat;
use crate::metadata::RabbitmqMetadata;
use crate::reader::DumpReader;
use crate::scan::Event;

/// The format check `verify` runs on a dump of one of [`crate::FORMATS`]: every
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
    format: DumpFormat,
) -> Result<DumpCounts, RabbitmqError> {
    let mut reader = DumpReader::new(input, format);
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
                    parse_field(&key, &raw)?;
                }
            }
            Ok(())
        })
        .await?;
    if sections == 0 {
        return Err(RabbitmqError::Format {
            format: format.name(),
            line: None,
            problem: Malformed::invalid("no definitions section (users, vhosts, queues...) found"),
        });
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
    meta: &RabbitmqMetadata,
) -> Result<Value, RabbitmqError> {
    let mut compared = serde_json::Map::new();
    for (section, &want) in &meta.counts {
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
    if let Some(want) = meta.messages.as_ref().map(|m| m.total) {
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
        let metadata = RabbitmqMetadata::of(manifest)?;
        let found = count_dump(input, DumpFormat::of(manifest)?).await?;
        let compared = compare_with_manifest(&found, &metadata)?;
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
