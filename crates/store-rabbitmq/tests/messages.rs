//! Messages round trip against the real broker: 10,000 messages with headers, persistence and
//! binary payloads in three queues are backed up without leaving their queues, then restored
//! in order; skipped queues are reported; a damaged stream publishes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use backup_core::{FormatCheck, RestoreOptions, Source, StoreErrorKind, Target};
use lapin::types::{AMQPValue, ByteArray, FieldTable, LongString};
use lapin::BasicProperties;
use lifeboat_edge::percent::encode_component;
use lifeboat_testing::manifest;
use lifeboat_testing::rabbitmq::{amqp, depth, drain, publish, wait_depth, Msg, TestBroker, URL};
use serde_json::json;
use store_rabbitmq::{
    RabbitmqCheck, RabbitmqDrill, RabbitmqOptions, RabbitmqSource, RabbitmqTarget,
};

fn messages(queue: usize, n: usize) -> Vec<Msg> {
    (0..n)
        .map(|i| {
            let mut headers = FieldTable::default();
            headers.insert("n".into(), AMQPValue::LongInt(i as i32));
            headers.insert(
                "queue".into(),
                AMQPValue::LongString(LongString::from(format!("q{queue}").into_bytes())),
            );
            headers.insert("ratio".into(), AMQPValue::Double(i as f64 / 3.0));
            headers.insert(
                "raw".into(),
                AMQPValue::ByteArray(ByteArray::from(vec![0u8, 255, i as u8])),
            );
            let mut nested = FieldTable::default();
            nested.insert("ok".into(), AMQPValue::Boolean(i % 2 == 0));
            headers.insert("nested".into(), AMQPValue::FieldTable(nested));
            let payload: Vec<u8> = (0..(i % 97 + 1))
                .map(|b| (b as u8).wrapping_mul(31).wrapping_add(i as u8))
                .collect();
            let mut p = BasicProperties::default()
                .with_headers(headers)
                .with_content_type("application/octet-stream".into())
                .with_message_id(format!("m-{queue}-{i}").as_str().into())
                .with_timestamp(1_700_000_000 + i as u64);
            if i % 3 != 0 {
                p = p.with_delivery_mode(2);
            }
            Msg {
                payload,
                properties: p,
            }
        })
        .collect()
}

#[tokio::test]
async fn ten_thousand_messages_round_trip_in_order() {
    let Some(mut s) = TestBroker::connect("msgs").await else {
        return;
    };
    let v = s.vhost("m").await;
    let ev = encode_component(&v);
    let queues = [
        ("classic", json!({})),
        ("quorum", json!({"x-queue-type": "quorum"})),
        ("lazy", json!({"x-queue-mode": "lazy"})),
    ];
    let counts = [5000usize, 3000, 2000];
    let mut sent = Vec::new();
    for (i, (name, args)) in queues.iter().enumerate() {
        s.put(
            &format!("/api/queues/{ev}/{name}"),
            json!({"durable": true, "arguments": args}),
        )
        .await;
        let m = messages(i, counts[i]);
        publish(&v, name, &m).await;
        sent.push(m);
    }
    // Reported, never silently skipped: a queue with a consumer, a transient one, and quorum
    // queues with a delivery limit (argument or policy) that backups would use up.
    s.put(
        &format!("/api/queues/{ev}/limited"),
        json!({"durable": true, "arguments": {"x-queue-type": "quorum", "x-delivery-limit": 3}}),
    )
    .await;
    s.put(
        &format!("/api/policies/{ev}/limit"),
        json!({"pattern": "^plimited$", "definition": {"delivery-limit": 2}, "apply-to": "queues"}),
    )
    .await;
    s.put(
        &format!("/api/queues/{ev}/plimited"),
        json!({"durable": true, "arguments": {"x-queue-type": "quorum"}}),
    )
    .await;
    s.put(&format!("/api/queues/{ev}/busy"), json!({"durable": true}))
        .await;
    s.put(
        &format!("/api/queues/{ev}/transient"),
        json!({"durable": false}),
    )
    .await;
    let busy_conn = amqp(&v).await;
    let busy_ch = busy_conn.create_channel().await.unwrap();
    let _consumer = busy_ch
        .basic_consume("busy", "holder", Default::default(), FieldTable::default())
        .await
        .unwrap();

    let mut o = RabbitmqOptions::new(URL);
    o.vhosts = Some(vec![v.clone()]);
    o.messages = true;
    let source = RabbitmqSource::new(o.clone()).unwrap();
    assert_eq!(source.dump_format(), "rabbitmq-definitions+messages");
    assert_eq!(source.extension(), "jsonl");
    let mut dump = Vec::new();
    let started = std::time::Instant::now();
    let metadata = source.backup(&mut dump).await.map(|d| d.metadata).unwrap();
    eprintln!("backup of 10000 messages took {:?}", started.elapsed());
    busy_conn.close(200, "ok").await.unwrap();
    assert_eq!(metadata["messages"]["total"], 10_000);
    let skipped = metadata["messages"]["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 4, "{skipped:?}");
    for limited in ["limited", "plimited"] {
        assert!(
            skipped.iter().any(|q| q["queue"] == limited
                && q["reason"].as_str().unwrap().contains("delivery limit")),
            "{skipped:?}"
        );
    }
    assert!(skipped
        .iter()
        .any(|q| q["queue"] == "busy" && q["reason"].as_str().unwrap().contains("consumer")));
    assert!(skipped
        .iter()
        .any(|q| q["queue"] == "transient" && q["reason"].as_str().unwrap().contains("durable")));
    let m = manifest("rabbitmq", "rabbitmq-definitions+messages", metadata);

    // The source still holds every message.
    for (i, (name, _)) in queues.iter().enumerate() {
        assert_eq!(
            wait_depth(&v, name, counts[i] as u32).await as usize,
            counts[i],
            "queue {name} after backup"
        );
    }
    // The format check and the drill agree with the manifest.
    RabbitmqCheck::new()
        .check(&mut dump.as_slice(), &m)
        .await
        .unwrap();
    let report = RabbitmqDrill::new(&o)
        .unwrap()
        .check(&mut dump.as_slice(), &m)
        .await
        .unwrap();
    assert_eq!(
        report.details["comparison"]["messages"], 10_000,
        "{}",
        report.details
    );

    // In order, after the backup put them back.
    for (i, (name, _)) in queues.iter().enumerate() {
        let got = drain(&v, name, counts[i]).await;
        assert!(
            got.iter()
                .map(|m| &m.payload)
                .eq(sent[i].iter().map(|m| &m.payload)),
            "queue {name}: order or payloads changed by the backup"
        );
    }

    // Restore into a broker without the vhost.
    s.clean().await;
    let target = RabbitmqTarget::new(&o, None).unwrap();
    let started = std::time::Instant::now();
    let report = target
        .restore(&mut dump.as_slice(), &m, &RestoreOptions::default())
        .await
        .unwrap();
    eprintln!("restore of 10000 messages took {:?}", started.elapsed());
    assert!(
        report.summary.contains("10000 message(s) republished"),
        "{}",
        report.summary
    );
    s.put(
        &format!("/api/permissions/{ev}/guest"),
        json!({"configure": ".*", "write": ".*", "read": ".*"}),
    )
    .await;
    for (i, (name, _)) in queues.iter().enumerate() {
        assert_eq!(depth(&v, name).await as usize, counts[i]);
        let got = drain(&v, name, counts[i]).await;
        for (a, b) in got.iter().zip(&sent[i]) {
            assert_eq!(a.payload, b.payload, "queue {name}");
            let mut props = a.properties.clone();
            // Quorum queues count deliveries in a header of their own.
            if let Some(h) = props.headers().clone() {
                let mut h = h.inner().clone();
                h.remove("x-delivery-count");
                props = props.with_headers(FieldTable::from(h));
            }
            assert_eq!(props, b.properties, "queue {name}");
        }
    }

    // A second restore would append to queues that hold messages: refused.
    s.put(
        &format!("/api/queues/{ev}/classic"),
        json!({"durable": true}),
    )
    .await;
    publish(&v, "classic", &messages(0, 1)).await;
    let err = target
        .restore(&mut dump.as_slice(), &m, &RestoreOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::TargetNotEmpty, "{err}");
    assert!(err.to_string().contains("already holds 1 message"), "{err}");
}

#[tokio::test]
async fn a_damaged_stream_publishes_nothing() {
    let Some(mut s) = TestBroker::connect("damaged").await else {
        return;
    };
    let v = s.vhost("d").await;
    let ev = encode_component(&v);
    s.put(&format!("/api/queues/{ev}/q"), json!({"durable": true}))
        .await;
    publish(&v, "q", &messages(0, 50)).await;
    let mut o = RabbitmqOptions::new(URL);
    o.vhosts = Some(vec![v.clone()]);
    o.messages = true;
    let mut dump = Vec::new();
    let metadata = RabbitmqSource::new(o.clone())
        .unwrap()
        .backup(&mut dump)
        .await
        .map(|d| d.metadata)
        .unwrap();
    let m = manifest("rabbitmq", "rabbitmq-definitions+messages", metadata);
    drain(&v, "q", 50).await;

    // The trailer is cut off: the definitions are applied, no message is committed.
    let text = String::from_utf8(dump.clone()).unwrap();
    let cut = text.rfind("{\"type\":\"trailer\"").unwrap();
    let target = RabbitmqTarget::new(&o, None).unwrap();
    let err = target
        .restore(&mut &dump[..cut], &m, &RestoreOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Corrupt, "{err}");
    assert!(err.to_string().contains("truncated"), "{err}");
    assert_eq!(
        depth(&v, "q").await,
        0,
        "messages of a damaged stream were committed"
    );
    let err = RabbitmqCheck::new()
        .check(&mut &dump[..cut], &m)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Corrupt, "{err}");

    // A stream error midway (what the pipeline reports on a checksum mismatch).
    let mut failing = lifeboat_testing::FailingReader::new(
        dump.clone(),
        cut - 10,
        std::io::ErrorKind::InvalidData,
    );
    let err = target
        .restore(&mut failing, &m, &RestoreOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Corrupt, "{err}");
    assert_eq!(depth(&v, "q").await, 0);

    // The whole stream restores all 50.
    target
        .restore(&mut dump.as_slice(), &m, &RestoreOptions::default())
        .await
        .unwrap();
    assert_eq!(wait_depth(&v, "q", 50).await, 50);
    drop(s);
}

#[tokio::test]
async fn a_message_for_a_queue_missing_on_the_target_is_an_error_and_nothing_is_committed() {
    let Some(mut s) = TestBroker::connect("unrouted").await else {
        return;
    };
    let v = s.vhost("u").await;
    let ev = encode_component(&v);
    for q in ["kept", "gone"] {
        s.put(&format!("/api/queues/{ev}/{q}"), json!({"durable": true}))
            .await;
        publish(&v, q, &messages(0, 5)).await;
    }
    let mut o = RabbitmqOptions::new(URL);
    o.vhosts = Some(vec![v.clone()]);
    o.messages = true;
    let mut dump = Vec::new();
    let metadata = RabbitmqSource::new(o.clone())
        .unwrap()
        .backup(&mut dump)
        .await
        .map(|d| d.metadata)
        .unwrap();
    let m = manifest("rabbitmq", "rabbitmq-definitions+messages", metadata);
    assert_eq!(m.metadata["messages"]["total"], 10);

    // The definitions line loses queue `gone`: the restore does not create it, so its
    // messages have nowhere to go.
    let text = String::from_utf8(dump).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let mut defs: serde_json::Value = serde_json::from_str(&lines[1]).unwrap();
    defs["queues"]
        .as_array_mut()
        .unwrap()
        .retain(|q| q["name"] != "gone");
    defs["bindings"] = json!([]);
    lines[1] = defs.to_string();
    let edited = format!("{}\n", lines.join("\n"));

    s.clean().await;
    let target = RabbitmqTarget::new(&o, None).unwrap();
    let err = target
        .restore(&mut edited.as_bytes(), &m, &RestoreOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Failed, "{err}");
    let text = err.to_string();
    assert!(
        text.contains("not routed") && text.contains("`gone`"),
        "{text}"
    );
    // The definitions were imported (documented), but not one message was committed, not even
    // those of the queue that exists: they share the vhost's transaction.
    s.put(
        &format!("/api/permissions/{ev}/guest"),
        json!({"configure": ".*", "write": ".*", "read": ".*"}),
    )
    .await;
    assert!(s.exists(&format!("/api/queues/{ev}/kept")).await);
    assert!(!s.exists(&format!("/api/queues/{ev}/gone")).await);
    assert_eq!(depth(&v, "kept").await, 0, "messages were committed");
}

#[tokio::test]
async fn the_per_queue_limit_takes_the_oldest_and_never_reorders_a_queue() {
    let Some(mut s) = TestBroker::connect("limit").await else {
        return;
    };
    let v = s.vhost("l").await;
    let ev = encode_component(&v);
    let sent = messages(0, 30);
    for (q, args) in [
        ("classic", json!({})),
        ("quorum", json!({"x-queue-type": "quorum"})),
    ] {
        s.put(
            &format!("/api/queues/{ev}/{q}"),
            json!({"durable": true, "arguments": args}),
        )
        .await;
        publish(&v, q, &sent).await;
    }
    let mut o = RabbitmqOptions::new(URL);
    o.vhosts = Some(vec![v.clone()]);
    o.messages = true;
    o.max_messages_per_queue = 10;
    let mut dump = Vec::new();
    let metadata = RabbitmqSource::new(o.clone())
        .unwrap()
        .backup(&mut dump)
        .await
        .map(|d| d.metadata)
        .unwrap();
    // The classic queue gives its 10 oldest; the quorum queue would put them at its back
    // (it requeues there), so it is skipped and reported instead of reordered.
    assert_eq!(metadata["messages"]["total"], 10, "{metadata}");
    assert_eq!(
        metadata["messages"]["queues"],
        json!([{"vhost": v, "queue": "classic", "messages": 10, "depth": 30}])
    );
    let skipped = &metadata["messages"]["skipped"];
    assert_eq!(skipped[0]["queue"], "quorum", "{skipped}");
    assert!(
        skipped[0]["reason"]
            .as_str()
            .unwrap()
            .contains("would reorder"),
        "{skipped}"
    );
    let m = manifest("rabbitmq", "rabbitmq-definitions+messages", metadata);
    RabbitmqCheck::new()
        .check(&mut dump.as_slice(), &m)
        .await
        .unwrap();
    // The dump holds the 10 oldest of each queue, and the queues still hold all 30 in order.
    let text = String::from_utf8(dump).unwrap();
    let ids: Vec<String> = text
        .lines()
        .filter(|l| l.contains("\"type\":\"message\"") && l.contains("\"queue\":\"classic\""))
        .map(|l| {
            let m: serde_json::Value = serde_json::from_str(l).unwrap();
            m["properties"]["message_id"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(ids, (0..10).map(|i| format!("m-0-{i}")).collect::<Vec<_>>());
    for q in ["classic", "quorum"] {
        assert_eq!(wait_depth(&v, q, 30).await, 30, "queue {q} after backup");
        let got = drain(&v, q, 30).await;
        assert!(
            got.iter()
                .map(|m| &m.payload)
                .eq(sent.iter().map(|m| &m.payload)),
            "queue {q}: order changed: {:?}",
            got.iter()
                .map(|m| m.properties.message_id().clone().unwrap().to_string())
                .collect::<Vec<_>>()
        );
    }
}

#[tokio::test]
async fn a_queue_deleted_before_the_commit_is_reported_not_routed() {
    use tokio::io::AsyncWriteExt;
    let Some(mut s) = TestBroker::connect("commit").await else {
        return;
    };
    let v = s.vhost("c").await;
    let ev = encode_component(&v);
    s.put(&format!("/api/queues/{ev}/q"), json!({"durable": true}))
        .await;
    publish(&v, "q", &messages(0, 5)).await;
    let mut o = RabbitmqOptions::new(URL);
    o.vhosts = Some(vec![v.clone()]);
    o.messages = true;
    let mut dump = Vec::new();
    let metadata = RabbitmqSource::new(o.clone())
        .unwrap()
        .backup(&mut dump)
        .await
        .map(|d| d.metadata)
        .unwrap();
    let m = manifest("rabbitmq", "rabbitmq-definitions+messages", metadata);
    drain(&v, "q", 5).await;
    let text = String::from_utf8(dump).unwrap();
    let cut = text.rfind("{\"type\":\"trailer\"").unwrap();
    let (head, trailer) = (text[..cut].to_string(), text[cut..].to_string());

    // The stream stops before its trailer: every message is published (in the transaction),
    // then the queue is deleted, then the trailer lets the commit happen.
    let (mut writer, mut reader) = tokio::io::duplex(1);
    let (written_tx, written_rx) = tokio::sync::oneshot::channel();
    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
    let feeder = tokio::spawn(async move {
        writer.write_all(head.as_bytes()).await.unwrap();
        written_tx.send(()).unwrap();
        go_rx.await.unwrap();
        writer.write_all(trailer.as_bytes()).await.unwrap();
    });
    let target = RabbitmqTarget::new(&o, None).unwrap();
    let restore = tokio::spawn(async move {
        target
            .restore(&mut reader, &m, &RestoreOptions::default())
            .await
    });
    written_rx.await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    s.delete(&format!("/api/queues/{ev}/q")).await;
    go_tx.send(()).unwrap();
    feeder.await.unwrap();
    let err = restore.await.unwrap().unwrap_err().to_string();
    // The broker returned all 5 at the commit (not the passive declare's "does not exist").
    assert!(
        err.contains("5 message(s)") && err.contains("not routed") && err.contains("NO_ROUTE"),
        "{err}"
    );
}
