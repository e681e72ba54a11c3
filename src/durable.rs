//! Writing a file so that every reader, in this process or another, or after a crash, finds
//! the old contents or the new, never half of them: a private temporary file in the target's
//! directory, written and flushed to disk, then renamed over the target (or linked to it, when
//! an existing file must be kept), then the directory flushed so the new name survives a crash.
//!
//! Every file written this way is private (0600): metadata, server state, keys; except what
//! sandboxes must read through a bind ([`write_shared`], 0644). The one helper for it; nothing
//! else in the crate renames a temporary file into place.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// What to do when the target exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Existing {
    /// Replace it.
    Replace,
    /// Keep it: the write fails with `AlreadyExists` (another process was first).
    Keep,
}

/// Writes `contents` to `path`, 0600, durably and atomically.
pub(crate) fn write(path: &Path, contents: &[u8], existing: Existing) -> io::Result<()> {
    write_with_mode(path, contents, existing, 0o600)
}

/// Writes `contents` to `path` as [`write`] does, but readable by every user (0644): a file
/// that sandboxes, whose commands may run as another user, read through a bind.
pub(crate) fn write_shared(path: &Path, contents: &[u8]) -> io::Result<()> {
    write_with_mode(path, contents, Existing::Replace, 0o644)
}

fn write_with_mode(path: &Path, contents: &[u8], existing: Existing, mode: u32) -> io::Result<()> {
    let directory = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let temporary = directory.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
    let result = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)
        .and_then(|mut file| {
            // Set, not asked of `open`: the umask would take from it.
            file.set_permissions(std::fs::Permissions::from_mode(mode))?;
            file.write_all(contents)?;
            file.sync_all()
        })
        .and_then(|()| match existing {
            Existing::Replace => std::fs::rename(&temporary, path),
            Existing::Keep => std::fs::hard_link(&temporary, path),
        });
    // After a rename there is nothing left to remove; after a link (or a failure) there is.
    let _ = std::fs::remove_file(&temporary);
    result?;
    File::open(directory)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_private_whole_and_leave_no_temporary_files() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("state.json");
        write(&path, b"one", Existing::Replace).unwrap();
        write(&path, b"two", Existing::Replace).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let names: Vec<_> = std::fs::read_dir(directory.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, ["state.json"]);
    }

    #[test]
    fn keeping_an_existing_file_fails_and_changes_nothing() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("key");
        write(&path, b"first", Existing::Keep).unwrap();
        let error = write(&path, b"second", Existing::Keep).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
        assert_eq!(std::fs::read_dir(directory.path()).unwrap().count(), 1);
    }
}
