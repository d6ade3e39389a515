//! The backup pipeline:
//! `Source ─► [sha256 raw] ─► transforms ─► [sha256 stored] ─► fan-out ─► every Sink`, then the
//! manifest, written last, to each storage whose upload completed.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures::future::join_all;
use time::OffsetDateTime;
use tokio::io::{AsyncWriteExt, BufWriter};

use super::fan_out::{abort_all, close_all, fan_out, Upload};
use crate::io::{
    channel_writer, BoxWriter, ChannelWriter, Digest, HashWriter, NoShutdown, Progress,
};
use crate::sink::within;
use crate::transform::Transform;
use crate::{
    data_key, manifest_key, Artifact, BackupId, Dumped, Error, Manifest, Sink, SinkError, Source,
    SourceRef, StoreError, MANIFEST_FORMAT,
};

/// Size of the chunks handed to storage, and how many may wait in the channel: together they
/// bound the memory between the transforms and the uploads.
const CHUNK_BYTES: usize = 1024 * 1024;
const CHANNEL_CHUNKS: usize = 4;

/// What to back up, how, and where to.
pub struct BackupRequest<'a> {
    /// The source's configured name (`[a-z0-9_-]+`).
    pub source_name: &'a str,
    /// The source.
    pub source: &'a dyn Source,
    /// The transforms, in the order they apply (compression, then encryption).
    pub transforms: &'a [Box<dyn Transform>],
    /// Every storage the backup goes to.
    pub sinks: &'a [Arc<dyn Sink>],
    /// Expected raw size, if known (from [`Source::preflight`]): sizes multipart chunks.
    pub size_hint: Option<u64>,
    /// Told about every raw byte.
    pub progress: Option<Arc<dyn Progress>>,
}

/// One storage that did not get the backup, and why.
#[derive(Debug)]
pub struct StorageFailure {
    /// The storage's name.
    pub storage: String,
    /// What went wrong.
    pub error: Error,
}

/// A backup that exists in at least one storage.
#[derive(Debug)]
pub struct BackupOutcome {
    /// The manifest written.
    pub manifest: Manifest,
    /// Storages holding the backup (data and manifest).
    pub stored_in: Vec<String>,
    /// Storages that failed; the backup is incomplete where this is not empty.
    pub failed: Vec<StorageFailure>,
}

/// Runs one backup. On `Err` no manifest was written anywhere and every upload was aborted.
/// On `Ok` the backup exists in `stored_in`; check `failed` for storages that missed it.
pub async fn run_backup(request: BackupRequest<'_>) -> Result<BackupOutcome, Error> {
    let name = request.source_name;
    if !crate::is_valid_source_name(name) {
        return Err(Error::Source {
            name: name.to_string(),
            error: StoreError::config(format!("`{name}` is not a valid source name ([a-z0-9_-]+)")),
        });
    }
    let started_at = OffsetDateTime::now_utc();
    let clock = Instant::now();
    let id = BackupId::new(started_at);
    let extension = std::iter::once(request.source.extension().to_string())
        .chain(
            request
                .transforms
                .iter()
                .map(|t| t.spec().extension().to_string()),
        )
        .collect::<Vec<_>>()
        .join(".");
    let key = data_key(name, &id, &extension);

    let (mut uploads, mut failed) = open_uploads(request.sinks, &key, request.size_hint).await;
    if uploads.is_empty() {
        return Err(Error::AllStoragesFailed(
            failed.into_iter().map(|f| f.error).collect(),
        ));
    }
    let (bottom, chunks) = channel_writer(CHANNEL_CHUNKS);
    let fan = tokio::spawn(fan_out(chunks, std::mem::take(&mut uploads)));
    let streamed = write_stream(&request, bottom).await;
    let mut uploads = fan.await.map_err(|join| Error::Stream {
        stage: "uploading to storage",
        error: std::io::Error::other(join.to_string()),
    })?;

    let (dumped, raw, stored) = match streamed {
        Ok(done) => done,
        Err(err) => {
            abort_all(&mut uploads).await;
            // When every storage failed, the source only saw a broken pipe: report the cause.
            if uploads.iter().all(|u| u.error.is_some()) {
                return Err(Error::AllStoragesFailed(
                    take_failures(&mut uploads)
                        .into_iter()
                        .map(|f| f.error)
                        .collect(),
                ));
            }
            return Err(err);
        }
    };
    close_all(&mut uploads).await;
    let completed: Vec<String> = uploads
        .iter()
        .filter(|u| u.error.is_none())
        .map(|u| u.storage.clone())
        .collect();
    failed.extend(take_failures(&mut uploads));

    let finished_at = OffsetDateTime::now_utc();
    let manifest = Manifest {
        format: MANIFEST_FORMAT.to_string(),
        id: id.clone(),
        source: SourceRef {
            name: name.to_string(),
            kind: request.source.kind().to_string(),
        },
        started_at,
        finished_at,
        duration_ms: u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX),
        host: gethostname::gethostname().to_string_lossy().into_owned(),
        tool_version: format!("lifeboat {}", env!("CARGO_PKG_VERSION")),
        dump_format: request.source.dump_format().to_string(),
        artifact: Artifact {
            key: key.clone(),
            raw_bytes: raw.bytes,
            stored_bytes: stored.bytes,
            raw_sha256: raw.sha256,
            stored_sha256: stored.sha256,
        },
        transforms: request.transforms.iter().map(|t| t.spec()).collect(),
        metadata: dumped.metadata,
        contains_password_hashes: dumped.contains_password_hashes,
    };
    let body = manifest.to_json().map_err(|error| Error::Manifest {
        storage: completed.join(", "),
        key: manifest_key(name, &id),
        error,
    })?;
    let (stored_in, manifest_failures) =
        write_manifests(&manifest, Bytes::from(body), request.sinks, &completed).await;
    failed.extend(manifest_failures);
    if stored_in.is_empty() {
        return Err(Error::AllStoragesFailed(
            failed.into_iter().map(|f| f.error).collect(),
        ));
    }
    Ok(BackupOutcome {
        manifest,
        stored_in,
        failed,
    })
}

async fn open_uploads(
    sinks: &[Arc<dyn Sink>],
    key: &str,
    size_hint: Option<u64>,
) -> (Vec<Upload>, Vec<StorageFailure>) {
    let opened = join_all(sinks.iter().map(|sink| async move {
        let deadlines = sink.deadlines();
        let opened = within(
            deadlines.call,
            "write",
            key,
            sink.open_write(key, size_hint),
        );
        (sink.name().to_string(), deadlines, opened.await)
    }))
    .await;
    let mut uploads = Vec::new();
    let mut failed = Vec::new();
    for (storage, deadlines, result) in opened {
        match result {
            Ok(writer) => uploads.push(Upload {
                storage,
                key: key.to_owned(),
                writer,
                deadlines,
                error: None,
            }),
            Err(error) => failed.push(StorageFailure {
                error: Error::Storage {
                    storage: storage.clone(),
                    error,
                },
                storage,
            }),
        }
    }
    (uploads, failed)
}

fn take_failures(uploads: &mut [Upload]) -> Vec<StorageFailure> {
    uploads
        .iter_mut()
        .filter_map(|u| {
            u.error.take().map(|error| StorageFailure {
                storage: u.storage.clone(),
                error: Error::Storage {
                    storage: u.storage.clone(),
                    error,
                },
            })
        })
        .collect()
}

/// Builds the writer chain, runs the source into it and finishes every stage.
async fn write_stream(
    request: &BackupRequest<'_>,
    bottom: ChannelWriter,
) -> Result<(Dumped, Digest, Digest), Error> {
    let stored = HashWriter::new(BufWriter::with_capacity(CHUNK_BYTES, bottom), None);
    let stored_slot = stored.slot();
    let mut writer: BoxWriter = Box::new(stored);
    for transform in request.transforms.iter().rev() {
        writer = transform.wrap_writer(writer).await?;
    }
    let mut raw = HashWriter::new(writer, request.progress.clone());
    let raw_slot = raw.slot();
    let source_err = |error| Error::Source {
        name: request.source_name.to_string(),
        error,
    };
    let dumped = request
        .source
        .backup(&mut NoShutdown(&mut raw))
        .await
        .map_err(source_err)?;
    raw.shutdown().await.map_err(|error| Error::Stream {
        stage: "finishing the backup stream",
        error,
    })?;
    let missing = || Error::Stream {
        stage: "finishing the backup stream",
        error: std::io::Error::other("a hashing stage did not finish"),
    };
    let raw = raw_slot.get().ok_or_else(missing)?;
    let stored = stored_slot.get().ok_or_else(missing)?;
    if raw.bytes == 0 {
        return Err(source_err(StoreError::failed(
            "the source produced an empty dump; an empty backup is never kept",
        )));
    }
    Ok((dumped, raw, stored))
}

/// Writes the manifest to every storage whose upload completed; the commit point.
async fn write_manifests(
    manifest: &Manifest,
    body: Bytes,
    sinks: &[Arc<dyn Sink>],
    completed: &[String],
) -> (Vec<String>, Vec<StorageFailure>) {
    let key = manifest_key(&manifest.source.name, &manifest.id);
    let puts = completed.iter().filter_map(|storage| {
        let sink = sinks.iter().find(|s| s.name() == storage.as_str())?;
        let (body, key) = (body.clone(), key.clone());
        Some(async move {
            // On failure the data object stays: the manifest may have been stored after all
            // (a timed-out PUT), and deleting the data would break it. Without a manifest the
            // object is a leftover that is never listed and that prune removes.
            let result = within(sink.deadlines().call, "write", &key, sink.put(&key, body)).await;
            (sink.name().to_string(), result)
        })
    });
    let mut stored_in = Vec::new();
    let mut failed = Vec::new();
    for (storage, result) in join_all(puts).await {
        match result {
            Ok(()) => stored_in.push(storage),
            Err(error) => failed.push(StorageFailure {
                error: Error::Storage {
                    storage: storage.clone(),
                    error: SinkError::backend("write manifest", key.clone(), error),
                },
                storage,
            }),
        }
    }
    (stored_in, failed)
}
