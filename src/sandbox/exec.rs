//! One command in a sandbox: the one exec path of the single-sandbox operations, the CLI's `exec`
//! and the MCP tools. The provider does the rest (the `daytona` provider's fallback to SSH for
//! Daytona's `-1` defect included); this adds validation and the timeout's exit code.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::{Result, SandboxError};
pub(crate) use crate::provider::ExecChannel;
use crate::provider::{ExecRequest, Provider, ProviderError};

/// The exit code reported for a command that hit its timeout, as coreutils' `timeout` does.
pub(super) const TIMED_OUT_EXIT_CODE: i32 = 124;

/// A command to run.
#[derive(Debug, Clone, Default)]
pub(crate) struct ExecOptions {
    /// A shell command line (the sandbox's shell runs it, as Daytona's toolbox does).
    pub command: String,
    /// Working directory; relative paths are under the sandbox home, `None` is the home.
    pub cwd: Option<String>,
    /// Extra environment for this one command; values may be credentials.
    pub env: BTreeMap<String, String>,
    /// Kill the command after this long.
    pub timeout: Option<Duration>,
    /// Whether to retry over SSH when Daytona answers `-1` with no output.
    pub ssh_fallback: bool,
}

impl ExecOptions {
    /// `command` in the home, no timeout, with the SSH fallback.
    pub(crate) fn command(command: impl Into<String>) -> ExecOptions {
        ExecOptions {
            command: command.into(),
            ssh_fallback: true,
            ..ExecOptions::default()
        }
    }
}

/// What a command did. Stdout and stderr are merged, as on Daytona.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub(crate) struct ExecResult {
    pub sandbox_id: String,
    /// The command's exit code; [`TIMED_OUT_EXIT_CODE`] when it timed out.
    pub exit_code: i32,
    pub output: String,
    pub timed_out: bool,
    pub via: ExecChannel,
}

/// Runs a command to completion (on Daytona, over SSH when the toolbox hits its `-1` defect).
pub(crate) async fn exec(
    provider: &Arc<dyn Provider>,
    id: &str,
    options: &ExecOptions,
) -> Result<ExecResult> {
    if options.command.trim().is_empty() {
        return Err(SandboxError::invalid("the command is empty", None));
    }
    for name in options.env.keys() {
        super::validate_env_name(name)?;
    }
    let request = ExecRequest {
        command: options.command.clone(),
        cwd: options.cwd.clone(),
        env: options.env.clone(),
        timeout: options.timeout,
        no_ssh_fallback: !options.ssh_fallback,
    };
    match provider.exec(id, &request).await {
        Ok(output) => Ok(ExecResult {
            sandbox_id: id.to_string(),
            exit_code: output.exit_code,
            output: output.output,
            timed_out: false,
            via: output.via,
        }),
        Err(ProviderError::Timeout { .. }) if options.timeout.is_some() => Ok(ExecResult {
            sandbox_id: id.to_string(),
            exit_code: TIMED_OUT_EXIT_CODE,
            output: String::new(),
            timed_out: true,
            via: ExecChannel::Exec,
        }),
        Err(error) => Err(error.into()),
    }
}
