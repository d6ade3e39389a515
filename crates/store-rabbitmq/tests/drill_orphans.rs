//! Scratch vhosts of drills killed outright: the next drill deletes those whose drill is
//! provably gone, and nothing else — not a running drill's, not another host's fresh one, not
//! a user's vhost with a similar name.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use backup_core::{scratch_name, FormatCheck, Source};
use lifeboat_edge::percent::encode_component;
use lifeboat_testing::manifest;
use lifeboat_testing::rabbitmq::{TestBroker, URL};
use serde_json::json;
use store_rabbitmq::{RabbitmqDrill, RabbitmqOptions, RabbitmqSource};

const PREFIX: &str = "lifeboat_verify_";

/// A scratch vhost name as `new_name` makes it (`_0`: the first vhost of a drill), with its
/// fields replaced.
fn name_with(host_boot: Option<&str>, pid: u32, random: &str) -> String {
    let fresh = scratch_name::new_name(PREFIX);
    let parts: Vec<&str> = fresh[PREFIX.len()..].split('_').collect();
    format!(
        "{PREFIX}{}_{}_{pid}_{random}_0",
        parts[0],
        host_boot.unwrap_or(parts[1])
    )
}

fn path(vhost: &str) -> String {
    format!("/api/vhosts/{}", encode_component(vhost))
}

#[tokio::test]
async fn the_next_drill_deletes_scratch_vhosts_of_dead_drills_only() {
    let Some(mut s) = TestBroker::connect("orphans").await else {
        return;
    };
    let source_vhost = s.vhost("src").await;
    s.put(
        &format!("/api/queues/{}/q", encode_component(&source_vhost)),
        json!({"durable": true}),
    )
    .await;
    let mut options = RabbitmqOptions::new(URL);
    options.vhosts = Some(vec![source_vhost.clone()]);
    let mut dump = Vec::new();
    let metadata = RabbitmqSource::new(options.clone())
        .unwrap()
        .backup(&mut dump)
        .await
        .unwrap()
        .metadata;
    let m = manifest("rabbitmq", "rabbitmq-definitions", metadata);

    let dead = name_with(None, 4_000_000_000, "dead01");
    let running = name_with(None, std::process::id(), "live01");
    let foreign = name_with(Some("0123456789"), 4_000_000_000, "far001");
    let user_like = [
        "lifeboat_verify_orders".to_string(),
        format!("{}x", name_with(None, 4_000_000_000, "dead02")).replace("_0x", "x_0"),
    ];
    let all: Vec<&String> = [&dead, &running, &foreign]
        .into_iter()
        .chain(user_like.iter())
        .collect();
    for vhost in &all {
        s.put(&path(vhost), json!({})).await;
    }

    RabbitmqDrill::new(&options)
        .unwrap()
        .check(&mut dump.as_slice(), &m)
        .await
        .unwrap();
    assert!(!s.exists(&path(&dead)).await, "{dead} was left");
    for kept in [&running, &foreign, &user_like[0], &user_like[1]] {
        assert!(s.exists(&path(kept)).await, "{kept} was deleted");
    }
    for vhost in all {
        s.delete(&path(vhost)).await;
    }
}
