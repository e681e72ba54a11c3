//! Building a snapshot layer, one step at a time: the provider's side of an image build. The
//! caller (`serve`) reads the Dockerfile and decides the steps; this file runs each one under
//! bubblewrap with the layer mounted writable (as uid 0 inside, or the step's `USER`), appends
//! its output to the build log, and records the outcome.
//!
//! A multi-stage build makes each earlier stage its own layer over the host, under the image's
//! directory (`stages/<index>`), while the last stage builds the image's layer itself; all
//! stages share the build's `/tmp` (never part of an image), which is how files pass from one
//! stage to another. Earlier stages go when the build finishes or fails.
//!
//! A build step sees what a sandbox command sees (host read-only, no state root, no host home,
//! the network shared), except that writes to the covered system directories, `/root` and
//! `/home/daytona` land in the layer. It never sees the host's secrets: nothing of the host's
//! environment reaches it, and host files keep their owners.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use super::bubblewrap::Inside;
use super::layer::{self, ImageConfig, LayerMounts, LayerState, Layers};
use super::paths;
use super::store::{SandboxDirs, io_error};
use super::{LocalProvider, blocking};
use crate::provider::{ProviderError, Result};

/// Where a build step finds the build context (the files `COPY` and `ADD` take).
pub(crate) const BUILD_CONTEXT: &str = "/tmp/.build-context";

/// A layer being built; holds its lock until finished or dropped.
#[derive(Debug)]
pub struct LayerBuild {
    provider: LocalProvider,
    hash: String,
    dir: PathBuf,
    /// The earlier stage steps run in, or `None` for the image's own layer.
    stage: Option<usize>,
    log: File,
    _lock: File,
}

impl LocalProvider {
    fn layers(&self) -> Layers {
        Layers::new(self.store.root())
    }

    /// The build log of layer `hash`.
    pub(crate) fn layer_log(&self, hash: &str) -> Option<PathBuf> {
        self.layers().log(hash)
    }

    pub(crate) fn layer_state(&self, hash: &str) -> LayerState {
        self.layers().state(hash)
    }

    /// The host uid a sandbox's commands run as: the one that owns what they listen on.
    pub(crate) fn sandbox_host_uid(&self) -> u32 {
        self.launcher
            .owner()
            .unwrap_or_else(|| rustix::process::geteuid().as_raw())
    }

    /// Starts building layer `hash`, or `None` when it is built already (the cache). Waits
    /// while another build of the same hash runs, here or in another process.
    pub(crate) async fn begin_build(&self, hash: &str) -> Result<Option<LayerBuild>> {
        let layers = self.layers();
        let dir = layers.dir(hash).ok_or_else(|| layer::invalid_hash(hash))?;
        let lock_path = layers
            .lock_path(hash)
            .ok_or_else(|| layer::invalid_hash(hash))?;
        let (store, owner, hash) = (self.store.clone(), self.launcher.owner(), hash.to_string());
        let provider = self.clone();
        blocking(move || {
            fs::create_dir_all(lock_path.parent().unwrap_or(Path::new("/")))
                .map_err(|error| io_error("create", &lock_path, error))?;
            let lock = File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_path)
                .map_err(|error| io_error("open", &lock_path, error))?;
            lock.lock()
                .map_err(|error| io_error("lock", &lock_path, error))?;
            if layers.state(&hash) == LayerState::Built {
                return Ok(None);
            }
            if dir.exists() {
                let trashed = store.trash(&dir, "layer")?;
                super::store::remove_trashed(&trashed)?;
            }
            layer::prepare(&dir, store.root(), owner).map_err(|error| {
                let _ = super::store::remove_trashed(&dir);
                io_error("prepare", &dir, error)
            })?;
            let log_path = dir.join("build.log");
            let log =
                File::create(&log_path).map_err(|error| io_error("create", &log_path, error))?;
            layers.set_state(&hash, "building", None, &ImageConfig::default())?;
            Ok(Some(LayerBuild {
                provider,
                hash,
                dir,
                stage: None,
                log,
                _lock: lock,
            }))
        })
        .await
    }

    /// Makes snapshot `name` show layer `hash` to the sandboxes created from it.
    pub(crate) async fn link_snapshot(&self, name: &str, hash: &str) -> Result<()> {
        if self.layers().dir(hash).is_none() {
            return Err(layer::invalid_hash(hash));
        }
        let target = self.store.snapshot_dir(name);
        let hash = hash.to_string();
        blocking(move || {
            fs::create_dir_all(&target).map_err(|error| io_error("create", &target, error))?;
            let link = target.join("layer");
            fs::write(&link, hash).map_err(|error| io_error("write", &link, error))
        })
        .await
    }

    /// Gives sandbox `id`, made before its image was built, the layer `hash`: its files, its
    /// home, its environment (the sandbox's own values win) and its working directory.
    pub(crate) async fn apply_layer(&self, id: &str, hash: &str) -> Result<()> {
        let layers = self.layers();
        let image = layers
            .image(hash)
            .ok_or_else(|| ProviderError::not_found(format!("built layer `{hash}`")))?;
        let dir = layers.dir(hash).ok_or_else(|| layer::invalid_hash(hash))?;
        let owner = self.launcher.owner();
        let hash = hash.to_string();
        self.update(id, move |store, metadata| {
            let home = store.home_dir(&metadata.id);
            let user = super::identity::SandboxUser::of_record(&metadata.user);
            let copied = layer::image_homes(&dir, user)
                .iter()
                .try_for_each(|from| super::copy::merge_tree(from, &home))
                // The home is the sandbox user's already; what was copied into it is not yet.
                .and_then(|()| match owner {
                    Some(owner) => super::user::give_tree(&home, owner),
                    None => Ok(()),
                });
            if copied.is_ok() {
                // A sandbox's view is fixed when its init starts: one started before the
                // layer (none should have) must not hide it.
                super::init::end(&store.run_dir(&metadata.id));
                metadata.layer = Some(hash);
                metadata.workdir = image.sandbox_workdir();
                let mut env = image.env.clone();
                env.extend(std::mem::take(&mut metadata.env));
                metadata.env = env;
            }
        })
        .await?;
        let metadata = self.blocking_resolve(id).await?;
        if metadata.layer.is_none() {
            return Err(ProviderError::transport(format!(
                "cannot copy the image's home into sandbox `{id}`"
            )));
        }
        Ok(())
    }
}

impl LayerBuild {
    /// The directory of the layer steps run in now.
    fn layer_dir(&self) -> PathBuf {
        match self.stage {
            Some(index) => self.dir.join("stages").join(index.to_string()),
            None => self.dir.clone(),
        }
    }

    /// Makes the layer of earlier stage `index`, over the host, and runs later steps in it.
    pub(crate) async fn begin_stage(&mut self, index: usize) -> Result<()> {
        self.stage = Some(index);
        let (dir, root) = (self.layer_dir(), self.provider.store.root().to_path_buf());
        let owner = self.provider.launcher.owner();
        blocking(move || {
            layer::prepare(&dir, &root, owner).map_err(|error| io_error("prepare", &dir, error))
        })
        .await
    }

    /// Runs later steps in earlier stage `index` (begun before), or, with `None`, in the
    /// image's own layer.
    pub(crate) fn enter(&mut self, stage: Option<usize>) {
        self.stage = stage;
    }

    /// The host directory behind [`BUILD_CONTEXT`].
    pub(crate) fn context_dir(&self) -> PathBuf {
        self.dir.join("tmp").join(".build-context")
    }

    /// Where uploaded context archives wait to be unpacked (`/tmp/.build-archives` inside).
    pub(crate) fn archives_dir(&self) -> PathBuf {
        self.dir.join("tmp").join(".build-archives")
    }

    /// Hands the build context and its archives to the build's user.
    pub(crate) async fn own_context(&self) -> Result<()> {
        let dirs = [self.context_dir(), self.archives_dir()];
        let owner = self.provider.launcher.owner();
        blocking(move || {
            for dir in dirs.iter().filter(|dir| dir.exists()) {
                if let Some(owner) = owner {
                    super::user::ensure_owned(dir, owner)
                        .map_err(|error| io_error("give away", dir, error))?;
                }
            }
            Ok(())
        })
        .await
    }

    /// Appends a line to the build log.
    pub(crate) fn note(&mut self, line: &str) -> Result<()> {
        writeln!(self.log, "{line}").map_err(|error| io_error("write", &self.dir, error))
    }

    /// Runs `program` in the layer, in `cwd` (made if missing), as `inside_id`, with exactly
    /// `environment`; its output goes to the build log. Returns its exit code.
    pub(crate) async fn run(
        &self,
        program: &[String],
        cwd: &str,
        environment: BTreeMap<String, String>,
        inside_id: u32,
    ) -> Result<i32> {
        // Without bubblewrap a step would run on the host itself, writing to its `/usr`.
        if !self.provider.launcher.is_isolated() {
            return Err(ProviderError::Unsupported {
                provider: "local",
                operation: "running an image build step without bubblewrap (install `bwrap`)"
                    .to_string(),
            });
        }
        let layer = self.layer_dir();
        let dirs = SandboxDirs {
            home: layer.join("home"),
            tmp: self.dir.join("tmp"),
            volumes: Vec::new(),
            layer: Some(LayerMounts {
                upper: layer.join("upper"),
                work: Some(layer.join("work")),
            }),
            cpus: None,
            id: None,
            run_dir: None,
            hosts: None,
            network: Some(crate::provider::Network::Blocked),
            memory: None,
            user: super::identity::SandboxUser::default(),
        };
        let location = paths::locate(cwd);
        let program: Vec<&str> = program.iter().map(String::as_str).collect();
        let invocation = self.provider.launcher.invocation(
            &dirs,
            &location,
            environment,
            &program,
            true,
            Inside::build_step(inside_id),
        );
        let failed = |error: std::io::Error| {
            ProviderError::transport(format!("cannot start a build step: {error}"))
        };
        let mut command = invocation.command().map_err(failed)?;
        let output = self.log.try_clone().map_err(failed)?;
        let errors = self.log.try_clone().map_err(failed)?;
        command
            .stdin(Stdio::null())
            .stdout(Stdio::from(output))
            .stderr(Stdio::from(errors));
        let status = tokio::process::Command::from(command)
            .kill_on_drop(true)
            .status()
            .await
            .map_err(failed)?;
        Ok(status.code().unwrap_or(128))
    }

    /// The last line the build log holds (a failed step's last words), if any.
    pub(crate) fn last_line(&self) -> Option<String> {
        let text = fs::read_to_string(self.dir.join("build.log")).ok()?;
        let line = text.lines().rev().find(|line| !line.trim().is_empty())?;
        Some(line.chars().take(300).collect())
    }

    /// Records the build as done, with what the image says about sandboxes.
    pub(crate) async fn finish(self, image: ImageConfig) -> Result<()> {
        let root = self.provider.store.root().to_path_buf();
        blocking(move || {
            remove_stages(&self.dir)?;
            layer::settle(&self.dir, &root)
                .map_err(|error| io_error("settle", &self.dir, error))?;
            Layers::new(&root).set_state(&self.hash, "built", None, &image)
        })
        .await
    }

    /// Records the build as failed; its log stays, its files go.
    pub(crate) async fn fail(self, reason: &str) -> Result<()> {
        let root = self.provider.store.root().to_path_buf();
        let reason = reason.to_string();
        blocking(move || {
            remove_stages(&self.dir)?;
            for sub in ["upper", "work", "home", "tmp"] {
                let path = self.dir.join(sub);
                if path.exists() {
                    let _ = super::store::remove_trashed(&path);
                }
            }
            Layers::new(&root).set_state(
                &self.hash,
                "failed",
                Some(&reason),
                &ImageConfig::default(),
            )
        })
        .await
    }
}

/// Removes the layers of a build's earlier stages.
fn remove_stages(dir: &Path) -> Result<()> {
    let stages = dir.join("stages");
    if stages.exists() {
        super::store::remove_trashed(&stages)?;
    }
    Ok(())
}

/// Image layers built on this machine: what `serve` needs to build Daytona images for the
/// sandboxes of a provider whose sandboxes are directories here ([`crate::provider::Provider::image_layers`]).
#[async_trait::async_trait]
pub trait ImageLayers: Send + Sync {
    /// Where layer `hash` is: building, built, failed, or absent.
    fn layer_state(&self, hash: &str) -> LayerState;
    /// The build log of layer `hash`.
    fn layer_log(&self, hash: &str) -> Option<PathBuf>;
    /// The host uid a sandbox's commands run as (the one that owns what they listen on).
    fn sandbox_host_uid(&self) -> u32;
    /// Starts building layer `hash`, or `None` when it is built already.
    async fn begin_build(&self, hash: &str) -> Result<Option<LayerBuild>>;
    /// Names layer `hash` `name`: sandboxes of snapshot `name` see it.
    async fn link_snapshot(&self, name: &str, hash: &str) -> Result<()>;
    /// Gives sandbox `id` the layer `hash`.
    async fn apply_layer(&self, id: &str, hash: &str) -> Result<()>;
}

#[async_trait::async_trait]
impl ImageLayers for LocalProvider {
    fn layer_state(&self, hash: &str) -> LayerState {
        LocalProvider::layer_state(self, hash)
    }

    fn layer_log(&self, hash: &str) -> Option<PathBuf> {
        LocalProvider::layer_log(self, hash)
    }

    fn sandbox_host_uid(&self) -> u32 {
        LocalProvider::sandbox_host_uid(self)
    }

    async fn begin_build(&self, hash: &str) -> Result<Option<LayerBuild>> {
        LocalProvider::begin_build(self, hash).await
    }

    async fn link_snapshot(&self, name: &str, hash: &str) -> Result<()> {
        LocalProvider::link_snapshot(self, name, hash).await
    }

    async fn apply_layer(&self, id: &str, hash: &str) -> Result<()> {
        LocalProvider::apply_layer(self, id, hash).await
    }
}
