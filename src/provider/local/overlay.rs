//! A snapshot layer in a command's own mount namespace: kernel overlayfs mounts over the host's
//! system directories (`/usr`, `/etc`, ...), made between fork and exec, before bubblewrap
//! starts. Bubblewrap's recursive `--ro-bind / /` then shows them like any other host mount.
//!
//! Why kernel overlayfs, mounted by us: bubblewrap 0.8 has no `--overlay`, and bubblewrap cannot
//! be asked to run anything between building the sandbox and starting the command. The
//! alternatives cost more: `fuse-overlayfs` is one more program to install and a daemon per
//! command, and a writable copy of what a build may touch is a copy of most of `/usr`. Overlayfs
//! needs no copy and no daemon: as root it is mounted in the private namespace `stage` already
//! makes; as an ordinary user in a user namespace that maps that user to itself (unprivileged
//! overlayfs, Linux 5.11), so bubblewrap starts exactly as it would without a layer. Every mount
//! uses `userxattr`, so a layer's whiteouts and opaque directories read the same either way.
//!
//! Nothing here allocates after the fork: paths and options are prepared before. This file
//! mounts; which directories a layer covers is `layer`'s business.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use std::os::fd::{AsFd as _, OwnedFd};

use rustix::fs::{CWD, Mode, OFlags};
use rustix::mount::{MountFlags, MountPropagationFlags, MoveMountFlags, OpenTreeFlags};
use rustix::thread::UnshareFlags;

/// One overlayfs mount at a host directory.
#[derive(Debug, Clone)]
pub(crate) struct Overlay {
    target: CString,
    options: CString,
    /// Mounts the host has below the target (a container's `/etc/resolv.conf`), which overlayfs
    /// does not show: they are mounted again on top of it.
    submounts: Vec<CString>,
}

/// The most submounts carried over per overlay: the child has no allocator to count on.
const MAX_SUBMOUNTS: usize = 32;

impl Overlay {
    /// The layer's `upper` over the host's `target`, read-only: what sandboxes see.
    pub(crate) fn read_only(target: &Path, upper: &Path) -> io::Result<Overlay> {
        Overlay::new(
            target,
            format!(
                "lowerdir={}:{},userxattr",
                option_path(upper)?,
                option_path(target)?
            ),
        )
    }

    /// The host's `target` with writes going to `upper`: what a build sees.
    pub(crate) fn writable(target: &Path, upper: &Path, work: &Path) -> io::Result<Overlay> {
        Overlay::new(
            target,
            format!(
                "lowerdir={},upperdir={},workdir={},userxattr",
                option_path(target)?,
                option_path(upper)?,
                option_path(work)?
            ),
        )
    }

    fn new(target: &Path, options: String) -> io::Result<Overlay> {
        let invalid = |error| io::Error::new(io::ErrorKind::InvalidInput, error);
        let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let submounts = submounts(&table, target)
            .into_iter()
            .take(MAX_SUBMOUNTS)
            .filter_map(|path| CString::new(path).ok())
            .collect();
        Ok(Overlay {
            target: CString::new(target.as_os_str().as_bytes()).map_err(invalid)?,
            options: CString::new(options).map_err(invalid)?,
            submounts,
        })
    }
}

/// The outermost mount points strictly below `target` in a `mountinfo` table (paths with
/// escaped characters are left out).
fn submounts(table: &str, target: &Path) -> Vec<String> {
    let mut points: Vec<&str> = table
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .filter(|point| !point.contains('\\'))
        .filter(|point| {
            let point = Path::new(point);
            point != target && point.starts_with(target)
        })
        .collect();
    points.sort();
    points.dedup();
    let mut outermost: Vec<String> = Vec::new();
    for point in points {
        if !outermost
            .iter()
            .any(|outer| Path::new(point).starts_with(outer))
        {
            outermost.push(point.to_string());
        }
    }
    outermost
}

/// A path as an overlayfs option value, which separates options with `,` and layers with `:`.
fn option_path(path: &Path) -> io::Result<String> {
    let text = path.to_str().unwrap_or_default();
    if text.is_empty() || text.contains([',', ':', '\\']) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "`{}` cannot hold a snapshot layer: its path must be UTF-8 without `,`, `:` or `\\`",
                path.display()
            ),
        ));
    }
    Ok(text.to_string())
}

/// Mounts every overlay, and the host's mounts below it again on top. Runs in the child, in a
/// mount namespace of its own.
pub(crate) fn mount_all(overlays: &[Overlay]) -> io::Result<()> {
    for overlay in overlays {
        // Copies of what is mounted below, taken before the overlay covers it. A mount that
        // cannot be copied or put back is left out: the overlay shows what lies beneath it.
        let mut copies: [Option<OwnedFd>; MAX_SUBMOUNTS] = [const { None }; MAX_SUBMOUNTS];
        for (copy, point) in copies.iter_mut().zip(&overlay.submounts) {
            *copy = rustix::mount::open_tree(
                CWD,
                point.as_c_str(),
                OpenTreeFlags::OPEN_TREE_CLONE
                    | OpenTreeFlags::OPEN_TREE_CLOEXEC
                    | OpenTreeFlags::AT_RECURSIVE,
            )
            .ok();
        }
        rustix::mount::mount(
            c"overlay",
            overlay.target.as_c_str(),
            c"overlay",
            MountFlags::NOSUID | MountFlags::NODEV,
            overlay.options.as_c_str(),
        )
        .map_err(|error| {
            io::Error::new(
                io::Error::from(error).kind(),
                "cannot mount a snapshot layer (overlayfs)",
            )
        })?;
        for (copy, point) in copies.iter_mut().zip(&overlay.submounts) {
            if let Some(copy) = copy.take() {
                let _ = rustix::mount::move_mount(
                    copy.as_fd(),
                    c"",
                    CWD,
                    point.as_c_str(),
                    MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
                );
            }
        }
    }
    Ok(())
}

/// For a command started by an ordinary user: a user namespace mapping that user to itself,
/// a mount namespace with the overlays mounted, then the program (bubblewrap), which loses the
/// namespace's capabilities at exec since it is not uid 0 there.
pub(crate) fn in_own_namespace(command: &mut Command, overlays: Vec<Overlay>) {
    let uid = rustix::process::geteuid().as_raw();
    let gid = rustix::process::getegid().as_raw();
    let uid_map = format!("{uid} {uid} 1");
    let gid_map = format!("{gid} {gid} 1");
    // SAFETY: the closure runs between fork and exec and makes system calls only, on memory
    // prepared before the fork; it allocates nothing and takes no lock.
    unsafe {
        command.pre_exec(move || {
            rustix::thread::unshare_unsafe(UnshareFlags::NEWUSER | UnshareFlags::NEWNS)?;
            write_proc(c"/proc/self/setgroups", b"deny")?;
            write_proc(c"/proc/self/uid_map", uid_map.as_bytes())?;
            write_proc(c"/proc/self/gid_map", gid_map.as_bytes())?;
            rustix::mount::mount_change(
                c"/",
                MountPropagationFlags::REC | MountPropagationFlags::PRIVATE,
            )?;
            mount_all(&overlays)
        });
    }
}

fn write_proc(path: &std::ffi::CStr, contents: &[u8]) -> io::Result<()> {
    let file = rustix::fs::open(path, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())?;
    rustix::io::write(&file, contents)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_name_the_layer_above_the_host() {
        let overlay = Overlay::read_only(Path::new("/usr"), Path::new("/srv/rt/l/upper/usr"))
            .expect("overlay");
        assert_eq!(
            overlay.options.to_str().unwrap(),
            "lowerdir=/srv/rt/l/upper/usr:/usr,userxattr"
        );
        let build = Overlay::writable(Path::new("/etc"), Path::new("/u/etc"), Path::new("/w/etc"))
            .expect("overlay");
        assert_eq!(
            build.options.to_str().unwrap(),
            "lowerdir=/etc,upperdir=/u/etc,workdir=/w/etc,userxattr"
        );
    }

    #[test]
    fn mounts_below_a_covered_directory_are_carried_over_outermost_first() {
        let table = "\
22 1 0:21 / /proc rw - proc proc rw
30 1 8:1 /x /etc/resolv.conf rw - ext4 /dev/a rw
31 1 8:1 /y /etc/hosts rw - ext4 /dev/a rw
32 1 0:40 / /etc/ssl rw - tmpfs tmpfs rw
33 32 0:41 / /etc/ssl/private rw - tmpfs tmpfs rw
34 1 0:42 / /etcetera rw - tmpfs tmpfs rw
35 1 0:43 / /etc rw - tmpfs tmpfs rw
36 1 0:44 / /etc/with\\040space rw - tmpfs tmpfs rw
";
        assert_eq!(
            submounts(table, Path::new("/etc")),
            ["/etc/hosts", "/etc/resolv.conf", "/etc/ssl"]
        );
        assert!(submounts(table, Path::new("/usr")).is_empty());
    }

    #[test]
    fn paths_that_would_split_the_options_are_refused() {
        assert!(Overlay::read_only(Path::new("/usr"), Path::new("/a:b/upper")).is_err());
        assert!(Overlay::read_only(Path::new("/usr"), Path::new("/a,b/upper")).is_err());
    }
}
