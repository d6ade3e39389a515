//! The AMQP user's permissions against the real broker: a restore whose messages could not be
//! published (the restoring user has no permission on their vhost after the import) is refused
//! while planning, with the target unchanged; `--dry-run` reports it; a write permission on
//! the default exchange alone is enough; the drill grants its AMQP user the scratch vhosts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use backup_core::{FormatCheck, Manifest, RestoreOptions, Source, StoreErrorKind, Target};
use lifeboat_edge::percent::encode_component;
use lifeboat_testing::manifest;
use lifeboat_testing::rabbitmq::{depth, publish, Msg, TestBroker, URL};
use serde_json::json;
use store_rabbitmq::{RabbitmqDrill, RabbitmqOptions, RabbitmqSource, RabbitmqTarget};

const PASSWORD: &str = "pw-for-tests";

fn msgs(n: usize) -> Vec<Msg> {
    (0..n).map(|i| Msg::persistent(format!("m{i}"))).collect()
}

/// A vhost with queue `q` holding 3 messages, backed up (as guest) with its messages.
async fn backed_up(s: &mut TestBroker) -> (String, RabbitmqOptions, Vec<u8>, Manifest) {
    let v = s.vhost("p").await;
    s.put(
        &format!("/api/queues/{}/q", encode_component(&v)),
        json!({"durable": true}),
    )
    .await;
    publish(&v, "q", &msgs(3)).await;
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
    assert_eq!(m.metadata["messages"]["total"], 3);
    (v, o, dump, m)
}

#[tokio::test]
async fn a_restore_whose_messages_could_not_be_published_is_refused_before_any_change() {
    let Some(mut s) = TestBroker::connect("perm").await else {
        return;
    };
    let (v, source, dump, m) = backed_up(&mut s).await;
    // The restore would recreate the queue and republish into it.
    s.delete(&format!("/api/queues/{}/q", encode_component(&v)))
        .await;
    let admin = s.user("admin", "administrator").await;
    let publisher = s.user("pub", "management").await;
    let before = s.definitions().await;

    // As an administrator without any permission on the (existing) vhost, and as guest for
    // the import with a management-only AMQP user (`amqp_url`) that has none either.
    let mut as_admin = source.clone();
    as_admin.username = Some(admin.clone());
    as_admin.password = Some(PASSWORD.into());
    let mut other_amqp = source.clone();
    other_amqp.amqp_url = Some(format!("amqp://{publisher}:{PASSWORD}@127.0.0.1:5672").into());
    for (options, user) in [(&as_admin, &admin), (&other_amqp, &publisher)] {
        let target = RabbitmqTarget::new(options, None).unwrap();
        for force in [false, true] {
            let o = RestoreOptions {
                force,
                ..RestoreOptions::default()
            };
            let err = target
                .restore(&mut dump.as_slice(), &m, &o)
                .await
                .unwrap_err();
            assert_eq!(err.kind(), StoreErrorKind::Failed, "{err}");
            let text = err.to_string();
            for needle in [
                "nothing was changed",
                &format!("user `{user}`"),
                &format!("vhost `{v}`"),
                "no permission entry",
                "set_permissions",
                "restore a backup that holds this user's permissions",
            ] {
                assert!(text.contains(needle), "{needle:?} missing from: {text}");
            }
            assert!(!text.contains(PASSWORD), "{text}");
        }
        // --dry-run reports it (and changes nothing either).
        let dry = RestoreOptions {
            dry_run: true,
            ..RestoreOptions::default()
        };
        let report = target
            .restore(&mut dump.as_slice(), &m, &dry)
            .await
            .unwrap();
        assert!(
            report.summary.contains("would be refused")
                && report.summary.contains(&format!(
                    "! permission: user `{user}` could not publish into vhost `{v}`"
                )),
            "{}",
            report.summary
        );
        assert_eq!(
            report.details["publish_permission_missing"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert_eq!(s.definitions().await, before, "the target changed");
    }

    // Write on the default exchange alone is enough (passive declares and transactions need
    // no configure or read permission).
    s.put(
        &format!(
            "/api/permissions/{}/{}",
            encode_component(&v),
            encode_component(&admin)
        ),
        json!({"configure": "", "write": "^amq\\.default$", "read": ""}),
    )
    .await;
    let report = RabbitmqTarget::new(&as_admin, None)
        .unwrap()
        .restore(&mut dump.as_slice(), &m, &RestoreOptions::default())
        .await
        .unwrap();
    assert!(
        report.summary.contains("3 message(s) republished"),
        "{}",
        report.summary
    );
    assert_eq!(depth(&v, "q").await, 3);
}

#[tokio::test]
async fn the_drill_grants_its_amqp_user_the_scratch_vhosts() {
    let Some(mut s) = TestBroker::connect("permdrill").await else {
        return;
    };
    let (_v, source, dump, m) = backed_up(&mut s).await;
    // A management-only user with no permission anywhere republishes the drill's messages.
    let publisher = s.user("pub", "management").await;
    let mut o = source.clone();
    o.amqp_url = Some(format!("amqp://{publisher}:{PASSWORD}@127.0.0.1:5672").into());
    let report = RabbitmqDrill::new(&o)
        .unwrap()
        .check(&mut dump.as_slice(), &m)
        .await
        .unwrap();
    assert_eq!(
        report.details["comparison"]["messages"], 3,
        "{}",
        report.details
    );
    // The scratch vhosts (and so the grants) are gone.
    for scratch in report.details["scratch_vhosts"]
        .as_object()
        .unwrap()
        .values()
    {
        let path = format!(
            "/api/vhosts/{}",
            encode_component(scratch.as_str().unwrap())
        );
        assert!(!s.exists(&path).await, "{path} left behind");
    }
}
