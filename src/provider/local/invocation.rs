//! A program to run in a sandbox, built by the launcher (see `launch`) and not yet started, and
//! the host command that starts it: plainly on the host, in a bubblewrap of its own, or joined
//! to the namespaces of its sandbox's init (started first when it is not running).
//!
//! The command gets exactly the invocation's environment, never the host's, and no value of
//! it on its command line. Before it execs it is confined to the sandbox's CPUs and joins its
//! cgroup. This file builds commands; it does not run or track them.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io;
use std::path::PathBuf;
use std::process::Command;

use rustix::thread::CpuSet;

use super::cgroup::Joining;
use super::cpus;
use super::descriptors;
use super::init;
use super::join::Entry;
use super::network;
use super::process_env::{COMMAND_SHELL, SYSTEM_PATH};
use super::sandboxed::Sandboxed;
use super::user::HostUser;

/// A program to run in a sandbox, not yet started.
#[derive(Debug)]
pub(crate) struct Invocation {
    pub(super) environment: BTreeMap<String, String>,
    pub(super) launch: Launch,
    /// The CPUs the program may run on, when the sandbox is confined to fewer than all.
    pub(super) cpus: Option<CpuSet>,
    /// The sandbox's cgroup to join (none where no memory controller is writable, or for a
    /// build step), or why it cannot be made.
    pub(super) cgroup: Result<Option<Joining>, String>,
}

/// How the program starts.
#[derive(Debug)]
pub(super) enum Launch {
    /// Reduced isolation: the program on the host, started in `cwd`.
    Plain {
        program: Vec<OsString>,
        cwd: PathBuf,
    },
    /// A bubblewrap of its own (an image build step).
    Sandboxed(Box<Sandboxed>),
    /// A command of a started sandbox, in its init's namespaces.
    Joined(Box<Joined>),
}

/// A command that joins its sandbox's init, and what starts that init when it is not running.
#[derive(Debug)]
pub(super) struct Joined {
    /// The init's bubblewrap.
    pub(super) init: Sandboxed,
    /// Where the init is recorded.
    pub(super) run_dir: PathBuf,
    pub(super) program: Vec<OsString>,
    /// The working directory inside.
    pub(super) cwd: PathBuf,
    pub(super) new_session: bool,
}

impl Invocation {
    /// A command with exactly this environment; stdio is left to the caller. Fails when the
    /// sandbox's directories cannot be handed to its user or staged.
    pub(crate) fn command(&self) -> io::Result<Command> {
        self.build(None)
    }

    /// The same command, for a process that must outlive the one starting it (a session's
    /// shell). A bubblewrap of its own is run by a plain `sh` that waits for it (a holder),
    /// since with the starter as bubblewrap's parent `--die-with-parent` would end it; with the
    /// holder as the parent the flag keeps its use (killing the holder's process group, as
    /// delete and stop do, takes the namespace down with it) and the starter may end. The
    /// holder's argv names the program and its arguments only; the environment passes through
    /// it untouched. A joined command needs no holder: nothing ties it to its starter.
    pub(crate) fn held_command(&self) -> io::Result<Command> {
        self.build(Some(COMMAND_SHELL))
    }

    fn build(&self, holder: Option<&str>) -> io::Result<Command> {
        let mut command = self.launch(holder)?;
        descriptors::close_inherited(&mut command);
        Ok(command)
    }

    fn launch(&self, holder: Option<&str>) -> io::Result<Command> {
        let mut command = match &self.launch {
            Launch::Plain { program, cwd } => {
                let mut command = held(holder, program[0].as_os_str());
                command.args(&program[1..]).current_dir(cwd);
                command
            }
            Launch::Sandboxed(sandboxed) => sandboxed.command(holder)?,
            Launch::Joined(joined) => {
                let user = match joined.init.user {
                    HostUser::Dedicated(id) => Some(id),
                    HostUser::Invoker => None,
                };
                let own_network = joined.init.dirs.network.as_ref();
                let pid = init::ensure(
                    &joined.run_dir,
                    || {
                        // Under the init's lock: a network given since this command read the
                        // sandbox's record (see `network::change`) is not started without.
                        if own_network.is_none() && network::latest(&joined.run_dir).is_some() {
                            return Err(io::Error::other(
                                "the sandbox's network changed as this command started; run it again",
                            ));
                        }
                        let mut command = joined.init.command(None)?;
                        descriptors::close_inherited(&mut command);
                        // The init runs nothing of the sandbox's: it needs no environment.
                        command.env_clear().env("PATH", SYSTEM_PATH);
                        self.confine(&mut command)?;
                        let tether = own_network.map(|_| network::Tether::new()).transpose()?;
                        if let Some(tether) = &tether {
                            tether.pass(&mut command);
                        }
                        Ok((command, tether))
                    },
                    |pid, tether| match (own_network, tether) {
                        (Some(wanted), Some(tether)) => {
                            let latest = network::latest(&joined.run_dir);
                            let wanted = latest.as_ref().unwrap_or(wanted);
                            network::attach(pid, user, wanted, tether, &joined.run_dir)
                        }
                        _ => Ok(()),
                    },
                )?;
                let entry = Entry::open(pid, &joined.cwd)?;
                // Confined first: entering leaves the child with the sandbox's files only.
                let mut command = Command::new(COMMAND_SHELL);
                command.env_clear().envs(&self.environment);
                self.confine(&mut command)?;
                entry.apply(&mut command, &joined.program, user, joined.new_session);
                return Ok(command);
            }
        };
        command.env_clear().envs(&self.environment);
        // After staging, which may drop to the sandbox's user: the descriptors were opened by
        // this process, and a process may always move itself.
        self.confine(&mut command)?;
        Ok(command)
    }

    /// Confines `command` to the sandbox's CPUs and cgroup.
    fn confine(&self, command: &mut Command) -> io::Result<()> {
        if let Some(set) = self.cpus {
            cpus::confine(command, set);
        }
        if let Some(joining) = self.cgroup.clone().map_err(io::Error::other)? {
            joining.apply(command);
        }
        Ok(())
    }
}

/// `program` as a command, or, with a `holder`, `holder -c '"$@"' session-holder program`
/// (arguments follow).
pub(crate) fn held(holder: Option<&str>, program: &std::ffi::OsStr) -> Command {
    match holder {
        None => Command::new(program),
        Some(shell) => {
            let mut command = Command::new(shell);
            command
                .args(["-c", "\"$@\"", "session-holder"])
                .arg(program);
            command
        }
    }
}
