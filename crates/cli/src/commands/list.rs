//! `lifeboat list [NAME] [--storage NAME] [--json]`: the backups found in storage.

use lifeboat::{describe, Lifeboat};

use crate::exit::{CliError, Exit};
use crate::output;

/// Lists backups of one source or all, newest first per source.
pub async fn run(
    lifeboat: &Lifeboat,
    name: Option<&str>,
    only_storage: Option<&str>,
    json: bool,
) -> Result<Exit, CliError> {
    let listing = lifeboat.list(name, only_storage).await?;
    for (source, error) in &listing.errors {
        tracing::error!(source = %source, "listing is incomplete: {}", describe(error));
    }
    let exit = Exit::worst(listing.errors.iter().map(|(_, e)| Some(e.failure())));
    if json {
        super::print_json(&listing.backups)?;
    } else if listing.backups.is_empty() {
        output::print(format_args!("no backups found"));
    } else {
        let mut table = output::table(&[
            "source",
            "id",
            "started (UTC)",
            "raw",
            "stored",
            "ratio",
            "duration",
            "storages",
        ]);
        for b in &listing.backups {
            table.add_row(vec![
                b.source.clone(),
                b.id.clone(),
                output::timestamp(&b.started_at),
                output::size(b.raw_bytes),
                output::size(b.stored_bytes),
                output::ratio(b.ratio),
                output::duration_ms(b.duration_ms),
                b.storages.join(", "),
            ]);
        }
        output::print(&table);
    }
    Ok(exit)
}
