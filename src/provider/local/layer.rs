//! Snapshot layers: what an image build wrote, kept under `<root>/layers/<hash>/` and shown to
//! every sandbox of that snapshot on top of the host's file system.
//!
//! A layer holds `upper/` (one directory per covered host directory: `etc`, `opt`, `srv`, `usr`,
//! `var`, plus `root`, the image's own `/root`, since the host's is hidden), `home/` (the image's
//! `/home/daytona`, copied into each new sandbox's home), `build.log` and `status.json` (building,
//! built or failed, and the image's final `ENV`, `WORKDIR` and `USER`). Builds are keyed by the
//! image hash, so a layer built once is the cache of every later build of the same image; one
//! build of a hash runs at a time (a lock file per hash), across processes too.
//!
//! A build cannot write to the host's directories themselves, which root owns: before it runs,
//! `upper/` gets a skeleton of every host directory the sandbox user may enter, owned by that
//! user, so that new files can be made (and host files deleted, as whiteouts) anywhere below.
//! Existing host files stay root's and cannot be changed; a step that tries fails with its
//! output in the build log. Unchanged skeleton directories are pruned when the build succeeds.
//! This file never runs a build step itself: `layer_build` does, through the launcher.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::identity::SandboxUser;
use super::mounts::{Mount, Source};
use super::overlay::Overlay;
use super::store::{self, io_error};
use crate::provider::{ProviderError, Result};

/// Host directories a layer covers with overlayfs: where image builds install things.
const MERGED: [&str; 5] = ["etc", "opt", "srv", "usr", "var"];

/// The image's `/root`, a directory of the layer alone (the host's `/root` stays hidden).
const IMAGE_ROOT: &str = "root";

/// How deep the skeleton goes below a covered directory: `/usr/local/bin`,
/// `/usr/lib/python3/dist-packages/x`, `/etc/apt/sources.list.d`, `/var/lib/apt/lists/partial`.
/// The whole of `/usr` would be some 15,000 directories to make, and to prune, per build;
/// deeper host directories stay root's (new directories a build makes are its own, at any
/// depth).
const SKELETON_DEPTH: usize = 4;

/// Where a layer's files are, as a sandbox's command sees them.
#[derive(Debug, Clone)]
pub(crate) struct LayerMounts {
    /// `<layer>/upper`.
    pub upper: PathBuf,
    /// `<layer>/work` while the layer is being built: the mounts are then writable.
    pub work: Option<PathBuf>,
}

impl LayerMounts {
    /// Whether the layer itself holds directory `path` (absolute, normalized), which a command
    /// then sees over the host's file system.
    pub(crate) fn holds_dir(&self, path: &Path) -> bool {
        path.strip_prefix("/")
            .is_ok_and(|relative| self.upper.join(relative).is_dir())
    }
}

/// What a command's view gains from a layer: overlays mounted before bubblewrap starts, binds
/// right after the host root (a build's writable overlays) and binds after everything else (the
/// image's `/root`, over the hidden host one).
#[derive(Debug, Default)]
pub(crate) struct LayerView {
    pub overlays: Vec<Overlay>,
    pub early: Vec<Mount>,
    pub late: Vec<Mount>,
}

/// The host directories a layer may cover, given the state root: never one that holds the
/// state root, whose layers would then lie inside their own lower directory.
fn covered(state_root: &Path) -> Vec<&'static str> {
    MERGED
        .into_iter()
        .filter(|name| {
            let host = Path::new("/").join(name);
            fs::symlink_metadata(&host).is_ok_and(|found| found.is_dir())
                && !state_root.starts_with(&host)
        })
        .collect()
}

/// The view `layer` gives a command.
pub(crate) fn view(layer: &LayerMounts, state_root: &Path) -> io::Result<LayerView> {
    let mut view = LayerView::default();
    for name in covered(state_root) {
        let host = Path::new("/").join(name);
        let upper = layer.upper.join(name);
        match &layer.work {
            Some(work) => {
                view.overlays
                    .push(Overlay::writable(&host, &upper, &work.join(name))?);
                view.early.push(Mount::Bind {
                    source: Source::Namespace(host.clone()),
                    target: host,
                    writable: true,
                });
            }
            None if upper.is_dir() => view.overlays.push(Overlay::read_only(&host, &upper)?),
            None => {}
        }
    }
    let image_root = layer.upper.join(IMAGE_ROOT);
    if layer.work.is_some() || image_root.is_dir() {
        view.late.push(Mount::Bind {
            source: Source::Layer(image_root),
            target: PathBuf::from("/").join(IMAGE_ROOT),
            writable: layer.work.is_some(),
        });
    }
    Ok(view)
}

/// What a new sandbox's home of layer directory `dir` starts from, first first: the image's
/// `/home/daytona`, and for a root sandbox, whose home is `/root`, the image's `/root` before
/// it (which its `USER root` steps wrote to, as their `HOME`). Only those that exist.
pub(crate) fn image_homes(dir: &Path, user: SandboxUser) -> Vec<PathBuf> {
    let root = (user == SandboxUser::Root).then(|| dir.join("upper").join(IMAGE_ROOT));
    root.into_iter()
        .chain([dir.join("home")])
        .filter(|home| home.is_dir())
        .collect()
}

/// Where a build stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerState {
    Missing,
    Building,
    Built,
    Failed(String),
}

/// What an image says beyond its files, recorded when its build succeeds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ImageConfig {
    /// `ENV` (and the `PATH` it may set), under each sandbox's own environment.
    pub env: BTreeMap<String, String>,
    /// `WORKDIR`, absolute; `None` when the image sets none.
    pub workdir: Option<String>,
    pub user: Option<String>,
}

impl ImageConfig {
    /// The directory a sandbox of this image works in, when it is not the home. Builds before
    /// `WORKDIR` was honoured recorded Docker's `/` for an image without one, and `/` (the
    /// host's read-only root) is no place to work in anyway: both mean the home.
    pub(crate) fn sandbox_workdir(&self) -> Option<String> {
        self.workdir.clone().filter(|workdir| workdir != "/")
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct Status {
    state: String,
    reason: Option<String>,
    image: ImageConfig,
}

/// The layers under a state root.
#[derive(Debug, Clone)]
pub(crate) struct Layers {
    root: PathBuf,
}

impl Layers {
    pub(crate) fn new(state_root: &Path) -> Layers {
        Layers {
            root: state_root.join("layers"),
        }
    }

    /// The directory of layer `hash` (a lowercase hex digest, else `None`).
    pub(crate) fn dir(&self, hash: &str) -> Option<PathBuf> {
        store::is_id_like(hash).then(|| self.root.join(hash))
    }

    pub(crate) fn mounts(&self, hash: &str) -> Option<LayerMounts> {
        Some(LayerMounts {
            upper: self.dir(hash)?.join("upper"),
            work: None,
        })
    }

    pub(crate) fn log(&self, hash: &str) -> Option<PathBuf> {
        Some(self.dir(hash)?.join("build.log"))
    }

    pub(crate) fn lock_path(&self, hash: &str) -> Option<PathBuf> {
        store::is_id_like(hash).then(|| self.root.join(format!("{hash}.lock")))
    }

    pub(crate) fn state(&self, hash: &str) -> LayerState {
        match self.status(hash) {
            None => LayerState::Missing,
            Some(status) => match status.state.as_str() {
                "built" => LayerState::Built,
                "failed" => LayerState::Failed(status.reason.unwrap_or_default()),
                _ => LayerState::Building,
            },
        }
    }

    /// The image configuration of a built layer.
    pub(crate) fn image(&self, hash: &str) -> Option<ImageConfig> {
        self.status(hash)
            .filter(|status| status.state == "built")
            .map(|status| status.image)
    }

    fn status(&self, hash: &str) -> Option<Status> {
        let bytes = fs::read(self.dir(hash)?.join("status.json")).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Records the state of layer `hash` in one rename, so readers never see half a file.
    pub(crate) fn set_state(
        &self,
        hash: &str,
        state: &str,
        reason: Option<&str>,
        image: &ImageConfig,
    ) -> Result<()> {
        let dir = self.dir(hash).ok_or_else(|| invalid_hash(hash))?;
        let status = Status {
            state: state.to_string(),
            reason: reason.map(str::to_string),
            image: image.clone(),
        };
        let bytes = serde_json::to_vec_pretty(&status)
            .map_err(|error| ProviderError::transport(format!("cannot encode a layer: {error}")))?;
        let temporary = dir.join("status.json.tmp");
        let target = dir.join("status.json");
        fs::write(&temporary, bytes)
            .and_then(|()| fs::rename(&temporary, &target))
            .map_err(|error| io_error("write", &target, error))
    }
}

pub(crate) fn invalid_hash(hash: &str) -> ProviderError {
    ProviderError::Api {
        status: Some(400),
        message: format!("invalid image hash `{hash}`"),
        retryable: false,
    }
}

/// Lays out a fresh layer in `dir` for a build: `upper` with the skeleton (owned by `owner`
/// when given), `work`, the image's home and root, and the build's own `/tmp`.
pub(crate) fn prepare(dir: &Path, state_root: &Path, owner: Option<u32>) -> io::Result<()> {
    for sub in ["upper", "work", "home", "tmp"] {
        fs::create_dir_all(dir.join(sub))?;
    }
    let upper = dir.join("upper");
    for name in covered(state_root) {
        let host = Path::new("/").join(name);
        let device = fs::metadata(&host)?.dev();
        fs::create_dir_all(dir.join("work").join(name))?;
        mirror(&host, &upper.join(name), device, SKELETON_DEPTH)?;
    }
    let image_root = upper.join(IMAGE_ROOT);
    fs::create_dir_all(&image_root)?;
    fs::set_permissions(&image_root, fs::Permissions::from_mode(0o700))?;
    if let Some(id) = owner {
        for sub in ["upper", "home", "tmp"] {
            super::user::ensure_owned(&dir.join(sub), id)?;
        }
    }
    Ok(())
}

/// Copies the directories of `host` that everyone may enter (not their files) to `skeleton`,
/// `depth` levels down, with their modes, without following symlinks or crossing into other
/// file systems.
fn mirror(host: &Path, skeleton: &Path, device: u64, depth: usize) -> io::Result<()> {
    let metadata = fs::symlink_metadata(host)?;
    fs::create_dir_all(skeleton)?;
    fs::set_permissions(
        skeleton,
        fs::Permissions::from_mode(metadata.mode() & 0o7777),
    )?;
    if depth == 0 {
        return Ok(());
    }
    let Ok(entries) = fs::read_dir(host) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let Ok(found) = entry.metadata() else {
            continue;
        };
        // Directories others may not enter stay root's: their names are not ours to see.
        if found.is_dir() && found.dev() == device && found.mode() & 0o005 == 0o005 {
            let below = skeleton.join(entry.file_name());
            mirror(&entry.path(), &below, device, depth - 1)?;
        }
    }
    Ok(())
}

/// Removes the skeleton directories a build left as they were: empty, not opaque, with the
/// host directory's mode. Returns whether `skeleton` itself is gone.
pub(crate) fn prune(skeleton: &Path, host: &Path) -> io::Result<bool> {
    let Ok(entries) = fs::read_dir(skeleton) else {
        return Ok(false);
    };
    let mut empty = true;
    for entry in entries.flatten() {
        let kind = entry.file_type()?;
        if kind.is_dir() && !kind.is_symlink() {
            let name = entry.file_name();
            if prune(&entry.path(), &host.join(&name))? {
                continue;
            }
        }
        empty = false;
    }
    let untouched = empty
        && fs::symlink_metadata(host).is_ok_and(|found| {
            found.is_dir()
                && fs::symlink_metadata(skeleton)
                    .is_ok_and(|mine| mine.mode() & 0o7777 == found.mode() & 0o7777)
        })
        && !is_opaque(skeleton);
    if untouched {
        fs::remove_dir(skeleton)?;
    }
    Ok(untouched)
}

/// Whether overlayfs marked the directory opaque (its lower contents were all removed).
fn is_opaque(path: &Path) -> bool {
    let mut value = [0u8; 8];
    rustix::fs::lgetxattr(path, "user.overlay.opaque", &mut value).is_ok()
}

/// Prunes every covered directory of a built layer and drops its work directories.
pub(crate) fn settle(dir: &Path, state_root: &Path) -> io::Result<()> {
    let upper = dir.join("upper");
    for name in covered(state_root) {
        prune(&upper.join(name), &Path::new("/").join(name))?;
    }
    let image_root = upper.join(IMAGE_ROOT);
    if fs::read_dir(&image_root).is_ok_and(|mut entries| entries.next().is_none()) {
        fs::remove_dir(&image_root)?;
    }
    for sub in ["work", "tmp"] {
        let path = dir.join(sub);
        if path.exists() {
            store::remove_trashed(&path).map_err(|error| io::Error::other(error.to_string()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layer_recording_docker_root_workdir_works_in_the_home() {
        let image = |workdir: Option<&str>| ImageConfig {
            workdir: workdir.map(str::to_string),
            ..ImageConfig::default()
        };
        assert_eq!(image(None).sandbox_workdir(), None);
        assert_eq!(image(Some("/")).sandbox_workdir(), None);
        assert_eq!(
            image(Some("/opt/app")).sandbox_workdir().as_deref(),
            Some("/opt/app")
        );
        // Records written before `workdir` was read keep loading.
        let old: Status = serde_json::from_str(r#"{"state":"built","image":{"env":{}}}"#).unwrap();
        assert_eq!(old.image.workdir, None);
    }

    #[test]
    fn pruning_keeps_what_a_build_changed_and_drops_the_rest() {
        let host = tempfile::tempdir().unwrap();
        let layer = tempfile::tempdir().unwrap();
        for path in ["a/b", "a/c", "d"] {
            fs::create_dir_all(host.path().join(path)).unwrap();
        }
        let skeleton = layer.path().join("usr");
        let device = fs::metadata(host.path()).unwrap().dev();
        mirror(host.path(), &skeleton, device, 4).unwrap();
        assert!(skeleton.join("a/c").is_dir());
        fs::write(skeleton.join("a/b/new"), "x").unwrap();
        fs::create_dir(skeleton.join("made")).unwrap();

        assert!(!prune(&skeleton, host.path()).unwrap());
        assert!(skeleton.join("a/b/new").is_file());
        // A directory the build made is kept even when empty: the host has none there.
        assert!(skeleton.join("made").is_dir());
        assert!(!skeleton.join("a/c").exists());
        assert!(!skeleton.join("d").exists());
    }
}
