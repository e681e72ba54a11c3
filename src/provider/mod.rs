//! The provider seam: where sandboxes come from.
//!
//! A [`Provider`] is a small async trait over a sandbox backend (`local`, `daytona`). It speaks in
//! the shared types of this module and fails with a semantic [`ProviderError`], never with a
//! backend's raw status code. Nothing here knows about teams, plans or terminals.

pub mod daytona;
pub(crate) mod error;
pub mod local;
pub mod session;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use error::ProviderError;
pub use session::{
    CommandLogs, LogChunk, LogStream, SessionCommand, SessionExecOutput, SessionExecRequest,
    SessionInfo,
};

/// Result type of every provider call.
pub type Result<T, E = ProviderError> = std::result::Result<T, E>;

/// A set of sandbox labels, ordered so that rendering and hashing are deterministic.
pub type Labels = BTreeMap<String, String>;

/// Which backend to use.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Default,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Sandboxes are directories on this machine (bubblewrap when installed). No account needed.
    #[default]
    Local,
    /// Daytona's sandboxes over its REST API.
    Daytona,
}

impl std::fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ProviderKind::Local => "local",
            ProviderKind::Daytona => "daytona",
        })
    }
}

/// The lifecycle state of a sandbox, as Daytona names them (`local` uses the same names).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SandboxState {
    Creating,
    Starting,
    Started,
    Stopping,
    Stopped,
    Archived,
    Destroying,
    Destroyed,
    Error,
    BuildFailed,
    PendingBuild,
    /// Any other state a backend reports (e.g. Daytona's `pulling_snapshot`), kept verbatim.
    #[serde(untagged)]
    Other(String),
}

impl SandboxState {
    /// The state's wire name (`started`, `build_failed`, ...).
    pub fn as_str(&self) -> &str {
        match self {
            SandboxState::Creating => "creating",
            SandboxState::Starting => "starting",
            SandboxState::Started => "started",
            SandboxState::Stopping => "stopping",
            SandboxState::Stopped => "stopped",
            SandboxState::Archived => "archived",
            SandboxState::Destroying => "destroying",
            SandboxState::Destroyed => "destroyed",
            SandboxState::Error => "error",
            SandboxState::BuildFailed => "build_failed",
            SandboxState::PendingBuild => "pending_build",
            SandboxState::Other(name) => name,
        }
    }

    /// Parses a wire name; unknown names are kept as [`SandboxState::Other`].
    pub fn parse(name: &str) -> SandboxState {
        match name {
            "creating" => SandboxState::Creating,
            "starting" => SandboxState::Starting,
            "started" => SandboxState::Started,
            "stopping" => SandboxState::Stopping,
            "stopped" => SandboxState::Stopped,
            "archived" => SandboxState::Archived,
            "destroying" => SandboxState::Destroying,
            "destroyed" => SandboxState::Destroyed,
            "error" => SandboxState::Error,
            "build_failed" => SandboxState::BuildFailed,
            "pending_build" => SandboxState::PendingBuild,
            other => SandboxState::Other(other.to_string()),
        }
    }

    /// A state the sandbox will not leave by itself: it needs a recreate.
    pub fn is_failed(&self) -> bool {
        matches!(self, SandboxState::Error | SandboxState::BuildFailed)
    }
}

impl std::fmt::Display for SandboxState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Lifecycle timers, in minutes, with Daytona's meanings. `None` leaves the backend's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Lifecycle {
    /// Stop after this many idle minutes; 0 = never.
    pub auto_stop: Option<u32>,
    /// Archive after this many stopped minutes; 0 = the backend's maximum.
    pub auto_archive: Option<u32>,
    /// Delete after this many stopped minutes; negative = never, 0 = as soon as it stops.
    pub auto_delete: Option<i32>,
}

/// Compute resources. Daytona units: vCPU, GiB, GiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Resources {
    pub cpu: Option<u32>,
    pub memory: Option<u32>,
    pub disk: Option<u32>,
}

/// What to create. Holds no secret: secrets reach a sandbox only through [`ExecRequest::env`].
#[derive(Debug, Clone, Default)]
pub struct CreateSandbox {
    /// Display name; unique among live sandboxes of the backend.
    pub name: String,
    pub labels: Labels,
    /// Plain configuration environment, visible through the backend's API.
    pub env: BTreeMap<String, String>,
    /// Snapshot name; `None` takes the backend's default.
    pub snapshot: Option<String>,
    /// OS user; `None` takes the backend's default (`daytona`).
    pub user: Option<String>,
    pub lifecycle: Lifecycle,
    /// Destroy this many minutes after creation, whatever the state (Daytona `ttlMinutes`).
    pub ttl_minutes: Option<u32>,
    pub resources: Resources,
}

/// A sandbox as a backend reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sandbox {
    pub id: String,
    pub name: String,
    pub state: SandboxState,
    pub labels: Labels,
    /// Plain environment given at creation (and changed since, where the backend supports it).
    pub env: BTreeMap<String, String>,
    pub snapshot: Option<String>,
    #[serde(with = "humantime_serde_compat")]
    pub created_at: SystemTime,
    pub lifecycle: Lifecycle,
    /// Why the sandbox is in an error state, when the backend says.
    pub error_reason: Option<String>,
}

/// A command to run inside a sandbox.
#[derive(Debug, Clone, Default)]
pub struct ExecRequest {
    /// A shell command line, run by the sandbox's shell (`sh`), as Daytona's toolbox does.
    pub command: String,
    /// Working directory inside the sandbox; `None` is the sandbox home.
    pub cwd: Option<String>,
    /// Extra environment for this one process. This is the only channel secrets travel by.
    pub env: BTreeMap<String, String>,
    /// Kill the command after this long; `None` waits forever.
    pub timeout: Option<Duration>,
}

/// What a command produced. As on Daytona, stdout and stderr are merged in one buffer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecOutput {
    pub exit_code: i32,
    pub output: String,
}

/// How a user reaches a shell in a sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ShellAccess {
    /// Run this argv on this machine (the `local` provider: a shell inside the sandbox).
    Command { argv: Vec<String> },
    /// A token-based SSH login (Daytona). The token is a credential the user asked for.
    Ssh {
        token: String,
        command: String,
        #[serde(with = "humantime_serde_compat")]
        expires_at: SystemTime,
    },
}

/// A sandbox backend. Every call is independent and may run concurrently with any other.
#[async_trait]
pub trait Provider: Send + Sync {
    /// The backend's name, for messages.
    fn kind(&self) -> ProviderKind;

    /// Every live sandbox carrying all of `labels` (an empty set lists all).
    async fn list(&self, labels: &Labels) -> Result<Vec<Sandbox>>;

    /// One sandbox by id (or name).
    async fn get(&self, id: &str) -> Result<Sandbox>;

    /// Creates a sandbox and returns once it is `started` (or failed).
    async fn create(&self, request: &CreateSandbox) -> Result<Sandbox>;

    /// Starts a stopped sandbox and returns once it is `started`.
    async fn start(&self, id: &str) -> Result<Sandbox>;

    /// Stops a started sandbox.
    async fn stop(&self, id: &str) -> Result<Sandbox>;

    /// Deletes a sandbox and everything in it. Deleting a missing sandbox is `NotFound`.
    async fn delete(&self, id: &str) -> Result<()>;

    /// Replaces all labels of a sandbox.
    async fn set_labels(&self, id: &str, labels: &Labels) -> Result<Sandbox>;

    /// Changes lifecycle timers in place; `None` fields are left as they are.
    async fn set_lifecycle(&self, id: &str, lifecycle: &Lifecycle) -> Result<Sandbox>;

    /// Runs a command to completion inside a started sandbox.
    async fn exec(&self, id: &str, request: &ExecRequest) -> Result<ExecOutput>;

    /// Writes a file inside the sandbox (parents created); relative paths are under the home.
    async fn upload(&self, id: &str, path: &str, contents: &[u8]) -> Result<()>;

    /// Reads a file from inside the sandbox.
    async fn download(&self, id: &str, path: &str) -> Result<Vec<u8>>;

    /// How to open an interactive shell in the sandbox, starting in `cwd` where the backend
    /// can, valid for `expires_in_minutes` where the backend issues credentials.
    async fn shell_access(
        &self,
        id: &str,
        cwd: Option<&str>,
        expires_in_minutes: u32,
    ) -> Result<ShellAccess>;

    /// Revokes credentials that [`Provider::shell_access`] issued (Daytona: the SSH token), so
    /// that access made for one command does not outlive it. Backends whose access holds no
    /// credential have nothing to revoke.
    async fn revoke_shell_access(&self, id: &str, access: &ShellAccess) -> Result<()> {
        let _ = (id, access);
        Ok(())
    }

    /// Changes the environment of commands started later in a running sandbox: `unset` first,
    /// then `set` (Daytona's toolbox `POST /env`). Values may be secrets. Backends that cannot
    /// answer [`ProviderError::Unsupported`].
    async fn set_env(
        &self,
        id: &str,
        set: &BTreeMap<String, String>,
        unset: &[String],
    ) -> Result<()> {
        let _ = (id, set, unset);
        Err(ProviderError::Unsupported {
            provider: match self.kind() {
                ProviderKind::Local => "local",
                ProviderKind::Daytona => "daytona",
            },
            operation: "changing the environment of a running sandbox".to_string(),
        })
    }

    // Process sessions (see [`session`]): persistent shells in a started sandbox. Backends
    // without them answer `Unsupported`. A session outlives the process that created it: any
    // later process on the same backend may use it.

    /// Starts a session named `session_id`; `Conflict` when one by that name exists.
    async fn create_session(&self, id: &str, session_id: &str) -> Result<()> {
        let _ = session_id;
        Err(self.sessions_unsupported(id))
    }

    /// Every session of the sandbox, with its commands.
    async fn list_sessions(&self, id: &str) -> Result<Vec<SessionInfo>> {
        Err(self.sessions_unsupported(id))
    }

    /// One session with its commands.
    async fn get_session(&self, id: &str, session_id: &str) -> Result<SessionInfo> {
        let _ = session_id;
        Err(self.sessions_unsupported(id))
    }

    /// Ends the session's shell and everything it started, and forgets its commands.
    async fn delete_session(&self, id: &str, session_id: &str) -> Result<()> {
        let _ = session_id;
        Err(self.sessions_unsupported(id))
    }

    /// Sends a command to the session; waits for its exit code unless it is async.
    async fn session_exec(
        &self,
        id: &str,
        session_id: &str,
        request: &SessionExecRequest,
    ) -> Result<SessionExecOutput> {
        let _ = (session_id, request);
        Err(self.sessions_unsupported(id))
    }

    /// A command's status: its exit code is `None` while it runs.
    async fn session_command(
        &self,
        id: &str,
        session_id: &str,
        command_id: &str,
    ) -> Result<SessionCommand> {
        let _ = (session_id, command_id);
        Err(self.sessions_unsupported(id))
    }

    /// What a command wrote so far.
    async fn session_command_logs(
        &self,
        id: &str,
        session_id: &str,
        command_id: &str,
    ) -> Result<CommandLogs> {
        let _ = (session_id, command_id);
        Err(self.sessions_unsupported(id))
    }

    /// What a command writes, from its start until it ends: a stream, so that a caller can
    /// follow many commands at once without a thread each.
    async fn follow_session_command_logs(
        &self,
        id: &str,
        session_id: &str,
        command_id: &str,
    ) -> Result<LogStream> {
        let _ = (session_id, command_id);
        Err(self.sessions_unsupported(id))
    }

    /// Writes `data` to the standard input of a running command (a newline is added when it
    /// lacks one, as Daytona does, so that `read` returns).
    async fn send_session_input(
        &self,
        id: &str,
        session_id: &str,
        command_id: &str,
        data: &str,
    ) -> Result<()> {
        let _ = (session_id, command_id, data);
        Err(self.sessions_unsupported(id))
    }

    /// The answer of the session calls a backend does not implement.
    fn sessions_unsupported(&self, id: &str) -> ProviderError {
        let _ = id;
        ProviderError::Unsupported {
            provider: match self.kind() {
                ProviderKind::Local => "local",
                ProviderKind::Daytona => "daytona",
            },
            operation: "process sessions".to_string(),
        }
    }
}

/// Serde glue: `SystemTime` as an RFC 3339 string, the form Daytona uses on the wire.
pub(crate) mod humantime_serde_compat {
    use std::time::SystemTime;

    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    pub fn serialize<S: Serializer>(time: &SystemTime, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&humantime::format_rfc3339_millis(*time))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SystemTime, D::Error> {
        let text = String::deserialize(deserializer)?;
        humantime::parse_rfc3339_weak(&text).map_err(D::Error::custom)
    }

    /// Serializes `Option<SystemTime>` the same way (`null` when absent).
    pub mod option {
        use std::time::SystemTime;

        use serde::Serializer;

        pub fn serialize<S: Serializer>(
            time: &Option<SystemTime>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            match time {
                Some(time) => super::serialize(time, serializer),
                None => serializer.serialize_none(),
            }
        }
    }
}
