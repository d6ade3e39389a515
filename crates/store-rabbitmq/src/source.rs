//! [`RabbitmqSource`]: the definitions through the management API, and (optionally) the
//! messages waiting in durable queues over AMQP.

use std::collections::BTreeMap;

use async_trait::async_trait;
use backup_core::{Preflight, Source, StoreError};
use futures::StreamExt;
use lapin::options::{
    BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use serde_json::{json, Value};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::amqp::{amqp_error, connect};
use crate::api::Api;
use crate::definitions::{policy_delivery_limit, QueueInfo, MAX_OBJECT_BYTES};
use crate::error::{RabbitmqError, Step};
use crate::export::Export;
use crate::format::{
    line_bytes, message_line, Header, Line, QueueCount, Skipped, Trailer, DEFINITIONS_FORMAT,
    MESSAGES_FORMAT, MESSAGES_HEADER_FORMAT,
};
use crate::options::{encode_segment, Endpoints, RabbitmqOptions, MAX_MESSAGES_PER_QUEUE};
use crate::scan::Scanner;

/// How long a queue read waits for the next message before deciding the queue is empty (its
/// messages were taken by someone else meanwhile).
const IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The backup side of a RabbitMQ broker.
#[derive(Debug)]
pub struct RabbitmqSource {
    options: RabbitmqOptions,
    endpoints: Endpoints,
    api: Api,
    /// `/api/overview` as preflight read it, reused once by the backup that follows.
    overview: std::sync::Mutex<Option<Value>>,
}

impl RabbitmqSource {
    /// A source with these options. Checks them without any I/O.
    pub fn new(options: RabbitmqOptions) -> Result<Self, RabbitmqError> {
        if let Some(vhosts) = &options.vhosts {
            if vhosts.is_empty() {
                return Err(RabbitmqError::BadOption(
                    "`vhosts` is empty: leave it out to back up the whole broker".to_string(),
                ));
            }
        }
        if options.max_messages_per_queue == 0 {
            return Err(RabbitmqError::BadOption(
                "`max_messages_per_queue` must be at least 1 (set `messages = false` to skip messages)"
                    .to_string(),
            ));
        }
        if options.max_messages_per_queue > MAX_MESSAGES_PER_QUEUE {
            return Err(RabbitmqError::BadOption(format!(
                "`max_messages_per_queue` is {}, the most is {MAX_MESSAGES_PER_QUEUE}: a queue's \
                 messages are held unacknowledged until they are put back in order, and AMQP's \
                 prefetch window (16 bits) is the only bound on how many the broker sends at once",
                options.max_messages_per_queue
            )));
        }
        let endpoints = Endpoints::resolve(&options, None)?;
        let api = Api::new(endpoints.api.clone(), endpoints.amqp.clone())?;
        Ok(Self {
            options,
            endpoints,
            api,
            overview: std::sync::Mutex::new(None),
        })
    }

    async fn overview(&self, step: Step) -> Result<Value, RabbitmqError> {
        self.api.get_json(step, "/api/overview").await
    }

    async fn backup_inner(
        &self,
        out: &mut (dyn AsyncWrite + Send + Unpin),
    ) -> Result<Value, RabbitmqError> {
        let cached = self
            .overview
            .lock()
            .map(|mut o| o.take())
            .unwrap_or_default();
        let overview = match cached {
            Some(o) => o,
            None => self.overview(Step::Export).await?,
        };
        let messages = self.options.messages;
        if messages {
            let header = Line::Header(Header {
                format: MESSAGES_HEADER_FORMAT.to_string(),
                rabbitmq_version: overview
                    .get("rabbitmq_version")
                    .and_then(Value::as_str)
                    .map(String::from),
                vhosts: self.options.vhosts.clone(),
                max_messages_per_queue: self.options.max_messages_per_queue,
            });
            out.write_all(&line_bytes(&header))
                .await
                .map_err(RabbitmqError::Output)?;
        }

        let export = self.export_definitions(out, messages).await?;

        let mut metadata = json!({
            "rabbitmq_version": overview.get("rabbitmq_version"),
            "erlang_version": overview.get("erlang_version"),
            "management_version": overview.get("management_version"),
            "cluster_name": overview.get("cluster_name"),
            "vhosts_selected": self.options.vhosts,
            "counts": export.counts.sections,
            "vhost_counts": export.counts.vhosts,
            "contains_password_hashes": true,
        });
        if messages {
            out.write_all(b"\n").await.map_err(RabbitmqError::Output)?;
            let trailer = self
                .backup_messages(&export.queues, &export.policies, out)
                .await?;
            metadata["messages"] = json!({
                "total": trailer.messages,
                "max_per_queue": self.options.max_messages_per_queue,
                "queues": trailer.queues,
                "skipped": trailer.skipped,
            });
            out.write_all(&line_bytes(&Line::Trailer(trailer)))
                .await
                .map_err(RabbitmqError::Output)?;
        }
        tracing::warn!(
            broker = %self.api.display(),
            "the RabbitMQ definitions export holds the users' password hashes: keep this backup \
             encrypted (an [encryption] section in lifeboat.toml)"
        );
        Ok(metadata)
    }

    /// Streams `GET /api/definitions` into `out` chunk by chunk, counting the objects.
    async fn export_definitions(
        &self,
        out: &mut (dyn AsyncWrite + Send + Unpin),
        one_line: bool,
    ) -> Result<Export, RabbitmqError> {
        let response = self
            .api
            .get_stream(Step::Export, "/api/definitions")
            .await?;
        let mut body = response.bytes_stream();
        let mut scanner = Scanner::new(MAX_OBJECT_BYTES);
        let mut export = Export::new(self.options.vhosts.as_deref(), one_line);
        let mut events = Vec::new();
        let mut pending = Vec::with_capacity(64 << 10);
        let bad = |reason: String| RabbitmqError::Request {
            step: Step::Export,
            what: "reading GET /api/definitions".to_string(),
            url: self.api.display(),
            reason,
        };
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| bad(crate::api::error_chain(&e.without_url())))?;
            scanner.feed(&chunk, &mut events).map_err(|e| {
                bad(format!(
                    "the broker sent an invalid definitions document: {e}"
                ))
            })?;
            if export.passthrough() {
                export.raw_chunk(&chunk, &mut pending);
            }
            for event in events.drain(..) {
                export
                    .event(event, &mut pending)
                    .map_err(|e| bad(format!("the broker sent invalid definitions: {e}")))?;
            }
            out.write_all(&pending)
                .await
                .map_err(RabbitmqError::Output)?;
            pending.clear();
        }
        scanner
            .finish(&mut events)
            .map_err(|e| bad(format!("the definitions document ended early: {e}")))?;
        export.finish(&mut pending);
        out.write_all(&pending)
            .await
            .map_err(RabbitmqError::Output)?;
        if let Some(wanted) = &self.options.vhosts {
            let missing: Vec<&String> = wanted
                .iter()
                .filter(|v| !export.found_vhosts.contains(*v))
                .collect();
            if !missing.is_empty() {
                return Err(RabbitmqError::BadOption(format!(
                    "vhost(s) {missing:?} do not exist on {}",
                    self.api.display()
                )));
            }
        }
        Ok(export)
    }

    /// A quorum queue's delivery limit: its argument, else the policy and operator policy
    /// that apply to it (the smaller of the two).
    fn delivery_limit(&self, q: &QueueInfo, policies: &[Value], operator: &[Value]) -> Option<i64> {
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

    /// Reads the messages of every eligible queue, vhost by vhost, and puts them back.
    async fn backup_messages(
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
            let reason = if q.kind == "stream" {
                Some(
                    "stream queue (its log is not a backlog; read it with a stream consumer)"
                        .to_string(),
                )
            } else if !q.durable {
                Some(
                    "not durable (its messages do not survive a broker restart either)".to_string(),
                )
            } else if q.auto_delete {
                Some("auto-delete queue".to_string())
            } else if q.kind == "quorum" {
                self.delivery_limit(q, policies, &operator).map(|limit| {
                    format!(
                        "quorum queue with a delivery limit ({limit}): every backup counts as a \
                         delivery attempt and would eventually dead-letter or drop its messages"
                    )
                })
            } else {
                None
            };
            match reason {
                Some(reason) => {
                    tracing::warn!(vhost = %q.vhost, queue = %q.name, %reason, "messages of this queue are not backed up");
                    trailer.skipped.push(Skipped {
                        vhost: q.vhost.clone(),
                        queue: q.name.clone(),
                        reason,
                    });
                }
                None => by_vhost.entry(q.vhost.as_str()).or_default().push(q),
            }
        }
        for (vhost, queues) in by_vhost {
            let connection = connect(&self.endpoints.amqp, vhost, Step::ReadMessages).await?;
            let result = self
                .backup_vhost_messages(&connection, vhost, &queues, out, &mut trailer)
                .await;
            // Closing the connection requeues anything still unacknowledged.
            let _ = connection.close(200, "lifeboat backup done").await;
            result?;
        }
        Ok(trailer)
    }

    async fn backup_vhost_messages(
        &self,
        connection: &lapin::Connection,
        vhost: &str,
        queues: &[&QueueInfo],
        out: &mut (dyn AsyncWrite + Send + Unpin),
        trailer: &mut Trailer,
    ) -> Result<(), RabbitmqError> {
        let amqp = &self.endpoints.amqp;
        for q in queues {
            let channel = connection
                .create_channel()
                .await
                .map_err(|e| amqp_error(amqp, vhost, Step::ReadMessages, "channel.open", &e))?;
            let declared = channel
                .queue_declare(
                    &q.name,
                    QueueDeclareOptions {
                        passive: true,
                        ..QueueDeclareOptions::default()
                    },
                    FieldTable::default(),
                )
                .await;
            let declared = match declared {
                Ok(d) => d,
                Err(e) => {
                    // 404 (deleted meanwhile) or 405 (exclusive to another connection): the
                    // channel is closed by the broker; report the queue and go on.
                    let reason = format!("could not be opened: {}", crate::api::error_chain(&e));
                    tracing::warn!(vhost, queue = %q.name, %reason, "messages of this queue are not backed up");
                    trailer.skipped.push(Skipped {
                        vhost: vhost.to_string(),
                        queue: q.name.clone(),
                        reason,
                    });
                    continue;
                }
            };
            if declared.consumer_count() > 0 {
                let reason = format!(
                    "has {} consumer(s): reading it would take messages from them; stop them to include this queue",
                    declared.consumer_count()
                );
                tracing::warn!(vhost, queue = %q.name, %reason, "messages of this queue are not backed up");
                trailer.skipped.push(Skipped {
                    vhost: vhost.to_string(),
                    queue: q.name.clone(),
                    reason,
                });
                let _ = channel.close(200, "done").await;
                continue;
            }
            let depth = u64::from(declared.message_count());
            if q.kind == "quorum" && depth > self.options.max_messages_per_queue {
                // A quorum queue puts requeued messages at its back: reading only the oldest
                // N would move them behind the others (seen on 3.10: 30 messages, limit 10
                // came back as 10..29, 0..9). A classic queue requeues them in place.
                let reason = format!(
                    "quorum queue holding {depth} messages, more than max_messages_per_queue ({}): \
                     quorum queues requeue at the back, so reading only the oldest would reorder \
                     the queue",
                    self.options.max_messages_per_queue
                );
                tracing::warn!(vhost, queue = %q.name, %reason, "messages of this queue are not backed up");
                trailer.skipped.push(Skipped {
                    vhost: vhost.to_string(),
                    queue: q.name.clone(),
                    reason,
                });
                let _ = channel.close(200, "done").await;
                continue;
            }
            let limit = depth.min(self.options.max_messages_per_queue);
            if depth > limit {
                tracing::warn!(vhost, queue = %q.name, depth, limit, "queue holds more messages than max_messages_per_queue: only the oldest are backed up");
            }
            let (taken, failure) = self.read_queue(&channel, vhost, &q.name, limit, out).await;
            let _ = channel.close(200, "done").await;
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
        let amqp = &self.endpoints.amqp;
        let err =
            |what: String, e: lapin::Error| amqp_error(amqp, vhost, Step::ReadMessages, what, &e);
        if limit == 0 {
            return (0, None);
        }
        // The window is exactly the limit, so the broker never sends more than `limit`
        // messages: that bounds the client's (unbounded) delivery buffer. `new` refuses
        // limits above a 16-bit prefetch count, so the clamp never applies.
        let prefetch = u16::try_from(limit).unwrap_or(u16::MAX);
        let limit = limit.min(u64::from(prefetch));
        if let Err(e) = channel
            .basic_qos(prefetch, BasicQosOptions::default())
            .await
        {
            return (0, Some(err(format!("basic.qos on queue `{queue}`"), e)));
        }
        let tag = "lifeboat-backup";
        let mut consumer = match channel
            .basic_consume(
                queue,
                tag,
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
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
        if let Err(e) = channel
            .basic_cancel(tag, BasicCancelOptions::default())
            .await
        {
            failure.get_or_insert(err(format!("basic.cancel on queue `{queue}`"), e));
        }
        // Deliveries already on their way when the consumer was cancelled (none with a window
        // of exactly `limit`; kept so that any stray delivery is nacked with the rest).
        while let Ok(Some(Ok(extra))) =
            tokio::time::timeout(std::time::Duration::from_millis(200), consumer.next()).await
        {
            last_tag = Some(extra.delivery_tag);
        }
        if let Some(tag) = last_tag {
            let nack = channel
                .basic_nack(
                    tag,
                    BasicNackOptions {
                        multiple: true,
                        requeue: true,
                    },
                )
                .await;
            if let Err(e) = nack {
                failure.get_or_insert(amqp_error(
                    amqp,
                    vhost,
                    Step::Requeue,
                    format!("basic.nack on queue `{queue}`"),
                    &e,
                ));
            }
        }
        (taken, failure)
    }
}

#[async_trait]
impl Source for RabbitmqSource {
    fn kind(&self) -> &'static str {
        crate::KIND
    }

    fn dump_format(&self) -> &'static str {
        if self.options.messages {
            MESSAGES_FORMAT
        } else {
            DEFINITIONS_FORMAT
        }
    }

    fn extension(&self) -> &'static str {
        if self.options.messages {
            "jsonl"
        } else {
            "json"
        }
    }

    async fn preflight(&self) -> Result<Preflight, StoreError> {
        let overview = self.overview(Step::Preflight).await?;
        if let Ok(mut cache) = self.overview.lock() {
            *cache = Some(overview.clone());
        }
        let whoami: Value = self.api.get_json(Step::Preflight, "/api/whoami").await?;
        let tags: Vec<String> = match whoami.get("tags") {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect(),
            Some(Value::String(s)) => s.split(',').map(|t| t.trim().to_string()).collect(),
            _ => Vec::new(),
        };
        if !tags.iter().any(|t| t == "administrator") {
            return Err(RabbitmqError::Http {
                step: Step::Preflight,
                method: "GET",
                path: "/api/definitions".to_string(),
                url: self.api.display(),
                status: 401,
                reason: format!(
                    "user `{}` has tags {tags:?}; exporting definitions needs the `administrator` tag",
                    self.api.username()
                ),
            }
            .into());
        }
        if let Some(vhosts) = &self.options.vhosts {
            for v in vhosts {
                let path = format!("/api/vhosts/{}", encode_segment(v));
                match self.api.get_json::<Value>(Step::Preflight, &path).await {
                    Ok(_) => {}
                    Err(RabbitmqError::Http { status: 404, .. }) => {
                        return Err(RabbitmqError::BadOption(format!(
                            "vhost `{v}` does not exist on {}",
                            self.api.display()
                        ))
                        .into())
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            if self.options.messages {
                if let Some(first) = vhosts.first() {
                    let c = connect(&self.endpoints.amqp, first, Step::Preflight).await?;
                    let _ = c.close(200, "lifeboat check").await;
                }
            }
        }
        let totals = overview
            .get("object_totals")
            .cloned()
            .unwrap_or(Value::Null);
        let queues = totals.get("queues").and_then(Value::as_u64).unwrap_or(0);
        let exchanges = totals.get("exchanges").and_then(Value::as_u64).unwrap_or(0);
        // About 350 bytes per queue and 200 per exchange and binding in an export.
        let mut estimated = 2048 + queues * 350 + exchanges * 400;
        if self.options.messages {
            let bytes = overview
                .get("queue_totals")
                .and_then(|t| t.get("messages"))
                .and_then(Value::as_u64)
                .unwrap_or(0);
            estimated += bytes * 600;
        }
        Ok(Preflight {
            version: overview
                .get("rabbitmq_version")
                .and_then(Value::as_str)
                .map(|v| format!("RabbitMQ {v}")),
            estimated_bytes: Some(estimated),
            details: json!({
                "management_api": self.api.display(),
                "amqp": self.options.messages.then(|| self.endpoints.amqp.display()),
                "rabbitmq_version": overview.get("rabbitmq_version"),
                "erlang_version": overview.get("erlang_version"),
                "cluster_name": overview.get("cluster_name"),
                "object_totals": totals,
                "vhosts": self.options.vhosts,
                "messages": self.options.messages,
            }),
        })
    }

    async fn backup(
        &self,
        out: &mut (dyn AsyncWrite + Send + Unpin),
    ) -> Result<backup_core::Dumped, StoreError> {
        let metadata = self.backup_inner(out).await?;
        // Every export holds the users' password hashes (see the crate docs).
        let contains_password_hashes =
            metadata.get("contains_password_hashes") == Some(&Value::Bool(true));
        Ok(backup_core::Dumped {
            metadata,
            contains_password_hashes,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use backup_core::StoreErrorKind;

    #[test]
    fn the_per_queue_limit_is_bounded_by_the_prefetch_window() {
        let mut o = RabbitmqOptions::new("http://u:p@127.0.0.1:15672");
        assert_eq!(o.max_messages_per_queue, MAX_MESSAGES_PER_QUEUE);
        o.messages = true;
        assert!(RabbitmqSource::new(o.clone()).is_ok());
        for bad in [0, MAX_MESSAGES_PER_QUEUE + 1, 1_000_000] {
            o.max_messages_per_queue = bad;
            let err = RabbitmqSource::new(o.clone()).unwrap_err();
            assert_eq!(err.kind(), StoreErrorKind::Config, "{err}");
            assert!(err.to_string().contains("max_messages_per_queue"), "{err}");
        }
    }
}
