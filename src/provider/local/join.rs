//! A command of a started sandbox, joining the namespaces its init holds (see `init`): so that
//! every command of the sandbox sees, and may signal, what the others left running.
//!
//! The child, between fork and exec, becomes the sandbox's host id (as root), enters the user
//! namespace that owns the sandbox's namespaces (where that id holds every capability), then
//! its ipc, uts, mount and pid namespaces (and its network, when it has one of its own), then the sandbox's own user namespace (nested below
//! the owner when bubblewrap disables further ones), drops every capability from its bounding
//! set and forbids new privileges, and changes to the sandbox's root and working directory.
//! It execs a plain shell that runs the program as its child, since entering a pid namespace
//! places only a process's children in it. What the command ends up with is what bubblewrap
//! gives a command of its own: the sandbox's user (uid 0 of its user namespace for a root
//! sandbox, which the init was made with), no capability, no way to gain one.
//!
//! Every descriptor is opened before the fork, close-on-exec; nothing reaches the program
//! but its stdio. This file enters namespaces; it does not make them or decide who runs.

use std::ffi::{CString, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use rustix::fs::{CWD, Mode, OFlags};
use rustix::thread::LinkNameSpaceType;

/// Runs the program given after it as its child, in the pid namespace this process entered,
/// and exits as the program did (a signal as 128 + its number).
const ENTER: &str = "\"$@\"; exit $?";

/// `ioctl(NS_GET_USERNS)`: the user namespace that owns a namespace.
const NS_GET_USERNS: libc::c_ulong = 0xb701;

/// The highest capability number any kernel has yet; dropping an unknown one fails harmlessly.
const LAST_CAPABILITY: libc::c_ulong = 63;

/// The namespaces of a sandbox's init, opened, and where in them a command starts.
pub(super) struct Entry {
    /// The user namespace that owns the others.
    owner: OwnedFd,
    /// Entered in this order once inside the owner (the network only when the sandbox has
    /// one of its own).
    namespaces: Vec<(OwnedFd, LinkNameSpaceType)>,
    /// The init's own user namespace, when nested below the owner.
    nested: Option<OwnedFd>,
    root: OwnedFd,
    cwd: CString,
}

impl Entry {
    /// The namespaces of process `pid` (a sandbox's init), for a command started in `cwd`.
    pub(super) fn open(pid: u32, cwd: &Path) -> io::Result<Entry> {
        Self::open_namespaces(pid, cwd).map_err(|error| {
            io::Error::new(
                error.kind(),
                format!("cannot join the sandbox's init (pid {pid}): {error}"),
            )
        })
    }

    fn open_namespaces(pid: u32, cwd: &Path) -> io::Result<Entry> {
        let proc = Path::new("/proc").join(pid.to_string());
        let open = |name: &str| -> io::Result<OwnedFd> {
            let path = proc.join("ns").join(name);
            Ok(rustix::fs::open(
                &path,
                OFlags::RDONLY | OFlags::CLOEXEC,
                Mode::empty(),
            )?)
        };
        let user = open("user")?;
        let mount = open("mnt")?;
        let owner = owner_of(&mount)?;
        let nested = if same_namespace(&user, &owner)? {
            None
        } else {
            Some(user)
        };
        let mut namespaces = vec![
            (open("ipc")?, LinkNameSpaceType::InterProcessCommunication),
            (open("uts")?, LinkNameSpaceType::HostNameAndNISDomainName),
            (mount, LinkNameSpaceType::Mount),
            (open("pid")?, LinkNameSpaceType::ProcessID),
        ];
        let network = open("net")?;
        let own = rustix::fs::open(
            "/proc/self/ns/net",
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        if !same_namespace(&network, &own)? {
            namespaces.push((network, LinkNameSpaceType::Network));
        }
        let root = rustix::fs::openat(
            CWD,
            proc.join("root"),
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let cwd = CString::new(cwd.as_os_str().as_bytes())
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))?;
        Ok(Entry {
            owner,
            namespaces,
            nested,
            root,
            cwd,
        })
    }

    /// Makes `command` (the command shell, with no arguments yet) run `program` in these
    /// namespaces, first becoming host id `user` when given (as root). `new_session` detaches
    /// it from any terminal. Apply this last: once it has run, the child sees only the
    /// sandbox's files.
    pub(super) fn apply(
        self,
        command: &mut Command,
        program: &[OsString],
        user: Option<u32>,
        new_session: bool,
    ) {
        command.args(["-c", ENTER, "sandbox"]).args(program);
        // SAFETY: the closure runs between fork and exec and makes system calls only, on
        // descriptors and strings prepared before the fork; it allocates nothing.
        unsafe {
            command.pre_exec(move || self.enter(user, new_session));
        }
    }

    fn enter(&self, user: Option<u32>, new_session: bool) -> io::Result<()> {
        if new_session {
            detach_from_terminal();
        }
        if let Some(id) = user {
            super::stage::become_user(id)?;
        }
        rustix::thread::move_into_link_name_space(
            self.owner.as_fd(),
            Some(LinkNameSpaceType::User),
        )?;
        for (namespace, kind) in &self.namespaces {
            rustix::thread::move_into_link_name_space(namespace.as_fd(), Some(*kind))?;
        }
        if let Some(nested) = &self.nested {
            rustix::thread::move_into_link_name_space(
                nested.as_fd(),
                Some(LinkNameSpaceType::User),
            )?;
        }
        // Entering a user namespace grants every capability in it until exec, which clears
        // them for the sandbox user; the bounding set is emptied so none can come back.
        for capability in 0..=LAST_CAPABILITY {
            // SAFETY: prctl with integer arguments only.
            unsafe { libc::prctl(libc::PR_CAPBSET_DROP, capability, 0, 0, 0) };
        }
        rustix::thread::set_no_new_privs(true)?;
        rustix::process::fchdir(self.root.as_fd())?;
        rustix::process::chroot(c".")?;
        rustix::process::chdir(self.cwd.as_c_str())?;
        Ok(())
    }
}

/// The user namespace that owns `namespace` (an open namespace descriptor).
pub(super) fn owner_of(namespace: &OwnedFd) -> io::Result<OwnedFd> {
    // SAFETY: a plain ioctl on an open namespace descriptor; it returns a new descriptor
    // (close-on-exec) that we own, or -1.
    let owner = unsafe { libc::ioctl(namespace.as_raw_fd(), NS_GET_USERNS) };
    if owner < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just gave us this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(owner) })
}

/// Whether two namespace descriptors name the same namespace.
fn same_namespace(left: &OwnedFd, right: &OwnedFd) -> io::Result<bool> {
    let (left, right) = (rustix::fs::fstat(left)?, rustix::fs::fstat(right)?);
    Ok((left.st_dev, left.st_ino) == (right.st_dev, right.st_ino))
}

/// Leaves the controlling terminal, so that nothing in the sandbox can push input into it: a
/// new session where this process is not a group leader, otherwise (its caller made it one)
/// by letting go of the terminal.
fn detach_from_terminal() {
    if rustix::process::setsid().is_ok() {
        return;
    }
    if let Ok(terminal) = rustix::fs::open(
        c"/dev/tty",
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        // SAFETY: a plain ioctl on a descriptor we own.
        unsafe { libc::ioctl(terminal.as_raw_fd(), libc::TIOCNOTTY) };
    }
}
