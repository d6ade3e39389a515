//! `lifeboat verify [NAME] [--id ID] [--deep] [--json]`: one line (or JSON object) per
//! checked copy.

use lifeboat::{describe, Checked, Lifeboat, VerifyRequest};
use serde::Serialize;

use crate::exit::{CliError, Exit};
use crate::output;

/// One checked copy in `verify --json` (README, "`verify --json`").
#[derive(Debug, Serialize)]
struct Shown<'a> {
    source: &'a str,
    id: Option<&'a str>,
    storage: Option<&'a str>,
    ok: bool,
    exit_code: u8,
    summary: String,
    details: serde_json::Value,
}

impl<'a> From<&'a Checked> for Shown<'a> {
    fn from(checked: &'a Checked) -> Self {
        let (exit_code, summary, details) = match &checked.result {
            Ok(report) => (0, report.summary.clone(), report.details.clone()),
            Err(error) => (
                Exit::from(error.failure()) as u8,
                describe(error),
                serde_json::Value::Null,
            ),
        };
        Self {
            source: &checked.source,
            id: checked.id.as_deref(),
            storage: checked.storage.as_deref(),
            ok: checked.ok(),
            exit_code,
            summary,
            details,
        }
    }
}

/// Verifies the selected backup of each selected source, in every storage holding it.
pub async fn run(
    lifeboat: &Lifeboat,
    request: &VerifyRequest<'_>,
    json: bool,
) -> Result<Exit, CliError> {
    let results = lifeboat.verify(request).await?;
    let shown: Vec<Shown<'_>> = results.iter().map(Shown::from).collect();
    if json {
        super::print_json(&shown)?;
    } else {
        let mut table = output::table(&["source", "id", "storage", "result", "detail"]);
        for r in &shown {
            table.add_row(vec![
                r.source.to_string(),
                r.id.unwrap_or("-").to_string(),
                r.storage.unwrap_or("-").to_string(),
                if r.ok { "ok" } else { "FAILED" }.to_string(),
                r.summary.clone(),
            ]);
        }
        output::print(&table);
    }
    Ok(Exit::worst(results.iter().map(|r| {
        r.result.as_ref().err().map(lifeboat::OpError::failure)
    })))
}
