//! How a program is launched inside a `local` sandbox: the clean environment, and the
//! bubblewrap invocation (or, without bubblewrap, a plain one with the sandbox home as `HOME`):
//! as the invoking user, or, when that is root, staged and dropped to the sandbox's own host id
//! (see `user` and `stage`).
//!
//! Under bubblewrap a sandbox's commands join the namespaces of its init, started on first need
//! (see `init` and `join`); an image build step gets a bubblewrap of its own.
//!
//! Nothing from the host's environment reaches a sandbox, and no environment value is ever put
//! on bubblewrap's command line: values travel in the process environment, which bubblewrap
//! passes through. A sandbox given fewer vCPUs than the machine has is confined to that many
//! CPUs (`cpus`), and every command of a sandbox joins its cgroup, which holds its memory limit
//! (`cgroup`), before it execs. This file builds commands; it does not run or track them.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use rustix::thread::CpuSet;

use super::bubblewrap::{Bubblewrap, Inside, Role, SANDBOX};
use super::cgroup::{Cgroups, Joining};
use super::cpus;
use super::identity::{self, SandboxUser};
use super::init;
use super::join::Entry;
use super::layer;
use super::mounts::{self, Layout, Mount, ReadOnlyPath, Source};
use super::network;
use super::paths::{self, Location, under};
use super::process;
use super::sandboxed::Sandboxed;
use super::store::SandboxDirs;
use super::user::HostUser;

/// The `PATH` of every sandbox command: the standard system directories, never the host's.
pub(crate) const SYSTEM_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The shell that runs exec command lines, with `sh` semantics as on Daytona.
pub(crate) const COMMAND_SHELL: &str = "/bin/sh";

/// The interactive shell: bash when the system has it.
pub(crate) fn login_shell() -> &'static str {
    if Path::new("/bin/bash").exists() {
        "/bin/bash"
    } else {
        "/bin/sh"
    }
}

/// The environment of a sandbox process, later entries winning: the base variables, the
/// sandbox's own env, then the request's (which may hold secrets).
pub(crate) fn environment(
    home: &str,
    user: &str,
    sandbox_env: &BTreeMap<String, String>,
    request_env: &BTreeMap<String, String>,
    terminal: Option<&str>,
) -> BTreeMap<String, String> {
    let mut environment = BTreeMap::new();
    for (name, value) in [
        ("HOME", home),
        ("PATH", SYSTEM_PATH),
        ("USER", user),
        ("LOGNAME", user),
        ("LANG", "C.UTF-8"),
        ("SHELL", login_shell()),
    ] {
        environment.insert(name.to_string(), value.to_string());
    }
    if let Some(terminal) = terminal {
        environment.insert("TERM".to_string(), terminal.to_string());
    }
    environment.extend(
        sandbox_env
            .iter()
            .map(|(name, value)| (name.clone(), value.clone())),
    );
    environment.extend(
        request_env
            .iter()
            .map(|(name, value)| (name.clone(), value.clone())),
    );
    environment
}

/// A program to run in a sandbox, not yet started.
#[derive(Debug)]
pub(crate) struct Invocation {
    environment: BTreeMap<String, String>,
    launch: Launch,
    /// The CPUs the program may run on, when the sandbox is confined to fewer than all.
    cpus: Option<CpuSet>,
    /// The sandbox's cgroup to join (none where no memory controller is writable, or for a
    /// build step), or why it cannot be made.
    cgroup: Result<Option<Joining>, String>,
}

#[derive(Debug)]
enum Launch {
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
struct Joined {
    /// The init's bubblewrap.
    init: Sandboxed,
    /// Where the init is recorded.
    run_dir: PathBuf,
    program: Vec<OsString>,
    /// The working directory inside.
    cwd: PathBuf,
    new_session: bool,
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
        process::close_inherited(&mut command);
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
                        process::close_inherited(&mut command);
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

/// Whether commands run in bubblewrap.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Isolating {
    /// Never: reduced isolation was asked for.
    Off,
    /// In bubblewrap when it works here, which is found out on first need (see
    /// [`super::bubblewrap::find`]).
    WhenAvailable,
    /// In this bubblewrap, known to work.
    Always(&'static Bubblewrap),
}

/// Builds invocations for one provider: with bubblewrap or without, and what the sandbox
/// must not see of the host.
#[derive(Debug, Clone)]
pub(crate) struct Launcher {
    isolating: Isolating,
    user: HostUser,
    /// What every sandbox sees, in mount order.
    mounts: Vec<Mount>,
    /// What a root sandbox sees: the same, and its home at `/root` too.
    root_mounts: Vec<Mount>,
    /// Snapshot layers never cover the directory that holds it.
    state_root: PathBuf,
    /// The user database naming the sandbox user, made on the first sandboxed command (never
    /// by commands that start none, such as `plan`); `None` when it could not be made.
    identity: Arc<OnceLock<Option<Vec<Mount>>>>,
    /// The sandboxes' cgroups.
    cgroups: Cgroups,
}

impl Launcher {
    /// `read_only` paths that are not absolute or do not exist are left out.
    pub(crate) fn new(
        isolating: Isolating,
        user: HostUser,
        state_root: &Path,
        read_only: Vec<PathBuf>,
    ) -> Launcher {
        // The invoking user's home (their git credentials, keys), and root's.
        let host_homes = [Some(PathBuf::from("/root")), std::env::home_dir()]
            .into_iter()
            .flatten()
            .filter(|home| home.is_absolute() && home != Path::new("/"))
            .filter_map(|home| std::fs::canonicalize(home).ok())
            .filter(|home| home.is_dir())
            .collect();
        let read_only = read_only
            .into_iter()
            .filter(|path| path.is_absolute())
            .filter_map(|path| {
                let real = std::fs::canonicalize(&path).ok()?;
                Some(ReadOnlyPath {
                    shown_at: paths::lexical(&path),
                    real,
                })
            })
            .collect();
        let layout = Layout {
            state_root: state_root.to_path_buf(),
            host_homes,
            read_only,
            home_at_root: false,
        };
        Launcher {
            isolating,
            user,
            mounts: mounts::plan(&layout),
            root_mounts: mounts::plan(&Layout {
                home_at_root: true,
                ..layout
            }),
            state_root: state_root.to_path_buf(),
            identity: Arc::default(),
            cgroups: Cgroups::new(state_root),
        }
    }

    /// The sandboxes' cgroups.
    pub(crate) fn cgroups(&self) -> &Cgroups {
        &self.cgroups
    }

    /// The cgroup a command of the sandbox of `dirs` joins, made if missing, with the memory
    /// limit the sandbox has now (set again on every command, so a limit changed by another
    /// process is in force).
    fn joining(&self, dirs: &SandboxDirs) -> Result<Option<Joining>, String> {
        let Some(cgroup) = dirs.id.as_deref().and_then(|id| self.cgroups.sandbox(id)) else {
            return Ok(None);
        };
        cgroup
            .prepare(dirs.memory)
            .and_then(|()| cgroup.joining())
            .map(Some)
            .map_err(|error| error.to_string())
    }

    /// Binds of `/etc/passwd` and `/etc/group` that name the sandbox user `daytona`. Without
    /// them (a state root that cannot be written) sandboxes see the host's files.
    fn identity_mounts(&self) -> &[Mount] {
        self.identity
            .get_or_init(|| {
                let files = identity::files(&self.state_root).ok()?;
                Some(
                    files
                        .into_iter()
                        .map(|(path, target)| Mount::Bind {
                            source: Source::Identity(path),
                            target: PathBuf::from(target),
                            writable: false,
                        })
                        .collect(),
                )
            })
            .as_deref()
            .unwrap_or_default()
    }

    /// The bubblewrap commands run in, if any.
    fn bubblewrap(&self) -> Option<&'static Bubblewrap> {
        match self.isolating {
            Isolating::Off => None,
            Isolating::WhenAvailable => super::bubblewrap::find(self.user),
            Isolating::Always(bubblewrap) => Some(bubblewrap),
        }
    }

    pub(crate) fn is_isolated(&self) -> bool {
        self.bubblewrap().is_some()
    }

    /// The host id that must own what a sandbox's commands write, when it is not this
    /// process's own.
    pub(crate) fn owner(&self) -> Option<u32> {
        match (self.bubblewrap(), self.user) {
            (Some(_), HostUser::Dedicated(id)) => Some(id),
            _ => None,
        }
    }

    /// The value of `HOME` inside the sandbox: its user's home under bubblewrap.
    pub(crate) fn home_value(&self, dirs: &SandboxDirs) -> String {
        match self.bubblewrap() {
            Some(_) => dirs.user.home().to_string(),
            None => dirs.home.to_string_lossy().into_owned(),
        }
    }

    /// The host directory a sandbox location maps to, when it is the sandbox's own.
    pub(crate) fn host_path(&self, dirs: &SandboxDirs, location: &Location) -> Option<PathBuf> {
        match location {
            Location::Home(relative) => Some(under(&dirs.home, relative)),
            // Without bubblewrap `/tmp` is the host's, not the sandbox's.
            Location::Tmp(relative) if self.is_isolated() => Some(under(&dirs.tmp, relative)),
            Location::Tmp(_) | Location::Elsewhere(_) => None,
        }
    }

    /// Where a path a command gave lives. Without bubblewrap commands see the home at its
    /// host path, so that path names the home too; so does `/root` in a root sandbox.
    pub(crate) fn locate(&self, dirs: &SandboxDirs, path: &str) -> Location {
        let isolated = self.is_isolated();
        let normalized = paths::normalize(path);
        let home = match (isolated, dirs.user) {
            (false, _) => Some(dirs.home.as_path()),
            (true, SandboxUser::Root) => Some(Path::new(SandboxUser::Root.home())),
            (true, SandboxUser::Daytona) => None,
        };
        if let Some(relative) = home.and_then(|home| normalized.strip_prefix(home).ok()) {
            return Location::Home(relative.to_path_buf());
        }
        paths::locate(path)
    }

    /// `program` run in the sandbox, started in `cwd`, as `inside` says (the sandbox's user,
    /// [`SANDBOX`], which is `dirs.user`; or a step of an image build with the layer in `dirs`
    /// mounted writable, which needs bubblewrap). Every process of a sandbox starts here, so
    /// this is where a root sandbox becomes uid 0 with its home at `/root`. `new_session`
    /// detaches it from any terminal (commands); an interactive shell keeps its terminal.
    pub(crate) fn invocation(
        &self,
        dirs: &SandboxDirs,
        cwd: &Location,
        environment: BTreeMap<String, String>,
        program: &[&str],
        new_session: bool,
        inside: Inside,
    ) -> Invocation {
        let program = program.iter().map(OsString::from).collect();
        let cpus = dirs
            .cpus
            .and_then(|count| cpus::confined_to(count, &dirs.home));
        let cgroup = self.joining(dirs);
        let Some(bubblewrap) = self.bubblewrap() else {
            let cwd = match cwd {
                Location::Home(relative) => under(&dirs.home, relative),
                Location::Tmp(relative) => under(Path::new("/tmp"), relative),
                Location::Elsewhere(path) => path.clone(),
            };
            return Invocation {
                environment,
                launch: Launch::Plain { program, cwd },
                cpus,
                cgroup,
            };
        };
        let cwd = match cwd {
            Location::Home(relative) => under(Path::new(dirs.user.home()), relative),
            Location::Tmp(relative) => under(Path::new("/tmp"), relative),
            Location::Elsewhere(path) => path.clone(),
        };
        let sandbox_command = inside == SANDBOX;
        let root = sandbox_command && dirs.user == SandboxUser::Root;
        let inside = if sandbox_command {
            Inside {
                id: dirs.user.inside_id(),
                ..inside
            }
        } else {
            inside
        };
        // Volumes last: each one's directory under the state root, read-write at its mount
        // path, on top of whatever the plan shows there.
        let mut mounts = if root {
            self.root_mounts.clone()
        } else {
            self.mounts.clone()
        };
        mounts.extend(dirs.volumes.iter().map(|(host, mount)| Mount::Bind {
            source: Source::Volume(host.clone()),
            target: mount.clone(),
            writable: true,
        }));
        // The user database naming the sandbox user, over the host's (and a layer's), and the
        // sandbox's own host names.
        mounts.extend(self.identity_mounts().iter().cloned());
        if dirs.network.is_some()
            && let Ok(resolv) = identity::resolv_conf(&self.state_root, network::NAME_SERVER)
        {
            mounts.push(Mount::Bind {
                source: Source::Identity(resolv),
                target: PathBuf::from("/etc/resolv.conf"),
                writable: false,
            });
        }
        mounts.extend(dirs.hosts.iter().map(|hosts| Mount::Bind {
            source: Source::Identity(hosts.clone()),
            target: PathBuf::from("/etc/hosts"),
            writable: false,
        }));
        // A snapshot layer: overlays made before bubblewrap starts, which its `/` shows; a
        // build binds them again writable right after the host root, and the image's `/root`
        // goes over the hidden host one.
        let overlays = match &dirs.layer {
            None => Ok(Vec::new()),
            Some(layer) => match layer::view(layer, &self.state_root) {
                Ok(view) => {
                    let at = mounts.len().min(1);
                    mounts.splice(at..at, view.early);
                    // `late` is the image's `/root`; a root sandbox's `/root` is its home,
                    // which started as a copy of the image's (see `layer::image_homes`).
                    if !root {
                        mounts.extend(view.late);
                    }
                    Ok(view.overlays)
                }
                Err(error) => Err(error.to_string()),
            },
        };
        let sandboxed = |cwd: PathBuf, role: Role, program: Vec<OsString>| Sandboxed {
            bubblewrap: bubblewrap.clone(),
            user: self.user,
            dirs: dirs.clone(),
            mounts: mounts.clone(),
            cwd,
            role,
            program,
            inside,
            overlays: overlays.clone(),
        };
        let launch = match &dirs.run_dir {
            Some(run_dir) if sandbox_command => Launch::Joined(Box::new(Joined {
                init: Sandboxed {
                    inside: Inside {
                        network: dirs.network.is_none(),
                        ..inside
                    },
                    ..sandboxed(
                        PathBuf::from("/"),
                        Role::Init,
                        init::PROGRAM.iter().map(OsString::from).collect(),
                    )
                },
                run_dir: run_dir.clone(),
                program,
                cwd,
                new_session,
            })),
            _ => Launch::Sandboxed(Box::new(sandboxed(
                cwd,
                Role::Command { new_session },
                program,
            ))),
        };
        Invocation {
            environment,
            launch,
            cpus,
            cgroup,
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn dirs(root: &Path, user: SandboxUser) -> SandboxDirs {
        SandboxDirs {
            home: root.join("home"),
            tmp: root.join("tmp"),
            volumes: Vec::new(),
            layer: None,
            cpus: None,
            id: None,
            run_dir: None,
            hosts: None,
            network: None,
            memory: None,
            user,
        }
    }

    /// The bubblewrap command line of `id` in the sandbox of `dirs`, started in its home.
    fn line(launcher: &Launcher, dirs: &SandboxDirs) -> String {
        let invocation = launcher.invocation(
            dirs,
            &Location::Home(PathBuf::new()),
            BTreeMap::new(),
            &["id"],
            true,
            SANDBOX,
        );
        let command = invocation.command().unwrap();
        command
            .get_args()
            .map(|arg| arg.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn a_root_sandbox_is_uid_0_with_its_home_at_root_and_at_home_daytona() {
        let root = tempfile::tempdir().unwrap();
        let bubblewrap: &'static Bubblewrap = Box::leak(Box::new(Bubblewrap::assumed("bwrap")));
        let launcher = Launcher::new(
            Isolating::Always(bubblewrap),
            HostUser::Invoker,
            &root.path().join("state"),
            Vec::new(),
        );
        let home = root.path().join("home").display().to_string();

        let sandbox = dirs(root.path(), SandboxUser::Root);
        let args = line(&launcher, &sandbox);
        assert!(
            args.starts_with("--unshare-user --uid 0 --gid 0 "),
            "{args}"
        );
        assert!(args.contains(&format!("--bind {home} /root ")), "{args}");
        assert!(
            args.contains(&format!("--bind {home} /home/daytona ")),
            "{args}"
        );
        assert!(args.ends_with("--chdir /root -- id"), "{args}");
        assert_eq!(launcher.home_value(&sandbox), "/root");
        for (path, relative) in [("/root/a/b", "a/b"), ("/home/daytona/a", "a"), ("a", "a")] {
            assert_eq!(
                launcher.locate(&sandbox, path),
                Location::Home(relative.into()),
                "{path}"
            );
        }

        let sandbox = dirs(root.path(), SandboxUser::Daytona);
        let args = line(&launcher, &sandbox);
        assert!(
            args.starts_with("--unshare-user --uid 1000 --gid 1000 "),
            "{args}"
        );
        assert!(!args.contains(&format!("{home} /root")), "{args}");
        assert!(args.ends_with("--chdir /home/daytona -- id"), "{args}");
        assert_eq!(launcher.home_value(&sandbox), "/home/daytona");
        assert_eq!(
            launcher.locate(&sandbox, "/root/a"),
            Location::Elsewhere("/root/a".into())
        );
    }
}
