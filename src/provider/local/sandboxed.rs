//! A program in bubblewrap, as a command to start: run as the invoking user, or, when that is
//! root, with the sandbox's directories handed to its host id and staged (see `stage`), and the
//! hides made before bubblewrap starts.
//!
//! This file turns a mount plan into bubblewrap's sources; it decides no layout and holds no
//! environment (the caller adds it to the command).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io;
use std::path::PathBuf;
use std::process::Command;

use super::bubblewrap::{Bubblewrap, Inside, Role};
use super::invocation::held;
use super::mounts::{Mount, Source, Within};
use super::overlay::{self, Overlay};
use super::paths::under;
use super::stage::{self, MountPoint, Staged, Staging};
use super::store::SandboxDirs;
use super::user::{self, HostUser};

/// A program in bubblewrap.
#[derive(Debug)]
pub(super) struct Sandboxed {
    pub bubblewrap: Bubblewrap,
    pub user: HostUser,
    pub dirs: SandboxDirs,
    pub mounts: Vec<Mount>,
    /// The working directory inside.
    pub cwd: PathBuf,
    pub role: Role,
    pub program: Vec<OsString>,
    /// Who the command is inside (the sandbox user, or a build step's) and its network.
    pub inside: Inside,
    /// A snapshot layer's overlays, mounted before bubblewrap starts (or why they cannot be).
    pub overlays: Result<Vec<Overlay>, String>,
}

impl Sandboxed {
    /// Bubblewrap, started directly or by `holder` (see `Invocation::held_command`).
    pub(super) fn command(&self, holder: Option<&str>) -> io::Result<Command> {
        let overlays = self.overlays.clone().map_err(io::Error::other)?;
        match self.user {
            HostUser::Invoker => {
                let mut command = held(holder, self.bubblewrap.program().as_os_str());
                command.args(self.args(true, |source| self.host_path(source)));
                if !overlays.is_empty() {
                    overlay::in_own_namespace(&mut command, overlays);
                }
                Ok(command)
            }
            HostUser::Dedicated(id) => {
                let staging = self.hand_over_and_stage(id)?;
                let args = self.args(false, |source| staged_path(&staging.staged, source));
                let mut command = held(holder, self.bubblewrap.program().as_os_str());
                command.args(args);
                stage::command(command, &staging, overlays, id)
            }
        }
    }

    /// Bubblewrap's arguments, with the hides unless they were made before it started.
    fn args(&self, with_hides: bool, source: impl Fn(&Source) -> PathBuf) -> Vec<OsString> {
        let mounts: Vec<Mount> = self
            .mounts
            .iter()
            .filter(|mount| with_hides || !matches!(mount, Mount::Hide { .. }))
            .cloned()
            .collect();
        self.bubblewrap.args(
            &mounts,
            source,
            &self.cwd,
            self.role,
            &self.program,
            self.inside,
        )
    }

    fn host_path(&self, source: &Source) -> PathBuf {
        match source {
            Source::Home => self.dirs.home.clone(),
            Source::Tmp => self.dirs.tmp.clone(),
            Source::Host(path)
            | Source::Volume(path)
            | Source::Layer(path)
            | Source::Identity(path)
            | Source::Namespace(path) => path.clone(),
        }
    }

    /// Gives the sandbox's directories to `id` (a no-op once done) and lists what to stage
    /// (every bind's source, by a name of its own) and the paths to hide before bubblewrap
    /// starts: as root, and not as the sandbox's user, every hidden path can be reached.
    fn hand_over_and_stage(&self, id: u32) -> io::Result<Staging> {
        let volumes = self.mounts.iter().filter_map(|mount| match mount {
            Mount::Bind {
                source: Source::Volume(path),
                ..
            } => Some(path),
            _ => None,
        });
        for dir in [&self.dirs.home, &self.dirs.tmp].into_iter().chain(volumes) {
            user::ensure_owned(dir, id).map_err(|error| {
                io::Error::new(
                    error.kind(),
                    format!(
                        "cannot give `{}` to the sandbox user: {error}",
                        dir.display()
                    ),
                )
            })?;
        }
        let mut staged = Vec::new();
        for mount in &self.mounts {
            let Mount::Bind { source, .. } = mount else {
                continue;
            };
            let (name, read_only) = match source {
                Source::Home => ("home".to_string(), false),
                Source::Tmp => ("tmp".to_string(), false),
                Source::Host(_) => (format!("read-only-{}", staged.len()), true),
                Source::Volume(_) | Source::Layer(_) | Source::Identity(_) => {
                    (format!("volume-{}", staged.len()), false)
                }
                // Made in the command's namespace, after staging: bubblewrap binds it by path.
                Source::Namespace(_) => continue,
            };
            // A root sandbox's home is bound twice (`/root` and `/home/daytona`): staged once.
            if staged.iter().any(|item: &Staged| item.name == name) {
                continue;
            }
            staged.push(Staged {
                name,
                path: self.host_path(source),
                read_only,
            });
        }
        // Host paths, and paths inside staged read-only paths (independent of each other).
        let mut hides: Vec<PathBuf> = self.host_hides().cloned().collect();
        hides.extend(self.mounts.iter().filter_map(|mount| match mount {
            Mount::Hide {
                path,
                within: Within::ReadOnly(shown),
            } => {
                let below = path.strip_prefix(&shown.shown_at).ok()?;
                let base = staged_path(&staged, &Source::Host(shown.real.clone()));
                Some(under(&base, below))
            }
            _ => None,
        }));
        Ok(Staging {
            staged,
            hides,
            mount_points: self.mount_points_in_host_hides(),
        })
    }

    /// The host paths hidden from the sandbox.
    fn host_hides(&self) -> impl Iterator<Item = &PathBuf> {
        self.mounts.iter().filter_map(|mount| match mount {
            Mount::Hide {
                path,
                within: Within::Host,
            } => Some(path),
            _ => None,
        })
    }

    /// The mount points of binds inside a hidden host path (a read-only path in a hidden
    /// home), parents first. Bubblewrap binds the host read-only, and with it the tmpfs that
    /// hides the home, so it could not make them itself; root makes them in that tmpfs, which
    /// is private to the command, before bubblewrap starts.
    fn mount_points_in_host_hides(&self) -> Vec<MountPoint> {
        let hides: Vec<&PathBuf> = self.host_hides().collect();
        let mut points = BTreeMap::new();
        for mount in &self.mounts {
            let Mount::Bind { source, target, .. } = mount else {
                continue;
            };
            let Some(hide) = hides
                .iter()
                .find(|hide| target.starts_with(hide) && target != **hide)
            else {
                continue;
            };
            for parent in target.ancestors().skip(1) {
                if parent == hide.as_path() {
                    break;
                }
                points.insert(parent.to_path_buf(), true);
            }
            let is_directory = match source {
                Source::Host(path) => path.is_dir(),
                _ => true,
            };
            points.insert(target.clone(), is_directory);
        }
        points
            .into_iter()
            .map(|(path, is_directory)| MountPoint { path, is_directory })
            .collect()
    }
}

/// Where `source` is staged.
fn staged_path(staged: &[Staged], source: &Source) -> PathBuf {
    let name = match source {
        Source::Home => "home",
        Source::Tmp => "tmp",
        Source::Host(path) => staged
            .iter()
            .find(|item| item.read_only && item.path == *path)
            .map_or("", |item| item.name.as_str()),
        Source::Volume(path) | Source::Layer(path) | Source::Identity(path) => staged
            .iter()
            .find(|item| !item.read_only && item.path == *path)
            .map_or("", |item| item.name.as_str()),
        Source::Namespace(path) => return path.clone(),
    };
    stage::staged_path(name)
}
