//! The provider seam: where sandboxes come from.
//!
//! A [`Provider`] is a small async trait over a sandbox backend (`local`, `daytona`). It speaks in
//! the shared types of this module and fails with a semantic [`ProviderError`], never with a
//! backend's raw status code. Nothing here knows about teams, plans or terminals.

mod command;
pub mod daytona;
pub(crate) mod error;
pub(crate) mod humantime_serde_compat;
pub mod local;
pub mod memory;
mod network;
mod sandbox;
pub mod session;
mod shell_access;
pub(crate) mod ssh_client;

use std::collections::BTreeMap;

use async_trait::async_trait;

pub use crate::names::{AllowList, Ipv4Network};
pub use crate::vocabulary::{Lifecycle, ProviderKind, Resources};
pub use command::{
    AttachRequest, ExecChannel, ExecOutput, ExecRequest, HostCommandRequest, TrackedProcess,
};
pub use error::ProviderError;
pub use network::{InnerListener, Network, WebPorts};
pub use sandbox::{CreateSandbox, ResourceUsage, Sandbox, SandboxState, VolumeMount};
pub use session::{
    CommandLogs, LogChunk, LogStream, SessionCommand, SessionExecOutput, SessionExecRequest,
    SessionInfo,
};
pub use shell_access::ShellAccess;

/// Result type of every provider call.
pub type Result<T, E = ProviderError> = std::result::Result<T, E>;

/// A set of sandbox labels, ordered so that rendering and hashing are deterministic.
pub type Labels = BTreeMap<String, String>;

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

    /// Whether processes of sandbox `id` hold every socket whose inode is in `inodes` (listening
    /// sockets on this machine's network, as `/proc/net/tcp` names them), so that a preview of
    /// one sandbox never reaches another's port; `None` when the backend cannot tell its
    /// sandboxes' processes apart.
    async fn holds_sockets(&self, id: &str, inodes: &[u64]) -> Result<Option<bool>> {
        let _ = (id, inodes);
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
    /// cgroup, or without one its processes under bubblewrap); `None` where this backend cannot
    /// measure it so.
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
