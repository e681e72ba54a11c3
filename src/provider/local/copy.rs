//! Copies of a sandbox home, for forks and snapshots: a plain recursive copy that keeps
//! symlinks as symlinks (so a link a command planted can never make the copy read outside the
//! home) and permission bits, and skips sockets, pipes and devices. It blocks; callers run it on
//! tokio's blocking pool, outside the root lock.

use std::fs;
use std::io;
use std::path::Path;

/// Copies the contents of directory `from` into the existing directory `to`.
pub(crate) fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    copy_into(from, to, false)
}

/// Copies what `to` lacks of directory `from` into it: a directory both hold is merged, a file
/// or link `to` holds already stays. For homes made of two trees (a root sandbox's image `/root`
/// and `/home/daytona`), the first copied wins.
pub(crate) fn merge_tree(from: &Path, to: &Path) -> io::Result<()> {
    copy_into(from, to, true)
}

fn copy_into(from: &Path, to: &Path, merge: bool) -> io::Result<()> {
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        let existing = fs::symlink_metadata(&target).ok();
        if merge && let Some(existing) = existing {
            if kind.is_dir() && existing.is_dir() {
                copy_into(&entry.path(), &target, merge)?;
            }
            continue;
        }
        if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(entry.path())?, &target)?;
        } else if kind.is_dir() {
            fs::create_dir(&target)?;
            copy_into(&entry.path(), &target, merge)?;
            // After the contents, so that a read-only directory can still be filled.
            fs::set_permissions(&target, entry.metadata()?.permissions())?;
        } else if kind.is_file() {
            fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn copies_keep_links_modes_and_nesting_without_following_links() {
        let from = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("secret"), "host").unwrap();
        fs::create_dir_all(from.path().join("a/b")).unwrap();
        fs::write(from.path().join("a/b/file"), "one").unwrap();
        fs::set_permissions(
            from.path().join("a/b/file"),
            fs::Permissions::from_mode(0o750),
        )
        .unwrap();
        std::os::unix::fs::symlink(outside.path(), from.path().join("link")).unwrap();
        fs::set_permissions(from.path().join("a"), fs::Permissions::from_mode(0o555)).unwrap();

        let to = tempfile::tempdir().unwrap();
        copy_tree(from.path(), to.path()).unwrap();
        assert_eq!(
            fs::read_to_string(to.path().join("a/b/file")).unwrap(),
            "one"
        );
        let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&to.path().join("a/b/file")), 0o750);
        assert_eq!(mode(&to.path().join("a")), 0o555);
        assert!(
            fs::symlink_metadata(to.path().join("link"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
        fs::set_permissions(to.path().join("a"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(from.path().join("a"), fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn a_merge_keeps_what_the_target_holds_and_fills_in_the_rest() {
        let first = tempfile::tempdir().unwrap();
        let second = tempfile::tempdir().unwrap();
        fs::create_dir_all(first.path().join(".config")).unwrap();
        fs::write(first.path().join(".config/one"), "first").unwrap();
        fs::write(first.path().join(".profile"), "first").unwrap();
        fs::create_dir_all(second.path().join(".config")).unwrap();
        fs::write(second.path().join(".config/one"), "second").unwrap();
        fs::write(second.path().join(".config/two"), "second").unwrap();
        fs::write(second.path().join(".profile"), "second").unwrap();
        fs::write(second.path().join("notes"), "second").unwrap();

        let to = tempfile::tempdir().unwrap();
        copy_tree(first.path(), to.path()).unwrap();
        merge_tree(second.path(), to.path()).unwrap();
        let read = |path: &str| fs::read_to_string(to.path().join(path)).unwrap();
        assert_eq!(
            [
                read(".config/one"),
                read(".config/two"),
                read(".profile"),
                read("notes")
            ],
            ["first", "second", "first", "second"]
        );
    }
}
