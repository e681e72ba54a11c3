//! The provider seam: where sandboxes come from.
//!
//! A [`Provider`] is a small async trait over a sandbox backend (`local`, `daytona`). It speaks in
//! the shared types of this module and fails with a semantic [`ProviderError`], never with a
//! backend's raw status code. Nothing here knows about teams, plans or terminals.

pub mod daytona;
pub(crate) mod error;
pub mod local;
pub mod memory;
pub mod session;
pub(crate) mod ssh_client;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use crate::names::{AllowList, Ipv4Network};
pub use crate::vocabulary::{Lifecycle, ProviderKind, Resources};
pub use error::ProviderError;
pub use session::{
    CommandLogs, LogChunk, LogStream, SessionCommand, SessionExecOutput, SessionExecRequest,
    SessionInfo,
};

/// Result type of every provider call.
pub type Result<T, E = ProviderError> = std::result::Result<T, E>;

/// A set of sandbox labels, ordered so that rendering and hashing are deterministic.
pub type Labels = BTreeMap<String, String>;

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

/// A shared volume mounted into a sandbox (Daytona's `SandboxVolume`, resolved to the id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeMount {
    /// The volume's id: backends keep its files under it.
    pub volume_id: String,
    /// Absolute path inside the sandbox.
    pub mount_path: String,
    /// A directory within the volume to mount instead of its root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subpath: Option<String>,
}

/// What a sandbox's processes use, measured from outside the sandbox (see
/// [`Provider::usage`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResourceUsage {
    /// Memory in use, bytes, without the file cache the kernel may drop.
    pub memory_used: u64,
    /// File cache charged to the sandbox, bytes.
    pub memory_cache: u64,
    /// CPU time of every process that has run in the sandbox (a counter: two readings over a
    /// window give the CPU used in it).
    pub cpu_time: Duration,
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
    /// Volumes to mount; each one's files outlive the sandbox.
    pub volumes: Vec<VolumeMount>,
    /// Host names the sandbox resolves, to addresses (a linked sandbox's owner, by its name).
    /// Backends that resolve such names themselves ignore them.
    pub hosts: BTreeMap<String, String>,
    /// What the sandbox's network reaches (Daytona's `networkBlockAll`, `networkAllowList`).
    pub network: Network,
}

/// What a sandbox's network reaches.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Network {
    /// Whatever this machine's programs reach (Daytona: no restriction).
    #[default]
    Open,
    /// Nothing but the sandbox's own loopback (`networkBlockAll`).
    Blocked,
    /// Only these networks, besides the sandbox's loopback and its name server
    /// (`networkAllowList`).
    Allowed(AllowList),
    /// Its name server and these networks, if any, besides its loopback; its web traffic (TCP
    /// 80 and 443 to anywhere but its loopback) redirected to ports of its loopback, where
    /// `serve`'s egress proxy listens (a `domainAllowList`).
    Proxied {
        allowed: Option<AllowList>,
        web: WebPorts,
    },
}

impl Network {
    /// The networks it lists (`networkAllowList`), if it lists any.
    pub fn allow_list(&self) -> Option<&AllowList> {
        match self {
            Network::Allowed(list)
            | Network::Proxied {
                allowed: Some(list),
                ..
            } => Some(list),
            Network::Open | Network::Blocked | Network::Proxied { allowed: None, .. } => None,
        }
    }
}

/// The ports of a sandbox's own loopback that its web traffic is redirected to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebPorts {
    /// Where TCP 80 goes.
    pub http: u16,
    /// Where TCP 443 goes.
    pub https: u16,
}

/// A listening socket inside a sandbox's own network (see [`Provider::listen_port`]).
#[derive(Debug)]
pub struct InnerListener {
    pub listener: std::net::TcpListener,
    /// The identity of the network it listens in.
    pub network: u64,
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
    /// Report Daytona's `-1` defect (exit code -1, no output) as is, instead of running the
    /// command again over SSH.
    pub no_ssh_fallback: bool,
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
    /// How the command reached the sandbox.
    #[serde(default)]
    pub via: ExecChannel,
}

impl ExecOutput {
    /// Output of a command the provider's own exec ran.
    pub fn exec(exit_code: i32, output: impl Into<String>) -> ExecOutput {
        ExecOutput {
            exit_code,
            output: output.into(),
            via: ExecChannel::Exec,
        }
    }
}

/// How a command reached the sandbox.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ExecChannel {
    /// The provider's own exec (Daytona's toolbox, a local process).
    #[default]
    Exec,
    /// The system `ssh`, after Daytona's toolbox answered `-1`.
    Ssh,
}

/// A command (or the login shell) to run in a sandbox on this process's own stdio.
#[derive(Debug, Clone, Default)]
pub struct AttachRequest {
    /// Working directory inside the sandbox; `None` is the home.
    pub cwd: Option<String>,
    /// A shell command line; `None` opens the login shell (always on a terminal).
    pub command: Option<String>,
    /// Run on a terminal (this process's own must be one).
    pub terminal: bool,
    /// Kill it after this long.
    pub timeout: Option<Duration>,
}

impl AttachRequest {
    /// The login shell, in `cwd`.
    pub fn shell(cwd: Option<&str>) -> AttachRequest {
        AttachRequest {
            cwd: cwd.map(str::to_string),
            terminal: true,
            ..AttachRequest::default()
        }
    }
}

/// A program in a sandbox whose stdio the caller streams itself (`serve`'s SSH gateway and PTY
/// sessions): see [`Provider::host_command`].
#[derive(Debug, Clone, Default)]
pub struct HostCommandRequest {
    /// Working directory inside the sandbox; `None` is the home.
    pub cwd: Option<String>,
    /// A shell command line; `None` is the login shell.
    pub command: Option<String>,
    /// The `TERM` of the pseudo-terminal the caller will run it on; `None` runs it detached
    /// from any terminal.
    pub terminal: Option<String>,
    /// Added to the sandbox's environment (values may be secrets).
    pub env: BTreeMap<String, String>,
}

/// A process group registered with its sandbox ([`Provider::track_process`]): stopping or
/// deleting the sandbox ends it, and dropping this kills what is left of it.
pub struct TrackedProcess(#[allow(dead_code)] Box<dyn Send + Sync>);

impl TrackedProcess {
    pub(crate) fn new(guard: impl Send + Sync + 'static) -> TrackedProcess {
        TrackedProcess(Box::new(guard))
    }
}

impl std::fmt::Debug for TrackedProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrackedProcess").finish_non_exhaustive()
    }
}

/// How a user reaches a shell in a sandbox.
#[derive(Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ShellAccess {
    /// A token-based SSH login (Daytona, `serve`'s gateway): `ssh <token>@<host>`. The token is
    /// a credential the user asked for.
    Ssh {
        sandbox_id: String,
        token: String,
        /// The `ssh` command line, starting in the requested directory.
        command: String,
        host: String,
        port: u16,
        /// RFC 3339.
        expires_at: String,
    },
    /// A `local` sandbox: a shell on this machine, opened by `command` (which carries no
    /// environment value: those may be credentials).
    Local { sandbox_id: String, command: String },
}

/// Never shows the token.
impl std::fmt::Debug for ShellAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShellAccess::Ssh {
                sandbox_id,
                host,
                port,
                expires_at,
                ..
            } => f
                .debug_struct("Ssh")
                .field("sandbox_id", sandbox_id)
                .field("host", host)
                .field("port", port)
                .field("expires_at", expires_at)
                .finish_non_exhaustive(),
            ShellAccess::Local {
                sandbox_id,
                command,
            } => f
                .debug_struct("Local")
                .field("sandbox_id", sandbox_id)
                .field("command", command)
                .finish(),
        }
    }
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

    /// Runs a command (or the login shell) in the sandbox on this process's own stdio: stdin
    /// forwarded, stdout and stderr kept apart (merged on a terminal). Returns its exit code, or
    /// `None` when `timeout` killed it. No environment value or token is ever put on a command
    /// line on the way.
    async fn attach(&self, id: &str, request: &AttachRequest) -> Result<Option<i32>> {
        let _ = (id, request);
        Err(ProviderError::Unsupported {
            provider: self.kind().as_str(),
            operation: "a command attached to this terminal".to_string(),
        })
    }

    /// The host command that runs a program in the sandbox for a caller that streams its stdio
    /// (or runs it on a pseudo-terminal) itself; its environment travels in the command's
    /// environment, never its arguments. The caller spawns it as the leader of a new process
    /// group and passes the group to [`Provider::track_process`]. Backends whose sandboxes are
    /// not processes of this machine answer [`ProviderError::Unsupported`].
    async fn host_command(
        &self,
        id: &str,
        request: &HostCommandRequest,
    ) -> Result<std::process::Command> {
        let _ = (id, request);
        Err(ProviderError::Unsupported {
            provider: self.kind().as_str(),
            operation: "a program streamed from this machine".to_string(),
        })
    }

    /// Image layers built on this machine, where the backend has them (`local`): `serve` builds
    /// Daytona images with them. `None` where images are built elsewhere (Daytona builds its
    /// own).
    fn image_layers(&self) -> Option<&dyn local::ImageLayers> {
        None
    }

    /// Registers process group `pgid`, started from [`Provider::host_command`], as running in
    /// sandbox `id`: stopping or deleting the sandbox kills it. When the sandbox stopped in the
    /// meantime the group is killed and this fails.
    async fn track_process(&self, id: &str, pgid: u32) -> Result<TrackedProcess> {
        let _ = (id, pgid);
        Err(ProviderError::Unsupported {
            provider: self.kind().as_str(),
            operation: "tracking a process started from this machine".to_string(),
        })
    }

    /// Revokes credentials that [`Provider::shell_access`] issued (Daytona: the SSH token), so
    /// that access made for one command does not outlive it. Backends whose access holds no
    /// credential have nothing to revoke.
    async fn revoke_shell_access(&self, id: &str, access: &ShellAccess) -> Result<()> {
        let _ = (id, access);
        Ok(())
    }

    /// Creates a sandbox from `request` whose files start as a copy of sandbox `id`'s (Daytona's
    /// fork). Backends that cannot answer [`ProviderError::Unsupported`].
    async fn fork(&self, id: &str, request: &CreateSandbox) -> Result<Sandbox> {
        let _ = (id, request);
        Err(self.unsupported("forking a sandbox"))
    }

    /// Keeps a copy of sandbox `id`'s files as snapshot `name`: sandboxes created later from
    /// that snapshot start with them (Daytona's snapshot from a sandbox). Backends that cannot
    /// answer [`ProviderError::Unsupported`].
    async fn capture_snapshot(&self, id: &str, name: &str) -> Result<()> {
        let _ = (id, name);
        Err(self.unsupported("making a snapshot from a sandbox"))
    }

    /// The OS user sandbox `id`'s commands run as, where the backend decides it from more than
    /// the create's `user` (`local`: a snapshot kept from a root sandbox makes root
    /// sandboxes). `None` where the backend does not say.
    async fn os_user(&self, id: &str) -> Result<Option<String>> {
        let _ = id;
        Ok(None)
    }

    /// Drops the files [`Provider::capture_snapshot`] kept for snapshot `name`, if any.
    async fn remove_snapshot(&self, name: &str) -> Result<()> {
        let _ = name;
        Ok(())
    }

    /// Drops the files this backend keeps for volume `volume_id`, if any. Backends whose
    /// volumes live elsewhere have nothing to drop.
    async fn remove_volume(&self, volume_id: &str) -> Result<()> {
        let _ = volume_id;
        Ok(())
    }

    /// The error of an operation this backend does not offer.
    fn unsupported(&self, operation: &str) -> ProviderError {
        ProviderError::Unsupported {
            provider: match self.kind() {
                ProviderKind::Local => "local",
                ProviderKind::Daytona => "daytona",
            },
            operation: operation.to_string(),
        }
    }

    /// Changes the resources a sandbox is given (`None` fields are left as they are): a limit
    /// the backend enforces on running processes (a `local` sandbox's memory) at once, others
    /// for the commands it starts later. Backends that cannot answer [`ProviderError::Unsupported`].
    async fn set_resources(&self, id: &str, resources: &Resources) -> Result<Sandbox> {
        let _ = (id, resources);
        Err(ProviderError::Unsupported {
            provider: self.kind().as_str(),
            operation: "resizing a sandbox".to_string(),
        })
    }

    /// Changes what sandbox `id`'s network reaches, for its running processes at once.
    /// Backends, or sandboxes, that cannot answer [`ProviderError::Unsupported`].
    async fn set_network(&self, id: &str, network: &Network) -> Result<()> {
        let _ = (id, network);
        Err(ProviderError::Unsupported {
            provider: self.kind().as_str(),
            operation: "changing a sandbox's network".to_string(),
        })
    }

    /// A connection to `port` of sandbox `id`, made inside its network, for a preview, when the
    /// sandbox has a network of its own; `None` when it shares this machine's network (its
    /// ports are this machine's) or the backend has no such thing. `NotFound` when nothing
    /// listens there.
    async fn connect_port(&self, id: &str, port: u16) -> Result<Option<std::net::TcpStream>> {
        let _ = (id, port);
        Ok(None)
    }

    /// A socket listening on `port` of the loopback of sandbox `id`'s own network, made inside
    /// it, and that network's identity (see [`Provider::network_identity`]); `None` when the
    /// sandbox shares this machine's network or the backend has no such thing. `Conflict` when
    /// its network is not up (nothing of the sandbox runs: a command brings it up).
    async fn listen_port(&self, id: &str, port: u16) -> Result<Option<InnerListener>> {
        let _ = (id, port);
        Ok(None)
    }

    /// What tells sandbox `id`'s own network, as it runs now, from the one it had before it was
    /// brought up again; `None` when it has none, or it is not up.
    async fn network_identity(&self, id: &str) -> Result<Option<u64>> {
        let _ = id;
        Ok(None)
    }

    /// What sandbox `id`'s processes use now, measured from outside it (a `local` sandbox's
    /// cgroup); `None` where this backend cannot measure it so.
    async fn usage(&self, id: &str) -> Result<Option<ResourceUsage>> {
        let _ = id;
        Ok(None)
    }

    /// The directory sandbox `id` works in when it differs from its home (an image's
    /// `WORKDIR`), under which Daytona resolves a relative path; `None` means the home.
    async fn work_dir(&self, id: &str) -> Result<Option<String>> {
        let _ = id;
        Ok(None)
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
            provider: self.kind().as_str(),
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

    pub(crate) fn serialize<S: Serializer>(
        time: &SystemTime,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&humantime::format_rfc3339_millis(*time))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<SystemTime, D::Error> {
        let text = String::deserialize(deserializer)?;
        humantime::parse_rfc3339_weak(&text).map_err(D::Error::custom)
    }

    /// Serializes `Option<SystemTime>` the same way (`null` when absent).
    pub(crate) mod option {
        use std::time::SystemTime;

        use serde::Serializer;

        pub(crate) fn serialize<S: Serializer>(
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
