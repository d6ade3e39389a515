//! [`MemorySink`]: a storage that keeps its objects in memory (tests and examples only: it
//! holds whole dumps).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use backup_core::lock::PutIfAbsent;
use backup_core::{BoxReader, ObjectMeta, Sink, SinkError, SinkWriter, MAX_SMALL_OBJECT};
use bytes::{Bytes, BytesMut};

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
