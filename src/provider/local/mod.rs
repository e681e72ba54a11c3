//! The `local` provider: sandboxes are directories on this machine, and commands run inside
//! bubblewrap when it is installed (host read-only, the sandbox home at `/home/daytona`, private
//! `/tmp`, own user/pid/ipc/uts namespaces, network shared, an unprivileged user with no
//! capabilities even when this process is root, which may be uid 0 of the sandbox's own user
//! namespace for a root sandbox), or with only a separate `HOME` and a clean
//! environment when it is not.
//!
//! This file maps the [`Provider`] calls onto the store (metadata, locks), the launcher (how a
//! command starts), the process tracker and the environment changes (`env`). It never prints,
//! and never writes or logs the environment of an exec request: that is where secrets travel.

mod attach;
mod bubblewrap;
mod cgroup;
mod cgroup_files;
mod cgroup_tree;
mod copies;
mod copy;
mod cpus;
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
mod record;
mod sandboxed;
mod session;
mod session_files;
mod session_logs;
mod session_shell;
mod stage;
mod store;
mod user;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;

use self::launch::{Isolating, Launcher};
use self::store::{Metadata, Store};
use super::{
    AttachRequest, CommandLogs, CreateSandbox, ExecOutput, ExecRequest, HostCommandRequest,
    InnerListener, Labels, Lifecycle, LogStream, Network, Provider, ProviderError, ProviderKind,
    ResourceUsage, Resources, Result, Sandbox, SandboxState, SessionCommand, SessionExecOutput,
    SessionExecRequest, SessionInfo, ShellAccess, TrackedProcess,
};

pub use self::attach::Attached;
pub use self::gc::{Expired, Garbage, StaleEntry};
pub(crate) use self::identity::{POSSIBLE_USERS, SandboxUser};
pub(crate) use self::layer::ImageConfig;
pub use self::layer::LayerState;
pub(crate) use self::layer_build::BUILD_CONTEXT;
pub use self::layer_build::{ImageLayers, LayerBuild};
pub use self::paths::SANDBOX_HOME;
pub(crate) use self::paths::is_anchored;

/// The state root: `$RALPH_TOWN_HOME`, else `$XDG_STATE_HOME/ralph-town`, else
/// `~/.local/state/ralph-town`.
pub fn state_root() -> PathBuf {
    state_root_from(|name| std::env::var_os(name), std::env::home_dir())
}

fn state_root_from(
    variable: impl Fn(&str) -> Option<std::ffi::OsString>,
    home: Option<PathBuf>,
) -> PathBuf {
    let variable = |name: &str| {
        variable(name)
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
    };
    if let Some(root) = variable("RALPH_TOWN_HOME") {
        return root;
    }
    if let Some(state) = variable("XDG_STATE_HOME") {
        return state.join("ralph-town");
    }
    home.unwrap_or_else(|| PathBuf::from("/"))
        .join(".local/state/ralph-town")
}

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

#[async_trait]
impl Provider for LocalProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Local
    }

    async fn list(&self, labels: &Labels) -> Result<Vec<Sandbox>> {
        let (store, expire) = (self.store.clone(), self.expire);
        let all = blocking(move || {
            let listed = store.list()?;
            if expire {
                return Ok(gc::expire(&store, listed, std::time::SystemTime::now())?.live);
            }
            Ok(listed)
        })
        .await?;
        Ok(all
            .into_iter()
            .filter(|metadata| {
                labels
                    .iter()
                    .all(|(key, value)| metadata.labels.get(key) == Some(value))
            })
            .map(Metadata::into_sandbox)
            .collect())
    }

    async fn get(&self, id: &str) -> Result<Sandbox> {
        Ok(self.blocking_resolve(id).await?.to_sandbox())
    }

    async fn create(&self, request: &CreateSandbox) -> Result<Sandbox> {
        self.create_from(request, None).await
    }

    async fn start(&self, id: &str) -> Result<Sandbox> {
        self.update(id, |_, metadata| metadata.state = SandboxState::Started)
            .await
    }

    async fn stop(&self, id: &str) -> Result<Sandbox> {
        let cgroups = self.launcher.cgroups().clone();
        self.update(id, move |store, metadata| {
            metadata.state = SandboxState::Stopped;
            // Under the lock: an exec that passed its state check has registered by now.
            process::kill_registered(&store.run_dir(&metadata.id));
            cgroups.kill(&metadata.id);
            session_files::forget_all(store, &metadata.id);
        })
        .await
    }

    async fn delete(&self, id: &str) -> Result<()> {
        let (store, id) = (self.store.clone(), id.to_string());
        let cgroups = self.launcher.cgroups().clone();
        blocking(move || {
            let (trashed, key) = {
                let _lock = store.lock(true)?;
                let metadata = store.resolve(&id)?;
                (store.move_to_trash(&metadata.id)?, metadata.id)
            };
            process::kill_registered(&trashed.join("run"));
            cgroups.remove(&key);
            store::remove_trashed(&trashed)
        })
        .await
    }

    async fn set_labels(&self, id: &str, labels: &Labels) -> Result<Sandbox> {
        let labels = labels.clone();
        self.update(id, move |_, metadata| metadata.labels = labels)
            .await
    }

    async fn set_lifecycle(&self, id: &str, lifecycle: &Lifecycle) -> Result<Sandbox> {
        let lifecycle = *lifecycle;
        self.update(id, move |_, metadata| {
            let current = &mut metadata.lifecycle;
            current.auto_stop = lifecycle.auto_stop.or(current.auto_stop);
            current.auto_archive = lifecycle.auto_archive.or(current.auto_archive);
            current.auto_delete = lifecycle.auto_delete.or(current.auto_delete);
        })
        .await
    }

    /// The memory limit of a live cgroup changes with the record, under the root lock, so
    /// that no command starts with the old one; when the kernel refuses it (v1 cannot take
    /// a limit below what the processes hold) nothing changes.
    async fn set_resources(&self, id: &str, resources: &Resources) -> Result<Sandbox> {
        let (store, id, resources) = (self.store.clone(), id.to_string(), *resources);
        let cgroups = self.launcher.cgroups().clone();
        blocking(move || {
            let _lock = store.lock(true)?;
            let mut metadata = store.resolve(&id)?;
            let current = &mut metadata.resources;
            current.cpu = resources.cpu.or(current.cpu);
            current.memory = resources.memory.or(current.memory);
            current.disk = resources.disk.or(current.disk);
            if let Some(cgroup) = cgroups.sandbox(&metadata.id) {
                match cgroup.limit(metadata.resources.memory) {
                    Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                        return Err(ProviderError::Api {
                            status: None,
                            message: format!(
                                "cannot set the memory of sandbox `{}`: {error}",
                                metadata.name
                            ),
                            retryable: false,
                        });
                    }
                    _ => {}
                }
            }
            store.write(&metadata)?;
            Ok(metadata.to_sandbox())
        })
        .await
    }

    async fn set_network(&self, id: &str, network: &Network) -> Result<()> {
        let (store, id, network) = (self.store.clone(), id.to_string(), network.clone());
        let user = self.launcher.owner();
        let missing = network::missing_programs(&network).map(|missing| self.unsupported(&missing));
        let unisolated = (!self.launcher.is_isolated()).then(|| {
            self.unsupported(
                "blocking or filtering a sandbox's network without bubblewrap (install `bwrap`)",
            )
        });
        blocking(move || {
            let _lock = store.lock(true)?;
            let mut metadata = store.resolve(&id)?;
            let shared = metadata.own_network().is_none();
            // This machine's network is open already.
            if shared && network == Network::Open {
                return Ok(());
            }
            if let Some(refused) = missing.or(unisolated) {
                return Err(refused);
            }
            let run_dir = store.run_dir(&metadata.id);
            init::while_held(&run_dir, |pid| match pid {
                // A sandbox on this machine's network gets one of its own at its init's next
                // start: ended now, if nothing of the sandbox's runs in it (which the change
                // would cut off or kill).
                Some(pid) if shared => {
                    let running = init::others_for(pid, SETTLE);
                    if !running.is_empty() {
                        return Ok(Err(busy(&metadata.name, &running)));
                    }
                    init::end(&run_dir);
                    network::change(&run_dir, None, user, &network).map(Ok)
                }
                pid => network::change(&run_dir, pid, user, &network).map(Ok),
            })
            .map_err(|error| ProviderError::Api {
                status: None,
                message: format!(
                    "cannot change the network of sandbox `{}`: {error}",
                    metadata.name
                ),
                retryable: false,
            })??;
            metadata.network = Some(network);
            metadata.network_blocked = false;
            store.write(&metadata)
        })
        .await
    }

    async fn connect_port(&self, id: &str, port: u16) -> Result<Option<std::net::TcpStream>> {
        let metadata = self.blocking_resolve(id).await?;
        if metadata.own_network().is_none() {
            return Ok(None);
        }
        let run_dir = self.store.run_dir(&metadata.id);
        blocking(move || {
            let found = init::while_held(&run_dir, |init| match init {
                Some(init) => network_connect::connect(init, port),
                None => Ok(None),
            })
            .map_err(|error| ProviderError::Api {
                status: Some(502),
                message: format!(
                    "cannot reach port {port} of sandbox `{}`: {error}",
                    metadata.name
                ),
                retryable: false,
            })?;
            found.map(Some).ok_or_else(|| {
                ProviderError::not_found(format!(
                    "a listener on port {port} in sandbox `{}`",
                    metadata.name
                ))
            })
        })
        .await
    }

    async fn listen_port(&self, id: &str, port: u16) -> Result<Option<InnerListener>> {
        let metadata = self.blocking_resolve(id).await?;
        if metadata.own_network().is_none() {
            return Ok(None);
        }
        let run_dir = self.store.run_dir(&metadata.id);
        blocking(move || {
            let failed = |error: std::io::Error| ProviderError::Api {
                status: None,
                message: format!(
                    "cannot listen on port {port} in the network of sandbox `{}`: {error}",
                    metadata.name
                ),
                retryable: false,
            };
            let listening = init::while_held(&run_dir, |init| {
                init.map(|init| network_connect::listen(init, port))
                    .transpose()
            })
            .map_err(failed)?;
            let (listener, network) = listening.ok_or_else(|| ProviderError::Conflict {
                message: format!(
                    "the network of sandbox `{}` is not up: nothing of it runs",
                    metadata.name
                ),
            })?;
            Ok(Some(InnerListener { listener, network }))
        })
        .await
    }

    async fn network_identity(&self, id: &str) -> Result<Option<u64>> {
        let metadata = self.blocking_resolve(id).await?;
        if metadata.own_network().is_none() {
            return Ok(None);
        }
        let run_dir = self.store.run_dir(&metadata.id);
        blocking(move || {
            let found = init::while_held(&run_dir, |init| {
                Ok(init.and_then(|init| network_connect::identity(init).ok()))
            });
            Ok(found.unwrap_or(None))
        })
        .await
    }

    async fn usage(&self, id: &str) -> Result<Option<ResourceUsage>> {
        let metadata = self.blocking_resolve(id).await?;
        let cgroups = self.launcher.cgroups().clone();
        blocking(move || Ok(cgroups.sandbox(&metadata.id).map(|cgroup| cgroup.usage()))).await
    }

    async fn exec(&self, id: &str, request: &ExecRequest) -> Result<ExecOutput> {
        self.run(id, request).await
    }

    async fn work_dir(&self, id: &str) -> Result<Option<String>> {
        let metadata = self.blocking_resolve(id).await?;
        let dirs = self.store.dirs(&metadata);
        Ok(self.image_workdir(&metadata, &dirs).map(str::to_string))
    }

    async fn upload(&self, id: &str, path: &str, contents: &[u8]) -> Result<()> {
        self.write_file(id, path, contents.to_vec()).await
    }

    async fn download(&self, id: &str, path: &str) -> Result<Vec<u8>> {
        self.read_file(id, path).await
    }

    /// A command of ours that opens the shell: the launcher's own command line would carry
    /// the sandbox's environment, whose values may be credentials.
    async fn shell_access(
        &self,
        id: &str,
        _cwd: Option<&str>,
        _expires_in_minutes: u32,
    ) -> Result<ShellAccess> {
        let metadata = self.blocking_resolve(id).await?;
        let quoted = shlex::try_quote(&metadata.id).unwrap_or_default();
        Ok(ShellAccess::Local {
            sandbox_id: metadata.id.clone(),
            command: format!("ralph-town sandbox ssh {quoted} --provider local --connect"),
        })
    }

    /// The command stays in this process's group, so the user's terminal signals reach it. As
    /// with `docker exec`, a command that this process leaves behind by dying runs on in the
    /// sandbox until it ends or the sandbox stops.
    async fn attach(&self, id: &str, request: &AttachRequest) -> Result<Option<i32>> {
        let terminal = (request.terminal || request.command.is_none())
            .then(|| std::env::var("TERM").unwrap_or_else(|_| "xterm-256color".to_string()));
        let command = self
            .command(
                id,
                request.cwd.as_deref(),
                request.command.as_deref(),
                terminal.as_deref(),
            )
            .await?;
        let mut child = tokio::process::Command::from(command)
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| {
                ProviderError::transport(format!("cannot start a command: {error}"))
            })?;
        let status = match request.timeout {
            Some(limit) => match tokio::time::timeout(limit, child.wait()).await {
                Ok(status) => status,
                Err(_) => return Ok(None),
            },
            None => child.wait().await,
        }
        .map_err(|error| ProviderError::transport(format!("lost a command: {error}")))?;
        Ok(Some(status.code().unwrap_or(1)))
    }

    async fn host_command(
        &self,
        id: &str,
        request: &HostCommandRequest,
    ) -> Result<std::process::Command> {
        let mut command = self
            .command(
                id,
                request.cwd.as_deref(),
                request.command.as_deref(),
                request.terminal.as_deref(),
            )
            .await?;
        command.envs(&request.env);
        Ok(command)
    }

    fn image_layers(&self) -> Option<&dyn ImageLayers> {
        Some(self)
    }

    async fn track_process(&self, id: &str, pgid: u32) -> Result<TrackedProcess> {
        Ok(TrackedProcess::new(self.register_group(id, pgid).await?))
    }

    async fn set_env(
        &self,
        id: &str,
        set: &std::collections::BTreeMap<String, String>,
        unset: &[String],
    ) -> Result<()> {
        self.change_env(id, set, unset).await
    }

    async fn fork(&self, id: &str, request: &CreateSandbox) -> Result<Sandbox> {
        let source = self.blocking_resolve(id).await?;
        // A copy runs as its source's user unless asked otherwise.
        let request = CreateSandbox {
            user: request.user.clone().or(Some(source.user.clone())),
            ..request.clone()
        };
        self.create_from(&request, Some(self.store.home_dir(&source.id)))
            .await
    }

    async fn capture_snapshot(&self, id: &str, name: &str) -> Result<()> {
        self.capture_home(id, name).await
    }

    async fn os_user(&self, id: &str) -> Result<Option<String>> {
        Ok(Some(self.blocking_resolve(id).await?.user))
    }

    async fn remove_snapshot(&self, name: &str) -> Result<()> {
        self.remove_captured_home(name).await
    }

    async fn remove_volume(&self, volume_id: &str) -> Result<()> {
        self.remove_volume_files(volume_id).await
    }

    async fn create_session(&self, id: &str, session_id: &str) -> Result<()> {
        LocalProvider::create_session(self, id, session_id).await
    }

    async fn list_sessions(&self, id: &str) -> Result<Vec<SessionInfo>> {
        LocalProvider::list_sessions(self, id).await
    }

    async fn get_session(&self, id: &str, session_id: &str) -> Result<SessionInfo> {
        LocalProvider::get_session(self, id, session_id).await
    }

    async fn delete_session(&self, id: &str, session_id: &str) -> Result<()> {
        LocalProvider::delete_session(self, id, session_id).await
    }

    async fn session_exec(
        &self,
        id: &str,
        session_id: &str,
        request: &SessionExecRequest,
    ) -> Result<SessionExecOutput> {
        LocalProvider::session_exec(self, id, session_id, request).await
    }

    async fn session_command(
        &self,
        id: &str,
        session_id: &str,
        command_id: &str,
    ) -> Result<SessionCommand> {
        LocalProvider::session_command(self, id, session_id, command_id).await
    }

    async fn session_command_logs(
        &self,
        id: &str,
        session_id: &str,
        command_id: &str,
    ) -> Result<CommandLogs> {
        LocalProvider::session_command_logs(self, id, session_id, command_id).await
    }

    async fn follow_session_command_logs(
        &self,
        id: &str,
        session_id: &str,
        command_id: &str,
    ) -> Result<LogStream> {
        LocalProvider::follow_session_command_logs(self, id, session_id, command_id).await
    }

    async fn send_session_input(
        &self,
        id: &str,
        session_id: &str,
        command_id: &str,
        data: &str,
    ) -> Result<()> {
        LocalProvider::send_session_input(self, id, session_id, command_id, data).await
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

/// How long a sandbox's processes may take to end before it is found busy: commands in flight
/// (a metrics sample that `serve` runs every few seconds, an exec about to answer) end by
/// themselves; what runs on is the sandbox's own work.
const SETTLE: std::time::Duration = std::time::Duration::from_secs(3);

/// Why a sandbox on this machine's network cannot get one of its own now: `running` (command
/// lines) would be cut off or killed.
fn busy(name: &str, running: &[String]) -> ProviderError {
    ProviderError::Unsupported {
        provider: "local",
        operation: format!(
            "giving sandbox `{name}` a network of its own while processes run in it ({}): end them, or stop the sandbox, first; or create it with `networkBlockAll` or a `networkAllowList`",
            running.join("; ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_root_prefers_ralph_town_home_then_xdg_state_then_home() {
        let home = Some(PathBuf::from("/users/ann"));
        let lookup = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| value.into())
            }
        };
        let both = lookup(&[("RALPH_TOWN_HOME", "/srv/rt"), ("XDG_STATE_HOME", "/state")]);
        assert_eq!(
            state_root_from(both, home.clone()),
            PathBuf::from("/srv/rt")
        );
        let xdg = lookup(&[("RALPH_TOWN_HOME", ""), ("XDG_STATE_HOME", "/state")]);
        assert_eq!(
            state_root_from(xdg, home.clone()),
            PathBuf::from("/state/ralph-town")
        );
        assert_eq!(
            state_root_from(lookup(&[]), home),
            PathBuf::from("/users/ann/.local/state/ralph-town")
        );
    }
}
