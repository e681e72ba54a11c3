//! The `daytona` provider: Daytona's REST API (control plane and toolbox) over reqwest.
//!
//! [`DaytonaProvider`] implements [`Provider`] by delegating to one file per concern: settings,
//! the HTTP client with retries (`http`), status mapping (`status`), sandbox lifecycle
//! (`sandbox`), records (`observe`), SSH (`ssh`), commands and files (`toolbox`) and snapshots
//! (`snapshot`). Wire shapes come from
//! `crate::daytona_api`, shared with `serve`; none are defined here. Secrets reach a sandbox
//! only through an exec request's `envs`; the API credential only through the `Authorization`
//! header.
//!
//! Sandboxes returned by `list` have an empty `env`: Daytona's list items do not carry it, and
//! fetching every sandbox again would cost a request each. The planner compares the spec hash
//! label, not `env`; call `get` when the environment itself is needed.

mod http;
mod observe;
mod sandbox;
mod session;
mod settings;
mod snapshot;
mod ssh;
mod status;
mod toolbox;

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;

use crate::provider::{
    AttachRequest, CommandLogs, CreateSandbox, ExecOutput, ExecRequest, Labels, Lifecycle,
    LogStream, Provider, ProviderKind, Result, Sandbox, SessionCommand, SessionExecOutput,
    SessionExecRequest, SessionInfo, ShellAccess,
};
use http::Http;
use session::CommandAt;
pub use settings::{Credential, DEFAULT_API_URL, DaytonaSettings, RetryPolicy};
pub use snapshot::{CreateSnapshotRequest, Snapshot, SnapshotSource};

/// Sandboxes on a Daytona API (Daytona Cloud, self-hosted, or `ralph-town serve`).
pub struct DaytonaProvider {
    http: Http,
    settings: DaytonaSettings,
    /// Toolbox base URL (`{toolboxProxyUrl}/{id}`) by the id or name callers use. A
    /// `std::sync::Mutex` is enough: it is never held across an `.await`.
    toolbox: Mutex<HashMap<String, toolbox::ToolboxBase>>,
    /// The sandbox user's home by sandbox id, as the toolbox reported it (same lock rule).
    homes: Mutex<HashMap<String, String>>,
}

impl std::fmt::Debug for DaytonaProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DaytonaProvider")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl DaytonaProvider {
    /// A provider for these settings. Sends nothing yet.
    pub fn new(settings: DaytonaSettings) -> Result<Self> {
        Ok(DaytonaProvider {
            http: Http::new(&settings)?,
            settings,
            toolbox: Mutex::new(HashMap::new()),
            homes: Mutex::new(HashMap::new()),
        })
    }

    /// A provider from the process environment and the team file's settings; warnings about
    /// the settings (a deprecated variable) go to stderr.
    pub fn from_env(file: &crate::vocabulary::ProviderSettings) -> Result<Self> {
        let settings = DaytonaSettings::from_env(file, &|name| std::env::var(name).ok())?;
        for warning in &settings.warnings {
            eprintln!("warning: {warning}");
        }
        DaytonaProvider::new(settings)
    }

    pub fn settings(&self) -> &DaytonaSettings {
        &self.settings
    }
}

#[async_trait]
impl Provider for DaytonaProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Daytona
    }

    async fn list(&self, labels: &Labels) -> Result<Vec<Sandbox>> {
        self.list_sandboxes(labels, None).await
    }

    async fn get(&self, id: &str) -> Result<Sandbox> {
        self.get_sandbox(id)
            .await
            .map(|record| self.observe(record))
    }

    async fn create(&self, request: &CreateSandbox) -> Result<Sandbox> {
        self.create_sandbox(request).await
    }

    async fn start(&self, id: &str) -> Result<Sandbox> {
        self.start_sandbox(id).await
    }

    async fn stop(&self, id: &str) -> Result<Sandbox> {
        self.stop_sandbox(id).await
    }

    async fn delete(&self, id: &str) -> Result<()> {
        self.delete_sandbox(id).await
    }

    async fn set_labels(&self, id: &str, labels: &Labels) -> Result<Sandbox> {
        self.replace_labels(id, labels).await
    }

    async fn set_lifecycle(&self, id: &str, lifecycle: &Lifecycle) -> Result<Sandbox> {
        self.change_lifecycle(id, lifecycle).await
    }

    async fn exec(&self, id: &str, request: &ExecRequest) -> Result<ExecOutput> {
        self.exec(id, request).await
    }

    async fn upload(&self, id: &str, path: &str, contents: &[u8]) -> Result<()> {
        self.upload_file(id, path, contents).await
    }

    async fn download(&self, id: &str, path: &str) -> Result<Vec<u8>> {
        self.download_file(id, path).await
    }

    async fn shell_access(
        &self,
        id: &str,
        cwd: Option<&str>,
        expires_in_minutes: u32,
    ) -> Result<ShellAccess> {
        self.ssh_access(id, cwd, expires_in_minutes).await
    }

    async fn attach(&self, id: &str, request: &AttachRequest) -> Result<Option<i32>> {
        self.ssh_attach(id, request).await
    }

    async fn set_env(
        &self,
        id: &str,
        set: &BTreeMap<String, String>,
        unset: &[String],
    ) -> Result<()> {
        self.update_env(id, set, unset).await
    }

    async fn revoke_shell_access(&self, id: &str, access: &ShellAccess) -> Result<()> {
        match access {
            ShellAccess::Ssh { token, .. } => self.revoke_ssh_access(id, token).await,
            ShellAccess::Local { .. } => Ok(()),
        }
    }

    async fn create_session(&self, id: &str, session_id: &str) -> Result<()> {
        self.create_process_session(id, session_id).await
    }

    async fn list_sessions(&self, id: &str) -> Result<Vec<SessionInfo>> {
        self.list_process_sessions(id).await
    }

    async fn get_session(&self, id: &str, session_id: &str) -> Result<SessionInfo> {
        self.get_process_session(id, session_id).await
    }

    async fn delete_session(&self, id: &str, session_id: &str) -> Result<()> {
        self.delete_process_session(id, session_id).await
    }

    async fn session_exec(
        &self,
        id: &str,
        session_id: &str,
        request: &SessionExecRequest,
    ) -> Result<SessionExecOutput> {
        self.process_session_exec(id, session_id, request).await
    }

    async fn session_command(
        &self,
        id: &str,
        session_id: &str,
        command_id: &str,
    ) -> Result<SessionCommand> {
        self.process_session_command(CommandAt::new(id, session_id, command_id))
            .await
    }

    async fn session_command_logs(
        &self,
        id: &str,
        session_id: &str,
        command_id: &str,
    ) -> Result<CommandLogs> {
        self.process_session_logs(CommandAt::new(id, session_id, command_id))
            .await
    }

    async fn follow_session_command_logs(
        &self,
        id: &str,
        session_id: &str,
        command_id: &str,
    ) -> Result<LogStream> {
        self.follow_process_session_logs(CommandAt::new(id, session_id, command_id))
            .await
    }

    async fn send_session_input(
        &self,
        id: &str,
        session_id: &str,
        command_id: &str,
        data: &str,
    ) -> Result<()> {
        self.process_session_input(CommandAt::new(id, session_id, command_id), data)
            .await
    }
}
