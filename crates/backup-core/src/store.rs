//! The store descriptor: what one kind of store (`postgres`, `redis`, `sqlite`...) is, in one
//! place. A store crate implements [`Store`] once; the application keeps a table of
//! [`StoreDescriptor`]s (one line per store) and never matches on kinds or format names.
//!
//! ```
//! use std::path::Path;
//! use backup_core::store::{Capabilities, Descriptor, Store, StoreDescriptor};
//! use backup_core::{FormatCheck, Source, StoreError, Target};
//!
//! /// A store with nothing to back up, to show the shape.
//! struct Nothing;
//!
//! #[derive(Debug, Clone, serde::Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct NothingOptions {
//!     /// Where nothing lives.
//!     path: std::path::PathBuf,
//! }
//!
//! impl Store for Nothing {
//!     type Options = NothingOptions;
//!     const KIND: &'static str = "nothing";
//!     const FORMATS: &'static [&'static str] = &["nothing"];
//!     const CAPABILITIES: Capabilities = Capabilities::NONE;
//!     fn resolve(options: &mut NothingOptions, base: &Path) -> Result<(), StoreError> {
//!         options.path = base.join(&options.path);
//!         Ok(())
//!     }
//!     fn source(_: &NothingOptions) -> Result<Box<dyn Source>, StoreError> {
//!         Err(StoreError::config("nothing to back up"))
//!     }
//!     fn target(_: &NothingOptions, _: Option<&str>) -> Result<Box<dyn Target>, StoreError> {
//!         Err(StoreError::config("nowhere to restore"))
//!     }
//!     fn format_check(_: &NothingOptions) -> Result<Box<dyn FormatCheck>, StoreError> {
//!         Err(StoreError::config("nothing to check"))
//!     }
//! }
//!
//! static NOTHING: Descriptor<Nothing> = Descriptor::new();
//! let table: &[&dyn StoreDescriptor] = &[&NOTHING];
//! let options = toml::Value::Table(toml::toml! { path = "data" });
//! let configured = table[0]
//!     .configure(&mut <dyn erased_serde::Deserializer>::erase(options), Path::new("/etc/app"))
//!     .unwrap();
//! assert_eq!(configured.kind(), "nothing");
//! assert!(format!("{configured:?}").contains("/etc/app/data"));
//! ```

use std::any::Any;
use std::fmt;
use std::marker::PhantomData;
use std::path::Path;

use serde::de::DeserializeOwned;

use crate::{FormatCheck, Source, StoreError, Target};

/// What a store can do besides backup, restore and a format check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capabilities {
    /// Its targets report a `--dry-run` themselves (what would be created, what exists, what
    /// conflicts). Without it, a dry run reads the backup through the format check and asks
    /// the target's `prepare` whether it would refuse.
    pub dry_run: bool,
    /// `verify --deep` restores into a scratch target it creates and removes (a restore
    /// drill). Without it, `--deep` is the format check (which, for a file store, already
    /// restores into a private copy).
    pub drill: bool,
    /// Continuous archiving: base backups plus an archive of small objects pushed as they
    /// arrive (ARCHITECTURE.md, "Continuous archiving"). Reserved: no store has it yet, and
    /// nothing reads it.
    pub archive: bool,
}

impl Capabilities {
    /// Nothing beyond backup, restore and a format check.
    pub const NONE: Self = Self {
        dry_run: false,
        drill: false,
        archive: false,
    };
}

/// One kind of store, as its crate describes it (the typed side).
///
/// The options type is the store's `[[sources]]` keys besides the common ones (`name`,
/// `kind`, `storage`, `schedule`, ...): derive `Deserialize` with
/// `#[serde(deny_unknown_fields)]`, and let its doc comments be the config reference.
pub trait Store: Send + Sync + 'static {
    /// The store's options.
    type Options: DeserializeOwned + fmt::Debug + Clone + Send + Sync + 'static;

    /// The `kind` in the config and the manifest, e.g. `"postgres"`.
    const KIND: &'static str;

    /// The dump formats its sources write and its targets and checks read (the manifest's
    /// `dump_format`).
    const FORMATS: &'static [&'static str];

    /// What it can do.
    const CAPABILITIES: Capabilities;

    /// Finishes options just read from the config: resolves relative paths against `base`
    /// (the config file's folder) and checks what needs no I/O. The default changes nothing.
    fn resolve(options: &mut Self::Options, base: &Path) -> Result<(), StoreError> {
        let _ = (options, base);
        Ok(())
    }

    /// The backup side.
    fn source(options: &Self::Options) -> Result<Box<dyn Source>, StoreError>;

    /// The restore side: the source's own location, or `to` (a path or URL, as the store
    /// documents).
    fn target(options: &Self::Options, to: Option<&str>) -> Result<Box<dyn Target>, StoreError>;

    /// The check `verify` runs on a backup stream of any of [`Store::FORMATS`].
    fn format_check(options: &Self::Options) -> Result<Box<dyn FormatCheck>, StoreError>;

    /// The restore drill of `verify --deep`, for a store with [`Capabilities::drill`]. The
    /// default is the format check.
    fn drill(options: &Self::Options) -> Result<Box<dyn FormatCheck>, StoreError> {
        Self::format_check(options)
    }
}

/// Options of a `[[sources]]` table that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigureError {
    /// An unknown key, a missing one, a wrong type (the message names the key).
    #[error("{0}")]
    Options(#[source] erased_serde::Error),
    /// Keys that read fine but do not make valid options.
    #[error("{0}")]
    Invalid(#[source] StoreError),
}

/// One kind of store, type-erased, for the application's table of stores.
pub trait StoreDescriptor: Send + Sync {
    /// [`Store::KIND`].
    fn kind(&self) -> &'static str;

    /// [`Store::FORMATS`].
    fn formats(&self) -> &'static [&'static str];

    /// [`Store::CAPABILITIES`].
    fn capabilities(&self) -> Capabilities;

    /// Only reads the options, without [`Store::resolve`]: the config's check of the text as
    /// written, before `${VAR}` expansion (so an error never quotes a secret from the
    /// environment).
    fn check_options(
        &self,
        options: &mut dyn erased_serde::Deserializer<'_>,
    ) -> Result<(), ConfigureError>;

    /// Reads and resolves the options of one source.
    fn configure(
        &self,
        options: &mut dyn erased_serde::Deserializer<'_>,
        base: &Path,
    ) -> Result<Box<dyn ConfiguredStore>, ConfigureError>;
}

/// One source's store with its options: what the operations build sources, targets and
/// checks from.
pub trait ConfiguredStore: fmt::Debug + Send + Sync {
    /// [`Store::KIND`].
    fn kind(&self) -> &'static str;

    /// [`Store::FORMATS`].
    fn formats(&self) -> &'static [&'static str];

    /// [`Store::CAPABILITIES`].
    fn capabilities(&self) -> Capabilities;

    /// [`Store::source`].
    fn source(&self) -> Result<Box<dyn Source>, StoreError>;

    /// [`Store::target`].
    fn target(&self, to: Option<&str>) -> Result<Box<dyn Target>, StoreError>;

    /// [`Store::format_check`].
    fn format_check(&self) -> Result<Box<dyn FormatCheck>, StoreError>;

    /// [`Store::drill`].
    fn drill(&self) -> Result<Box<dyn FormatCheck>, StoreError>;

    /// The typed options, for code that knows the store (`downcast_ref::<PostgresOptions>`).
    fn options(&self) -> &dyn Any;
}

/// The [`StoreDescriptor`] of a [`Store`]: `static POSTGRES: Descriptor<Postgres> =
/// Descriptor::new();`.
pub struct Descriptor<S>(PhantomData<fn() -> S>);

impl<S> Descriptor<S> {
    /// The descriptor.
    pub const fn new() -> Self {
        Self(PhantomData)
    }
}

impl<S> Default for Descriptor<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: Store> StoreDescriptor for Descriptor<S> {
    fn kind(&self) -> &'static str {
        S::KIND
    }

    fn formats(&self) -> &'static [&'static str] {
        S::FORMATS
    }

    fn capabilities(&self) -> Capabilities {
        S::CAPABILITIES
    }

    fn check_options(
        &self,
        options: &mut dyn erased_serde::Deserializer<'_>,
    ) -> Result<(), ConfigureError> {
        erased_serde::deserialize::<S::Options>(options)
            .map(drop)
            .map_err(ConfigureError::Options)
    }

    fn configure(
        &self,
        options: &mut dyn erased_serde::Deserializer<'_>,
        base: &Path,
    ) -> Result<Box<dyn ConfiguredStore>, ConfigureError> {
        let mut options: S::Options =
            erased_serde::deserialize(options).map_err(ConfigureError::Options)?;
        S::resolve(&mut options, base).map_err(ConfigureError::Invalid)?;
        Ok(Box::new(Configured::<S> { options }))
    }
}

/// A store's options, behind [`ConfiguredStore`].
struct Configured<S: Store> {
    options: S::Options,
}

impl<S: Store> fmt::Debug for Configured<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The options' own Debug never shows a secret (they hold `Secret`s).
        f.debug_struct(S::KIND)
            .field("options", &self.options)
            .finish()
    }
}

impl<S: Store> ConfiguredStore for Configured<S> {
    fn kind(&self) -> &'static str {
        S::KIND
    }

    fn formats(&self) -> &'static [&'static str] {
        S::FORMATS
    }

    fn capabilities(&self) -> Capabilities {
        S::CAPABILITIES
    }

    fn source(&self) -> Result<Box<dyn Source>, StoreError> {
        S::source(&self.options)
    }

    fn target(&self, to: Option<&str>) -> Result<Box<dyn Target>, StoreError> {
        S::target(&self.options, to)
    }

    fn format_check(&self) -> Result<Box<dyn FormatCheck>, StoreError> {
        S::format_check(&self.options)
    }

    fn drill(&self) -> Result<Box<dyn FormatCheck>, StoreError> {
        S::drill(&self.options)
    }

    fn options(&self) -> &dyn Any {
        &self.options
    }
}

/// A typed store's [`ConfiguredStore`] from options built in code (library users who do not
/// read a config file).
pub fn configured<S: Store>(options: S::Options) -> Box<dyn ConfiguredStore> {
    Box::new(Configured::<S> { options })
}

/// `path` relative to `base` (the config file's folder) unless it is absolute, without `.`
/// components: what [`Store::resolve`] does with the paths of its options.
///
/// ```
/// use std::path::Path;
/// let path = backup_core::store::resolve_path(Path::new("/etc/lifeboat"), Path::new("./data/app.db"));
/// assert_eq!(path, Path::new("/etc/lifeboat/data/app.db"));
/// ```
pub fn resolve_path(base: &Path, path: &Path) -> std::path::PathBuf {
    base.join(path)
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect()
}
