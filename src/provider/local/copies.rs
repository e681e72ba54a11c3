//! What a `local` sandbox shares or starts from: creates (fresh, a fork's copy of another
//! sandbox's home, or a copy of a home kept as a snapshot), homes kept as snapshots, and the
//! volumes mounted into sandboxes.
//!
//! A volume is a directory under the state root, bound read-write at its mount path by
//! bubblewrap, or, without bubblewrap, a symlink from the home. Mount paths must be places a
//! sandbox can show without changing the host: under the home, under the private `/tmp`, or an
//! existing directory. Homes are copied outside the root lock; only the name check and the
//! rename that makes the sandbox appear hold it.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};
use std::time::SystemTime;

use super::identity::{POSSIBLE_USERS, SandboxUser};
use super::paths::{self, Location};
use super::store::{self, Metadata};
use super::{LocalProvider, blocking};
use crate::provider::{
    CreateSandbox, Network, Provider as _, ProviderError, Result, Sandbox, SandboxState,
    VolumeMount,
};

/// The file of a kept snapshot naming the user of the sandbox it was kept from.
const USER_FILE: &str = "user";

impl LocalProvider {
    /// Creates a sandbox whose home starts as a copy of `home_from`, or of the home kept as
    /// the requested snapshot, or empty.
    pub(crate) async fn create_from(
        &self,
        request: &CreateSandbox,
        home_from: Option<PathBuf>,
    ) -> Result<Sandbox> {
        for volume in &request.volumes {
            self.check_mount(volume)?;
        }
        if request.network != Network::Open {
            if !self.launcher.is_isolated() {
                return Err(self.unsupported(
                    "blocking or filtering a sandbox's network without bubblewrap (install `bwrap`)",
                ));
            }
            if let Some(missing) = super::network::missing_programs(&request.network) {
                return Err(self.unsupported(&missing));
            }
        }
        let chosen = self.chosen_user(request.user.as_deref())?;
        let store = self.store.clone();
        let request = request.clone();
        let isolated = self.launcher.is_isolated();
        let owner = self.launcher.owner();
        blocking(move || {
            let id = store::new_id();
            let name = if request.name.is_empty() {
                id.clone()
            } else {
                request.name.clone()
            };
            let kept = request
                .snapshot
                .as_deref()
                .map(|name| store.snapshot_dir(name));
            // A built snapshot names its layer, whose image home, `ENV` (its own env winning)
            // and `WORKDIR` a sandbox starts from.
            let layer = kept.as_ref().and_then(|kept| {
                let hash = std::fs::read_to_string(kept.join("layer")).ok()?;
                let layers = super::layer::Layers::new(store.root());
                let image = layers.image(hash.trim())?;
                Some((hash.trim().to_string(), layers.dir(hash.trim())?, image))
            });
            // Unless the create names one, the user of the sandbox the snapshot was kept
            // from (see `capture_home`), as its image would say.
            let user = chosen.unwrap_or_else(|| {
                kept.as_ref()
                    .and_then(|kept| std::fs::read_to_string(kept.join(USER_FILE)).ok())
                    .map(|name| SandboxUser::of_record(&name))
                    .unwrap_or_default()
            });
            let homes_from: Vec<PathBuf> = match home_from {
                Some(home) => vec![home],
                None => match kept.as_ref().map(|kept| kept.join("home")) {
                    Some(kept) if kept.is_dir() => vec![kept],
                    _ => layer
                        .as_ref()
                        .map(|(_, dir, _)| super::layer::image_homes(dir, user))
                        .unwrap_or_default(),
                },
            };
            let mut env = layer
                .as_ref()
                .map(|(_, _, image)| image.env.clone())
                .unwrap_or_default();
            env.extend(request.env);
            let metadata = Metadata {
                id,
                name,
                labels: request.labels,
                env,
                state: SandboxState::Started,
                snapshot: request.snapshot,
                created_at: SystemTime::now(),
                lifecycle: request.lifecycle,
                ttl_minutes: request.ttl_minutes,
                resources: request.resources,
                user: user.name().to_string(),
                volumes: request.volumes,
                workdir: layer
                    .as_ref()
                    .and_then(|(_, _, image)| image.sandbox_workdir()),
                layer: layer.map(|(hash, _, _)| hash),
                hosts: request.hosts,
                network: (request.network != Network::Open).then(|| request.network.clone()),
                network_blocked: false,
            };
            let staging = store.stage(&metadata, &homes_from, owner)?;
            if !isolated && let Err(error) = link_volumes(&store, &metadata, &staging) {
                let _ = std::fs::remove_dir_all(&staging);
                return Err(error);
            }
            let _lock = store.lock(true)?;
            let taken = store
                .list()
                .map(|all| all.iter().any(|existing| existing.name == metadata.name));
            match taken {
                Ok(false) => {}
                other => {
                    let _ = std::fs::remove_dir_all(&staging);
                    other?;
                    return Err(ProviderError::Conflict {
                        message: format!("a sandbox named `{}` already exists", metadata.name),
                    });
                }
            }
            store.publish(&staging, &metadata.id)?;
            Ok(metadata.to_sandbox())
        })
        .await
    }

    /// Refuses a mount this machine cannot show: see the module comment.
    fn check_mount(&self, volume: &VolumeMount) -> Result<()> {
        let invalid = |message: String| ProviderError::Api {
            status: Some(400),
            message,
            retryable: false,
        };
        if !store::is_id_like(&volume.volume_id) {
            return Err(invalid(format!("invalid volume id `{}`", volume.volume_id)));
        }
        let subpath_ok = volume.subpath.as_deref().is_none_or(|subpath| {
            Path::new(subpath)
                .components()
                .all(|part| matches!(part, Component::Normal(_)))
        });
        if !subpath_ok {
            return Err(invalid(format!(
                "invalid volume subpath `{}`",
                volume.subpath.as_deref().unwrap_or_default()
            )));
        }
        let mount = &volume.mount_path;
        if !mount.starts_with('/') || paths::normalize(mount) != Path::new(mount) {
            return Err(invalid(format!("invalid mount path `{mount}`")));
        }
        let shown = match paths::locate(mount) {
            Location::Home(relative) => !relative.as_os_str().is_empty(),
            Location::Tmp(relative) => {
                self.launcher.is_isolated() && !relative.as_os_str().is_empty()
            }
            Location::Elsewhere(path) => {
                self.launcher.is_isolated() && path.is_dir() && !path.starts_with(self.root())
            }
        };
        if shown {
            return Ok(());
        }
        Err(ProviderError::Unsupported {
            provider: "local",
            operation: format!(
                "mounting a volume at `{mount}`: local sandboxes mount volumes under `{}`{}",
                paths::SANDBOX_HOME,
                if self.launcher.is_isolated() {
                    ", `/tmp` or an existing directory"
                } else {
                    " only, without bubblewrap"
                }
            ),
        })
    }

    /// The user a create names, if it names one: `daytona`, or `root`, which needs bubblewrap
    /// (uid 0 of the sandbox's own user namespace). Anything else is refused with the 422 that
    /// says what is possible.
    pub(crate) fn chosen_user(&self, name: Option<&str>) -> Result<Option<SandboxUser>> {
        let Some(name) = name.map(str::trim).filter(|name| !name.is_empty()) else {
            return Ok(None);
        };
        let not_possible = |message: String| ProviderError::Api {
            status: Some(422),
            message,
            retryable: false,
        };
        match SandboxUser::parse(name) {
            None => Err(not_possible(format!(
                "Sandbox user `{name}` is not possible with local sandboxes\n\nhint: a local sandbox runs as {POSSIBLE_USERS}; leave `user` out for `daytona`"
            ))),
            Some(SandboxUser::Root) if !self.launcher.is_isolated() => Err(not_possible(format!(
                "Sandbox user `{name}` is not possible without bubblewrap: a root sandbox is uid 0 of a user namespace of its own, and without one its commands would run on the host\n\nhint: install `bwrap`, or leave `user` out for `daytona`"
            ))),
            Some(user) => Ok(Some(user)),
        }
    }

    /// Keeps a copy of sandbox `id`'s home as snapshot `name`, with the layer of the image it
    /// was built from and its user: as a container snapshot keeps its image, sandboxes made
    /// from the snapshot get that image's files, `ENV`, `WORKDIR` and user again.
    pub(crate) async fn capture_home(&self, id: &str, name: &str) -> Result<()> {
        let source = self.blocking_resolve(id).await?;
        let store = self.store.clone();
        let name = name.to_string();
        blocking(move || {
            let target = store.snapshot_dir(&name);
            if target.exists() {
                return Err(ProviderError::Conflict {
                    message: format!("snapshot `{name}` already keeps a home"),
                });
            }
            let staging = store
                .root()
                .join("staging")
                .join(format!("snapshot-{}", store::new_id()));
            let home = staging.join("home");
            let copied = std::fs::create_dir_all(&home)
                .and_then(|()| super::copy::copy_tree(&store.home_dir(&source.id), &home))
                .and_then(|()| match &source.layer {
                    Some(hash) => std::fs::write(staging.join("layer"), hash),
                    None => Ok(()),
                })
                .and_then(|()| std::fs::write(staging.join(USER_FILE), &source.user))
                .and_then(|()| std::fs::rename(&staging, &target));
            if let Err(error) = copied {
                let _ = store::remove_trashed(&staging);
                return Err(store::io_error("copy", &store.home_dir(&source.id), error));
            }
            Ok(())
        })
        .await
    }

    /// Drops the home kept as snapshot `name`, if there is one.
    pub(crate) async fn remove_captured_home(&self, name: &str) -> Result<()> {
        let store = self.store.clone();
        let target = store.snapshot_dir(name);
        blocking(move || remove(&store, &target, "snapshot")).await
    }

    /// Drops the files of volume `volume_id`, if there are any.
    pub(crate) async fn remove_volume_files(&self, volume_id: &str) -> Result<()> {
        if !store::is_id_like(volume_id) {
            return Ok(());
        }
        let store = self.store.clone();
        let target = store.root().join("volumes").join(volume_id);
        blocking(move || remove(&store, &target, "volume")).await
    }
}

impl LocalProvider {
    /// Drops the files of every volume not in `live`: a run killed between marking a volume
    /// deleted and removing its files left them. Only safe while no volume can be made (serve
    /// calls it before it serves). Returns the ids of the volumes dropped.
    pub async fn remove_volumes_except(&self, live: BTreeSet<String>) -> Result<Vec<String>> {
        let store = self.store.clone();
        blocking(move || {
            let mut removed = Vec::new();
            let volumes = store.root().join("volumes");
            for entry in std::fs::read_dir(&volumes).into_iter().flatten().flatten() {
                let id = entry.file_name().to_string_lossy().into_owned();
                if store::is_id_like(&id) && !live.contains(&id) {
                    remove(&store, &entry.path(), "volume")?;
                    removed.push(id);
                }
            }
            Ok(removed)
        })
        .await
    }
}

fn remove(store: &store::Store, target: &Path, label: &str) -> Result<()> {
    if !target.exists() {
        return Ok(());
    }
    let trashed = store.trash(target, label)?;
    store::remove_trashed(&trashed)
}

/// Without bubblewrap a volume under the home is a symlink from the staged home to the
/// volume's directory, which commands and file transfers follow.
fn link_volumes(store: &store::Store, metadata: &Metadata, staging: &Path) -> Result<()> {
    for volume in &metadata.volumes {
        let Location::Home(relative) = paths::locate(&volume.mount_path) else {
            continue;
        };
        let link = staging.join("home").join(&relative);
        // A fork's copied home already holds the link (to the same volume).
        if std::fs::symlink_metadata(&link).is_ok_and(|found| found.file_type().is_symlink()) {
            std::fs::remove_file(&link).map_err(|error| store::io_error("link", &link, error))?;
        }
        if let Some(parent) = link.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|error| store::io_error("create", parent, error))?;
        }
        std::os::unix::fs::symlink(store.volume_dir(volume), &link)
            .map_err(|error| store::io_error("link", &link, error))?;
    }
    Ok(())
}
