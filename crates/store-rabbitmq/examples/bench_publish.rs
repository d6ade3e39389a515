//! Bench data generator for `benches/rabbitmq.sh`: publishes COUNT persistent messages with
//! headers and binary payloads of SIZE bytes to QUEUE in VHOST (default exchange, publisher
//! confirms), as guest on 127.0.0.1:5672.
//!
//! `cargo run --release -p store-rabbitmq --example bench_publish -- VHOST QUEUE COUNT SIZE`

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Connection, ConnectionProperties};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [vhost, queue, count, size] = args.as_slice() else {
        return Err("usage: bench_publish VHOST QUEUE COUNT SIZE".into());
    };
    let count: usize = count.parse()?;
    let size: usize = size.parse()?;
    let vhost_enc: String = vhost
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'_' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let conn = Connection::connect(
        &format!("amqp://guest:guest@127.0.0.1:5672/{vhost_enc}"),
        ConnectionProperties::default(),
    )
    .await?;
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
