//! [`LocalOps`]: the OpenDAL operators of an fs storage, built on first use.
//!
//! OpenDAL's fs builder creates the root and the atomic-write folder when it is built. So that
//! `list`, `restore` and `verify` never write (a read-only backup disk must stay readable, and a
//! missing root must not be created by a read), reads use an operator without an atomic-write
//! folder that is only built once the root exists, and writes build their own operator after
//! creating the folders with mode 0700.

use std::io;
use std::path::{Path, PathBuf};

use opendal::Operator;
use tokio::sync::OnceCell;

use crate::keys::TMP_DIR_NAME;
use crate::local_fs::{create_private_dir_all, make_dir_private};
use crate::timeouts::Timeouts;

/// The lazily built operators of one fs storage.
pub(crate) struct LocalOps {
    root: PathBuf,
    timeouts: Timeouts,
    read: OnceCell<Operator>,
    write: OnceCell<Operator>,
}

impl LocalOps {
    /// Operators for `root` (absolute), with OpenDAL's timeout layer (a hung network mount
    /// must not hang lifeboat); nothing is touched yet.
    pub(crate) fn new(root: PathBuf, timeouts: Timeouts) -> Self {
        Self {
            root,
            timeouts,
            read: OnceCell::new(),
            write: OnceCell::new(),
        }
    }

    /// The operator for reads, or `None` when the root does not exist (nothing to read).
    pub(crate) async fn read(&self) -> io::Result<Option<&Operator>> {
        if let Some(op) = self.write.get() {
            return Ok(Some(op));
        }
        if let Some(op) = self.read.get() {
            return Ok(Some(op));
        }
        match tokio::fs::metadata(&self.root).await {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(io::Error::other(format!(
                    "storage root {} is not a directory",
                    self.root.display()
                )))
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(err),
        }
        let op = self
            .read
            .get_or_try_init(|| async { operator(&self.root, None, self.timeouts) })
            .await?;
        Ok(Some(op))
    }

    /// The operator for writes: creates the root and the temp folder (0700) first.
    pub(crate) async fn write(&self) -> io::Result<&Operator> {
        self.write
            .get_or_try_init(|| async {
                let root = self.root.clone();
                let timeouts = self.timeouts;
                tokio::task::spawn_blocking(move || {
                    let context = |path: &Path| {
                        let shown = path.display().to_string();
                        move |err: io::Error| {
                            io::Error::new(err.kind(), format!("cannot prepare {shown}: {err}"))
                        }
                    };
                    create_private_dir_all(&root).map_err(context(&root))?;
                    // The temp folder is lifeboat's own: force 0700 even if an older run
                    // made it otherwise.
                    let tmp = root.join(TMP_DIR_NAME);
                    create_private_dir_all(&tmp).map_err(context(&tmp))?;
                    make_dir_private(&tmp).map_err(context(&tmp))?;
                    operator(&root, Some(&tmp), timeouts)
                })
                .await
                .map_err(io::Error::other)?
            })
            .await
    }
}

/// An fs operator on an existing `root`, with `atomic_write_dir` for writers.
fn operator(
    root: &Path,
    atomic_write_dir: Option<&Path>,
    timeouts: Timeouts,
) -> io::Result<Operator> {
    let utf8 = |p: &Path| {
        p.to_str()
            .map(str::to_owned)
            .ok_or_else(|| io::Error::other(format!("{} is not valid UTF-8", p.display())))
    };
    let mut builder = opendal::services::Fs::default().root(&utf8(root)?);
    if let Some(dir) = atomic_write_dir {
        builder = builder.atomic_write_dir(&utf8(dir)?);
    }
    Ok(Operator::new(builder)
        .map_err(io::Error::other)?
        .layer(timeouts.timeout_layer())
        .finish())
}
