//! The `local` provider: sandboxes are directories on this machine, and commands run inside
//! bubblewrap when it is installed (host read-only, the sandbox home at `/home/daytona`, private
//! `/tmp`, own pid/ipc/uts namespaces, network shared), or with only a separate `HOME` and a
//! clean environment when it is not.
//!
//! This file maps the [`Provider`] calls onto the store (metadata, locks), the launcher (how a
//! command starts), the process tracker and the environment changes (`env`). It never prints,
//! and never writes or logs the environment of an exec request: that is where secrets travel.

mod attach;
mod env;
mod exec;
mod files;
mod launch;
mod paths;
mod process;
mod session;
mod session_files;
mod session_logs;
mod session_shell;
mod store;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;

use self::launch::Launcher;
use self::store::{Metadata, Store};
use super::{
    CommandLogs, CreateSandbox, ExecOutput, ExecRequest, Labels, Lifecycle, LogStream, Provider,
    ProviderError, ProviderKind, Result, Sandbox, SandboxState, SessionCommand, SessionExecOutput,
    SessionExecRequest, SessionInfo, ShellAccess,
};

pub use self::attach::Attached;
pub use self::paths::SANDBOX_HOME;

/// The OS user name sandboxes report (`USER`), as on Daytona.
const DEFAULT_USER: &str = "daytona";

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
    /// Bubblewrap when it is installed and works, else reduced isolation.
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
        let bubblewrap = match options.isolation {
            IsolationMode::Off => None,
            IsolationMode::Auto => launch::find_bubblewrap(),
            IsolationMode::Bubblewrap => Some(launch::find_bubblewrap().ok_or_else(|| ProviderError::Unsupported {
                provider: "local",
                operation: "bubblewrap isolation (`bwrap` is not installed or cannot create namespaces here)"
                    .to_string(),
            })?),
        };
        let store = Store::open(root)?;
        let launcher = Launcher::new(bubblewrap, store.root(), options.read_only_paths);
        Ok(LocalProvider {
            store,
            launcher: Arc::new(launcher),
        })
    }

    pub fn isolation(&self) -> Isolation {
        if self.launcher.is_isolated() {
            Isolation::Bubblewrap
        } else {
            Isolation::Reduced
        }
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
        let store = self.store.clone();
        let all = blocking(move || store.list()).await?;
        Ok(all
            .iter()
            .filter(|metadata| {
                labels
                    .iter()
                    .all(|(key, value)| metadata.labels.get(key) == Some(value))
            })
            .map(Metadata::to_sandbox)
            .collect())
    }

    async fn get(&self, id: &str) -> Result<Sandbox> {
        Ok(self.blocking_resolve(id).await?.to_sandbox())
    }

    async fn create(&self, request: &CreateSandbox) -> Result<Sandbox> {
        let store = self.store.clone();
        let request = request.clone();
        blocking(move || {
            let id = store::new_id();
            let name = if request.name.is_empty() {
                id.clone()
            } else {
                request.name.clone()
            };
            let metadata = Metadata {
                id,
                name,
                labels: request.labels,
                env: request.env,
                state: SandboxState::Started,
                snapshot: request.snapshot,
                created_at: SystemTime::now(),
                lifecycle: request.lifecycle,
                ttl_minutes: request.ttl_minutes,
                resources: request.resources,
                user: request.user.unwrap_or_else(|| DEFAULT_USER.to_string()),
            };
            let _lock = store.lock(true)?;
            if store
                .list()?
                .iter()
                .any(|existing| existing.name == metadata.name)
            {
                return Err(ProviderError::Conflict {
                    message: format!("a sandbox named `{}` already exists", metadata.name),
                });
            }
            store.create(&metadata)?;
            Ok(metadata.to_sandbox())
        })
        .await
    }

    async fn start(&self, id: &str) -> Result<Sandbox> {
        self.update(id, |_, metadata| metadata.state = SandboxState::Started)
            .await
    }

    async fn stop(&self, id: &str) -> Result<Sandbox> {
        self.update(id, |store, metadata| {
            metadata.state = SandboxState::Stopped;
            // Under the lock: an exec that passed its state check has registered by now.
            process::kill_registered(&store.run_dir(&metadata.id));
            session_files::forget_all(store, &metadata.id);
        })
        .await
    }

    async fn delete(&self, id: &str) -> Result<()> {
        let (store, id) = (self.store.clone(), id.to_string());
        blocking(move || {
            let trashed = {
                let _lock = store.lock(true)?;
                let metadata = store.resolve(&id)?;
                store.move_to_trash(&metadata.id)?
            };
            process::kill_registered(&trashed.join("run"));
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

    async fn exec(&self, id: &str, request: &ExecRequest) -> Result<ExecOutput> {
        self.run(id, request).await
    }

    async fn upload(&self, id: &str, path: &str, contents: &[u8]) -> Result<()> {
        self.write_file(id, path, contents.to_vec()).await
    }

    async fn download(&self, id: &str, path: &str) -> Result<Vec<u8>> {
        self.read_file(id, path).await
    }

    async fn shell_access(
        &self,
        id: &str,
        cwd: Option<&str>,
        _expires_in_minutes: u32,
    ) -> Result<ShellAccess> {
        Ok(ShellAccess::Command {
            argv: self.shell_invocation(id, cwd, false).await?.argv(),
        })
    }

    async fn set_env(
        &self,
        id: &str,
        set: &std::collections::BTreeMap<String, String>,
        unset: &[String],
    ) -> Result<()> {
        self.change_env(id, set, unset).await
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
