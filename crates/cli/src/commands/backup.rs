//! `lifeboat backup [NAME...] [--metrics-file PATH]`: the summary table of the run (and its
//! metrics, for the node exporter's textfile collector).

use std::path::Path;

use lifeboat::metrics::{write_textfile, Metrics};
use lifeboat::{describe, Lifeboat, SourceBackup};

use super::prune::print_plan;
use crate::exit::{CliError, Exit};
use crate::output;

/// Backs up the named sources (all when `names` is empty); with `metrics_file`, then writes
/// the run's metrics there (a failed write makes a successful run exit 1).
pub async fn run(
    lifeboat: &Lifeboat,
    names: &[String],
    metrics_file: Option<&Path>,
) -> Result<Exit, CliError> {
    let metrics = Metrics::new();
    let run = lifeboat.backup(names, &metrics).await?;
    for backup in &run.sources {
        if let Ok(Some(Ok(prune))) = backup.result.as_ref().map(|done| done.prune.as_ref()) {
            print_plan(prune);
        }
    }
    let mut table = output::table(&[
        "source", "status", "id", "raw", "stored", "ratio", "duration", "storages",
    ]);
    for backup in &run.sources {
        table.add_row(row(backup));
    }
    output::print(&table);
    let exit = Exit::from(run.verdict());
    Ok(match metrics_file {
        Some(path) => write_metrics(&metrics, path, exit),
        None => exit,
    })
}

fn row(backup: &SourceBackup) -> Vec<String> {
    match &backup.result {
        Ok(done) => {
            let m = &done.manifest;
            vec![
                backup.source.clone(),
                if done.is_complete() { "ok" } else { "partial" }.to_string(),
                m.id.to_string(),
                output::size(m.artifact.raw_bytes),
                output::size(m.artifact.stored_bytes),
                output::ratio(m.ratio()),
                output::duration_ms(m.duration_ms),
                done.stored_in.join(", "),
            ]
        }
        Err(_) => {
            let mut row = vec![backup.source.clone(), "FAILED".to_string()];
            row.extend(std::iter::repeat_n("-".to_string(), 6));
            row
        }
    }
}

/// Writes the metrics file; a failure is logged and turns a successful run's exit into 1
/// (a run that already failed keeps its own, more telling code).
fn write_metrics(metrics: &Metrics, path: &Path, exit: Exit) -> Exit {
    let written = metrics
        .encode_textfile()
        .map_err(|error| describe(&lifeboat::OpError::EncodeMetrics(error)))
        .and_then(|text| write_textfile(path, &text).map_err(|error| describe(&error)));
    match written {
        Ok(()) => {
            tracing::debug!(path = %path.display(), "metrics written");
            exit
        }
        Err(error) => {
            tracing::error!(path = %path.display(), "cannot write the metrics file: {error}");
            if exit == Exit::Success {
                Exit::Failure
            } else {
                exit
            }
        }
    }
}
