//! The files store's descriptor: kind, format, options and constructors in one place.

use std::path::{Path, PathBuf};

use backup_core::store::{resolve_path, Capabilities, Descriptor, Store};
use backup_core::{FormatCheck, Source, StoreError, Target};

use crate::{FilesCheck, FilesError, FilesOptions, FilesSource, FilesTarget};

/// The `kind` of this store in `lifeboat.toml` and the manifest.
pub const KIND: &str = "files";

/// The one dump format: a tar stream.
pub const FORMAT: &str = "tar";

/// The dump formats this store writes and reads.
pub const FORMATS: &[&str] = &[FORMAT];

/// The files store, for the application's table of stores ([`DESCRIPTOR`]).
pub struct Files;

/// This store's entry in the application's table of stores.
pub static DESCRIPTOR: Descriptor<Files> = Descriptor::new();

impl Store for Files {
    type Options = FilesOptions;
    const KIND: &'static str = KIND;
    const FORMATS: &'static [&'static str] = FORMATS;
    // The format check parses, path-checks and counts the whole archive, so `--deep` needs no
    // drill, and a dry run is the format check plus the target's refusal rule.
    const CAPABILITIES: Capabilities = Capabilities::NONE;

    fn resolve(options: &mut FilesOptions, base: &Path) -> Result<(), StoreError> {
        if options.paths.is_empty() {
            return Err(FilesError::NoPaths.into());
        }
        options.paths = options
            .paths
            .iter()
            .map(|path| resolve_path(base, path))
            .collect();
        // Builds the exclude globs once, so a bad pattern is a config error at load.
        FilesSource::new(options.paths.clone(), options.exclude.clone())?;
        Ok(())
    }

    fn source(options: &FilesOptions) -> Result<Box<dyn Source>, StoreError> {
        Ok(Box::new(FilesSource::new(
            options.paths.clone(),
            options.exclude.clone(),
        )?))
    }

    fn target(options: &FilesOptions, to: Option<&str>) -> Result<Box<dyn Target>, StoreError> {
        match to {
            Some(dir) => Ok(Box::new(
                FilesTarget::new(PathBuf::from(dir)).preserve_owner(options.preserve_owner),
            )),
            None => Err(FilesError::NoTargetDir.into()),
        }
    }

    fn format_check(_: &FilesOptions) -> Result<Box<dyn FormatCheck>, StoreError> {
        Ok(Box::new(FilesCheck::new()))
    }
}
