//! Who runs a `local` sandbox's commands on the host, and the hand-over of sandbox files to
//! that user.
//!
//! Run by an ordinary user, bubblewrap runs as that user, who owns the state root. Run by root,
//! `ralph-town` never lets a sandbox command be root: commands run as [`SANDBOX_HOST_ID`], an
//! unprivileged id that owns the sandbox's home and `/tmp` and nothing else on the host. Inside
//! bubblewrap both are [`INSIDE_ID`], or uid 0 for a root sandbox (see `identity`): the same
//! host id either way, only named differently inside. This file changes owners only below a sandbox's own
//! directories, and never follows a symlink while doing it.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{AtFlags, Gid, Mode, OFlags, Uid};

/// The host uid and gid of sandbox commands when `ralph-town` runs as root.
///
/// Why not a user namespace that maps the sandbox user to root (bubblewrap's `--uid` when run
/// by root): to the kernel that process is still uid 0. It is the owner of every root-owned
/// host file for permission checks (`/etc/shadow`, mode 0640 root, is readable through the
/// read-only `/`); it may connect to root-owned sockets (`/run/docker.sock`: a socket on a
/// read-only mount still accepts connections), and a service that trusts a peer's uid 0 on a
/// unix socket, abstract ones included (the network namespace is shared), serves it as root.
/// An id that owns nothing on the host reads only what everyone may read.
///
/// 65520: in the 16-bit range (nested user namespaces, rootless containers included, often map
/// only 65536 ids), in the ids systemd (65520-65533) and Debian (65000-65533) never allocate.
pub(crate) const SANDBOX_HOST_ID: u32 = 65520;

/// The uid and gid a command sees inside bubblewrap (the `daytona` user's on Daytona).
pub(crate) const INSIDE_ID: u32 = 1000;

/// Who bubblewrap runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HostUser {
    /// `ralph-town` is not root: bubblewrap runs as the invoking user, who owns the state root.
    Invoker,
    /// `ralph-town` is root: bubblewrap runs as this unprivileged uid and gid, which own the
    /// sandbox directories.
    Dedicated(u32),
}

impl HostUser {
    pub(crate) fn current() -> HostUser {
        if rustix::process::geteuid().is_root() {
            HostUser::Dedicated(SANDBOX_HOST_ID)
        } else {
            HostUser::Invoker
        }
    }
}

/// Gives `path` (a sandbox's home or `/tmp`) and everything below it to `id`, unless `path`
/// already belongs to it: sandboxes made before commands stopped running as root have
/// root-owned homes.
pub(crate) fn ensure_owned(path: &Path, id: u32) -> io::Result<()> {
    let directory = open_directory(rustix::fs::CWD, path)?;
    if rustix::fs::fstat(&directory)?.st_uid == id {
        return Ok(());
    }
    hand_over(&directory, id)
}

/// Gives directory `path` and everything below it to `id`, whoever owns `path` now: for a
/// tree that was just filled by this process (as root) inside a directory `id` already owns.
pub(crate) fn give_tree(path: &Path, id: u32) -> io::Result<()> {
    hand_over(&open_directory(rustix::fs::CWD, path)?, id)
}

/// Makes `id` the owner and group of the file or directory open as `file`.
pub(crate) fn give(file: impl AsFd, id: u32) -> io::Result<()> {
    rustix::fs::fchown(file, Some(Uid::from_raw(id)), Some(Gid::from_raw(id)))?;
    Ok(())
}

fn hand_over(directory: &OwnedFd, id: u32) -> io::Result<()> {
    give(directory, id)?;
    let mut subdirectories = Vec::new();
    for entry in rustix::fs::Dir::read_from(directory)? {
        let entry = entry?;
        let name = entry.file_name();
        if name == c"." || name == c".." {
            continue;
        }
        // Symlinks themselves change owner; what they point to does not.
        rustix::fs::chownat(
            directory,
            name,
            Some(Uid::from_raw(id)),
            Some(Gid::from_raw(id)),
            AtFlags::SYMLINK_NOFOLLOW,
        )?;
        if entry.file_type() == rustix::fs::FileType::Directory {
            subdirectories.push(name.to_owned());
        }
    }
    for name in subdirectories {
        // Opened without following symlinks: a directory swapped for a link is skipped.
        if let Ok(subdirectory) = open_directory(directory, name.as_c_str()) {
            hand_over(&subdirectory, id)?;
        }
    }
    Ok(())
}

fn open_directory(base: impl AsFd, path: impl rustix::path::Arg) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat(
        base,
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn hand_over_changes_owners_below_but_not_through_symlinks() {
        if !rustix::process::geteuid().is_root() {
            return;
        }
        let home = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(home.path().join("a/b")).unwrap();
        std::fs::write(home.path().join("a/b/file"), "x").unwrap();
        std::os::unix::fs::symlink(outside.path(), home.path().join("a/link")).unwrap();

        ensure_owned(home.path(), SANDBOX_HOST_ID).unwrap();
        for path in ["", "a", "a/b", "a/b/file"] {
            let metadata = std::fs::metadata(home.path().join(path)).unwrap();
            assert_eq!((metadata.uid(), metadata.gid()), (65520, 65520), "{path}");
        }
        let link = std::fs::symlink_metadata(home.path().join("a/link")).unwrap();
        assert_eq!(link.uid(), 65520);
        assert_eq!(std::fs::metadata(outside.path()).unwrap().uid(), 0);
    }
}
