//! [`RabbitmqSource`]: the definitions through the management API ([`crate::export`]), and
//! (optionally) the messages waiting in durable queues over AMQP ([`crate::messages`]).

use async_trait::async_trait;
use backup_core::{Dumped, Preflight, Source, StoreError};
use serde_json::json;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::amqp::connect;
use crate::api::{vhost_path, Api};
use crate::endpoint::Endpoints;
use crate::error::{RabbitmqError, Step};
use crate::export::export_definitions;
use crate::format::{line_bytes, DumpFormat, Header, Line, MESSAGES_HEADER_FORMAT};
use crate::messages::MessageBackup;
use crate::metadata::{MessagesMetadata, RabbitmqMetadata};
use crate::options::RabbitmqOptions;
use crate::responses::{Overview, WhoAmI};

/// The backup side of a RabbitMQ broker.
#[derive(Debug)]
pub struct RabbitmqSource {
    options: RabbitmqOptions,
    api: Api,
    /// `/api/overview` as preflight read it, reused once by the backup that follows.
    overview: std::sync::Mutex<Option<Overview>>,
}

impl RabbitmqSource {
    /// A source with these options. Checks them without any I/O.
    pub fn new(options: RabbitmqOptions) -> Result<Self, RabbitmqError> {
        options.check()?;
        let api = Api::new(Endpoints::resolve(&options, None)?)?;
        Ok(Self {
            options,
            api,
            overview: std::sync::Mutex::new(None),
        })
    }

    fn format(&self) -> DumpFormat {
        if self.options.messages {
            DumpFormat::Messages
        } else {
            DumpFormat::Definitions
        }
    }

    async fn overview(&self, step: Step) -> Result<Overview, RabbitmqError> {
        self.api.get_json(step, "/api/overview").await
    }

    async fn backup_inner(
        &self,
        out: &mut (dyn AsyncWrite + Send + Unpin),
    ) -> Result<RabbitmqMetadata, RabbitmqError> {
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
                rabbitmq_version: overview.broker.rabbitmq_version.clone(),
                vhosts: self.options.vhosts.clone(),
                max_messages_per_queue: self.options.max_messages_per_queue,
            });
            out.write_all(&line_bytes(&header))
                .await
                .map_err(RabbitmqError::Output)?;
        }

        let vhosts = self.options.vhosts.as_deref();
        let export = export_definitions(&self.api, vhosts, messages, out).await?;

        let mut metadata = RabbitmqMetadata {
            broker: overview.broker,
            vhosts_selected: self.options.vhosts.clone(),
            counts: export.counts.sections.clone(),
            vhost_counts: export.counts.vhosts.clone(),
            // Every export holds the users' password hashes (see the crate docs).
            contains_password_hashes: true,
            messages: None,
        };
        if messages {
            out.write_all(b"\n").await.map_err(RabbitmqError::Output)?;
            let reader = MessageBackup {
                api: &self.api,
                limit: self.options.max_messages_per_queue,
            };
            let trailer = reader.run(&export.queues, &export.policies, out).await?;
            metadata.messages = Some(MessagesMetadata {
                total: trailer.messages,
                max_per_queue: self.options.max_messages_per_queue,
                queues: trailer.queues.clone(),
                skipped: trailer.skipped.clone(),
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

    async fn preflight_inner(&self) -> Result<Preflight, RabbitmqError> {
        let overview = self.overview(Step::Preflight).await?;
        if let Ok(mut cache) = self.overview.lock() {
            *cache = Some(overview.clone());
        }
        let whoami: WhoAmI = self.api.get_json(Step::Preflight, "/api/whoami").await?;
        let tags = whoami.tags.names();
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
            });
        }
        if let Some(vhosts) = &self.options.vhosts {
            for v in vhosts {
                let found = self
                    .api
                    .get_json::<serde_json::Value>(Step::Preflight, &vhost_path(v))
                    .await;
                match found {
                    Ok(_) => {}
                    Err(RabbitmqError::Http { status: 404, .. }) => {
                        return Err(RabbitmqError::BadOption(format!(
                            "vhost `{v}` does not exist on {}",
                            self.api.display()
                        )))
                    }
                    Err(e) => return Err(e),
                }
            }
            if self.options.messages {
                if let Some(first) = vhosts.first() {
                    let c = connect(self.api.amqp(), first, Step::Preflight).await?;
                    let _ = c.close(200, "lifeboat check").await;
                }
            }
        }
        let totals = overview.object_totals.unwrap_or_default();
        // About 350 bytes per queue and 200 per exchange and binding in an export.
        let mut estimated = 2048 + totals.queues * 350 + totals.exchanges * 400;
        if self.options.messages {
            estimated += overview.queue_totals.messages * 600;
        }
        Ok(Preflight {
            version: overview
                .broker
                .rabbitmq_version
                .as_ref()
                .map(|v| format!("RabbitMQ {v}")),
            estimated_bytes: Some(estimated),
            details: json!({
                "management_api": self.api.display(),
                "amqp": self.options.messages.then(|| self.api.amqp().display()),
                "rabbitmq_version": overview.broker.rabbitmq_version,
                "erlang_version": overview.broker.erlang_version,
                "cluster_name": overview.broker.cluster_name,
                "object_totals": totals,
                "vhosts": self.options.vhosts,
                "messages": self.options.messages,
            }),
        })
    }
}

#[async_trait]
impl Source for RabbitmqSource {
    fn kind(&self) -> &'static str {
        crate::KIND
    }

    fn dump_format(&self) -> &'static str {
        self.format().name()
    }

    fn extension(&self) -> &'static str {
        self.format().extension()
    }

    async fn preflight(&self) -> Result<Preflight, StoreError> {
        Ok(self.preflight_inner().await?)
    }

    async fn backup(
        &self,
        out: &mut (dyn AsyncWrite + Send + Unpin),
    ) -> Result<Dumped, StoreError> {
        let metadata = self.backup_inner(out).await?;
        Ok(Dumped::new(&metadata)?.with_password_hashes(metadata.contains_password_hashes))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::options::MAX_MESSAGES_PER_QUEUE;
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

    #[test]
    fn the_format_follows_the_messages_option() {
        let mut o = RabbitmqOptions::new("http://u:p@127.0.0.1:15672");
        let s = RabbitmqSource::new(o.clone()).unwrap();
        assert_eq!(
            (s.dump_format(), s.extension()),
            (crate::DEFINITIONS_FORMAT, "json")
        );
        o.messages = true;
        let s = RabbitmqSource::new(o).unwrap();
        assert_eq!(
            (s.dump_format(), s.extension()),
            (crate::MESSAGES_FORMAT, "jsonl")
        );
    }
}
