//! Commands run in a sandbox: to completion with collected output (exec), on this process's
//! own stdio (attach), or streamed by the caller from a host command, and the process group
//! such a command registers. The environment of a request is the only channel secrets travel
//! by; nothing here puts it on a command line.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

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
/// sessions): see [`Provider::host_command`](super::Provider::host_command).
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

/// A process group registered with its sandbox
/// ([`Provider::track_process`](super::Provider::track_process)): stopping or deleting the
/// sandbox ends it, and dropping this kills what is left of it.
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
