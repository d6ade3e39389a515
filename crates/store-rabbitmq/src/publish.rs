//! Republishing messages: one AMQP transaction per vhost, committed only once the whole dump
//! has been read and its trailer checked.
//!
//! Messages are published to the default exchange with the queue's name as routing key, the
//! `mandatory` flag set, and their original properties and headers. Inside a transaction the
//! broker holds them until `tx.commit`, so a stream that fails midway (checksum mismatch,
//! truncation, a broken line) leaves no message behind: the connection is closed and the
//! broker discards the uncommitted publishes. The cost is broker memory: every message of a
//! vhost is held by the broker until the commit. Before the first message of a queue the queue
//! is checked to exist (a passive declare), so an unroutable message is caught before anything
//! is committed; a message the broker still returns at commit time is reported as an error.

use std::collections::{BTreeMap, BTreeSet};

use lapin::options::BasicPublishOptions;
use lapin::{Channel, Connection};

use crate::amqp::{amqp_error, connect, passive_declare, reply, reply_within, scrubbed};
use crate::endpoint::AmqpEndpoint;
use crate::error::{RabbitmqError, Step};
use crate::format::{MessageRecord, MESSAGES_FORMAT};

/// How long `tx.commit` may take: the broker writes every message of the transaction then.
const COMMIT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// Publishes messages into the vhosts of one broker, with a transaction per vhost.
pub(crate) struct Publisher {
    endpoint: AmqpEndpoint,
    /// When set, messages of vhost `k` go to vhost `v`, others are dropped (drills).
    rename: Option<BTreeMap<String, String>>,
    open: BTreeMap<String, (Connection, Channel)>,
    checked: BTreeSet<(String, String)>,
    /// Messages published per (vhost, queue).
    pub counts: BTreeMap<(String, String), u64>,
    /// Messages whose `user_id` property named another user and was dropped (the broker
    /// refuses a `user_id` other than the publishing user).
    pub user_id_dropped: u64,
}

impl Publisher {
    pub fn new(endpoint: AmqpEndpoint) -> Self {
        Self {
            endpoint,
            rename: None,
            open: BTreeMap::new(),
            checked: BTreeSet::new(),
            counts: BTreeMap::new(),
            user_id_dropped: 0,
        }
    }

    /// Publishes the messages of each vhost of `map` into the vhost it maps to.
    pub fn renaming(mut self, map: BTreeMap<String, String>) -> Self {
        self.rename = Some(map);
        self
    }

    fn err(&self, vhost: &str, step: Step, what: String, e: lapin::Error) -> RabbitmqError {
        amqp_error(&self.endpoint, vhost, step, what, e)
    }

    /// Publishes one message (inside its vhost's transaction). Returns `false` when the
    /// message is not for this publisher (a drill's other vhosts).
    pub async fn publish(&mut self, message: &MessageRecord) -> Result<bool, RabbitmqError> {
        let vhost = match &self.rename {
            Some(map) => match map.get(&message.vhost) {
                Some(to) => to.clone(),
                None => return Ok(false),
            },
            None => message.vhost.clone(),
        };
        if !self.open.contains_key(&vhost) {
            let connection = connect(&self.endpoint, &vhost, Step::Publish).await?;
            let channel = reply(connection.create_channel())
                .await
                .map_err(|e| self.err(&vhost, Step::Publish, "channel.open".into(), e))?;
            reply(channel.tx_select())
                .await
                .map_err(|e| self.err(&vhost, Step::Publish, "tx.select".into(), e))?;
            self.open.insert(vhost.clone(), (connection, channel));
        }
        let key = (vhost.clone(), message.queue.clone());
        let Some((connection, channel)) = self.open.get(&vhost) else {
            return Ok(false);
        };
        if !self.checked.contains(&key) {
            // A failed passive declare closes its channel: use a throwaway one.
            let probe = reply(connection.create_channel())
                .await
                .map_err(|e| self.err(&vhost, Step::Publish, "channel.open".into(), e))?;
            if let Err(e) = passive_declare(&probe, &message.queue).await {
                return Err(RabbitmqError::QueueMissing {
                    vhost: vhost.clone(),
                    queue: message.queue.clone(),
                    source: scrubbed(&self.endpoint, e),
                });
            }
            let _ = reply(probe.close(200, "checked")).await;
            self.checked.insert(key.clone());
        }
        // Both were checked by the reader: a failure here is a bug, reported as a bad dump.
        let bad = |problem| RabbitmqError::Format {
            format: MESSAGES_FORMAT,
            line: None,
            problem,
        };
        let body = message.body().map_err(bad)?;
        let mut properties = message.properties.clone();
        if properties
            .user_id
            .as_ref()
            .is_some_and(|u| *u != self.endpoint.username)
        {
            properties.user_id = None;
            self.user_id_dropped += 1;
        }
        let properties = properties.to_amqp().map_err(|e| bad(e.into()))?;
        let what = || format!("basic.publish to queue `{}`", message.queue);
        let confirm = reply(channel.basic_publish(
            "",
            &message.queue,
            BasicPublishOptions {
                mandatory: true,
                immediate: false,
            },
            &body,
            properties,
        ))
        .await
        .map_err(|e| self.err(&vhost, Step::Publish, what(), e))?;
        reply(confirm)
            .await
            .map_err(|e| self.err(&vhost, Step::Publish, what(), e))?;
        *self.counts.entry(key).or_default() += 1;
        Ok(true)
    }

    /// Commits every vhost's transaction; a message returned unroutable is an error.
    pub async fn commit(mut self) -> Result<u64, RabbitmqError> {
        let open = std::mem::take(&mut self.open);
        let mut first_error = None;
        for (vhost, (connection, channel)) in open {
            let result = async {
                // A commit writes every message of the transaction: it gets longer.
                reply_within(COMMIT_TIMEOUT, channel.tx_commit())
                    .await
                    .map_err(|e| self.err(&vhost, Step::Commit, "tx.commit".into(), e))?;
                let returned = reply(channel.wait_for_confirms())
                    .await
                    .map_err(|e| self.err(&vhost, Step::Commit, "collecting returns".into(), e))?;
                if let Some(first) = returned.first() {
                    return Err(RabbitmqError::NotRouted {
                        vhost: vhost.clone(),
                        queue: first.delivery.routing_key.to_string(),
                        count: returned.len(),
                        reason: first.reply_text.to_string(),
                    });
                }
                Ok(())
            }
            .await;
            let _ = reply(connection.close(200, "lifeboat restore done")).await;
            if let Err(e) = result {
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(self.counts.values().sum()),
        }
    }

    /// Abandons every transaction (closing the connections discards the publishes).
    pub async fn abort(mut self) {
        for (_, (connection, _)) in std::mem::take(&mut self.open) {
            let _ = reply(connection.close(200, "lifeboat restore aborted")).await;
        }
    }
}
