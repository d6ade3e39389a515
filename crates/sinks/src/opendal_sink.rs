//! [`OpendalSink`]: the one [`Sink`] implementation, over an OpenDAL operator.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use backup_core::leftovers::{LeftoverKind, LeftoverScope, StorageLeftover};
use backup_core::lock::PutIfAbsent;
use backup_core::{
    within, BoxReader, Deadlines, ObjectMeta, Sink, SinkError, SinkWriter, MAX_SMALL_OBJECT,
};
use bytes::Bytes;
use futures::TryStreamExt;
use opendal::{ErrorKind, Metadata, Operator};
use time::OffsetDateTime;
use tokio_util::compat::FuturesAsyncReadCompatExt;

use crate::backends::{self, Access};
use crate::chunking::{chunk_size, MIB};
use crate::config::{Secret, StorageConfig};
use crate::error::{refused, SinksError};
use crate::keys::{is_internal, validate_key, validate_prefix, TMP_DIR_NAME};
use crate::leftovers;
use crate::local_fs::{self, create_private_dir_all_async};
use crate::local_writer::LocalWriter;
use crate::service_error::ServiceError;
use crate::timeouts::Timeouts;
use crate::writer::OpendalWriter;

/// How many parts of a multipart upload are in flight at once. Memory of an upload is about
/// `chunk size × (WRITE_CONCURRENCY + 1)`: 48 MiB with the default 16 MiB parts.
pub const WRITE_CONCURRENCY: usize = 2;

/// The range size of reads from object stores; [`READ_CONCURRENCY`] ranges are fetched at
/// once, so a reader holds at most about 16 MiB.
pub const READ_CHUNK_SIZE: usize = 8 * MIB as usize;

/// How many ranges of [`READ_CHUNK_SIZE`] an object-store reader fetches ahead.
pub const READ_CONCURRENCY: usize = 2;

/// A storage backed by OpenDAL: a local directory, S3, GCS or Azure Blob Storage.
///
/// Built from a [`StorageConfig`] with [`OpendalSink::new`]; used through the
/// [`backup_core::Sink`] trait. Keys are relative `/`-separated paths (no `..`, no leading or
/// trailing `/`).
///
/// - Object stores: multipart uploads with a part size from [`chunk_size`], two parts in
///   flight, and OpenDAL's timeout layer below its retry layer (exponential backoff with
///   jitter) on every request.
/// - Local fs: uploads go to a 0600 file in `<root>/.lifeboat-tmp/` and are renamed into place
///   on close; directories are created 0700 and files 0600 (README.md, "What a backup is").
///   Deleting the last object of a directory removes the directories that became empty (up to
///   the root).
/// - Every call ends within the storage's [`Deadlines`] (from its [`Timeouts`]), retries
///   included; errors are short ([`ServiceError`]): no header dump, no credential.
pub struct OpendalSink {
    name: String,
    description: String,
    access: Access,
    /// For fs: the absolute root directory.
    local_root: Option<PathBuf>,
    timeouts: Timeouts,
    /// The storage's credentials, kept out of its errors.
    secrets: Arc<Vec<Secret>>,
    /// For S3: the client that lists and aborts unfinished multipart uploads.
    #[cfg(feature = "s3")]
    uploads: Option<crate::multipart::S3Uploads>,
}

/// Shows the name and the description only: the operator holds credentials.
impl fmt::Debug for OpendalSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpendalSink")
            .field("name", &self.name)
            .field("storage", &self.description)
            .finish_non_exhaustive()
    }
}

impl OpendalSink {
    /// An OpenDAL error of operation `op` on `key`, shown short and without secrets.
    fn failed(&self, op: &'static str, key: &str, err: opendal::Error) -> SinkError {
        SinkError::backend(op, key, service_error(&self.secrets, err))
    }

    /// Like [`OpendalSink::failed`], but `NotFound` stays `NotFound`.
    fn missing_or_failed(&self, op: &'static str, key: &str, err: opendal::Error) -> SinkError {
        if err.kind() == ErrorKind::NotFound {
            SinkError::NotFound {
                key: key.to_owned(),
            }
        } else {
            self.failed(op, key, err)
        }
    }

    /// The call deadline of this storage.
    fn deadline(&self) -> std::time::Duration {
        self.timeouts.deadlines().call
    }

    /// The operator for reads; `None` for an fs storage whose root does not exist yet.
    #[cfg_attr(not(feature = "fs"), allow(unused_variables))]
    async fn read_op(&self, op: &'static str, key: &str) -> Result<Option<&Operator>, SinkError> {
        match &self.access {
            Access::Remote(operator) => Ok(Some(operator)),
            #[cfg(feature = "fs")]
            Access::Local(local) => local
                .read()
                .await
                .map_err(|err| SinkError::backend(op, key, err)),
        }
    }

    /// The operator for writes (for fs: creates the root and the temp folder, 0700, first).
    #[cfg_attr(not(feature = "fs"), allow(unused_variables))]
    async fn write_op(&self, key: &str) -> Result<&Operator, SinkError> {
        match &self.access {
            Access::Remote(operator) => Ok(operator),
            #[cfg(feature = "fs")]
            Access::Local(local) => local
                .write()
                .await
                .map_err(|err| SinkError::backend("write", key, err)),
        }
    }

    /// The metadata of `key` before reading it: a missing key or a directory is `NotFound`.
    async fn stat_for_read(&self, key: &str) -> Result<(&Operator, opendal::Metadata), SinkError> {
        validate_key(key).map_err(|err| refused("read", key, err))?;
        let not_found = || SinkError::NotFound {
            key: key.to_owned(),
        };
        let operator = self.read_op("read", key).await?.ok_or_else(not_found)?;
        let meta = operator
            .stat(key)
            .await
            .map_err(|err| self.missing_or_failed("read", key, err))?;
        if !meta.is_file() {
            return Err(not_found());
        }
        Ok((operator, meta))
    }

    /// Opens storage `name` (its name in the config) as configured. Touches nothing: no remote
    /// request, and for fs no folder is created until the first write (reads of a missing root
    /// find nothing). `lifeboat check` lists and writes a probe to verify access.
    pub fn new(name: &str, config: &StorageConfig) -> Result<Self, SinksError> {
        let backend = backends::build(name, config)?;
        #[cfg(feature = "s3")]
        let uploads = match config {
            // OpenDAL accepts endpoints a strict URL parser does not (a virtual-hosted bucket
            // on an IP address): such a storage still opens, without multipart collection.
            StorageConfig::S3(s3) => {
                match crate::multipart::S3Uploads::new(name, s3, backend.timeouts) {
                    Ok(uploads) => Some(uploads),
                    Err(error) => {
                        tracing::warn!(
                            storage = name,
                            "unfinished multipart uploads cannot be collected here: {error}"
                        );
                        None
                    }
                }
            }
            _ => None,
        };
        Ok(Self {
            name: name.to_owned(),
            description: backend.description,
            access: backend.access,
            local_root: backend.local_root,
            timeouts: backend.timeouts,
            secrets: backend.secrets,
            #[cfg(feature = "s3")]
            uploads,
        })
    }

    /// The storage's timeouts and retries (its config over the defaults of its kind).
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// The root directory of an fs storage (canonical, absolute); `None` for object stores.
    pub fn local_root(&self) -> Option<&Path> {
        self.local_root.as_deref()
    }

    /// Turns listed or stat'ed metadata into an [`ObjectMeta`].
    fn object_meta(key: &str, meta: &Metadata) -> ObjectMeta {
        ObjectMeta {
            key: key.to_owned(),
            size: meta.content_length(),
            last_modified: meta
                .last_modified()
                .map(|ts| OffsetDateTime::from(SystemTime::from(ts))),
        }
    }

    /// After a delete on fs: removes the key's parent directories that are now empty, up to
    /// (not including) the root. Best effort: a directory that is not empty stays.
    async fn remove_empty_parents(root: &Path, key: &str) {
        let path = root.join(key);
        let mut dir = path.parent();
        while let Some(current) = dir {
            if current == root || !current.starts_with(root) {
                break;
            }
            if tokio::fs::remove_dir(current).await.is_err() {
                break;
            }
            dir = current.parent();
        }
    }
}

/// `err` as a [`ServiceError`] without `secrets`.
pub(crate) fn service_error(secrets: &[Secret], err: opendal::Error) -> ServiceError {
    ServiceError::new(err, secrets.iter().map(Secret::expose))
}

/// The calls themselves, each bounded by the trait methods below.
impl OpendalSink {
    async fn open_write_now(
        &self,
        key: &str,
        size_hint: Option<u64>,
    ) -> Result<Box<dyn SinkWriter>, SinkError> {
        validate_key(key).map_err(|err| refused("write", key, err))?;
        let operator = self.write_op(key).await?;
        if let Some(root) = &self.local_root {
            // Create the key's directories 0700 ourselves, before anything would create them
            // with the default mode.
            let path = root.join(key);
            if let Some(parent) = path.parent() {
                create_private_dir_all_async(parent)
                    .await
                    .map_err(|err| SinkError::backend("write", key, err))?;
            }
            let writer = LocalWriter::create(&root.join(TMP_DIR_NAME), path, key)
                .await
                .map_err(|err| SinkError::backend("write", key, err))?;
            return Ok(Box::new(writer));
        }
        let writer = operator
            .writer_with(key)
            .chunk(chunk_size(size_hint))
            .concurrent(WRITE_CONCURRENCY)
            .await
            .map_err(|err| self.failed("write", key, err))?;
        Ok(Box::new(OpendalWriter::new(
            key,
            writer,
            Arc::clone(&self.secrets),
        )))
    }

    async fn open_read_now(&self, key: &str) -> Result<BoxReader, SinkError> {
        let (operator, meta) = self.stat_for_read(key).await?;
        let reader = if self.local_root.is_some() {
            // One sequential file read, in OpenDAL's 2 MiB buffers.
            operator.reader_with(key).await
        } else {
            operator
                .reader_with(key)
                .chunk(READ_CHUNK_SIZE)
                .concurrent(READ_CONCURRENCY)
                .await
        }
        .map_err(|err| self.missing_or_failed("read", key, err))?;
        let reader = reader
            .into_futures_async_read(0..meta.content_length())
            .await
            .map_err(|err| self.missing_or_failed("read", key, err))?;
        Ok(Box::new(reader.compat()))
    }

    async fn stat_now(&self, key: &str) -> Result<Option<ObjectMeta>, SinkError> {
        validate_key(key).map_err(|err| refused("stat", key, err))?;
        let Some(operator) = self.read_op("stat", key).await? else {
            return Ok(None);
        };
        match operator.stat(key).await {
            Ok(meta) if meta.is_file() => Ok(Some(Self::object_meta(key, &meta))),
            Ok(_) => Ok(None),
            Err(err) if err.kind() == ErrorKind::NotFound => Ok(None),
            Err(err) => Err(self.failed("stat", key, err)),
        }
    }

    async fn delete_now(&self, key: &str) -> Result<(), SinkError> {
        validate_key(key).map_err(|err| refused("delete", key, err))?;
        if let Some(root) = &self.local_root {
            // A directory is not an object: leave it (OpenDAL's fs would remove it if empty).
            if tokio::fs::symlink_metadata(root.join(key))
                .await
                .is_ok_and(|meta| meta.is_dir())
            {
                return Ok(());
            }
        }
        let Some(operator) = self.read_op("delete", key).await? else {
            return Ok(());
        };
        match operator.delete(key).await {
            Ok(()) => {}
            Err(err) if err.kind() == ErrorKind::NotFound => {}
            Err(err) => return Err(self.failed("delete", key, err)),
        }
        if let Some(root) = &self.local_root {
            Self::remove_empty_parents(root, key).await;
        }
        Ok(())
    }

    async fn put_now(&self, key: &str, data: Bytes) -> Result<(), SinkError> {
        let size = data.len() as u64;
        let mut writer = self.open_write_now(key, Some(size)).await?;
        if let Err(err) = writer.write(data).await {
            // Best effort: the write error is the one worth reporting.
            let _ = writer.abort().await;
            return Err(err);
        }
        writer.close().await
    }

    async fn put_if_absent_now(&self, key: &str, data: Bytes) -> Result<PutIfAbsent, SinkError> {
        validate_key(key).map_err(|err| refused("write", key, err))?;
        let operator = self.write_op(key).await?;
        if let Some(root) = &self.local_root {
            let path = root.join(key);
            if let Some(parent) = path.parent() {
                create_private_dir_all_async(parent)
                    .await
                    .map_err(|err| SinkError::backend("write", key, err))?;
            }
            let created = local_fs::link_if_absent(&root.join(TMP_DIR_NAME), &path, &data)
                .await
                .map_err(|err| SinkError::backend("write", key, err))?;
            return Ok(if created {
                PutIfAbsent::Created
            } else {
                PutIfAbsent::Exists
            });
        }
        if !operator.info().full_capability().write_with_if_not_exists {
            return Ok(PutIfAbsent::Unsupported);
        }
        match operator.write_with(key, data).if_not_exists(true).await {
            Ok(_) => Ok(PutIfAbsent::Created),
            Err(err) if err.kind() == ErrorKind::ConditionNotMatch => Ok(PutIfAbsent::Exists),
            Err(err) => Err(self.failed("write", key, err)),
        }
    }

    async fn get_now(&self, key: &str) -> Result<Bytes, SinkError> {
        let (operator, meta) = self.stat_for_read(key).await?;
        let size = meta.content_length();
        if size > MAX_SMALL_OBJECT {
            return Err(SinkError::TooLarge {
                key: key.to_owned(),
                size,
            });
        }
        if size == 0 {
            return Ok(Bytes::new());
        }
        // Reading exactly the stat'ed range bounds memory even if the object grew meanwhile.
        let buffer = operator
            .read_with(key)
            .range(0..size)
            .await
            .map_err(|err| self.missing_or_failed("read", key, err))?;
        Ok(buffer.to_bytes())
    }
}

#[async_trait]
impl Sink for OpendalSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn describe(&self) -> String {
        self.description.clone()
    }

    fn deadlines(&self) -> Deadlines {
        self.timeouts.deadlines()
    }

    async fn open_write(
        &self,
        key: &str,
        size_hint: Option<u64>,
    ) -> Result<Box<dyn SinkWriter>, SinkError> {
        within(
            self.deadline(),
            "write",
            key,
            self.open_write_now(key, size_hint),
        )
        .await
    }

    async fn open_read(&self, key: &str) -> Result<BoxReader, SinkError> {
        // Each later read is bounded by the timeout layer (io_timeout per attempt).
        within(self.deadline(), "read", key, self.open_read_now(key)).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, SinkError> {
        validate_prefix(prefix).map_err(|err| refused("list", prefix, err))?;
        let deadline = self.deadline();
        // A missing prefix lists as empty on every backend without an error; a `NotFound`
        // here means a missing bucket or container, which must not look like "no backups".
        // Likewise a missing fs root: an unmounted disk must not look like an empty one.
        let Some(operator) = within(deadline, "list", prefix, self.read_op("list", prefix)).await?
        else {
            return Err(SinkError::backend(
                "list",
                prefix,
                format!(
                    "{} does not exist (nothing was backed up there yet, or a disk is not mounted)",
                    self.description
                ),
            ));
        };
        // Each page is bounded on its own: a long listing is not a stalled one.
        let mut lister = within(deadline, "list", prefix, async {
            operator
                .lister_with(prefix)
                .recursive(true)
                .await
                .map_err(|err| self.failed("list", prefix, err))
        })
        .await?;
        let mut objects = Vec::new();
        while let Some(entry) = within(deadline, "list", prefix, async {
            lister
                .try_next()
                .await
                .map_err(|err| self.failed("list", prefix, err))
        })
        .await?
        {
            let key = entry.path();
            if !entry.metadata().is_file() || is_internal(key) {
                continue;
            }
            if self.local_root.is_some() {
                // The fs lister gives no size or time: stat each file (a local syscall).
                let stat = within(deadline, "list", key, async {
                    match operator.stat(key).await {
                        Ok(meta) => Ok(Some(meta)),
                        Err(err) if err.kind() == ErrorKind::NotFound => Ok(None),
                        Err(err) => Err(self.failed("list", key, err)),
                    }
                });
                if let Some(meta) = stat.await?.filter(Metadata::is_file) {
                    objects.push(Self::object_meta(key, &meta));
                }
            } else {
                objects.push(Self::object_meta(key, entry.metadata()));
            }
        }
        Ok(objects)
    }

    async fn stat(&self, key: &str) -> Result<Option<ObjectMeta>, SinkError> {
        within(self.deadline(), "stat", key, self.stat_now(key)).await
    }

    async fn delete(&self, key: &str) -> Result<(), SinkError> {
        within(self.deadline(), "delete", key, self.delete_now(key)).await
    }

    async fn put(&self, key: &str, data: Bytes) -> Result<(), SinkError> {
        within(self.deadline(), "write", key, self.put_now(key, data)).await
    }

    /// Local fs: the files of `.lifeboat-tmp/` and the empty folders below the source's
    /// folder. S3: the source's unfinished multipart uploads (dated by their newest part).
    /// GCS and Azure report none: Azure discards uncommitted blocks itself, and GCS's
    /// multipart uploads need a bucket lifecycle rule (README, "Configuration").
    async fn list_leftovers(
        &self,
        scope: LeftoverScope<'_>,
    ) -> Result<Vec<StorageLeftover>, SinkError> {
        let internal = scope == LeftoverScope::Internal;
        let prefix = match scope {
            LeftoverScope::Source(source) => backup_core::source_prefix(source),
            LeftoverScope::Internal => String::new(),
        };
        validate_prefix(&prefix).map_err(|err| refused("list", &prefix, err))?;
        if let Some(root) = &self.local_root {
            let root = root.clone();
            let shown = if internal {
                format!("{TMP_DIR_NAME}/")
            } else {
                prefix.clone()
            };
            // A hung mount stalls the walk: it gets the same deadline as any other call.
            let walk = tokio::task::spawn_blocking(move || {
                if internal {
                    leftovers::temp_uploads(&root)
                } else {
                    leftovers::empty_folders(&root, &prefix)
                }
            });
            return within(self.deadline(), "list", &shown, async {
                walk.await
                    .map_err(|err| SinkError::backend("list", &shown, err))?
                    .map_err(|err| SinkError::backend("list", &shown, err))
            })
            .await;
        }
        #[cfg(feature = "s3")]
        if let (Some(uploads), false) = (&self.uploads, internal) {
            // Each listing request has its own timeout (multipart.rs); a long listing may
            // take several.
            return uploads
                .list(&prefix)
                .await
                .map_err(|err| SinkError::backend("list", &prefix, err));
        }
        Ok(Vec::new())
    }

    async fn remove_leftover(&self, leftover: &StorageLeftover) -> Result<(), SinkError> {
        match leftover.kind {
            #[cfg(feature = "s3")]
            LeftoverKind::UnfinishedUpload => {
                let (Some(uploads), Some(upload_id)) = (&self.uploads, &leftover.upload_id) else {
                    return Ok(());
                };
                uploads
                    .abort(&leftover.key, upload_id)
                    .await
                    .map_err(|err| SinkError::backend("abort", &leftover.key, err))
            }
            LeftoverKind::TempUpload | LeftoverKind::EmptyFolder => {
                let Some(root) = self.local_root.clone() else {
                    return Ok(());
                };
                let item = leftover.clone();
                let removal = tokio::task::spawn_blocking(move || leftovers::remove(&root, &item));
                within(self.deadline(), "delete", &leftover.key, async {
                    removal
                        .await
                        .map_err(|err| SinkError::backend("delete", &leftover.key, err))?
                        .map_err(|err| SinkError::backend("delete", &leftover.key, err))
                })
                .await
            }
            _ => self.delete(&leftover.key).await,
        }
    }

    /// Object stores: a single `PUT` with `If-None-Match: *` (when the service supports
    /// conditional writes; else [`PutIfAbsent::Unsupported`]). Local fs: see
    /// `local_fs::link_if_absent` (temp file + hard link).
    async fn put_if_absent(&self, key: &str, data: Bytes) -> Result<PutIfAbsent, SinkError> {
        within(
            self.deadline(),
            "write",
            key,
            self.put_if_absent_now(key, data),
        )
        .await
    }

    async fn get(&self, key: &str) -> Result<Bytes, SinkError> {
        within(self.deadline(), "read", key, self.get_now(key)).await
    }
}
