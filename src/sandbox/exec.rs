//! One command in a sandbox, with the fallback for Daytona's old `exitCode: -1` defect
//! (daytonaio/daytona#2283): when the toolbox answers -1 with no output, the command runs again
//! over SSH (a short-lived token, revoked afterwards). The defect could strike after the command
//! ran, so a command may run twice; the original ralph-town accepted the same.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::ssh::{self, SshTarget};
use super::{Result, SandboxError};
use crate::provider::{
    ExecOutput, ExecRequest, Provider, ProviderError, ProviderKind, ShellAccess,
};

/// The exit code reported for a command that hit its timeout, as coreutils' `timeout` does.
pub const TIMED_OUT_EXIT_CODE: i32 = 124;

/// Minutes an SSH token for the fallback lives beyond the command's own timeout.
const FALLBACK_TOKEN_MINUTES: u64 = 10;

/// A command to run.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
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
    pub fn command(command: impl Into<String>) -> ExecOptions {
        ExecOptions {
            command: command.into(),
            ssh_fallback: true,
            ..ExecOptions::default()
        }
    }
}

/// How a command reached the sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExecChannel {
    /// The provider's own exec (Daytona's toolbox, a local process).
    Exec,
    /// The system `ssh`, after the toolbox answered `-1`.
    Ssh,
}

/// What a command did. Stdout and stderr are merged, as on Daytona.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ExecResult {
    pub sandbox_id: String,
    /// The command's exit code; [`TIMED_OUT_EXIT_CODE`] when it timed out.
    pub exit_code: i32,
    pub output: String,
    pub timed_out: bool,
    pub via: ExecChannel,
}

/// Runs a command to completion; falls back to SSH on Daytona's `-1` defect.
pub async fn exec_with_fallback(
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
    };
    let result = |output: ExecOutput, via| ExecResult {
        sandbox_id: id.to_string(),
        exit_code: output.exit_code,
        output: output.output,
        timed_out: false,
        via,
    };
    match provider.exec(id, &request).await {
        Ok(output) if options.ssh_fallback && is_defect(provider.kind(), &output) => {
            over_ssh(provider, id, options).await
        }
        Ok(output) => Ok(result(output, ExecChannel::Exec)),
        Err(ProviderError::Timeout { .. }) if options.timeout.is_some() => {
            Ok(timed_out(id, ExecChannel::Exec))
        }
        Err(error) => Err(error.into()),
    }
}

/// Daytona's defect: `-1` with empty output. A real spawn failure carries its error text.
fn is_defect(kind: ProviderKind, output: &ExecOutput) -> bool {
    kind == ProviderKind::Daytona && output.exit_code == -1 && output.output.is_empty()
}

fn timed_out(id: &str, via: ExecChannel) -> ExecResult {
    ExecResult {
        sandbox_id: id.to_string(),
        exit_code: TIMED_OUT_EXIT_CODE,
        output: String::new(),
        timed_out: true,
        via,
    }
}

/// Runs the command over SSH with a fresh token and revokes the token afterwards, whatever
/// happened.
async fn over_ssh(
    provider: &Arc<dyn Provider>,
    id: &str,
    options: &ExecOptions,
) -> Result<ExecResult> {
    let minutes = options
        .timeout
        .map(|timeout| timeout.as_secs().div_ceil(60))
        .unwrap_or(0)
        + FALLBACK_TOKEN_MINUTES;
    let access = provider
        .shell_access(id, None, u32::try_from(minutes).unwrap_or(u32::MAX))
        .await?;
    let outcome = async {
        let ShellAccess::Ssh { token, command, .. } = &access else {
            return Err(SandboxError::Ssh {
                message: format!("the `{}` provider gave no SSH access", provider.kind()),
                help: None,
            });
        };
        let target = SshTarget::parse(command, token)?;
        let script = ssh::script(options.cwd.as_deref(), &options.env, &options.command);
        ssh::run_script(&target, &script, options.timeout).await
    }
    .await;
    // The token is revoked on every path; a revoke that fails leaves it to its short expiry.
    let _ = provider.revoke_shell_access(id, &access).await;
    Ok(match outcome? {
        Some(output) => ExecResult {
            sandbox_id: id.to_string(),
            exit_code: output.exit_code,
            output: output.output,
            timed_out: false,
            via: ExecChannel::Ssh,
        },
        None => timed_out(id, ExecChannel::Ssh),
    })
}
