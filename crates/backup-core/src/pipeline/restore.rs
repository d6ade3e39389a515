//! The restore pipeline, mirror of backup:
//! `Sink ─► [sha256 stored, checked] ─► decrypt ─► decompress ─► [sha256 raw, checked] ─►
//! EndGate ─► Target`. Every check fails as a read error *before* EOF, so a target that reads
//! to EOF before committing never commits a bad artifact.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

use crate::io::{EndGate, Expected, FailureSlot, HashReader, Progress, SharedReader, StreamError};
use crate::transform::{transform_for_restore, Keyring, TransformError};
use crate::{
    BoxReader, Error, FormatCheck, Manifest, Report, RestoreOptions, Sink, SinkError, Target,
    TransformSpec,
};

/// Which backup to read, from where, with which keys.
pub struct RestoreRequest<'a> {
    /// The storage to read from.
    pub sink: &'a dyn Sink,
    /// The backup's manifest.
    pub manifest: &'a Manifest,
    /// Keys for decryption.
    pub keyring: &'a Keyring,
    /// Told about every stored byte read.
    pub progress: Option<Arc<dyn Progress>>,
}

type Bottom = SharedReader<HashReader<BoxReader>>;

/// The verified raw stream of a backup. Reading it to EOF proves both checksums matched.
pub struct RestoreStream {
    gate: EndGate<HashReader<BoxReader>, Bottom>,
    failure: FailureSlot,
}

impl RestoreStream {
    /// Whether the stream was read to its end, with both checksums verified.
    pub fn is_complete(&self) -> bool {
        self.gate.is_done()
    }

    /// The first failure the stream reported, if any.
    pub fn failure(&self) -> Option<StreamError> {
        self.failure.get()
    }
}

impl AsyncRead for RestoreStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.gate).poll_read(cx, buf)
    }
}

fn expected_stored(manifest: &Manifest) -> Expected {
    Expected {
        label: "stored",
        bytes: manifest.artifact.stored_bytes,
        sha256: manifest.artifact.stored_sha256.clone(),
    }
}

fn stream_failure(request: &RestoreRequest<'_>, failure: StreamError) -> Error {
    let key = request.manifest.artifact.key.clone();
    match failure {
        StreamError::Integrity(reason) => Error::Integrity { key, reason },
        StreamError::Storage(reason) => Error::Storage {
            storage: request.sink.name().to_string(),
            error: SinkError::backend("read", key, reason),
        },
    }
}

/// Opens the verified raw stream of a backup. Fails with [`Error::Integrity`] when the object is
/// missing or has the wrong size, and with [`Error::Decrypt`] when the keys do not fit an
/// intact object.
pub async fn open_restore_stream(request: &RestoreRequest<'_>) -> Result<RestoreStream, Error> {
    let manifest = request.manifest;
    let key = &manifest.artifact.key;
    check_keys_fit(request)?;
    let storage_err = |error| Error::Storage {
        storage: request.sink.name().to_string(),
        error,
    };
    let meta = request.sink.stat(key).await.map_err(storage_err)?;
    let Some(meta) = meta else {
        return Err(Error::Integrity {
            key: key.clone(),
            reason: "the data object is missing from storage".to_string(),
        });
    };
    if meta.size != manifest.artifact.stored_bytes {
        return Err(Error::Integrity {
            key: key.clone(),
            reason: format!(
                "the stored object is {} bytes, the manifest says {} (truncated, extended or replaced)",
                meta.size, manifest.artifact.stored_bytes
            ),
        });
    }
    let object = request.sink.open_read(key).await.map_err(storage_err)?;
    let bottom = SharedReader::new(
        HashReader::new(object, expected_stored(manifest), request.progress.clone()).over_storage(),
    );
    let mut reader: BoxReader = Box::new(bottom.clone());
    for spec in manifest.transforms.iter().rev() {
        let transform = transform_for_restore(spec, request.keyring);
        reader = match transform.wrap_reader(reader).await {
            Ok(reader) => reader,
            Err(err) => return Err(classify_setup_failure(request, err).await),
        };
    }
    let raw = HashReader::new(
        reader,
        Expected {
            label: "raw",
            bytes: manifest.artifact.raw_bytes,
            sha256: manifest.artifact.raw_sha256.clone(),
        },
        None,
    );
    let gate = EndGate::new(raw, bottom);
    let failure = gate.failure();
    Ok(RestoreStream { gate, failure })
}

/// For backups encrypted to X25519 recipients, the identities' public keys must include one of
/// the manifest's recipients: a wrong key is then reported without downloading anything.
fn check_keys_fit(request: &RestoreRequest<'_>) -> Result<(), Error> {
    for spec in &request.manifest.transforms {
        let TransformSpec::AgeX25519 { recipients } = spec else {
            continue;
        };
        let identities = request.keyring.identities();
        let reason = if identities.is_empty() {
            "the backup is encrypted to age recipients and no identity is configured \
             (encryption.identity_file)"
                .to_string()
        } else if identities
            .iter()
            .any(|identity| recipients.contains(&identity.to_public().to_string()))
        {
            continue;
        } else {
            format!(
                "no configured identity matches the backup's recipients ({}): wrong identity_file?",
                recipients.join(", ")
            )
        };
        return Err(Error::Decrypt {
            key: request.manifest.artifact.key.clone(),
            reason,
        });
    }
    Ok(())
}

/// A stage could not start (typically age refusing the header). If the stored object does not
/// match its checksum the artifact is to blame (integrity); otherwise the keys are (decrypt).
async fn classify_setup_failure(request: &RestoreRequest<'_>, err: TransformError) -> Error {
    let key = request.manifest.artifact.key.clone();
    match stored_object_intact(request).await {
        Err(storage_error) => storage_error,
        Ok(Some(reason)) => Error::Integrity { key, reason },
        Ok(None) => match err {
            TransformError::Decrypt(reason) => Error::Decrypt { key, reason },
            TransformError::Corrupt(reason) => Error::Integrity { key, reason },
            // Reading the header failed although the object reads fine now: a passing storage
            // fault, worth trying another copy.
            TransformError::Io { stage, error } => Error::Storage {
                storage: request.sink.name().to_string(),
                error: SinkError::backend("read", key, format!("{stage}: {error}")),
            },
            other => Error::Transform(other),
        },
    }
}

/// Reads the stored object through its checksum: `Some(reason)` when it does not match.
async fn stored_object_intact(request: &RestoreRequest<'_>) -> Result<Option<String>, Error> {
    let key = &request.manifest.artifact.key;
    let object = request
        .sink
        .open_read(key)
        .await
        .map_err(|error| Error::Storage {
            storage: request.sink.name().to_string(),
            error,
        })?;
    let mut reader =
        HashReader::new(object, expected_stored(request.manifest), None).over_storage();
    match tokio::io::copy(&mut reader, &mut tokio::io::sink()).await {
        Ok(_) => Ok(None),
        Err(err) => match StreamError::from_io(&err) {
            Some(StreamError::Integrity(reason)) => Ok(Some(reason.clone())),
            Some(other) => Err(stream_failure(request, other.clone())),
            None => Err(stream_failure(
                request,
                StreamError::Storage(err.to_string()),
            )),
        },
    }
}

/// Restores a backup into `target`: `prepare` (refusal before any byte is read), then the
/// verified stream. A stream failure (checksum, decryption, storage) wins over the target's own
/// error, since the target only saw its symptom.
pub async fn run_restore(
    request: &RestoreRequest<'_>,
    target: &dyn Target,
    options: &RestoreOptions,
) -> Result<Report, Error> {
    let target_err = |error| Error::Target {
        target: target.describe(),
        error,
    };
    check_format(request.manifest, target.formats(), &target.describe())?;
    target
        .prepare(request.manifest, options)
        .await
        .map_err(target_err)?;
    let mut stream = open_restore_stream(request).await?;
    let result = target.restore(&mut stream, request.manifest, options).await;
    finish(request, &mut stream, result.map_err(target_err)).await
}

/// Runs a format check over the verified stream (the end of `verify`).
pub async fn run_check(
    request: &RestoreRequest<'_>,
    check: &dyn FormatCheck,
) -> Result<Report, Error> {
    check_format(request.manifest, check.formats(), "the format check")?;
    let mut stream = open_restore_stream(request).await?;
    let result = check.check(&mut stream, request.manifest).await;
    finish(
        request,
        &mut stream,
        result.map_err(|error| Error::Target {
            target: "format check".to_string(),
            error,
        }),
    )
    .await
}

/// Refuses a manifest whose dump format `accepted` does not include, before a byte is read.
fn check_format(manifest: &Manifest, accepted: &[&str], reader: &str) -> Result<(), Error> {
    if accepted.contains(&manifest.dump_format.as_str()) {
        return Ok(());
    }
    Err(Error::UnsupportedDumpFormat {
        id: manifest.id.to_string(),
        format: manifest.dump_format.clone(),
        reader: reader.to_string(),
        accepted: accepted.join(", "),
    })
}

/// Settles a restore or check: a stream failure wins over the store's result; a store that
/// returned before the end of the stream gets the rest drained here, so the checksums are
/// always verified before success is reported.
async fn finish(
    request: &RestoreRequest<'_>,
    stream: &mut RestoreStream,
    result: Result<Report, Error>,
) -> Result<Report, Error> {
    if result.is_ok() && !stream.is_complete() && stream.failure().is_none() {
        // The error, if any, is recorded in the failure slot.
        let _ = tokio::io::copy(stream, &mut tokio::io::sink()).await;
    }
    if let Some(failure) = stream.failure() {
        return Err(stream_failure(request, failure));
    }
    result
}
