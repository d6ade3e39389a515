//! Unfinished S3 multipart uploads: listed (`ListMultipartUploads`) and aborted
//! (`AbortMultipartUpload`) so that `prune` can reclaim the parts a killed run left behind.
//!
//! OpenDAL aborts the uploads it starts, but has no operation to list the uploads of a process
//! that died, so these two requests are made here: signed with SigV4 by `reqsign` (the signer
//! OpenDAL itself uses, with the same credential sources), sent with `reqwest`, each with a
//! timeout (ARCHITECTURE.md, invariant 7).

use backup_core::leftovers::{LeftoverKind, StorageLeftover};
use reqsign::{AwsConfig, AwsCredential, AwsDefaultLoader, AwsV4Signer};
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::config::S3Storage;
use crate::error::SinksError;
use crate::timeouts::Timeouts;

/// The signing region when the config gives none (as for the OpenDAL operator).
const DEFAULT_REGION: &str = "us-east-1";
/// The most pages of uploads read in one listing (1000 uploads a page).
const MAX_PAGES: usize = 100;

/// Why a multipart request failed. Never holds a secret: no URL with credentials, no header.
#[derive(Debug, thiserror::Error)]
pub enum MultipartError {
    /// No credentials could be loaded, or loading them failed.
    #[error("cannot load S3 credentials")]
    Credentials(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The request could not be signed.
    #[error("cannot sign the request")]
    Sign(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The request failed on the way (connection, timeout).
    #[error("request failed")]
    Http(#[source] reqwest::Error),
    /// The service answered with an error.
    #[error("the service answered {status} {code}")]
    Status {
        /// The HTTP status.
        status: StatusCode,
        /// S3's error code (`<Code>`), when the body had one.
        code: String,
    },
    /// The listing could not be parsed.
    #[error("unreadable listing")]
    Parse(#[source] quick_xml::DeError),
}

/// A `ListMultipartUploadsResult` page.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListPage {
    #[serde(default)]
    is_truncated: bool,
    #[serde(default)]
    next_key_marker: Option<String>,
    #[serde(default)]
    next_upload_id_marker: Option<String>,
    #[serde(default, rename = "Upload")]
    uploads: Vec<Upload>,
}

/// One `<Upload>` of a listing.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Upload {
    key: String,
    upload_id: String,
    #[serde(default)]
    initiated: Option<String>,
}

/// A `ListPartsResult` page.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PartsPage {
    #[serde(default)]
    is_truncated: bool,
    #[serde(default)]
    next_part_number_marker: Option<String>,
    #[serde(default, rename = "Part")]
    parts: Vec<Part>,
}

/// One `<Part>` of an upload.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Part {
    #[serde(default)]
    last_modified: Option<String>,
    #[serde(default)]
    size: u64,
}

/// An S3 error body, for its code.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ErrorBody {
    #[serde(default)]
    code: String,
}

/// Lists and aborts the unfinished multipart uploads of one bucket (below its `root`).
pub(crate) struct S3Uploads {
    client: reqwest::Client,
    /// The bucket's URL, ending with `/`: `https://endpoint/bucket/` or `https://bucket.endpoint/`.
    bucket_url: Url,
    /// The storage's prefix inside the bucket, `""` or ending with `/`.
    root: String,
    signer: AwsV4Signer,
    /// Credentials given in the config; else `loader` finds them.
    given: Option<AwsCredential>,
    loader: AwsDefaultLoader,
}

impl S3Uploads {
    /// The client of storage `name`; makes no request. Its requests keep to the storage's
    /// `timeout` (connecting) and `io_timeout` (one listing page or abort, in all).
    pub(crate) fn new(
        name: &str,
        config: &S3Storage,
        timeouts: Timeouts,
    ) -> Result<Self, SinksError> {
        let region = config.region.as_deref().unwrap_or(DEFAULT_REGION);
        let invalid = |problem: String| SinksError::InvalidConfig {
            storage: name.to_owned(),
            problem,
        };
        let endpoint = match &config.endpoint {
            Some(endpoint) => endpoint.expose().trim_end_matches('/').to_owned(),
            None => format!("https://s3.{region}.amazonaws.com"),
        };
        let mut url =
            Url::parse(&endpoint).map_err(|_| invalid("`endpoint` is not a URL".to_owned()))?;
        // Credentials travel in the signature, never in the URL.
        let _ = url.set_username("");
        let _ = url.set_password(None);
        let bucket_url = if config.virtual_host_style {
            let host = url
                .host_str()
                .ok_or_else(|| invalid("`endpoint` has no host".to_owned()))?;
            let host = format!("{}.{host}", config.bucket);
            url.set_host(Some(&host))
                .map_err(|_| invalid("`bucket` does not make a host name".to_owned()))?;
            url.set_path("/");
            url
        } else {
            let path = format!(
                "{}/{}/",
                url.path().trim_end_matches('/'),
                lifeboat_edge::percent::encode_component(&config.bucket)
            );
            url.set_path(&path);
            url
        };
        let root = config
            .root
            .as_deref()
            .map(|r| r.trim_matches('/'))
            .filter(|r| !r.is_empty())
            .map(|r| format!("{r}/"))
            .unwrap_or_default();
        let client = reqwest::Client::builder()
            .connect_timeout(timeouts.timeout)
            .timeout(timeouts.io_timeout)
            .build()
            .map_err(|err| {
                invalid(format!(
                    "cannot set up the HTTP client for multipart uploads: {err}"
                ))
            })?;
        let given = match (&config.access_key_id, &config.secret_access_key) {
            (Some(id), Some(secret)) => Some(AwsCredential {
                access_key_id: id.expose().to_owned(),
                secret_access_key: secret.expose().to_owned(),
                session_token: config.session_token.as_ref().map(|t| t.expose().to_owned()),
                expires_in: None,
            }),
            _ => None,
        };
        let mut aws = AwsConfig::default().from_profile().from_env();
        aws.region = Some(region.to_owned());
        Ok(Self {
            loader: AwsDefaultLoader::new(client.clone(), aws),
            client,
            bucket_url,
            root,
            signer: AwsV4Signer::new("s3", region),
            given,
        })
    }

    async fn credential(&self) -> Result<AwsCredential, MultipartError> {
        if let Some(given) = &self.given {
            return Ok(given.clone());
        }
        match self.loader.load().await {
            Ok(Some(credential)) => Ok(credential),
            Ok(None) => Err(MultipartError::Credentials("none found".into())),
            Err(err) => Err(MultipartError::Credentials(err.into())),
        }
    }

    /// Signs and sends a request without a body; returns the body of a 2xx answer, and
    /// `None` for a 404 when `missing_ok`.
    async fn send(
        &self,
        method: Method,
        url: Url,
        missing_ok: bool,
    ) -> Result<Option<String>, MultipartError> {
        let credential = self.credential().await?;
        let mut request = reqwest::Request::new(method, url);
        self.signer
            .sign(&mut request, &credential)
            .map_err(|err| MultipartError::Sign(err.into()))?;
        let response = self
            .client
            .execute(request)
            .await
            .map_err(|err| MultipartError::Http(err.without_url()))?;
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|err| MultipartError::Http(err.without_url()))?;
        if status.is_success() {
            return Ok(Some(body));
        }
        if status == StatusCode::NOT_FOUND && missing_ok {
            return Ok(None);
        }
        let code = quick_xml::de::from_str::<ErrorBody>(&body)
            .map(|e| e.code)
            .unwrap_or_default();
        Err(MultipartError::Status { status, code })
    }

    /// The unfinished uploads whose key starts with `prefix` (relative to the storage root),
    /// dated from their start.
    pub(crate) async fn list(&self, prefix: &str) -> Result<Vec<StorageLeftover>, MultipartError> {
        let full_prefix = format!("{}{prefix}", self.root);
        let mut found = Vec::new();
        let mut markers: Option<(String, String)> = None;
        for _ in 0..MAX_PAGES {
            let mut url = self.bucket_url.clone();
            {
                let mut query = url.query_pairs_mut();
                query.append_key_only("uploads");
                query.append_pair("prefix", &full_prefix);
                if let Some((key, upload)) = &markers {
                    query.append_pair("key-marker", key);
                    query.append_pair("upload-id-marker", upload);
                }
            }
            let body = self
                .send(Method::GET, url, false)
                .await?
                .unwrap_or_default();
            let page: ListPage = quick_xml::de::from_str(&body).map_err(MultipartError::Parse)?;
            for upload in page.uploads {
                let Some(key) = upload.key.strip_prefix(&self.root) else {
                    continue;
                };
                // An upload is as young as its newest part: one still being written stays
                // young however long ago it started. Without parts, its start dates it.
                let (size, newest_part) = self.parts(&upload.key, &upload.upload_id).await?;
                found.push(StorageLeftover {
                    kind: LeftoverKind::UnfinishedUpload,
                    key: key.to_owned(),
                    size,
                    last_modified: newest_part
                        .or_else(|| upload.initiated.as_deref().and_then(parse_time)),
                    upload_id: Some(upload.upload_id),
                });
            }
            match (
                page.is_truncated,
                page.next_key_marker,
                page.next_upload_id_marker,
            ) {
                (true, Some(key), Some(upload)) => markers = Some((key, upload)),
                _ => break,
            }
        }
        Ok(found)
    }

    /// The bytes of the parts uploaded so far to `upload_id` of `full_key` (a key in the
    /// bucket, root included), and the newest part's time (`ListParts`).
    async fn parts(
        &self,
        full_key: &str,
        upload_id: &str,
    ) -> Result<(u64, Option<OffsetDateTime>), MultipartError> {
        let mut size = 0;
        let mut newest = None;
        let mut marker: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut url = self.object_url(full_key);
            {
                let mut query = url.query_pairs_mut();
                query.append_pair("uploadId", upload_id);
                if let Some(marker) = &marker {
                    query.append_pair("part-number-marker", marker);
                }
            }
            // Completed or aborted since it was listed: nothing left of it.
            let Some(body) = self.send(Method::GET, url, true).await? else {
                break;
            };
            let page: PartsPage = quick_xml::de::from_str(&body).map_err(MultipartError::Parse)?;
            for part in &page.parts {
                size += part.size;
                newest = newest.max(part.last_modified.as_deref().and_then(parse_time));
            }
            match (page.is_truncated, page.next_part_number_marker) {
                (true, Some(next)) => marker = Some(next),
                _ => break,
            }
        }
        Ok((size, newest))
    }

    /// The URL of `full_key` (a key in the bucket, root included).
    fn object_url(&self, full_key: &str) -> Url {
        let mut url = self.bucket_url.clone();
        let path = format!(
            "{}{}",
            url.path(),
            lifeboat_edge::percent::encode_path(full_key.as_bytes())
        );
        url.set_path(&path);
        url
    }

    /// Aborts the upload `upload_id` of `key` (relative to the storage root); one already
    /// gone is not an error.
    pub(crate) async fn abort(&self, key: &str, upload_id: &str) -> Result<(), MultipartError> {
        let mut url = self.object_url(&format!("{}{key}", self.root));
        url.query_pairs_mut().append_pair("uploadId", upload_id);
        self.send(Method::DELETE, url, true).await?;
        Ok(())
    }
}

/// An S3 timestamp (`2026-01-02T03:04:05.000Z`).
fn parse_time(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::config::{Secret, SecretUrl};

    fn config(endpoint: &str, virtual_host: bool, root: Option<&str>) -> S3Storage {
        S3Storage {
            bucket: "b".into(),
            root: root.map(str::to_owned),
            endpoint: Some(SecretUrl::new(endpoint.to_owned())),
            region: None,
            access_key_id: Some(Secret::new("id")),
            secret_access_key: Some(Secret::new("key")),
            session_token: None,
            virtual_host_style: virtual_host,
            ..S3Storage::default()
        }
    }

    #[test]
    fn bucket_urls_and_roots() {
        let path = S3Uploads::new(
            "s",
            &config("http://u:p@h:9000/", false, Some("/a/b/")),
            Timeouts::OBJECT_STORE,
        )
        .unwrap();
        assert_eq!(path.bucket_url.as_str(), "http://h:9000/b/");
        assert_eq!(path.root, "a/b/");
        let host = S3Uploads::new(
            "s",
            &config("https://h", true, None),
            Timeouts::OBJECT_STORE,
        )
        .unwrap();
        assert_eq!(host.bucket_url.as_str(), "https://b.h/");
        assert_eq!(host.root, "");
    }

    #[test]
    fn a_listing_page_parses() {
        let page: ListPage = quick_xml::de::from_str(
            r#"<?xml version="1.0" encoding="UTF-8"?>
            <ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
              <Bucket>b</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker>
              <NextKeyMarker>app/x/data.db</NextKeyMarker><NextUploadIdMarker>u2</NextUploadIdMarker>
              <MaxUploads>1000</MaxUploads><IsTruncated>true</IsTruncated>
              <Upload><Key>app/x/data.db</Key><UploadId>u1</UploadId>
                <Initiator><ID>i</ID></Initiator><StorageClass>STANDARD</StorageClass>
                <Initiated>2026-01-02T03:04:05.000Z</Initiated></Upload>
              <Upload><Key>app/y/data.db</Key><UploadId>u2</UploadId></Upload>
            </ListMultipartUploadsResult>"#,
        )
        .unwrap();
        assert!(page.is_truncated);
        assert_eq!(page.uploads.len(), 2);
        assert_eq!(page.uploads[0].upload_id, "u1");
        assert_eq!(page.next_upload_id_marker.as_deref(), Some("u2"));
        let empty: ListPage = quick_xml::de::from_str(
            "<ListMultipartUploadsResult><IsTruncated>false</IsTruncated></ListMultipartUploadsResult>",
        )
        .unwrap();
        assert!(empty.uploads.is_empty());
        let parts: PartsPage = quick_xml::de::from_str(
            "<ListPartsResult><IsTruncated>false</IsTruncated><Part><PartNumber>1</PartNumber>\
             <LastModified>2026-12-04T18:54:39.000Z</LastModified><ETag>\"e\"</ETag>\
             <Size>8388608</Size></Part></ListPartsResult>",
        )
        .unwrap();
        assert_eq!(parts.parts[0].size, 8_388_608);
        assert!(parse_time(parts.parts[0].last_modified.as_deref().unwrap()).is_some());
    }
}
