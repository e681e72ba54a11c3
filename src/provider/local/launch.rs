//! How a program is launched inside a `local` sandbox: the [`Launcher`] builds its
//! [`Invocation`], with bubblewrap or (without it) a plain one with the sandbox home as `HOME`:
//! as the invoking user, or, when that is root, staged and dropped to the sandbox's own host id
//! (see `user` and `stage`). It decides what the sandbox sees of the host (mounts, volumes, the
//! user database, a snapshot layer) and where a sandbox path lives on the host.
//!
//! Under bubblewrap a sandbox's commands join the namespaces of its init, started on first need
//! (see `init` and `join`); an image build step gets a bubblewrap of its own.
//!
//! Nothing from the host's environment reaches a sandbox, and no environment value is ever put
//! on bubblewrap's command line: values travel in the process environment, which bubblewrap
//! passes through (see `process_env`). A sandbox given fewer vCPUs than the machine has is
//! confined to that many CPUs (`cpus`), and every command of a sandbox joins its cgroup, which
//! holds its memory limit (`cgroup`), before it execs. This file builds invocations; it does
//! not run or track them.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use super::bubblewrap::{Bubblewrap, Inside, Role, SANDBOX};
use super::cgroup::{Cgroups, Joining};
use super::cpus;
use super::identity::{self, SandboxUser};
use super::init;
use super::invocation::{Invocation, Joined, Launch};
use super::layer;
use super::mounts::{self, Layout, Mount, ReadOnlyPath, Source};
use super::network;
use super::paths::{self, Location, under};
use super::sandboxed::Sandboxed;
use super::store::SandboxDirs;
use super::user::HostUser;

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

#[cfg(test)]
mod tests;
