//! `lifeboat restore NAME [--id ID|latest] [--to URL|PATH] [--force] [--dry-run]`.

use lifeboat::{Lifeboat, RestoreRequest};
use time::format_description::well_known::Rfc3339;

use crate::exit::{CliError, Exit};

/// Restores one backup (or says what a restore would do).
pub async fn run(lifeboat: &Lifeboat, request: &RestoreRequest<'_>) -> Result<Exit, CliError> {
    let outcome = lifeboat.restore(request).await?;
    let verb = if outcome.dry_run {
        "dry run (nothing changed) of restoring"
    } else {
        "restored"
    };
    crate::output::print(format_args!(
        "{verb} backup {} of `{}` ({}) from storage `{}`: {}",
        outcome.id,
        outcome.source,
        outcome.started_at.format(&Rfc3339).unwrap_or_default(),
        outcome.storage,
        outcome.report.summary
    ));
    Ok(Exit::Success)
}
