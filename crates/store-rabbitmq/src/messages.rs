//! Reading the messages of a backup with `messages = true`: which queues are read (and why the
//! others are skipped), and how each is read without losing or reordering a message.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use lapin::options::{BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::FieldTable;
use serde_json::Value;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::amqp::{amqp_error, connect, passive_declare, reply, scrubbed};
use crate::api::Api;
use crate::definitions::{policy_delivery_limit, QueueInfo};
use crate::error::{chain_text, RabbitmqError, Step};
use crate::format::{message_line, QueueCount, Skipped, Trailer};

/// How long a queue read waits for the next message before deciding the queue is empty (its
/// messages were taken by someone else meanwhile).
const IDLE_TIMEOUT: Duration = Duration::from_secs(5);

/// Reads the messages of the queues of one backup.
pub(crate) struct MessageBackup<'a> {
    pub api: &'a Api,
    /// `max_messages_per_queue`.
    pub limit: u64,
}

impl MessageBackup<'_> {
    /// Reads the messages of every eligible queue of `queues`, vhost by vhost, into `out`,
    /// and puts them back. `policies` are the backup's (for quorum queues' delivery limits).
    pub async fn run(
        &self,
        queues: &[QueueInfo],
        policies: &[Value],
        out: &mut (dyn AsyncWrite + Send + Unpin),
    ) -> Result<Trailer, RabbitmqError> {
        let mut trailer = Trailer::default();
        // Operator policies are not part of the definitions export.
        let operator: Vec<Value> = if queues.iter().any(|q| q.kind == "quorum") {
            self.api
                .get_json(Step::ReadMessages, "/api/operator-policies")
                .await?
        } else {
            Vec::new()
        };
        let mut by_vhost: BTreeMap<&str, Vec<&QueueInfo>> = BTreeMap::new();
        for q in queues {
            match skip_reason(q, policies, &operator) {
                Some(reason) => skip(&mut trailer, &q.vhost, &q.name, reason),
                None => by_vhost.entry(q.vhost.as_str()).or_default().push(q),
            }
        }
        for (vhost, queues) in by_vhost {
            let connection = connect(self.api.amqp(), vhost, Step::ReadMessages).await?;
            let result = self
                .read_vhost(&connection, vhost, &queues, out, &mut trailer)
                .await;
            // Closing the connection requeues anything still unacknowledged.
            let _ = reply(connection.close(200, "lifeboat backup done")).await;
            result?;
        }
        Ok(trailer)
    }

    async fn read_vhost(
        &self,
        connection: &lapin::Connection,
        vhost: &str,
        queues: &[&QueueInfo],
        out: &mut (dyn AsyncWrite + Send + Unpin),
        trailer: &mut Trailer,
    ) -> Result<(), RabbitmqError> {
        let amqp = self.api.amqp();
        for q in queues {
            let channel = reply(connection.create_channel())
                .await
                .map_err(|e| amqp_error(amqp, vhost, Step::ReadMessages, "channel.open", e))?;
            let declared = match passive_declare(&channel, &q.name).await {
                Ok(d) => d,
                Err(e) => {
                    // 404 (deleted meanwhile) or 405 (exclusive to another connection): the
                    // channel is closed by the broker; report the queue and go on.
                    let reason = format!("could not be opened: {}", chain_text(&scrubbed(amqp, e)));
                    skip(trailer, vhost, &q.name, reason);
                    continue;
                }
            };
            let depth = u64::from(declared.message_count());
            let reason = if declared.consumer_count() > 0 {
                Some(format!(
                    "has {} consumer(s): reading it would take messages from them; stop them to include this queue",
                    declared.consumer_count()
                ))
            } else if q.kind == "quorum" && depth > self.limit {
                // A quorum queue puts requeued messages at its back: reading only the oldest
                // N would move them behind the others (seen on 3.10: 30 messages, limit 10
                // came back as 10..29, 0..9). A classic queue requeues them in place.
                Some(format!(
                    "quorum queue holding {depth} messages, more than max_messages_per_queue ({}): \
                     quorum queues requeue at the back, so reading only the oldest would reorder \
                     the queue",
                    self.limit
                ))
            } else {
                None
            };
            if let Some(reason) = reason {
                skip(trailer, vhost, &q.name, reason);
                let _ = reply(channel.close(200, "done")).await;
                continue;
            }
            let limit = depth.min(self.limit);
            if depth > limit {
                tracing::warn!(vhost, queue = %q.name, depth, limit, "queue holds more messages than max_messages_per_queue: only the oldest are backed up");
            }
            let (taken, failure) = self.read_queue(&channel, vhost, &q.name, limit, out).await;
            let _ = reply(channel.close(200, "done")).await;
            if let Some(e) = failure {
                return Err(e);
            }
            trailer.messages += taken;
            trailer.queues.push(QueueCount {
                vhost: vhost.to_string(),
                queue: q.name.clone(),
                messages: taken,
                depth,
            });
        }
        Ok(())
    }

    /// Reads up to `limit` messages of `queue` as an unacknowledging consumer whose prefetch
    /// window is the whole limit, writes them, and puts them all back with one
    /// `basic.nack(multiple, requeue)`.
    ///
    /// Why a consumer and one multiple nack: a quorum queue returns messages that were taken
    /// with `basic.get`, or nacked one by one, in no particular order; a consumer's deliveries
    /// nacked in one go come back in their order in both classic and quorum queues (checked by
    /// the tests). The cost: up to `limit` delivered messages may wait in the client's buffer
    /// when the storage is slower than the broker (`max_messages_per_queue` bounds it).
    async fn read_queue(
        &self,
        channel: &lapin::Channel,
        vhost: &str,
        queue: &str,
        limit: u64,
        out: &mut (dyn AsyncWrite + Send + Unpin),
    ) -> (u64, Option<RabbitmqError>) {
        let amqp = self.api.amqp();
        let err =
            |what: String, e: lapin::Error| amqp_error(amqp, vhost, Step::ReadMessages, what, e);
        if limit == 0 {
            return (0, None);
        }
        // The window is exactly the limit, so the broker never sends more than `limit`
        // messages: that bounds the client's (unbounded) delivery buffer. The options refuse
        // limits above a 16-bit prefetch count, so the clamp never applies.
        let prefetch = u16::try_from(limit).unwrap_or(u16::MAX);
        let limit = limit.min(u64::from(prefetch));
        if let Err(e) = reply(channel.basic_qos(prefetch, BasicQosOptions::default())).await {
            return (0, Some(err(format!("basic.qos on queue `{queue}`"), e)));
        }
        let tag = "lifeboat-backup";
        let mut consumer = match reply(channel.basic_consume(
            queue,
            tag,
            BasicConsumeOptions::default(),
            FieldTable::default(),
        ))
        .await
        {
            Ok(c) => c,
            Err(e) => return (0, Some(err(format!("basic.consume on queue `{queue}`"), e))),
        };
        let mut taken = 0u64;
        let mut last_tag = None;
        let mut failure = None;
        while taken < limit {
            // Another consumer may take messages meanwhile: stop when none arrive for a while.
            let next = match tokio::time::timeout(IDLE_TIMEOUT, consumer.next()).await {
                Ok(Some(Ok(delivery))) => delivery,
                Ok(Some(Err(e))) => {
                    failure = Some(err(format!("consuming queue `{queue}`"), e));
                    break;
                }
                Ok(None) | Err(_) => break,
            };
            last_tag = Some(next.delivery_tag);
            if let Err(e) = out
                .write_all(&message_line(vhost, queue, taken, &next))
                .await
            {
                failure = Some(RabbitmqError::Output(e));
                break;
            }
            taken += 1;
        }
        if let Err(e) = reply(channel.basic_cancel(tag, BasicCancelOptions::default())).await {
            failure.get_or_insert(err(format!("basic.cancel on queue `{queue}`"), e));
        }
        // Deliveries already on their way when the consumer was cancelled (none with a window
        // of exactly `limit`; kept so that any stray delivery is nacked with the rest).
        while let Ok(Some(Ok(extra))) =
            tokio::time::timeout(Duration::from_millis(200), consumer.next()).await
        {
            last_tag = Some(extra.delivery_tag);
        }
        if let Some(tag) = last_tag {
            let nack = reply(channel.basic_nack(
                tag,
                BasicNackOptions {
                    multiple: true,
                    requeue: true,
                },
            ))
            .await;
            if let Err(e) = nack {
                failure.get_or_insert(amqp_error(
                    amqp,
                    vhost,
                    Step::Requeue,
                    format!("basic.nack on queue `{queue}`"),
                    e,
                ));
            }
        }
        (taken, failure)
    }
}

/// Why the messages of `q` are not read from its definition alone, if they are not.
fn skip_reason(q: &QueueInfo, policies: &[Value], operator: &[Value]) -> Option<String> {
    if q.kind == "stream" {
        Some("stream queue (its log is not a backlog; read it with a stream consumer)".to_string())
    } else if !q.durable {
        Some("not durable (its messages do not survive a broker restart either)".to_string())
    } else if q.auto_delete {
        Some("auto-delete queue".to_string())
    } else if q.kind == "quorum" {
        delivery_limit(q, policies, operator).map(|limit| {
            format!(
                "quorum queue with a delivery limit ({limit}): every backup counts as a \
                 delivery attempt and would eventually dead-letter or drop its messages"
            )
        })
    } else {
        None
    }
}

/// A quorum queue's delivery limit: its argument, else the policy and operator policy that
/// apply to it (the smaller of the two).
fn delivery_limit(q: &QueueInfo, policies: &[Value], operator: &[Value]) -> Option<i64> {
    if q.delivery_limit.is_some() {
        return q.delivery_limit;
    }
    let a = policy_delivery_limit(policies, &q.vhost, &q.name);
    let b = policy_delivery_limit(operator, &q.vhost, &q.name);
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Records (and logs) a queue whose messages are not backed up.
fn skip(trailer: &mut Trailer, vhost: &str, queue: &str, reason: String) {
    tracing::warn!(vhost, queue, %reason, "messages of this queue are not backed up");
    trailer.skipped.push(Skipped {
        vhost: vhost.to_string(),
        queue: queue.to_string(),
        reason,
    });
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn queues_that_are_not_read_say_why() {
        let queue = |v: Value| QueueInfo::from_definition(&v);
        let none: &[Value] = &[];
        for (q, expected) in [
            (
                json!({"vhost": "v", "name": "s", "durable": true, "arguments": {"x-queue-type": "stream"}}),
                Some("stream queue"),
            ),
            (
                json!({"vhost": "v", "name": "t", "durable": false}),
                Some("not durable"),
            ),
            (
                json!({"vhost": "v", "name": "a", "durable": true, "auto_delete": true}),
                Some("auto-delete"),
            ),
            (
                json!({"vhost": "v", "name": "l", "durable": true, "arguments": {"x-queue-type": "quorum", "x-delivery-limit": 3}}),
                Some("delivery limit (3)"),
            ),
            (
                json!({"vhost": "v", "name": "q", "durable": true, "arguments": {"x-queue-type": "quorum"}}),
                None,
            ),
            (json!({"vhost": "v", "name": "c", "durable": true}), None),
        ] {
            let reason = skip_reason(&queue(q.clone()), none, none);
            match expected {
                Some(text) => assert!(
                    reason.as_deref().unwrap_or("").contains(text),
                    "{q}: {reason:?}"
                ),
                None => assert!(reason.is_none(), "{q}: {reason:?}"),
            }
        }
        // A policy and an operator policy: the smaller limit counts.
        let q = queue(
            json!({"vhost": "v", "name": "q", "durable": true, "arguments": {"x-queue-type": "quorum"}}),
        );
        let policy = |limit: i64| {
            vec![
                json!({"vhost": "v", "name": "p", "pattern": ".*", "definition": {"delivery-limit": limit}}),
            ]
        };
        assert_eq!(delivery_limit(&q, &policy(5), &policy(2)), Some(2));
        assert_eq!(delivery_limit(&q, &policy(5), none), Some(5));
    }
}
