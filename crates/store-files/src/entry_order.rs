//! [`EntryOrder`]: the one rule on how an archive's entries may relate to each other, applied
//! by the restore and by the format check alike, before anything is written (README, "Files
//! restore").
//!
//! A files backup stores each configured path as one top-level entry followed by its tree,
//! walked in sorted order (each path once, a folder before what it holds). An archive is
//! accepted only in that shape:
//!
//! - within a top-level entry, every path sorts after the one before it (component by
//!   component), so no path is stored twice — a symlink followed by a folder or file of the
//!   same name is refused, never followed or replaced;
//! - a top-level name does not come back once another one has started;
//! - nothing lies below a symlink or a file stored earlier.
//!
//! Because of the order, the earlier entries that are ancestors of a path are exactly the ones
//! on the chain of the previous path, so the rule needs memory for one path's ancestors plus
//! the top-level names, whatever the number of entries (ARCHITECTURE.md, invariant 6).

use std::collections::HashSet;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use lifeboat_edge::shown::excerpt;

use crate::archive::EntryKind;

/// Why an entry breaks the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The path lies below an earlier symlink: writing it would follow the link.
    BelowSymlink(PathBuf),
    /// The path is stored a second time; `first` is what it was the first time.
    Twice {
        /// The kind of its first entry.
        first: EntryKind,
    },
    /// The path lies below an earlier regular file.
    BelowFile(PathBuf),
    /// The path sorts before the previous entry of its tree.
    OutOfOrder(PathBuf),
    /// The top-level name was stored earlier, before another top-level entry.
    TopLevelAgain(OsString),
}

impl Refusal {
    /// Whether following the entry could write through a symlink (an escape attempt) rather
    /// than just clash with an earlier entry.
    pub(crate) fn is_escape(&self) -> bool {
        matches!(
            self,
            Refusal::BelowSymlink(_)
                | Refusal::Twice {
                    first: EntryKind::Symlink
                }
        )
    }

    /// The reason, for the error message.
    pub(crate) fn reason(&self) -> String {
        match self {
            Refusal::BelowSymlink(link) => format!(
                "it lies below `{}`, a symlink stored earlier in the archive",
                shown(link)
            ),
            Refusal::Twice {
                first: EntryKind::Symlink,
            } => "the path was stored earlier as a symlink: restoring it again would follow or \
                  replace the link"
                .into(),
            Refusal::Twice { first } => format!(
                "the path was stored earlier (as a {}): a files backup stores each path once",
                first.describe()
            ),
            Refusal::BelowFile(file) => format!(
                "its parent `{}` is a file stored earlier in the archive",
                shown(file)
            ),
            Refusal::OutOfOrder(previous) => format!(
                "it comes after `{}`: a files backup stores each tree in sorted order",
                shown(previous)
            ),
            Refusal::TopLevelAgain(name) => format!(
                "the top-level entry `{}` was stored earlier, before another one",
                excerpt(name.as_bytes())
            ),
        }
    }
}

/// A stored path as an error may show it: escaped and capped (ARCHITECTURE.md, `shown`).
fn shown(path: &Path) -> String {
    excerpt(path.as_os_str().as_bytes())
}

/// The state of the rule while an archive is read: the previous path's chain of stored
/// ancestors (and itself), and the top-level names seen.
#[derive(Debug, Default)]
pub(crate) struct EntryOrder {
    chain: Vec<(PathBuf, EntryKind)>,
    top_level: HashSet<OsString>,
}

impl EntryOrder {
    /// Admits the next entry (`rel`: a safe, non-empty relative path), or says why not.
    pub(crate) fn admit(&mut self, rel: &Path, kind: EntryKind) -> Result<(), Refusal> {
        let top = first_component(rel);
        let same_tree = self
            .chain
            .first()
            .is_some_and(|(path, _)| first_component(path) == top);
        if same_tree {
            if let Some((previous, _)) = self.chain.last() {
                if rel <= previous.as_path() {
                    if let Some((_, first)) = self.chain.iter().find(|(path, _)| path == rel) {
                        return Err(Refusal::Twice { first: *first });
                    }
                    return Err(Refusal::OutOfOrder(previous.clone()));
                }
            }
        } else if self.top_level.contains(&top) {
            return Err(Refusal::TopLevelAgain(top));
        }
        while self
            .chain
            .last()
            .is_some_and(|(path, _)| !rel.starts_with(path))
        {
            self.chain.pop();
        }
        // What is left on the chain: the stored ancestors of `rel`, shortest first.
        for (ancestor, ancestor_kind) in &self.chain {
            match ancestor_kind {
                EntryKind::Dir => {}
                EntryKind::Symlink => return Err(Refusal::BelowSymlink(ancestor.clone())),
                EntryKind::File => return Err(Refusal::BelowFile(ancestor.clone())),
            }
        }
        self.chain.push((rel.to_path_buf(), kind));
        self.top_level.insert(top);
        Ok(())
    }
}

fn first_component(path: &Path) -> OsString {
    path.components()
        .next()
        .map(|component| component.as_os_str().to_os_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use EntryKind::{Dir, File, Symlink};

    fn run(entries: &[(&str, EntryKind)]) -> Result<(), (String, Refusal)> {
        let mut order = EntryOrder::default();
        for (path, kind) in entries {
            order
                .admit(Path::new(path), *kind)
                .map_err(|refusal| (path.to_string(), refusal))?;
        }
        Ok(())
    }

    #[test]
    fn a_sorted_walk_of_several_trees_is_admitted() {
        // What the source writes for `paths = ["./config", "./certs", "./one.pem"]`.
        let walk = [
            ("config", Dir),
            ("config/a", Dir),
            ("config/a/x", File),
            ("config/a-b", File),
            ("config/b", Symlink),
            ("config/c", Dir),
            ("certs", Dir),
            ("certs/ca.pem", File),
            ("one.pem", File),
        ];
        assert_eq!(run(&walk), Ok(()));
    }

    #[test]
    fn a_symlink_then_the_same_name_is_refused() {
        for second in [Dir, File, Symlink] {
            let err = run(&[("a", Symlink), ("a", second)]).unwrap_err();
            assert_eq!(err.1, Refusal::Twice { first: Symlink });
            assert!(err.1.is_escape());
        }
        let err = run(&[("t", Dir), ("t/a", Symlink), ("t/a", Dir), ("t/a/x", File)]);
        assert_eq!(err.unwrap_err().0, "t/a");
    }

    #[test]
    fn below_a_symlink_or_file_is_refused() {
        let err = run(&[("t", Dir), ("t/l", Symlink), ("t/l/x", File)]).unwrap_err();
        assert_eq!(err.1, Refusal::BelowSymlink(PathBuf::from("t/l")));
        let err = run(&[("l", Symlink), ("l/sub/x", File)]).unwrap_err();
        assert_eq!(err.1, Refusal::BelowSymlink(PathBuf::from("l")));
        let err = run(&[("f", File), ("f/x", File)]).unwrap_err();
        assert_eq!(err.1, Refusal::BelowFile(PathBuf::from("f")));
        assert!(!err.1.is_escape());
    }

    #[test]
    fn out_of_order_duplicates_and_regrouped_trees_are_refused() {
        let err = run(&[("t", Dir), ("t/b", File), ("t/a", File)]).unwrap_err();
        assert_eq!(err.1, Refusal::OutOfOrder(PathBuf::from("t/b")));
        let err = run(&[("t", Dir), ("t/b", File), ("t/b", File)]).unwrap_err();
        assert_eq!(err.1, Refusal::Twice { first: File });
        let err = run(&[("t", Dir), ("t/d", Dir), ("t/d/x", File), ("t", File)]).unwrap_err();
        assert_eq!(err.1, Refusal::Twice { first: Dir });
        let err = run(&[("a", Dir), ("b", Dir), ("a/x", File)]).unwrap_err();
        assert_eq!(err.1, Refusal::TopLevelAgain("a".into()));
        // An escape hidden by leaving and re-entering the tree of the link.
        let err = run(&[("l", Symlink), ("m", Dir), ("l/x", File)]).unwrap_err();
        assert_eq!(err.1, Refusal::TopLevelAgain("l".into()));
    }
}
