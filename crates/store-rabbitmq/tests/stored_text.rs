//! Errors about a dump quote what it holds only as escaped, capped excerpts: a tampered dump
//! cannot put terminal escapes or a huge value into a message.
#![allow(clippy::unwrap_used)]

use store_rabbitmq::DumpFormat;

const ESC_JSON: &str = "\\u001b[2J\\u001b]0;pwned\\u0007";

fn assert_safe(err: &dyn std::error::Error) {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}'),
        "{text:?}"
    );
    assert!(text.len() < 2048, "{} bytes: {:.300}", text.len(), text);
}

#[tokio::test]
async fn definitions_errors_are_escaped_and_capped() {
    let huge = "x".repeat(1 << 20);
    for doc in [
        // A queue that is not an object: the element is quoted.
        format!(r#"{{"queues":["{ESC_JSON}{huge}"]}}"#),
        // A top-level field that does not parse as the section's type.
        format!(r#"{{"queues":[{{"name":"q","durable":tru{ESC_JSON}}}]}}"#),
    ] {
        let err = store_rabbitmq::fuzzing::dump(doc.as_bytes(), DumpFormat::Definitions)
            .await
            .unwrap_err();
        assert_safe(&err);
    }
}

#[tokio::test]
async fn messages_errors_are_escaped_and_capped() {
    let huge = "y".repeat(1 << 20);
    let header = r#"{"type":"header","format":"lifeboat-rabbitmq/1","rabbitmq_version":"3.10.8","vhosts":null,"max_messages_per_queue":65535}"#;
    let defs = r#"{"queues":[]}"#;
    for dump in [
        format!("{{\"type\":\"header\",\"format\":\"{ESC_JSON}{huge}\"}}\n"),
        format!("{header}\n{defs}\n{{\"type\":\"{ESC_JSON}{huge}\"}}\n"),
        format!(
            "{header}\n{defs}\n{{\"type\":\"trailer\",\"messages\":0,\"queues\":[{{\"vhost\":\"/\",\"queue\":\"{ESC_JSON}{huge}\",\"messages\":3,\"depth\":3}}],\"skipped\":[]}}\n"
        ),
    ] {
        let err = store_rabbitmq::fuzzing::dump(dump.as_bytes(), DumpFormat::Messages)
            .await
            .unwrap_err();
        assert_safe(&err);
    }
}
