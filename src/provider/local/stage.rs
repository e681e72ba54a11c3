//! Starting bubblewrap from root without giving the sandbox anything of root.
//!
//! Bubblewrap run as an unprivileged user opens its bind sources with that user's permissions,
//! and the state root is often below root's own 0700 home. So the child, between fork and exec
//! and still root, enters a private mount namespace, mounts a tmpfs at [`STAGE`] and attaches
//! there the sandbox's directories, which the parent cloned as detached mounts; read-only paths
//! are idmapped so that root's files in them belong to the sandbox user (readable even when
//! only root may read them, and owned by the reader as git's `safe.directory` check wants).
//! Then it drops to the sandbox's host id (no supplementary groups, no new privileges) and
//! execs bubblewrap, which builds the sandbox as for any unprivileged user, reading its sources
//! from [`STAGE`]. The namespace is private: the host's mount table never changes, and the
//! staged mounts end with the command. This file only stages; it decides no layout.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use rustix::fs::{CWD, Gid, Mode, OFlags, Uid};
use rustix::mount::{MountFlags, MountPropagationFlags, MoveMountFlags, OpenTreeFlags};
use rustix::thread::UnshareFlags;

use super::overlay::Overlay;

/// Where the staged directories appear in the private namespace. Every sandbox mounts its own
/// `/tmp` over it, so nothing staged shows inside.
pub(crate) const STAGE: &str = "/tmp";
const STAGE_C: &CStr = c"/tmp";

/// A host directory (or file) to stage as `STAGE/name`.
#[derive(Debug, Clone)]
pub(crate) struct Staged {
    pub name: String,
    pub path: PathBuf,
    /// A read-only path: staged with its submounts, read-only and idmapped where the file
    /// system allows it.
    pub read_only: bool,
}

/// What a command stages before bubblewrap starts.
#[derive(Debug, Clone, Default)]
pub(crate) struct Staging {
    pub staged: Vec<Staged>,
    /// Host paths, or paths below a staged read-only path, to cover with an empty tmpfs.
    pub hides: Vec<PathBuf>,
    /// Paths to make inside those tmpfs (parents first): where bubblewrap binds something
    /// into a hidden path.
    pub mount_points: Vec<MountPoint>,
}

/// A directory or file to make so that bubblewrap can bind onto it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MountPoint {
    pub path: PathBuf,
    pub is_directory: bool,
}

/// Where `name` is staged.
pub(crate) fn staged_path(name: &str) -> PathBuf {
    Path::new(STAGE).join(name)
}

/// `program args`, started with `staging`'s paths in place and its hides made (with their
/// mount points), `overlays` mounted, and as `id`. Fails when a staged path cannot be opened.
pub(crate) fn command(
    mut command: Command,
    staging: &Staging,
    overlays: Vec<Overlay>,
    id: u32,
) -> io::Result<Command> {
    let trees = staging
        .staged
        .iter()
        .map(clone_tree)
        .collect::<io::Result<Vec<_>>>()?;
    let hides = staging
        .hides
        .iter()
        .map(|path| c_path(path))
        .collect::<io::Result<Vec<_>>>()?;
    let points = staging
        .mount_points
        .iter()
        .map(|point| Ok((c_path(&point.path)?, point.is_directory)))
        .collect::<io::Result<Vec<_>>>()?;
    // SAFETY: the closure runs between fork and exec. It makes system calls only, on memory
    // prepared before the fork (paths, descriptors); it allocates nothing and takes no lock.
    unsafe {
        command.pre_exec(move || enter(&trees, &overlays, &hides, &points, id));
    }
    Ok(command)
}

/// The options of a hiding tmpfs: bubblewrap, running as the sandbox's user, must be able to
/// make the mount point of a read-only path shown inside it (`/root/app` in a hidden `/root`).
/// It is empty, and private to one command.
const HIDE_OPTIONS: &CStr = c"mode=1777";

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))
}

/// A detached copy of a staged path and where it goes.
struct Tree {
    mount: OwnedFd,
    target: CString,
    is_directory: bool,
}

fn clone_tree(staged: &Staged) -> io::Result<Tree> {
    let context = |error: io::Error| {
        io::Error::new(
            error.kind(),
            format!("cannot stage `{}`: {error}", staged.path.display()),
        )
    };
    let mut flags = OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC;
    if staged.read_only {
        flags |= OpenTreeFlags::AT_RECURSIVE;
    }
    let mount = rustix::mount::open_tree(CWD, &staged.path, flags)
        .map_err(|error| context(error.into()))?;
    if staged.read_only {
        // Where the file system cannot idmap, root's files stay root's: readable when everyone
        // may read them, as for any other host file.
        let _ = idmap(&mount);
    }
    let is_directory = rustix::fs::fstat(&mount)
        .map_err(|error| context(error.into()))?
        .st_mode
        & libc::S_IFMT
        == libc::S_IFDIR;
    let target = c_path(&staged_path(&staged.name)).map_err(context)?;
    Ok(Tree {
        mount,
        target,
        is_directory,
    })
}

/// In the child: the private namespace with the trees in place, a snapshot layer's overlays
/// mounted and the hides made (on top of the overlays), then the switch to `id`.
fn enter(
    trees: &[Tree],
    overlays: &[Overlay],
    hides: &[CString],
    points: &[(CString, bool)],
    id: u32,
) -> io::Result<()> {
    // SAFETY: a new mount namespace does not change which descriptors this process has.
    unsafe { rustix::thread::unshare_unsafe(UnshareFlags::NEWNS)? };
    rustix::mount::mount_change(
        c"/",
        MountPropagationFlags::REC | MountPropagationFlags::PRIVATE,
    )?;
    // Before the stage covers `/tmp`, where the state root (and so the layer) may be.
    super::overlay::mount_all(overlays)?;
    rustix::mount::mount(
        c"tmpfs",
        STAGE_C,
        c"tmpfs",
        MountFlags::NOSUID | MountFlags::NODEV,
        c"mode=0755",
    )?;
    for tree in trees {
        if tree.is_directory {
            rustix::fs::mkdir(tree.target.as_c_str(), Mode::from_raw_mode(0o755))?;
        } else {
            drop(rustix::fs::open(
                tree.target.as_c_str(),
                OFlags::WRONLY | OFlags::CREATE | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o644),
            )?);
        }
        rustix::mount::move_mount(
            tree.mount.as_fd(),
            c"",
            CWD,
            tree.target.as_c_str(),
            MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
        )?;
    }
    for hide in hides {
        rustix::mount::mount(
            c"tmpfs",
            hide.as_c_str(),
            c"tmpfs",
            MountFlags::NOSUID | MountFlags::NODEV,
            HIDE_OPTIONS,
        )?;
    }
    // Inside the fresh tmpfs only: every point is below a hide just made.
    for (point, is_directory) in points {
        if *is_directory {
            match rustix::fs::mkdir(point.as_c_str(), Mode::from_raw_mode(0o755)) {
                Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                Err(error) => return Err(error.into()),
            }
        } else {
            drop(rustix::fs::open(
                point.as_c_str(),
                OFlags::WRONLY | OFlags::CREATE | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o644),
            )?);
        }
    }
    become_user(id)
}

/// In a child of root, between fork and exec: becomes host id `id` for good, with no
/// supplementary group and no new privileges. Leaving uid 0 clears every capability; groups
/// go first, while still allowed.
pub(crate) fn become_user(id: u32) -> io::Result<()> {
    rustix::thread::set_thread_groups(&[])?;
    let (uid, gid) = (Uid::from_raw(id), Gid::from_raw(id));
    rustix::thread::set_thread_res_gid(gid, gid, gid)?;
    rustix::thread::set_thread_res_uid(uid, uid, uid)?;
    rustix::thread::set_no_new_privs(true)?;
    Ok(())
}

/// `struct mount_attr` of `mount_setattr(2)`.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

const MOUNT_ATTR_RDONLY: u64 = 0x0000_0001;
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

/// Makes the detached tree `mount` read-only and shows its root-owned files as owned by the
/// sandbox's host id.
fn idmap(mount: &OwnedFd) -> io::Result<()> {
    let namespace =
        idmap_namespace().ok_or_else(|| io::Error::other("no user namespace to idmap with"))?;
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY | MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: u64::try_from(namespace.as_raw_fd()).map_err(io::Error::other)?,
    };
    // SAFETY: the path is a valid C string and `attr` lives across the call, with its size.
    let result = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            mount.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH | libc::AT_RECURSIVE,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A user namespace whose uid and gid 0 are the sandbox's host id: as a mount's idmap, it
/// shows files owned by root as owned by that id. Made once per process.
fn idmap_namespace() -> Option<&'static OwnedFd> {
    static NAMESPACE: OnceLock<Option<OwnedFd>> = OnceLock::new();
    NAMESPACE
        .get_or_init(|| make_idmap_namespace(super::user::SANDBOX_HOST_ID).ok())
        .as_ref()
}

fn make_idmap_namespace(id: u32) -> io::Result<OwnedFd> {
    // A namespace lives while a process is in it or a descriptor names it: a short-lived
    // child enters a new one, the parent writes its mapping and keeps a descriptor.
    let mut holder = Command::new(super::process_env::COMMAND_SHELL);
    holder
        .args(["-c", "read -r _"])
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: only the `unshare` system call runs between fork and exec.
    unsafe {
        holder.pre_exec(|| Ok(rustix::thread::unshare_unsafe(UnshareFlags::NEWUSER)?));
    }
    let mut child = holder.spawn()?;
    let proc = PathBuf::from(format!("/proc/{}", child.id()));
    let result = (|| {
        std::fs::write(proc.join("uid_map"), format!("0 {id} 1"))?;
        std::fs::write(proc.join("setgroups"), "deny")?;
        std::fs::write(proc.join("gid_map"), format!("0 {id} 1"))?;
        Ok(OwnedFd::from(std::fs::File::open(proc.join("ns/user"))?))
    })();
    let _ = child.kill();
    let _ = child.wait();
    result
}
