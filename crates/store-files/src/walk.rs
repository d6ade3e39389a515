//! Walking the configured paths: sorted, never following symlinks, pruning excluded entries.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};
use walkdir::WalkDir;

use crate::FilesError;

/// One configured path and the name of its top-level entry in the archive.
#[derive(Debug, Clone)]
pub(crate) struct Root {
    /// The path as configured.
    pub(crate) path: PathBuf,
    /// Its last component: the top-level entry's name.
    pub(crate) name: OsString,
}

impl Root {
    /// Builds the roots, refusing paths without a name and names used twice.
    pub(crate) fn from_paths(paths: &[PathBuf]) -> Result<Vec<Root>, FilesError> {
        if paths.is_empty() {
            return Err(FilesError::NoPaths);
        }
        let mut roots: Vec<Root> = Vec::with_capacity(paths.len());
        for path in paths {
            let name = path
                .file_name()
                .ok_or_else(|| FilesError::NoFileName { path: path.clone() })?
                .to_os_string();
            if let Some(other) = roots.iter().find(|root| root.name == name) {
                return Err(FilesError::DuplicateName {
                    first: other.path.clone(),
                    second: path.clone(),
                    name: name.to_string_lossy().into_owned(),
                });
            }
            roots.push(Root {
                path: path.clone(),
                name,
            });
        }
        Ok(roots)
    }

    /// Fails with [`FilesError::MissingPath`] if the path does not exist (a dangling symlink
    /// exists: it is kept as a link).
    pub(crate) fn check_exists(&self) -> Result<(), FilesError> {
        match fs::symlink_metadata(&self.path) {
            Ok(_) => Ok(()),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Err(FilesError::MissingPath {
                path: self.path.clone(),
            }),
            Err(source) => Err(FilesError::Read {
                path: self.path.clone(),
                step: "checking that it exists",
                source,
            }),
        }
    }
}

/// Compiles the `exclude` globs.
pub(crate) fn build_excludes(patterns: &[String]) -> Result<GlobSet, FilesError> {
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        let glob = Glob::new(pattern).map_err(|source| FilesError::BadGlob {
            glob: pattern.clone(),
            source,
        })?;
        builder.add(glob);
    }
    builder.build().map_err(|source| FilesError::BadGlob {
        glob: patterns.join(", "),
        source,
    })
}

/// What an [`Item`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ItemKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (never followed).
    Symlink,
}

/// One thing found by [`walk`].
pub(crate) struct Item<'a> {
    /// Where it is on disk.
    pub(crate) fs_path: &'a Path,
    /// Its path inside the archive (`<root name>/<relative path>`).
    pub(crate) archive_path: PathBuf,
    /// Its `lstat` metadata.
    pub(crate) meta: fs::Metadata,
    /// What it is.
    pub(crate) kind: ItemKind,
}

/// Walks one root in sorted order, calling `visit` on everything not excluded.
///
/// Excludes match the path relative to the root or the file name; an excluded directory is not
/// descended into. The root itself is never excluded. Symlinks are reported, not followed
/// (a root that is a symlink is kept as a link too). Anything that cannot be read, and anything
/// that is not a file, directory or symlink, is an error naming the path.
pub(crate) fn walk(
    root: &Root,
    exclude: &GlobSet,
    visit: &mut dyn FnMut(Item<'_>) -> Result<(), FilesError>,
) -> Result<(), FilesError> {
    let walker = WalkDir::new(&root.path)
        .follow_links(false)
        .follow_root_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|entry| entry.depth() == 0 || !is_excluded(&root.path, entry, exclude));
    for entry in walker {
        let entry = entry.map_err(|err| {
            let path = err
                .path()
                .map_or_else(|| root.path.clone(), Path::to_path_buf);
            FilesError::Read {
                path,
                step: "walking the tree",
                source: err.into(),
            }
        })?;
        let fs_path = entry.path();
        let meta = entry.metadata().map_err(|err| FilesError::Read {
            path: fs_path.to_path_buf(),
            step: "reading its metadata",
            source: err.into(),
        })?;
        let kind = item_kind(fs_path, &meta)?;
        if entry.depth() == 0 && kind == ItemKind::Symlink {
            tracing::warn!(
                path = %fs_path.display(),
                "configured path is a symlink: it is stored as a link, what it points to is not \
                 backed up (configure the target path instead)"
            );
        }
        let rel = fs_path.strip_prefix(&root.path).unwrap_or(Path::new(""));
        let archive_path = if rel.as_os_str().is_empty() {
            PathBuf::from(&root.name)
        } else {
            Path::new(&root.name).join(rel)
        };
        visit(Item {
            fs_path,
            archive_path,
            meta,
            kind,
        })?;
    }
    Ok(())
}

fn is_excluded(root: &Path, entry: &walkdir::DirEntry, exclude: &GlobSet) -> bool {
    let rel = entry.path().strip_prefix(root).unwrap_or(entry.path());
    exclude.is_match(rel) || exclude.is_match(Path::new(entry.file_name()))
}

fn item_kind(path: &Path, meta: &fs::Metadata) -> Result<ItemKind, FilesError> {
    let file_type = meta.file_type();
    let unsupported = |kind| FilesError::UnsupportedFile {
        path: path.to_path_buf(),
        kind,
    };
    if file_type.is_symlink() {
        Ok(ItemKind::Symlink)
    } else if file_type.is_dir() {
        Ok(ItemKind::Dir)
    } else if file_type.is_file() {
        Ok(ItemKind::File)
    } else if file_type.is_socket() {
        Err(unsupported("socket"))
    } else if file_type.is_fifo() {
        Err(unsupported("fifo"))
    } else if file_type.is_block_device() {
        Err(unsupported("block device"))
    } else if file_type.is_char_device() {
        Err(unsupported("character device"))
    } else {
        Err(unsupported("special file"))
    }
}
