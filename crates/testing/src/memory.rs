//! Test helpers for code built on backup-core: [`MemorySink`], a storage that keeps objects in
//! memory, and [`BytesSource`], a source that can die midway. Both hold whole dumps in memory,
//! so they are for tests and examples only, never for real dumps. [`service_unavailable`] is
//! the skip-or-fail rule of tests that need a real server.

mod services;

pub use services::{service_unavailable, services_required, REQUIRE_SERVICES_VAR};

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};

use crate::sink::PutIfAbsent;
use crate::{BoxReader, ObjectMeta, Sink, SinkError, SinkWriter, MAX_SMALL_OBJECT};

/// An object and when it was last written.
#[derive(Clone)]
struct Stored {
    data: Bytes,
    modified: time::OffsetDateTime,
}

type Objects = Arc<Mutex<BTreeMap<String, Stored>>>;

/// An in-memory storage. Cloning shares the objects. Optionally fails writes after a number of
/// bytes, to test how the pipeline handles a storage dying midway.
#[derive(Clone)]
pub struct MemorySink {
    name: String,
    objects: Objects,
    fail_after: Option<u64>,
}

impl MemorySink {
    /// An empty storage called `name`.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            objects: Arc::default(),
            fail_after: None,
        }
    }

    /// A storage whose uploads fail once more than `bytes` were written to one object.
    pub fn failing_after(name: &str, bytes: u64) -> Self {
        Self {
            fail_after: Some(bytes),
            ..Self::new(name)
        }
    }

    /// The keys present, sorted.
    pub fn keys(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    /// The object at `key`.
    pub fn object(&self, key: &str) -> Option<Bytes> {
        self.lock().get(key).map(|s| s.data.clone())
    }

    /// Replaces (or creates) the object at `key`, e.g. to simulate tampering.
    pub fn set_object(&self, key: &str, data: impl Into<Bytes>) {
        self.set_object_at(key, data, time::OffsetDateTime::now_utc());
    }

    /// Replaces (or creates) the object at `key` as if last written at `modified`.
    pub fn set_object_at(&self, key: &str, data: impl Into<Bytes>, modified: time::OffsetDateTime) {
        let stored = Stored {
            data: data.into(),
            modified,
        };
        self.lock().insert(key.to_string(), stored);
    }

    /// Removes the object at `key`.
    pub fn remove_object(&self, key: &str) {
        self.lock().remove(key);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Stored>> {
        self.objects.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

struct MemoryWriter {
    key: String,
    buffer: BytesMut,
    objects: Objects,
    fail_after: Option<u64>,
}

#[async_trait]
impl SinkWriter for MemoryWriter {
    async fn write(&mut self, chunk: Bytes) -> Result<(), SinkError> {
        self.buffer.extend_from_slice(&chunk);
        match self.fail_after {
            Some(limit) if self.buffer.len() as u64 > limit => Err(SinkError::backend(
                "write",
                self.key.clone(),
                "simulated storage failure",
            )),
            _ => Ok(()),
        }
    }

    async fn close(&mut self) -> Result<(), SinkError> {
        let stored = Stored {
            data: std::mem::take(&mut self.buffer).freeze(),
            modified: time::OffsetDateTime::now_utc(),
        };
        self.objects
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(self.key.clone(), stored);
        Ok(())
    }

    async fn abort(&mut self) -> Result<(), SinkError> {
        self.buffer.clear();
        Ok(())
    }
}

#[async_trait]
impl Sink for MemorySink {
    fn name(&self) -> &str {
        &self.name
    }

    fn describe(&self) -> String {
        format!("memory:{}", self.name)
    }

    async fn open_write(
        &self,
        key: &str,
        _size_hint: Option<u64>,
    ) -> Result<Box<dyn SinkWriter>, SinkError> {
        Ok(Box::new(MemoryWriter {
            key: key.to_string(),
            buffer: BytesMut::new(),
            objects: Arc::clone(&self.objects),
            fail_after: self.fail_after,
        }))
    }

    async fn open_read(&self, key: &str) -> Result<BoxReader, SinkError> {
        let data = self.object(key).ok_or_else(|| SinkError::NotFound {
            key: key.to_string(),
        })?;
        Ok(Box::new(std::io::Cursor::new(data)))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, SinkError> {
        Ok(self
            .lock()
            .iter()
            .filter(|(key, _)| key.starts_with(prefix))
            .map(|(key, stored)| ObjectMeta {
                key: key.clone(),
                size: stored.data.len() as u64,
                last_modified: Some(stored.modified),
            })
            .collect())
    }

    async fn stat(&self, key: &str) -> Result<Option<ObjectMeta>, SinkError> {
        Ok(self.lock().get(key).map(|stored| ObjectMeta {
            key: key.to_string(),
            size: stored.data.len() as u64,
            last_modified: Some(stored.modified),
        }))
    }

    async fn delete(&self, key: &str) -> Result<(), SinkError> {
        self.remove_object(key);
        Ok(())
    }

    async fn put_if_absent(&self, key: &str, data: Bytes) -> Result<PutIfAbsent, SinkError> {
        let mut objects = self.lock();
        if objects.contains_key(key) {
            return Ok(PutIfAbsent::Exists);
        }
        let stored = Stored {
            data,
            modified: time::OffsetDateTime::now_utc(),
        };
        objects.insert(key.to_string(), stored);
        Ok(PutIfAbsent::Created)
    }

    async fn get(&self, key: &str) -> Result<Bytes, SinkError> {
        let data = self.object(key).ok_or_else(|| SinkError::NotFound {
            key: key.to_string(),
        })?;
        if data.len() as u64 > MAX_SMALL_OBJECT {
            return Err(SinkError::TooLarge {
                key: key.to_string(),
                size: data.len() as u64,
            });
        }
        Ok(data)
    }
}

/// A source that writes `data` in small chunks, or fails once `fail_after` bytes were written
/// (to test what a dump dying midway does). Holds its data in memory: tests only.
pub struct BytesSource {
    /// What the dump consists of.
    pub data: Vec<u8>,
    /// Fail with a "simulated source failure" after this many bytes.
    pub fail_after: Option<usize>,
}

impl BytesSource {
    /// A source that dumps `data` successfully.
    pub fn new(data: Vec<u8>) -> Self {
        Self {
            data,
            fail_after: None,
        }
    }

    /// A source that dies after writing `fail_after` of `data`'s bytes.
    pub fn failing_after(data: Vec<u8>, fail_after: usize) -> Self {
        Self {
            data,
            fail_after: Some(fail_after),
        }
    }
}

/// The chunk size [`BytesSource`] writes in: a prime, so chunks never line up with the
/// pipeline's own buffers.
const SOURCE_CHUNK: usize = 7919;

#[async_trait]
impl crate::Source for BytesSource {
    fn kind(&self) -> &'static str {
        "bytes"
    }

    fn dump_format(&self) -> &'static str {
        "raw"
    }

    fn extension(&self) -> &'static str {
        "bin"
    }

    async fn preflight(&self) -> Result<crate::Preflight, crate::StoreError> {
        Ok(crate::Preflight {
            estimated_bytes: Some(self.data.len() as u64),
            ..crate::Preflight::default()
        })
    }

    async fn backup(
        &self,
        out: &mut (dyn tokio::io::AsyncWrite + Send + Unpin),
    ) -> Result<serde_json::Value, crate::StoreError> {
        use tokio::io::AsyncWriteExt;
        for (index, chunk) in self.data.chunks(SOURCE_CHUNK).enumerate() {
            if self
                .fail_after
                .is_some_and(|limit| index * SOURCE_CHUNK >= limit)
            {
                return Err(crate::StoreError::failed("simulated source failure midway"));
            }
            out.write_all(chunk)
                .await
                .map_err(crate::StoreError::failed)?;
        }
        Ok(serde_json::json!({ "len": self.data.len() }))
    }
}

/// A reader that yields `data` in small reads, then fails with an error of `kind` once
/// `fail_at` bytes were read — or instead of EOF when `fail_at` is at or past the end. For
/// testing what a restore does when the stream breaks.
pub struct FailingReader {
    data: Vec<u8>,
    pos: usize,
    fail_at: usize,
    kind: std::io::ErrorKind,
}

impl FailingReader {
    /// Reads `data` up to `fail_at`, then fails with `kind`.
    pub fn new(data: Vec<u8>, fail_at: usize, kind: std::io::ErrorKind) -> Self {
        Self {
            data,
            pos: 0,
            fail_at,
            kind,
        }
    }
}

/// Small reads, so that a failure comes after the reader's consumer wrote several times.
const FAILING_READ_SIZE: usize = 1000;

impl tokio::io::AsyncRead for FailingReader {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let end = self.fail_at.min(self.data.len());
        if self.pos >= end {
            return std::task::Poll::Ready(Err(std::io::Error::new(
                self.kind,
                "injected read failure",
            )));
        }
        let n = (end - self.pos).min(buf.remaining()).min(FAILING_READ_SIZE);
        let start = self.pos;
        buf.put_slice(&self.data[start..start + n]);
        self.pos += n;
        std::task::Poll::Ready(Ok(()))
    }
}
