//! Bench data generator for `benches/rabbitmq.sh`: publishes COUNT persistent messages with
//! headers and binary payloads of SIZE bytes to QUEUE in VHOST (default exchange, publisher
//! confirms), as guest on 127.0.0.1:5672.
//!
//! `cargo run --release -p store-rabbitmq --example bench_publish -- VHOST QUEUE COUNT SIZE`
//!
//! With `--depth VHOST QUEUE...` it prints the total number of ready messages in the queues
//! instead (a passive declare each: exact, unlike the management API's lagging statistics).

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Connection, ConnectionProperties};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--depth") {
        let (vhost, queues) = match &args[1..] {
            [vhost, queues @ ..] => (vhost, queues),
            [] => return Err("usage: bench_publish --depth VHOST QUEUE...".into()),
        };
        let conn = connect(vhost).await?;
        let mut total = 0u64;
        for queue in queues {
            let channel = conn.create_channel().await?;
            let q = channel
                .queue_declare(
                    queue,
                    QueueDeclareOptions {
                        passive: true,
                        ..QueueDeclareOptions::default()
                    },
                    FieldTable::default(),
                )
                .await?;
            total += u64::from(q.message_count());
        }
        println!("{total}");
        return Ok(());
    }
    let [vhost, queue, count, size] = args.as_slice() else {
        return Err("usage: bench_publish VHOST QUEUE COUNT SIZE".into());
    };
    let count: usize = count.parse()?;
    let size: usize = size.parse()?;
    let conn = connect(vhost).await?;
    let channel = conn.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    for i in 0..count {
        let payload: Vec<u8> = (0..size)
            .map(|b| (b as u8).wrapping_mul(7).wrapping_add(i as u8))
            .collect();
        let mut headers = FieldTable::default();
        headers.insert("seq".into(), AMQPValue::LongLongInt(i as i64));
        headers.insert("source".into(), AMQPValue::LongString("bench".into()));
        let properties = BasicProperties::default()
            .with_delivery_mode(2)
            .with_headers(headers)
            .with_message_id(format!("bench-{i}").as_str().into());
        let _confirm = channel
            .basic_publish(
                "",
                queue,
                BasicPublishOptions::default(),
                &payload,
                properties,
            )
            .await?;
        if i % 5000 == 4999 {
            channel.wait_for_confirms().await?;
        }
    }
    let returned = channel.wait_for_confirms().await?;
    if !returned.is_empty() {
        return Err(format!("{} messages were returned", returned.len()).into());
    }
    conn.close(200, "done").await?;
    Ok(())
}

async fn connect(vhost: &str) -> Result<Connection, lapin::Error> {
    let vhost_enc = lifeboat_edge::percent::encode_component(vhost);
    Connection::connect(
        &format!("amqp://guest:guest@127.0.0.1:5672/{vhost_enc}"),
        ConnectionProperties::default(),
    )
    .await
}
