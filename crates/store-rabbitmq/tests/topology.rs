//! Definitions round trips against the real broker: backup, delete, restore, compare; conflicts
//! refused without --force; dry runs that change nothing; format check and drill.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use backup_core::{FormatCheck, RestoreOptions, Source, StoreErrorKind, Target};
use lifeboat_edge::percent::encode_component;
use lifeboat_testing::rabbitmq::{TestBroker, URL};
use lifeboat_testing::{free_port, manifest};
use serde_json::{json, Value};
use store_rabbitmq::{
    RabbitmqCheck, RabbitmqDrill, RabbitmqError, RabbitmqOptions, RabbitmqSource, RabbitmqTarget,
};

fn options(vhosts: &[String]) -> RabbitmqOptions {
    let mut o = RabbitmqOptions::new(URL);
    o.vhosts = Some(vhosts.to_vec());
    o
}

/// Two vhosts with a bit of everything the definitions can hold.
async fn build_topology(s: &mut TestBroker) -> Vec<String> {
    let a = s.vhost("a").await;
    let b = s.vhost("b").await;
    let alice = s.user("alice", "monitoring,policymaker").await;
    let bob = s.user("bob", "").await;
    let (ea, eb) = (encode_component(&a), encode_component(&b));
    s.put(
        &format!("/api/permissions/{ea}/{}", encode_component(&alice)),
        json!({"configure": "^a-.*", "write": ".*", "read": ".*"}),
    )
    .await;
    s.put(
        &format!("/api/permissions/{eb}/{}", encode_component(&bob)),
        json!({"configure": "", "write": "x", "read": ".*"}),
    )
    .await;
    s.put(
        &format!("/api/topic-permissions/{ea}/{}", encode_component(&alice)),
        json!({"exchange": "amq.topic", "write": "^orders\\.", "read": ".*"}),
    )
    .await;
    s.put(&format!("/api/policies/{ea}/ttl"), json!({"pattern": "^ttl\\.", "definition": {"message-ttl": 60000}, "priority": 3, "apply-to": "queues"})).await;
    s.put(
        &format!("/api/vhost-limits/{ea}/max-queues"),
        json!({"value": 100}),
    )
    .await;
    for (name, kind) in [
        ("a-direct", "direct"),
        ("a-fanout", "fanout"),
        ("a-topic", "topic"),
        ("a-headers", "headers"),
    ] {
        s.put(&format!("/api/exchanges/{ea}/{name}"), json!({"type": kind, "durable": true, "auto_delete": false, "internal": false, "arguments": {}})).await;
    }
    s.put(&format!("/api/exchanges/{ea}/a-internal"), json!({"type": "topic", "durable": true, "internal": true, "arguments": {"alternate-exchange": "a-fanout"}})).await;
    s.put(&format!("/api/queues/{ea}/dlq"), json!({"durable": true}))
        .await;
    s.put(&format!("/api/queues/{ea}/work"), json!({"durable": true, "arguments": {"x-message-ttl": 30000, "x-dead-letter-exchange": "a-fanout", "x-dead-letter-routing-key": "dead", "x-max-length": 1000, "x-overflow": "reject-publish"}})).await;
    s.put(&format!("/api/queues/{ea}/ttl.q"), json!({"durable": true}))
        .await;
    s.put(
        &format!("/api/queues/{ea}/quorum"),
        json!({"durable": true, "arguments": {"x-queue-type": "quorum", "x-delivery-limit": 5}}),
    )
    .await;
    s.put(
        &format!("/api/queues/{eb}/work"),
        json!({"durable": true, "arguments": {"x-max-priority": 5}}),
    )
    .await;
    s.post(
        &format!("/api/bindings/{ea}/e/a-direct/q/work"),
        json!({"routing_key": "work", "arguments": {}}),
    )
    .await;
    s.post(
        &format!("/api/bindings/{ea}/e/a-headers/q/quorum"),
        json!({"routing_key": "", "arguments": {"x-match": "all", "kind": "order"}}),
    )
    .await;
    s.post(
        &format!("/api/bindings/{ea}/e/a-fanout/q/dlq"),
        json!({"routing_key": "", "arguments": {}}),
    )
    .await;
    s.post(
        &format!("/api/bindings/{ea}/e/a-topic/e/a-fanout"),
        json!({"routing_key": "orders.#", "arguments": {}}),
    )
    .await;
    s.post(
        &format!("/api/bindings/{ea}/e/a-internal/e/a-direct"),
        json!({"routing_key": "work", "arguments": {"x-extra": 1}}),
    )
    .await;
    vec![a, b]
}

#[tokio::test]
async fn topology_round_trips_through_backup_delete_restore() {
    let Some(mut s) = TestBroker::connect("topo").await else {
        return;
    };
    let vhosts = build_topology(&mut s).await;
    let before = s.definitions().await;
    assert_eq!(before["queues"].as_array().unwrap().len(), 5);
    assert_eq!(before["users"].as_array().unwrap().len(), 2);

    let source = RabbitmqSource::new(options(&vhosts)).unwrap();
    let preflight = source.preflight().await.unwrap();
    assert!(preflight.version.unwrap().starts_with("RabbitMQ "));
    let mut dump = Vec::new();
    let dumped = source.backup(&mut dump).await.unwrap();
    assert!(dumped.contains_password_hashes);
    let metadata = dumped.metadata;
    assert_eq!(source.dump_format(), "rabbitmq-definitions");
    assert_eq!(metadata["counts"]["queues"], 5);
    assert_eq!(metadata["counts"]["exchanges"], 5);
    assert_eq!(metadata["counts"]["bindings"], 5);
    assert_eq!(metadata["counts"]["policies"], 1);
    assert_eq!(metadata["counts"]["vhosts"], 2);
    assert_eq!(metadata["counts"]["topic_permissions"], 1);
    assert_eq!(metadata["vhost_counts"][&vhosts[0]]["queues"], 4);
    assert_eq!(metadata["contains_password_hashes"], true);
    let text = String::from_utf8(dump.clone()).unwrap();
    assert!(!text.contains("guest:guest") && !metadata.to_string().contains("guest:guest"));
    let doc: Value = serde_json::from_slice(&dump).unwrap();
    // Only our vhosts, and only users holding permissions there (guest holds some too).
    assert!(doc["vhosts"]
        .as_array()
        .unwrap()
        .iter()
        .all(|v| vhosts.contains(&v["name"].as_str().unwrap().to_string())));
    assert!(doc.get("global_parameters").is_none());
    let m = manifest("rabbitmq", "rabbitmq-definitions", metadata.clone());

    // verify: the format check agrees with the manifest.
    let report = RabbitmqCheck::new()
        .check(&mut dump.as_slice(), &m)
        .await
        .unwrap();
    assert!(report.summary.contains("5 queue(s)"), "{}", report.summary);

    // verify --deep: a drill into scratch vhosts, removed afterwards.
    let drill = RabbitmqDrill::new(&options(&vhosts)).unwrap();
    let report = drill.check(&mut dump.as_slice(), &m).await.unwrap();
    assert!(report.details["restore_ms"].is_u64());
    for scratch in report.details["scratch_vhosts"]
        .as_object()
        .unwrap()
        .values()
    {
        assert!(
            !s.exists(&format!(
                "/api/vhosts/{}",
                encode_component(scratch.as_str().unwrap())
            ))
            .await,
            "scratch vhost left behind"
        );
    }

    s.clean().await;
    assert!(s.definitions().await["queues"]
        .as_array()
        .unwrap()
        .is_empty());

    let target = RabbitmqTarget::new(&options(&vhosts), None).unwrap();
    let opts = RestoreOptions::default();
    target.prepare(&m, &opts).await.unwrap();
    let report = target
        .restore(&mut dump.as_slice(), &m, &opts)
        .await
        .unwrap();
    assert!(report.summary.contains("created"), "{}", report.summary);
    assert_eq!(s.definitions().await, before);

    // Restoring again: everything exists identically, nothing to do, no conflict.
    let report = target
        .restore(&mut dump.as_slice(), &m, &opts)
        .await
        .unwrap();
    assert!(
        report.summary.contains(" 0 object(s) created"),
        "{}",
        report.summary
    );
    assert_eq!(s.definitions().await, before);
}

#[tokio::test]
async fn conflicts_are_refused_without_force_and_dry_run_changes_nothing() {
    let Some(mut s) = TestBroker::connect("conflict").await else {
        return;
    };
    let v = s.vhost("c").await;
    let ev = encode_component(&v);
    s.put(
        &format!("/api/queues/{ev}/orders"),
        json!({"durable": true, "arguments": {"x-max-length": 10}}),
    )
    .await;
    s.put(
        &format!("/api/exchanges/{ev}/events"),
        json!({"type": "fanout", "durable": true}),
    )
    .await;
    let source = RabbitmqSource::new(options(std::slice::from_ref(&v))).unwrap();
    let mut dump = Vec::new();
    let metadata = source.backup(&mut dump).await.map(|d| d.metadata).unwrap();
    let m = manifest("rabbitmq", "rabbitmq-definitions", metadata);

    // The queue comes back with other arguments; the exchange is gone.
    s.delete(&format!("/api/queues/{ev}/orders")).await;
    s.delete(&format!("/api/exchanges/{ev}/events")).await;
    s.put(
        &format!("/api/queues/{ev}/orders"),
        json!({"durable": true, "arguments": {"x-max-length": 99}}),
    )
    .await;
    let before = s.definitions().await;

    let target = RabbitmqTarget::new(&options(std::slice::from_ref(&v)), None).unwrap();
    let dry = RestoreOptions {
        force: false,
        dry_run: true,
    };
    let report = target
        .restore(&mut dump.as_slice(), &m, &dry)
        .await
        .unwrap();
    assert!(report.summary.contains("1 conflict"), "{}", report.summary);
    assert!(
        report.summary.contains("x-max-length"),
        "{}",
        report.summary
    );
    assert!(
        report.summary.contains("+ create: exchange"),
        "{}",
        report.summary
    );
    assert!(
        report.summary.contains("would be refused"),
        "{}",
        report.summary
    );
    assert_eq!(
        s.definitions().await,
        before,
        "a dry run changed the broker"
    );

    let err = target
        .restore(&mut dump.as_slice(), &m, &RestoreOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::TargetNotEmpty, "{err}");
    assert!(
        err.to_string().contains(&format!("queue {v}/orders")),
        "{err}"
    );
    assert_eq!(
        s.definitions().await,
        before,
        "a refused restore changed the broker"
    );

    let force = RestoreOptions {
        force: true,
        dry_run: false,
    };
    target
        .restore(&mut dump.as_slice(), &m, &force)
        .await
        .unwrap();
    let q = s.get(&format!("/api/queues/{ev}/orders")).await;
    assert_eq!(q["arguments"]["x-max-length"], 10);
    assert!(s.exists(&format!("/api/exchanges/{ev}/events")).await);
}

#[tokio::test]
async fn whole_broker_backup_is_the_exact_export_and_checks_catch_damage() {
    let Some(s) = TestBroker::connect("whole").await else {
        return;
    };
    let source = RabbitmqSource::new(RabbitmqOptions::new(URL)).unwrap();
    let mut dump = Vec::new();
    let metadata = source.backup(&mut dump).await.map(|d| d.metadata).unwrap();
    let doc: Value = serde_json::from_slice(&dump).unwrap();
    assert!(doc["users"]
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u["name"] == "guest"));
    assert!(metadata["counts"]["users"].as_u64().unwrap() >= 1);
    let m = manifest("rabbitmq", "rabbitmq-definitions", metadata);
    RabbitmqCheck::new()
        .check(&mut dump.as_slice(), &m)
        .await
        .unwrap();

    // Truncated, garbage, and counts that differ from the manifest: corrupt.
    let cut = &dump[..dump.len() - 3];
    let err = RabbitmqCheck::new()
        .check(&mut &cut[..], &m)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Corrupt, "{err}");
    let err = RabbitmqCheck::new()
        .check(&mut &b"{\"users\":[1]}"[..], &m)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Corrupt, "{err}");
    let mut other = m.clone();
    other.metadata["counts"]["users"] = json!(1000);
    let err = RabbitmqCheck::new()
        .check(&mut dump.as_slice(), &other)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Corrupt, "{err}");
    assert!(err.to_string().contains("users"), "{err}");
    drop(s);
}

#[tokio::test]
async fn unknown_vhosts_and_bad_credentials_are_clear() {
    let Some(s) = TestBroker::connect("errors").await else {
        return;
    };
    let missing = s.name("missing");
    let source = RabbitmqSource::new(options(std::slice::from_ref(&missing))).unwrap();
    let err = source.preflight().await.unwrap_err();
    assert!(err.to_string().contains(&missing), "{err}");
    let err = source
        .backup(&mut Vec::new())
        .await
        .map(|d| d.metadata)
        .unwrap_err();
    assert!(err.to_string().contains(&missing), "{err}");

    let source = RabbitmqSource::new(RabbitmqOptions::new(
        "http://guest:wrong-pw@127.0.0.1:15672",
    ))
    .unwrap();
    let err = source.preflight().await.unwrap_err().to_string();
    assert!(err.contains("wrong credentials for user `guest`"), "{err}");
    assert!(!err.contains("wrong-pw"), "{err}");

    // A wrong AMQP password: the AMQP client's error stays typed, its text shows no password.
    let mut o = options(&["/".to_string()]);
    o.messages = true;
    o.amqp_url = Some("amqp://guest:wrong-amqp-pw@127.0.0.1:5672".into());
    let err = RabbitmqSource::new(o)
        .unwrap()
        .preflight()
        .await
        .unwrap_err();
    match err.inner().downcast_ref::<RabbitmqError>().unwrap() {
        RabbitmqError::Amqp { source, .. } => {
            assert!(source.find::<lapin::Error>().is_some(), "{source:?}");
        }
        other => panic!("not an AMQP error: {other:?}"),
    }
    assert!(!format!("{err} {err:?}").contains("wrong-amqp-pw"), "{err}");

    // Nothing listens on the management port, but AMQP answers on the host: the plugin hint.
    let nothing = format!("http://guest:guest@127.0.0.1:{}", free_port());
    let mut o = RabbitmqOptions::new(nothing.as_str());
    o.amqp_url = Some("amqp://127.0.0.1:5672".into());
    let err = RabbitmqSource::new(o)
        .unwrap()
        .preflight()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("rabbitmq-plugins enable rabbitmq_management"),
        "{err}"
    );

    // Neither answers: unreachable, with the HTTP client's error as the cause.
    let mut o = RabbitmqOptions::new(nothing.as_str());
    o.amqp_url = Some(format!("amqp://127.0.0.1:{}", free_port()).into());
    let err = RabbitmqSource::new(o)
        .unwrap()
        .preflight()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unreachable"), "{err}");
    let inner = err.inner().downcast_ref::<RabbitmqError>().unwrap();
    match inner {
        RabbitmqError::Unreachable { source, .. } => assert!(source.is_connect(), "{source:?}"),
        other => panic!("not Unreachable: {other:?}"),
    }
}
