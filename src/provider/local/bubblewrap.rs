//! The `bwrap` program: found and tried once per process, and the arguments that make one
//! sandbox out of a mount plan.
//!
//! Every sandbox gets a user namespace in which its commands are [`INSIDE_ID`] with no
//! capability, no way to gain one (no new privileges), and, where bubblewrap supports it
//! (0.8 and later), no further user namespace; and its own pid, ipc and uts namespaces. The
//! network is shared. A started sandbox's namespaces are made once, by its init (see `init`),
//! and its commands join them (see `join`); an image build step gets namespaces of its own.
//! This file renders arguments; it starts nothing but the probe.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use super::mounts::{Mount, Source};
use super::stage::{self, Staged, Staging};
use super::user::{HostUser, INSIDE_ID};

/// A working `bwrap` and what it supports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bubblewrap {
    program: PathBuf,
    /// `--disable-userns` (bubblewrap 0.8): commands cannot make user namespaces of their own,
    /// which is kernel surface a sandbox has no use for.
    disable_userns: bool,
}

/// Who a command is inside, and whether it shares the host's network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Inside {
    /// The uid and gid inside: the sandbox's user (uid 1000, or 0 for a root sandbox), or a
    /// build step's.
    pub id: u32,
    /// Sandboxes share the host's network; image builds have none, so that a build is the
    /// same offline or not and never reaches beyond this machine.
    pub network: bool,
}

/// A sandbox's command: the sandbox user, on the host's network. The launcher gives it the
/// id of the sandbox's own user (`daytona`'s, or 0 for a root sandbox).
pub(crate) const SANDBOX: Inside = Inside {
    id: INSIDE_ID,
    network: true,
};

/// What a bubblewrap process is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// One command that ends with the process that started it (an image build step, the
    /// probe). `new_session` detaches it from any terminal.
    Command { new_session: bool },
    /// A sandbox's init: it outlives whoever started it and runs as the first process of its
    /// pid namespace. (Not `--info-fd`: bubblewrap writes it before it lets its child go on, so
    /// a reader that died would leave that child waiting forever.)
    Init,
}

impl Inside {
    /// A step of an image build, as `id` (uid 0 unless the Dockerfile says `USER`).
    pub(crate) fn build_step(id: u32) -> Inside {
        Inside { id, network: false }
    }
}

/// The `bwrap` that works here for `user`, looked up and tried once per process, on first
/// need: trying it starts processes, which a command that never runs one (`plan`) should not
/// pay for.
pub(crate) fn find(user: HostUser) -> Option<&'static Bubblewrap> {
    static FOUND: OnceLock<Option<Bubblewrap>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            let program = which::which("bwrap").ok()?;
            // Installed is not enough: user namespaces may be disabled, or (as root) the
            // sandbox's host id may not be allowed to make them.
            [true, false]
                .into_iter()
                .map(|disable_userns| Bubblewrap {
                    program: program.clone(),
                    disable_userns,
                })
                .find(|candidate| candidate.works(user))
        })
        .as_ref()
}

impl Bubblewrap {
    pub(crate) fn program(&self) -> &Path {
        &self.program
    }

    /// A `bwrap` at `program` taken to work, for tests that only render arguments.
    #[cfg(test)]
    pub(crate) fn assumed(program: &str) -> Bubblewrap {
        Bubblewrap {
            program: program.into(),
            disable_userns: false,
        }
    }

    fn works(&self, user: HostUser) -> bool {
        let args = self.args(
            &[Mount::HostRoot],
            |_| PathBuf::new(),
            Path::new("/"),
            Role::Command { new_session: false },
            &["/bin/true".into()],
            SANDBOX,
        );
        let command = match user {
            HostUser::Invoker => {
                let mut command = Command::new(&self.program);
                command.args(&args);
                Ok(command)
            }
            HostUser::Dedicated(id) => {
                // Staging one directory tries the mount calls every command needs (Linux 5.2).
                let probe = Staged {
                    name: "probe".to_string(),
                    path: PathBuf::from("/"),
                    read_only: false,
                };
                let mut command = Command::new(&self.program);
                command.args(&args);
                let staging = Staging {
                    staged: vec![probe],
                    ..Staging::default()
                };
                stage::command(command, &staging, Vec::new(), id)
            }
        };
        command.is_ok_and(|mut command| {
            command
                .env_clear()
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|status| status.success())
        })
    }

    /// The arguments that run `program` in `cwd` of a sandbox made of `mounts` (hides made
    /// elsewhere left out by the caller), the host path of each bind's source given by
    /// `source`, as `inside` says (the sandbox user, or uid 0 for a build step), for `role`.
    pub(crate) fn args(
        &self,
        mounts: &[Mount],
        source: impl Fn(&Source) -> PathBuf,
        cwd: &Path,
        role: Role,
        program: &[OsString],
        inside: Inside,
    ) -> Vec<OsString> {
        let mut args: Vec<OsString> = Vec::new();
        let mut push = |parts: &[&std::ffi::OsStr]| {
            args.extend(parts.iter().map(|part| part.to_os_string()));
        };
        let inside_id = OsString::from(inside.id.to_string());
        push(&["--unshare-user".as_ref(), "--uid".as_ref(), &inside_id]);
        push(&["--gid".as_ref(), &inside_id]);
        if self.disable_userns {
            push(&["--disable-userns".as_ref()]);
        }
        push(&["--cap-drop".as_ref(), "ALL".as_ref()]);
        for mount in mounts {
            match mount {
                Mount::HostRoot => push(&["--ro-bind".as_ref(), "/".as_ref(), "/".as_ref()]),
                Mount::Replaced(path) | Mount::Hide { path, .. } => {
                    push(&["--tmpfs".as_ref(), path.as_os_str()]);
                }
                Mount::Bind {
                    source: from,
                    target,
                    writable,
                } => {
                    let flag = if *writable { "--bind" } else { "--ro-bind" };
                    push(&[flag.as_ref(), source(from).as_os_str(), target.as_os_str()]);
                }
            }
        }
        push(&["--proc".as_ref(), "/proc".as_ref()]);
        push(&["--dev".as_ref(), "/dev".as_ref()]);
        push(&[
            "--unshare-pid".as_ref(),
            "--unshare-ipc".as_ref(),
            "--unshare-uts".as_ref(),
        ]);
        if !inside.network {
            push(&["--unshare-net".as_ref()]);
        }
        match role {
            Role::Command { new_session } => {
                push(&["--die-with-parent".as_ref()]);
                if new_session {
                    push(&["--new-session".as_ref()]);
                }
            }
            Role::Init => {
                push(&["--new-session".as_ref(), "--as-pid-1".as_ref()]);
            }
        }
        push(&["--chdir".as_ref(), cwd.as_os_str(), "--".as_ref()]);
        args.extend(program.iter().cloned());
        args
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::local::mounts::Within;

    fn line(args: &[OsString]) -> String {
        args.iter()
            .map(|arg| arg.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn sandboxes_drop_every_privilege_before_any_mount() {
        let bubblewrap = Bubblewrap {
            program: "/usr/bin/bwrap".into(),
            disable_userns: true,
        };
        let mounts = [
            Mount::HostRoot,
            Mount::Bind {
                source: Source::Home,
                target: "/home/daytona".into(),
                writable: true,
            },
            Mount::Hide {
                path: "/srv/rt".into(),
                within: Within::Host,
            },
        ];
        let args = bubblewrap.args(
            &mounts,
            |source| match source {
                Source::Home => "/staged/home".into(),
                _ => PathBuf::new(),
            },
            Path::new("/home/daytona"),
            Role::Command { new_session: true },
            &["/bin/sh".into(), "-c".into(), "id".into()],
            SANDBOX,
        );
        assert_eq!(
            line(&args),
            "--unshare-user --uid 1000 --gid 1000 --disable-userns --cap-drop ALL \
             --ro-bind / / --bind /staged/home /home/daytona --tmpfs /srv/rt \
             --proc /proc --dev /dev --unshare-pid --unshare-ipc --unshare-uts \
             --die-with-parent --new-session --chdir /home/daytona -- /bin/sh -c id"
        );
    }

    #[test]
    fn an_init_outlives_its_starter_and_reports_where_it_runs() {
        let bubblewrap = Bubblewrap {
            program: "/usr/bin/bwrap".into(),
            disable_userns: false,
        };
        let args = bubblewrap.args(
            &[Mount::HostRoot],
            |_| PathBuf::new(),
            Path::new("/"),
            Role::Init,
            &["sleep".into(), "infinity".into()],
            SANDBOX,
        );
        assert_eq!(
            line(&args),
            "--unshare-user --uid 1000 --gid 1000 --cap-drop ALL --ro-bind / / \
             --proc /proc --dev /dev --unshare-pid --unshare-ipc --unshare-uts \
             --new-session --as-pid-1 --chdir / -- sleep infinity"
        );
    }
}
