//! The PostgreSQL store's descriptor: kind, formats, options and constructors in one place.

use std::path::Path;

use backup_core::store::{resolve_path, Capabilities, Descriptor, Store};
use backup_core::{FormatCheck, Source, StoreError, Target};

use crate::{PostgresCheck, PostgresDrill, PostgresOptions, PostgresSource, PostgresTarget};

/// The PostgreSQL store, for the application's table of stores ([`DESCRIPTOR`]).
pub struct Postgres;

/// This store's entry in the application's table of stores.
pub static DESCRIPTOR: Descriptor<Postgres> = Descriptor::new();

impl Store for Postgres {
    type Options = PostgresOptions;
    const KIND: &'static str = crate::KIND;
    const FORMATS: &'static [&'static str] = crate::FORMATS;
    // Its targets say what a restore would create, find or conflict with, and `--deep`
    // restores into a scratch target of its own.
    const CAPABILITIES: Capabilities = Capabilities {
        dry_run: true,
        drill: true,
        archive: false,
    };

    /// Resolves `tls_ca_file` and `bin_dir` against the config file's folder and checks the
    /// options (URL, `sslmode`, `restore_jobs`, `databases`, `tables`) without any I/O, so a
    /// bad option is a config error when the config is loaded.
    fn resolve(options: &mut PostgresOptions, base: &Path) -> Result<(), StoreError> {
        options.tls_ca_file = options.tls_ca_file.take().map(|p| resolve_path(base, &p));
        options.bin_dir = options.bin_dir.take().map(|p| resolve_path(base, &p));
        options.validate()?;
        Ok(())
    }

    fn source(options: &PostgresOptions) -> Result<Box<dyn Source>, StoreError> {
        Ok(Box::new(PostgresSource::new(options.clone())?))
    }

    fn target(options: &PostgresOptions, to: Option<&str>) -> Result<Box<dyn Target>, StoreError> {
        Ok(Box::new(PostgresTarget::new(options, to)?))
    }

    fn format_check(options: &PostgresOptions) -> Result<Box<dyn FormatCheck>, StoreError> {
        Ok(Box::new(PostgresCheck::for_options(options)))
    }

    fn drill(options: &PostgresOptions) -> Result<Box<dyn FormatCheck>, StoreError> {
        Ok(Box::new(PostgresDrill::new(options)?))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use backup_core::store::StoreDescriptor;
    use backup_core::StoreErrorKind;

    fn configure(options: &str) -> Result<Box<dyn backup_core::store::ConfiguredStore>, String> {
        let value: toml::Value = toml::from_str(options).unwrap();
        DESCRIPTOR
            .configure(
                &mut <dyn erased_serde::Deserializer>::erase(value),
                Path::new("/etc/lifeboat"),
            )
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_bad_option_is_a_config_error_at_load() {
        for (options, expected) in [
            ("url = \"mysql://u@h/db\"", "invalid postgres URL"),
            (
                "url = \"postgres://u@h/db?sslmode=verify\"",
                "unknown sslmode",
            ),
            (
                "url = \"postgres://u@h/db\"\nrestore_jobs = 0",
                "restore_jobs",
            ),
            (
                "url = \"postgres://u@h/db\"\ntables = [\" \"]",
                "table pattern",
            ),
        ] {
            let err = configure(options).unwrap_err();
            assert!(err.contains(expected), "{options}: {err}");
        }
        let mut options = PostgresOptions::from_url("postgres://u@h/db");
        options.databases = vec![String::new()];
        let err = Postgres::resolve(&mut options, Path::new("/")).unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Config);
    }

    #[test]
    fn relative_paths_are_the_config_folder_s() {
        let configured =
            configure("url = \"postgres://u@h/db\"\ntls_ca_file = \"./ca.pem\"\nbin_dir = \"bin\"")
                .unwrap();
        let options = configured
            .options()
            .downcast_ref::<PostgresOptions>()
            .unwrap();
        assert_eq!(
            options.tls_ca_file.as_deref(),
            Some(Path::new("/etc/lifeboat/ca.pem"))
        );
        assert_eq!(
            options.bin_dir.as_deref(),
            Some(Path::new("/etc/lifeboat/bin"))
        );
        assert_eq!(configured.kind(), "postgres");
        assert!(configured.capabilities().dry_run && configured.capabilities().drill);
    }
}
