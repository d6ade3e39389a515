//! Errors and records that quote what storage holds show it escaped and capped: a tampered
//! manifest, lock or verify record cannot put terminal escapes, forged log lines or a huge
//! blob into a message.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use backup_core::catalog::list_manifests;
use backup_core::lock::{self, LockOptions};
use backup_core::verify_record::latest_verify_record;
use backup_core::{Manifest, Sink};
use lifeboat_testing::MemorySink;

/// An escape sequence that clears the screen, as a JSON string escape.
const ESC_JSON: &str = "\\u001b[2J\\u001b]0;pwned\\u0007";

/// The error and its causes, as `lifeboat::describe` joins them.
fn full_text(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

fn assert_safe(text: &str) {
    assert!(!text.contains('\u{1b}'), "raw escape in {text:?}");
    assert!(!text.contains('\n'), "raw line break in {text:?}");
    assert!(text.len() < 2048, "{} bytes: {:.300}", text.len(), text);
}

fn manifest_json(format: &str, transform_kind: &str) -> String {
    format!(
        r#"{{"format":"{format}","id":"20261121T020000Z-3f9a1c",
        "source":{{"name":"app","kind":"files"}},
        "started_at":"2026-11-21T02:00:00Z","finished_at":"2026-11-21T02:00:01Z",
        "duration_ms":1,"host":"h","tool_version":"lifeboat 0.1.0","dump_format":"tar",
        "artifact":{{"key":"app/20261121T020000Z-3f9a1c/data.tar","raw_bytes":1,"stored_bytes":1,
        "raw_sha256":"00","stored_sha256":"00"}},
        "transforms":[{{"kind":"{transform_kind}"}}]}}"#
    )
}

#[test]
fn a_manifest_parse_error_shows_an_escaped_capped_excerpt() {
    let huge = "A".repeat(1 << 20);
    let kind = format!("{ESC_JSON}{huge}");
    let err =
        Manifest::from_json(manifest_json("lifeboat-manifest/1", &kind).as_bytes()).unwrap_err();
    let text = full_text(&err);
    assert_safe(&text);
    assert!(text.contains("unknown variant `\\u{1b}[2J"), "{text}");
    // The parser's error, with its position, stays reachable.
    let backup_core::ManifestError::Parse(shown) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(shown.get::<serde_json::Error>().unwrap().line(), 7);
}

#[test]
fn an_unknown_manifest_format_is_shown_escaped_and_capped() {
    let format = format!("{ESC_JSON}{}", "B".repeat(100_000));
    let json = manifest_json(&format, "age-scrypt");
    let err = Manifest::from_json(json.as_bytes()).unwrap_err();
    let text = full_text(&err);
    assert_safe(&text);
    assert!(text.contains("manifest format `\\u{1b}[2J"), "{text}");
    assert!(text.contains("(100"), "the length is named: {text}");
}

#[tokio::test]
async fn a_manifest_at_the_wrong_place_names_its_source_escaped() {
    let sink = MemorySink::new("local");
    let json = manifest_json("lifeboat-manifest/1", "age-scrypt").replace(
        r#""name":"app""#,
        &format!(r#""name":"{ESC_JSON}{}""#, "C".repeat(50_000)),
    );
    sink.set_object("app/20261121T020000Z-3f9a1c/manifest.json", json);
    let listing = list_manifests(&sink, Some("app")).await.unwrap();
    assert_eq!(listing.errors.len(), 1);
    let text = full_text(&listing.errors[0]);
    assert_safe(&text);
    assert!(text.contains("manifest says \\u{1b}[2J"), "{text}");
}

#[tokio::test]
async fn a_tampered_lock_is_refused_with_an_escaped_reason() {
    let sink = MemorySink::new("local");
    let sinks: Vec<Arc<dyn Sink>> = vec![Arc::new(sink.clone())];
    let lock = |format: &str, pid: &str| {
        format!(
            r#"{{"format":"{format}","host":"h","pid":{pid},"started_at":"2026-11-21T02:00:00Z",
            "operation":"backup","tool_version":"lifeboat 0.1.0","token":"00"}}"#
        )
    };
    for body in [
        lock(&format!("{ESC_JSON}{}", "D".repeat(100_000)), "1"),
        lock(
            "lifeboat-lock/1",
            &format!(r#""{ESC_JSON}{}""#, "E".repeat(100_000)),
        ),
    ] {
        sink.set_object("orders/lock.json", body);
        let err = lock::acquire(&sinks, "orders", "backup", &LockOptions::default())
            .await
            .unwrap_err();
        assert_safe(&full_text(&err));
    }
}

#[tokio::test]
async fn a_verify_record_is_reported_escaped_and_capped() {
    let sink = MemorySink::new("local");
    let record = format!(
        r#"{{"format":"lifeboat-verify/1","id":"20261121T020000Z-3f9a1c","storage":"lo{ESC_JSON}",
        "verified_at":"2026-11-21T03:00:00Z","ok":true,"deep":false,"duration_ms":5,
        "summary":"all good\n{ESC_JSON}{}"}}"#,
        "F".repeat(100_000)
    );
    sink.set_object("app/20261121T020000Z-3f9a1c/verify.json", record);
    let sinks: Vec<Arc<dyn Sink>> = vec![Arc::new(sink)];
    let found = latest_verify_record(&sinks, "app").await.unwrap();
    assert_safe(&found.summary);
    assert_safe(&found.storage);
    assert!(
        found.summary.starts_with("all good\\n\\u{1b}[2J"),
        "{}",
        found.summary
    );
}
