//! The RabbitMQ store's descriptor: kind, formats, options and constructors in one place.

use std::path::Path;

use backup_core::store::{resolve_path, Capabilities, Descriptor, Store};
use backup_core::{FormatCheck, Source, StoreError, Target};

use crate::endpoint::Endpoints;
use crate::{RabbitmqCheck, RabbitmqDrill, RabbitmqOptions, RabbitmqSource, RabbitmqTarget};

/// The RabbitMQ store, for the application's table of stores ([`DESCRIPTOR`]).
pub struct Rabbitmq;

/// This store's entry in the application's table of stores.
pub static DESCRIPTOR: Descriptor<Rabbitmq> = Descriptor::new();

impl Store for Rabbitmq {
    type Options = RabbitmqOptions;
    const KIND: &'static str = crate::KIND;
    const FORMATS: &'static [&'static str] = crate::FORMATS;
    // Its targets say what a restore would create, find or conflict with, and `--deep`
    // restores into a scratch target of its own.
    const CAPABILITIES: Capabilities = Capabilities {
        dry_run: true,
        drill: true,
        archive: false,
    };

    // `tls_ca_file` is relative to the config file's folder; the options and URLs are checked
    // here, so a config that loads has valid ones.
    fn resolve(options: &mut RabbitmqOptions, base: &Path) -> Result<(), StoreError> {
        if let Some(path) = &options.tls_ca_file {
            options.tls_ca_file = Some(resolve_path(base, path));
        }
        options.check()?;
        Endpoints::resolve(options, None)?;
        Ok(())
    }

    fn source(options: &RabbitmqOptions) -> Result<Box<dyn Source>, StoreError> {
        Ok(Box::new(RabbitmqSource::new(options.clone())?))
    }

    fn target(options: &RabbitmqOptions, to: Option<&str>) -> Result<Box<dyn Target>, StoreError> {
        Ok(Box::new(RabbitmqTarget::new(options, to)?))
    }

    fn format_check(_: &RabbitmqOptions) -> Result<Box<dyn FormatCheck>, StoreError> {
        Ok(Box::new(RabbitmqCheck::new()))
    }

    fn drill(options: &RabbitmqOptions) -> Result<Box<dyn FormatCheck>, StoreError> {
        Ok(Box::new(RabbitmqDrill::new(options)?))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn resolve_anchors_the_ca_file_and_checks_the_options() {
        let mut o = RabbitmqOptions::new("https://u:p@h:15671");
        o.tls_ca_file = Some("./ca.pem".into());
        Rabbitmq::resolve(&mut o, Path::new("/etc/lifeboat")).unwrap();
        assert_eq!(
            o.tls_ca_file.as_deref(),
            Some(Path::new("/etc/lifeboat/ca.pem"))
        );
        o.tls_ca_file = Some("/abs/ca.pem".into());
        Rabbitmq::resolve(&mut o, Path::new("/etc/lifeboat")).unwrap();
        assert_eq!(o.tls_ca_file.as_deref(), Some(Path::new("/abs/ca.pem")));
        for bad in [
            RabbitmqOptions::new("http://h:15672"),
            RabbitmqOptions {
                max_messages_per_queue: 0,
                ..RabbitmqOptions::new("http://u:p@h:15672")
            },
        ] {
            let mut bad = bad;
            let err = Rabbitmq::resolve(&mut bad, Path::new("/")).unwrap_err();
            assert_eq!(err.kind(), backup_core::StoreErrorKind::Config, "{err}");
        }
    }
}
