//! The RabbitMQ store's descriptor: kind, formats, options and constructors in one place.

use backup_core::store::{Capabilities, Descriptor, Store};
use backup_core::{FormatCheck, Source, StoreError, Target};

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
