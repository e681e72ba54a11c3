//! Paths as a sandbox sees them, and the host-side file access behind `upload` and `download`.
//!
//! A sandbox path is what a command inside would use: `/home/daytona/...` (or `~/...`, or a
//! relative path, both under the home) and `/tmp/...`. Host-side reads and writes stay inside the
//! sandbox's own directories: every component is opened with `O_NOFOLLOW` relative to its parent,
//! so neither `..` nor a symlink planted by a command can lead a write out of the sandbox.

use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{Mode, OFlags};

/// The home directory every sandbox sees, the same path as on Daytona.
pub const SANDBOX_HOME: &str = "/home/daytona";

/// Where a sandbox path lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Location {
    /// Under the sandbox home; the path is relative to it and free of `.` and `..`.
    Home(PathBuf),
    /// Under the sandbox's private `/tmp`; relative to it.
    Tmp(PathBuf),
    /// Anywhere else (normalized, absolute): the host's read-only file system.
    Elsewhere(PathBuf),
}

/// Classifies a sandbox path. Relative paths and `~` are under the home; `..` is resolved
/// lexically, so `../../etc` names `/etc`, not a place inside the home.
pub(crate) fn locate(path: &str) -> Location {
    let normalized = normalize(path);
    if let Ok(rest) = normalized.strip_prefix(SANDBOX_HOME) {
        Location::Home(rest.to_path_buf())
    } else if let Ok(rest) = normalized.strip_prefix("/tmp") {
        Location::Tmp(rest.to_path_buf())
    } else {
        Location::Elsewhere(normalized)
    }
}

/// Whether a sandbox path names its place without a base: absolute, or under the home (`~`).
pub(crate) fn is_anchored(path: &str) -> bool {
    path.starts_with('/') || path == "~" || path.starts_with("~/")
}

/// A sandbox path made absolute (relative to the home) and free of `.` and `..`.
pub(crate) fn normalize(path: &str) -> PathBuf {
    let absolute = if path == "~" {
        PathBuf::from(SANDBOX_HOME)
    } else if let Some(rest) = path.strip_prefix("~/") {
        Path::new(SANDBOX_HOME).join(rest)
    } else if path.starts_with('/') {
        PathBuf::from(path)
    } else {
        Path::new(SANDBOX_HOME).join(path)
    };
    lexical(&absolute)
}

/// `path` as an absolute path without `.` and `..` (resolved lexically, never through the file
/// system) or repeated slashes.
pub(crate) fn lexical(path: &Path) -> PathBuf {
    let mut normalized = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::Normal(part) => normalized.push(part),
            Component::ParentDir => {
                normalized.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    normalized
}

/// `base/relative`, without the trailing slash `join` adds for an empty `relative`.
pub(crate) fn under(base: &Path, relative: &Path) -> PathBuf {
    if relative.as_os_str().is_empty() {
        base.to_path_buf()
    } else {
        base.join(relative)
    }
}

/// Writes `contents` to `relative` under `base`, creating parents (0755) and the file (0644),
/// all owned by `owner` when given.
pub(crate) fn write_beneath(
    base: &Path,
    relative: &Path,
    contents: &[u8],
    owner: Option<u32>,
) -> io::Result<()> {
    write_file(base, relative, contents, owner, false)
}

/// Writes `contents` to `relative` under `base` as a new file, as [`write_beneath`] does, but
/// first removes what is there (a file, a symlink, a FIFO: never opened): for files `serve`
/// writes again at a path the sandbox knows and can change, where opening a FIFO a command left
/// would wait forever. Created exclusively, so that one planted after the removal is an error,
/// not a wait.
pub(crate) fn replace_beneath(
    base: &Path,
    relative: &Path,
    contents: &[u8],
    owner: Option<u32>,
) -> io::Result<()> {
    write_file(base, relative, contents, owner, true)
}

/// [`write_beneath`], or with `replace` [`replace_beneath`].
fn write_file(
    base: &Path,
    relative: &Path,
    contents: &[u8],
    owner: Option<u32>,
    replace: bool,
) -> io::Result<()> {
    let (parent, name) = open_parent(
        base,
        relative,
        owner.map(Create::Owned).unwrap_or(Create::Yes),
    )?;
    // Non-blocking, so that a FIFO left at the path is an error (no reader) or refused below,
    // never a wait; it changes nothing for a regular file.
    let mut flags =
        OFlags::WRONLY | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
    if replace {
        match rustix::fs::unlinkat(&parent, name, rustix::fs::AtFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => {}
            Err(error) => return Err(error.into()),
        }
        flags |= OFlags::EXCL;
    } else {
        flags |= OFlags::TRUNC;
    }
    let file = rustix::fs::openat(&parent, name, flags, Mode::from_raw_mode(0o644))?;
    let mut file = std::fs::File::from(file);
    regular(&file)?;
    if let Some(id) = owner {
        super::user::give(&file, id)?;
    }
    file.write_all(contents)
}

/// Reads the file `relative` under `base`. Opened non-blocking: a FIFO a sandbox left there is
/// refused at once instead of holding the read until something writes to it.
pub(crate) fn read_beneath(base: &Path, relative: &Path) -> io::Result<Vec<u8>> {
    let (parent, name) = open_parent(base, relative, Create::No)?;
    let file = rustix::fs::openat(
        &parent,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK,
        Mode::empty(),
    )?;
    let mut file = std::fs::File::from(file);
    regular(&file)?;
    let mut contents = Vec::new();
    file.read_to_end(&mut contents)?;
    Ok(contents)
}

/// Refuses what is open unless it is a regular file: a directory, or a FIFO or device whose
/// reads and writes would wait on something else.
fn regular(file: &std::fs::File) -> io::Result<()> {
    let kind = file.metadata()?.file_type();
    if kind.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::IsADirectory,
            "is a directory",
        ));
    }
    if !kind.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok(())
}

/// Whether `open_parent` creates missing directories, and for whom.
#[derive(Debug, Clone, Copy)]
enum Create {
    No,
    Yes,
    /// Created and given to this host id.
    Owned(u32),
}

/// Opens the existing entry `relative` under `base` with `flags` (plus `O_NOFOLLOW` and
/// `O_CLOEXEC`), walking without following symlinks: for appends and FIFOs.
pub(crate) fn open_beneath(base: &Path, relative: &Path, flags: OFlags) -> io::Result<OwnedFd> {
    let (parent, name) = open_parent(base, relative, Create::No)?;
    Ok(rustix::fs::openat(
        &parent,
        name,
        flags | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Opens the directory that holds `relative` (walking without following symlinks) and returns
/// it with the file name.
fn open_parent<'a>(
    base: &Path,
    relative: &'a Path,
    create: Create,
) -> io::Result<(OwnedFd, &'a std::ffi::OsStr)> {
    let directory_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for component in relative.components() {
        match component {
            Component::Normal(part) => parts.push(part),
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "path is not normalized",
                ));
            }
        }
    }
    let Some(name) = parts.pop() else {
        return Err(io::Error::new(
            io::ErrorKind::IsADirectory,
            "is a directory",
        ));
    };
    let mut directory = rustix::fs::openat(rustix::fs::CWD, base, directory_flags, Mode::empty())?;
    for part in parts {
        let mut created = false;
        if !matches!(create, Create::No) {
            match rustix::fs::mkdirat(&directory, part, Mode::from_raw_mode(0o755)) {
                Ok(()) => created = true,
                Err(rustix::io::Errno::EXIST) => {}
                Err(error) => return Err(error.into()),
            }
        }
        directory = rustix::fs::openat(&directory, part, directory_flags, Mode::empty())?;
        // Through the open descriptor: a directory swapped in meanwhile is not what changes. One
        // this process's user made but never handed over (the process was killed in between)
        // is handed over now, or the sandbox's user could not write in it ever after.
        if let Create::Owned(id) = create {
            let owner = rustix::fs::fstat(&directory)?.st_uid;
            let left_behind = owner == rustix::process::geteuid().as_raw() && owner != id;
            if created || left_behind {
                super::user::give(&directory, id)?;
            }
        }
    }
    Ok((directory, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_absolute_and_home_paths_are_anchored() {
        for path in ["/", "/opt/app", "~", "~/src"] {
            assert!(is_anchored(path), "{path}");
        }
        for path in ["src", "./src", "../etc", "~user", ""] {
            assert!(!is_anchored(path), "{path}");
        }
    }

    #[track_caller]
    fn case(path: &str, expected: Location) {
        assert_eq!(locate(path), expected, "locate({path:?})");
    }

    #[test]
    fn sandbox_paths_are_classified() {
        case("", Location::Home(PathBuf::new()));
        case("app/x", Location::Home("app/x".into()));
        case("~", Location::Home(PathBuf::new()));
        case("~/app/./x", Location::Home("app/x".into()));
        case("/home/daytona/app", Location::Home("app".into()));
        case("/home/daytona/../daytona/a", Location::Home("a".into()));
        case("/tmp/setup.sh", Location::Tmp("setup.sh".into()));
        case(
            "../../etc/passwd",
            Location::Elsewhere("/etc/passwd".into()),
        );
        case(
            "/home/daytonax",
            Location::Elsewhere("/home/daytonax".into()),
        );
        case("/usr/bin", Location::Elsewhere("/usr/bin".into()));
    }

    #[test]
    fn a_fifo_is_refused_at_once_not_waited_on() {
        let base = tempfile::tempdir().unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            base.path().join("pipe"),
            rustix::fs::FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        // Each of these would block forever on the FIFO were it opened blocking.
        assert!(read_beneath(base.path(), Path::new("pipe")).is_err());
        assert!(write_beneath(base.path(), Path::new("pipe"), b"x", None).is_err());
        // With a reader there, the open succeeds and the FIFO is still refused, nothing written.
        let reader = std::fs::File::from(
            rustix::fs::open(
                base.path().join("pipe"),
                OFlags::RDONLY | OFlags::NONBLOCK,
                Mode::empty(),
            )
            .unwrap(),
        );
        let error = write_beneath(base.path(), Path::new("pipe"), b"x", None).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "{error}");
        drop(reader);
        replace_beneath(base.path(), Path::new("pipe"), b"x", None).unwrap();
        assert_eq!(read_beneath(base.path(), Path::new("pipe")).unwrap(), b"x");
    }

    #[test]
    fn writes_do_not_follow_symlinks_out_of_the_base() {
        let base = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), base.path().join("link")).unwrap();
        assert!(write_beneath(base.path(), Path::new("link/file"), b"x", None).is_err());
        assert!(!outside.path().join("file").exists());

        std::os::unix::fs::symlink(outside.path().join("target"), base.path().join("file-link"))
            .unwrap();
        assert!(write_beneath(base.path(), Path::new("file-link"), b"x", None).is_err());
        assert!(!outside.path().join("target").exists());
    }

    #[test]
    fn writes_create_parents_and_read_back() {
        let base = tempfile::tempdir().unwrap();
        write_beneath(base.path(), Path::new("a/b/c.bin"), &[0, 255, 10], None).unwrap();
        assert_eq!(
            read_beneath(base.path(), Path::new("a/b/c.bin")).unwrap(),
            vec![0, 255, 10]
        );
        let error = read_beneath(base.path(), Path::new("a/b")).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::IsADirectory);
        let error = read_beneath(base.path(), Path::new("a/missing")).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
    }
}
