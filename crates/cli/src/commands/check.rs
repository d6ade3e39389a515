//! `lifeboat check`: the config is valid, every storage and source answers, and the keys fit.

use lifeboat::{Health, Lifeboat, Subject};

use crate::exit::{CliError, Exit};
use crate::output;

/// Checks everything a backup run needs; exit 1 when anything does not work.
pub async fn run(lifeboat: &Lifeboat) -> Result<Exit, CliError> {
    let report = lifeboat.check().await?;
    let mut table = output::table(&["what", "name", "result", "detail"]);
    for item in &report.items {
        table.add_row(vec![
            match item.subject {
                Subject::Encryption => "encryption",
                Subject::Storage => "storage",
                Subject::Source => "source",
            },
            &item.name,
            match item.health {
                Health::Ok => "ok",
                Health::Warn => "WARN",
                Health::Failed => "FAILED",
            },
            &item.detail,
        ]);
    }
    output::print(&table);
    Ok(if report.healthy() {
        Exit::Success
    } else {
        Exit::Failure
    })
}
