//! The `local` provider: sandboxes are directories on this machine, and commands run inside
//! bubblewrap when it is installed (host read-only, the sandbox home at `/home/daytona`, private
//! `/tmp`, own user/pid/ipc/uts namespaces, network shared, an unprivileged user with no
//! capabilities even when this process is root, which may be uid 0 of the sandbox's own user
//! namespace for a root sandbox), or with only a separate `HOME` and a clean
//! environment when it is not.
//!
//! This file holds the provider and how it is built; `provider_impl` maps the
//! [`Provider`](super::Provider) calls onto the store (metadata, locks), the launcher (how a
//! command starts), the process tracker and the files of each concern. Nothing here prints, or
//! writes or logs the environment of an exec request: that is where secrets travel.

mod attach;
mod bubblewrap;
mod cgroup;
mod cgroup_files;
mod cgroup_tree;
mod copies;
mod copy;
mod cpus;
mod descriptors;
mod env;
mod exec;
mod files;
mod gc;
mod identity;
mod init;
mod invocation;
mod join;
mod launch;
mod layer;
mod layer_build;
mod mounts;
mod network;
mod network_connect;
mod overlay;
mod paths;
mod process;
mod process_env;
mod process_group;
mod procfs;
mod provider_impl;
mod record;
mod sandbox_network;
mod sandboxed;
mod session;
mod session_files;
mod session_logs;
mod session_shell;
mod stage;
mod state_root;
mod store;
mod usage;
mod user;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use self::launch::{Isolating, Launcher};
use self::store::{Metadata, Store};
use super::{ProviderError, Result, Sandbox};

pub use self::attach::Attached;
pub use self::gc::{Expired, Garbage, StaleEntry};
pub(crate) use self::identity::{POSSIBLE_USERS, SandboxUser};
pub(crate) use self::layer::ImageConfig;
pub use self::layer::LayerState;
pub(crate) use self::layer_build::BUILD_CONTEXT;
pub use self::layer_build::{ImageLayers, LayerBuild};
pub use self::paths::SANDBOX_HOME;
pub(crate) use self::paths::is_anchored;
pub use self::state_root::state_root;

/// Whether to use bubblewrap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IsolationMode {
    /// Bubblewrap when it is installed and works, else reduced isolation. Whether it works is
    /// tried on first need (a command to start, [`LocalProvider::isolation`]), once per process.
    #[default]
    Auto,
    /// Bubblewrap or an error.
    Bubblewrap,
    /// Never bubblewrap: only a separate `HOME` and a clean environment.
    Off,
}

/// The isolation a provider actually gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// Commands run in bubblewrap.
    Bubblewrap,
    /// Commands run on the host with their own `HOME` and a clean environment, nothing more.
    Reduced,
}

/// How to build a [`LocalProvider`].
#[derive(Debug, Clone, Default)]
pub struct LocalOptions {
    pub isolation: IsolationMode,
    /// Host paths every sandbox sees read-only at the same path under bubblewrap (a local
    /// repository to clone, say); without bubblewrap the whole host is visible anyway.
    pub read_only_paths: Vec<PathBuf>,
}

/// Sandboxes as directories under a state root.
#[derive(Debug, Clone)]
pub struct LocalProvider {
    store: Store,
    launcher: Arc<Launcher>,
    /// Remove sandboxes whose `ttl` has passed when listing (see `gc.rs`).
    expire: bool,
    /// The CPU counters of sandboxes measured without a cgroup (see `usage.rs`).
    meters: Arc<usage::Meters>,
}

impl LocalProvider {
    /// A provider on `root` (created if missing), with bubblewrap when available.
    pub fn new(root: PathBuf) -> Result<Self> {
        Self::with_options(root, LocalOptions::default())
    }

    pub fn with_isolation(root: PathBuf, isolation: IsolationMode) -> Result<Self> {
        Self::with_options(
            root,
            LocalOptions {
                isolation,
                ..LocalOptions::default()
            },
        )
    }

    pub fn with_options(root: PathBuf, options: LocalOptions) -> Result<Self> {
        let user = user::HostUser::current();
        let isolating = match options.isolation {
            IsolationMode::Off => Isolating::Off,
            IsolationMode::Auto => Isolating::WhenAvailable,
            IsolationMode::Bubblewrap => Isolating::Always(bubblewrap::find(user).ok_or_else(|| ProviderError::Unsupported {
                provider: "local",
                operation: match user {
                    user::HostUser::Invoker => "bubblewrap isolation (`bwrap` is not installed or cannot create namespaces here)".to_string(),
                    user::HostUser::Dedicated(id) => format!("bubblewrap isolation (`bwrap` is not installed, or cannot create user namespaces here as uid {id}, which sandbox commands run as when `ralph-town` is root)"),
                },
            })?),
        };
        let store = Store::open(root)?;
        let launcher = Launcher::new(isolating, user, store.root(), options.read_only_paths);
        Ok(LocalProvider {
            store,
            launcher: Arc::new(launcher),
            expire: false,
            meters: Arc::default(),
        })
    }

    /// Whether sandboxes' memory is enforced: a cgroup memory controller this process may
    /// write was found (once per process). Where it is not, the memory is recorded only.
    pub fn enforces_memory(&self) -> bool {
        cgroup::available()
    }

    /// The isolation commands get. Finding it out may try `bwrap` (once per process).
    pub fn isolation(&self) -> Isolation {
        if self.launcher.is_isolated() {
            Isolation::Bubblewrap
        } else {
            Isolation::Reduced
        }
    }

    /// Refuses a teammate `workdir` that setup would make on the host: without bubblewrap an
    /// absolute path is the host's own (`/tmp/app` is the host's `/tmp`), not the sandbox's.
    pub fn check_workdir(&self, teammate: &str, workdir: &str) -> Result<()> {
        if !workdir.starts_with('/') || self.isolation() == Isolation::Bubblewrap {
            return Ok(());
        }
        Err(ProviderError::Unsupported {
            provider: "local",
            operation: format!(
                "the absolute `workdir` `{workdir}` of teammate `{teammate}` without bubblewrap \
                 (isolation is reduced, so setup would write to the host's `{workdir}`); \
                 install `bwrap`, or give a `workdir` relative to the sandbox home"
            ),
        })
    }

    /// The state root this provider works on.
    pub fn root(&self) -> &Path {
        self.store.root()
    }

    /// The host directory behind sandbox `id`'s home (`/home/daytona` inside).
    pub fn home_dir(&self, id: &str) -> PathBuf {
        self.store.home_dir(id)
    }

    async fn blocking_resolve(&self, id: &str) -> Result<Metadata> {
        let (store, id) = (self.store.clone(), id.to_string());
        blocking(move || store.resolve(&id)).await
    }

    /// Read-modify-write of one sandbox's metadata under the exclusive root lock.
    async fn update(
        &self,
        id: &str,
        change: impl FnOnce(&Store, &mut Metadata) + Send + 'static,
    ) -> Result<Sandbox> {
        let (store, id) = (self.store.clone(), id.to_string());
        blocking(move || {
            let _lock = store.lock(true)?;
            let mut metadata = store.resolve(&id)?;
            change(&store, &mut metadata);
            store.write(&metadata)?;
            Ok(metadata.to_sandbox())
        })
        .await
    }
}

/// Runs blocking file work (locks, metadata, file copies) off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work).await.map_err(|error| {
        ProviderError::transport(format!("a local provider task failed: {error}"))
    })?
}
