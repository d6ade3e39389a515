//! [`TestBucket`]: a bucket of its own on the local S3-compatible server.

use std::time::Duration;

use backup_core::Sink;
use lifeboat_sinks::{OpendalSink, S3Storage, Secret, SecretUrl, StorageConfig};
use rand::RngCore;

/// A bucket of its own on the test server, removed by [`TestBucket::remove`].
pub struct TestBucket {
    /// The server's endpoint.
    pub endpoint: String,
    /// The bucket's name.
    pub name: String,
    http: reqwest::Client,
}

impl TestBucket {
    /// Creates a bucket, or returns `None` (after a notice) when the server is unreachable.
    pub async fn create() -> Option<Self> {
        let endpoint = std::env::var("LIFEBOAT_TEST_S3_ENDPOINT")
            .unwrap_or_else(|_| "http://127.0.0.1:9000".to_owned());
        let endpoint = endpoint.trim_end_matches('/').to_owned();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        if let Err(err) = http
            .get(&endpoint)
            .timeout(Duration::from_secs(3))
            .send()
            .await
        {
            lifeboat_testing::service_unavailable(format_args!(
                "S3 server at {endpoint} unreachable ({err})"
            ));
            return None;
        }
        let mut suffix = [0u8; 6];
        rand::thread_rng().fill_bytes(&mut suffix);
        let hex: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
        let name = format!("lifeboat-test-{hex}");
        let response = http.put(format!("{endpoint}/{name}")).send().await.unwrap();
        assert!(
            response.status().is_success(),
            "creating bucket {name}: {}",
            response.status()
        );
        Some(Self {
            endpoint,
            name,
            http,
        })
    }

    pub fn config(&self, root: Option<&str>) -> StorageConfig {
        StorageConfig::S3(S3Storage {
            bucket: self.name.clone(),
            root: root.map(str::to_owned),
            endpoint: Some(SecretUrl::new(self.endpoint.clone())),
            region: Some("us-east-1".to_owned()),
            access_key_id: Some(Secret::new("test")),
            secret_access_key: Some(Secret::new("test")),
            session_token: None,
            virtual_host_style: false,
            ..S3Storage::default()
        })
    }

    pub fn sink(&self, root: Option<&str>) -> OpendalSink {
        OpendalSink::new("offsite", &self.config(root)).unwrap()
    }

    /// The `ETag` of an object, from a plain HEAD (moto does not check signatures).
    pub async fn etag(&self, key: &str) -> String {
        let response = self
            .http
            .head(format!("{}/{}/{key}", self.endpoint, self.name))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        response.headers()["etag"]
            .to_str()
            .unwrap()
            .trim_matches('"')
            .to_owned()
    }

    /// How many multipart uploads are in progress in the bucket.
    pub async fn pending_uploads(&self) -> usize {
        let body = self
            .http
            .get(format!("{}/{}?uploads", self.endpoint, self.name))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(body.contains("ListMultipartUploadsResult"), "{body}");
        body.matches("<UploadId>").count()
    }

    /// Deletes every object, then the bucket.
    pub async fn remove(self) {
        let sink = self.sink(None);
        for object in sink.list("").await.unwrap() {
            sink.delete(&object.key).await.unwrap();
        }
        let response = self
            .http
            .delete(format!("{}/{}", self.endpoint, self.name))
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "deleting bucket {}: {}",
            self.name,
            response.status()
        );
    }
}
