//! `preflight`: does a snapshot have the tools a teammate needs? A temporary sandbox from the
//! snapshot checks each tool by full path with `/bin/test -x` (nothing depends on `PATH`, which
//! Daytona's SSH sessions get wrong), through the provider's exec (on Daytona, over SSH when the
//! toolbox hits its `-1` defect), and is deleted on every way out.

use std::future::Future;
use std::sync::Arc;

use serde::Serialize;

use super::cleanup::{Cleanup, Interrupt, Temporary};
use super::{Result, SandboxError};
use crate::provider::{
    CreateSandbox, ExecChannel, ExecRequest, Lifecycle, Provider, ProviderError, ProviderKind,
};
use crate::vocabulary::labels;

/// The snapshot `preflight` checks and `snapshot create` builds by default.
pub(crate) const DEFAULT_SNAPSHOT: &str = "ralph-town-dev";

/// The tools a teammate needs: GitHub CLI, git, Bun, curl.
pub(super) const DEFAULT_TOOLS: [&str; 4] = [
    "/usr/bin/gh",
    "/usr/bin/git",
    "/root/.bun/bin/bun",
    "/usr/bin/curl",
];

/// What to check.
#[derive(Debug, Clone, Default)]
pub(crate) struct PreflightOptions {
    /// `None` is [`DEFAULT_SNAPSHOT`].
    pub snapshot: Option<String>,
    /// Absolute paths; empty is [`DEFAULT_TOOLS`].
    pub tools: Vec<String>,
}

/// One tool's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub(crate) struct ToolCheck {
    pub path: String,
    /// Whether the path exists and is executable in the sandbox.
    pub found: bool,
}

/// The outcome of a preflight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub(crate) struct PreflightReport {
    pub snapshot: String,
    pub sandbox_id: String,
    /// `ssh` or `exec`.
    pub checked_via: String,
    pub tools: Vec<ToolCheck>,
    /// Every tool was found.
    pub passed: bool,
    pub deleted: bool,
    pub cleanup_error: Option<String>,
}

/// A create that failed because the snapshot does not exist (Daytona answers "Snapshot X not
/// found. Did you add it through the Daytona Dashboard?"), with the way to build it; any other
/// failure as it is.
fn missing_snapshot(error: ProviderError, provider: ProviderKind, snapshot: &str) -> SandboxError {
    let missing = match &error {
        ProviderError::NotFound { what } => what.to_ascii_lowercase().contains("snapshot"),
        ProviderError::Api { message, .. } => {
            let message = message.to_ascii_lowercase();
            message.contains("snapshot") && message.contains("not found")
        }
        _ => false,
    };
    if !missing {
        return error.into();
    }
    SandboxError::SnapshotMissing {
        message: error.to_string(),
        provider: provider.to_string(),
        name: match snapshot {
            DEFAULT_SNAPSHOT => String::new(),
            other => format!(
                " --name {}",
                shlex::try_quote(other).unwrap_or(std::borrow::Cow::Borrowed(other))
            ),
        },
    }
}

/// Creates a temporary sandbox from the snapshot, checks the tools, deletes the sandbox.
/// Missing tools are a report with `passed: false`; errors (the snapshot does not exist, SSH
/// fails) are `Err`, after the sandbox is deleted. `interrupt` (Ctrl-C) stops the checks and
/// deletes the sandbox too.
pub(crate) async fn preflight(
    provider: &Arc<dyn Provider>,
    options: &PreflightOptions,
    interrupt: impl Future<Output = ()> + Send,
) -> Result<PreflightReport> {
    let mut interrupt: Interrupt = Box::pin(interrupt);
    let snapshot = options
        .snapshot
        .clone()
        .unwrap_or_else(|| DEFAULT_SNAPSHOT.to_string());
    let tools: Vec<String> = if options.tools.is_empty() {
        DEFAULT_TOOLS.map(String::from).to_vec()
    } else {
        options.tools.clone()
    };
    for tool in &tools {
        if !tool.starts_with('/') {
            return Err(SandboxError::invalid(
                format!("`{tool}` is not a full path"),
                Some("SSH sessions on Daytona have an unreliable `PATH`: name tools by full path, e.g. `/usr/bin/git`".to_string()),
            ));
        }
    }
    let request = CreateSandbox {
        labels: [(labels::PURPOSE.to_string(), "preflight".to_string())].into(),
        snapshot: Some(snapshot.clone()),
        // Should this process die before it deletes the sandbox, it goes when it stops.
        lifecycle: Lifecycle {
            auto_delete: Some(0),
            ..Lifecycle::default()
        },
        ..CreateSandbox::default()
    };
    let (temporary, sandbox) = match Temporary::create(provider, &request, &mut interrupt).await {
        Ok(created) => created,
        Err(Some(error)) => return Err(missing_snapshot(error, provider.kind(), &snapshot)),
        Err(None) => {
            return Err(SandboxError::Interrupted {
                cleanup: "; the temporary sandbox was deleted".to_string(),
            });
        }
    };
    let script = check_script(&tools);
    let checked = tokio::select! {
        checked = check(provider, &sandbox.id, &script) => Some(checked),
        () = interrupt.as_mut() => None,
    };
    let cleanup = temporary.finish(false).await;
    let Some(checked) = checked else {
        return Err(SandboxError::Interrupted {
            cleanup: cleanup.sentence(&sandbox.id),
        });
    };
    let (checked_via, output) = match checked {
        Ok(checked) => checked,
        Err(SandboxError::Provider(error)) => {
            return Err(SandboxError::Ssh {
                message: format!("the check failed: {error}{}", cleanup.sentence(&sandbox.id)),
                help: None,
            });
        }
        Err(error) => return Err(error),
    };
    let found = parse_checks(&output, tools.len());
    let tools: Vec<ToolCheck> = tools
        .into_iter()
        .enumerate()
        .map(|(index, path)| ToolCheck {
            path,
            found: found[index],
        })
        .collect();
    Ok(PreflightReport {
        snapshot,
        sandbox_id: sandbox.id,
        checked_via,
        passed: tools.iter().all(|tool| tool.found),
        tools,
        deleted: cleanup == Cleanup::Deleted,
        cleanup_error: match cleanup {
            Cleanup::Failed(error) => Some(error),
            _ => None,
        },
    })
}

/// Runs the check script through the provider's exec (on Daytona, over SSH when the toolbox
/// hits its `-1` defect, as snapshot sandboxes often do); says which way it went.
async fn check(provider: &Arc<dyn Provider>, id: &str, script: &str) -> Result<(String, String)> {
    let request = ExecRequest {
        command: script.to_string(),
        ..ExecRequest::default()
    };
    let output = provider.exec(id, &request).await?;
    let via = match output.via {
        ExecChannel::Exec => "exec",
        ExecChannel::Ssh => "ssh",
    };
    Ok((via.to_string(), output.output))
}

/// One line per tool, `ralph-town-preflight <index> ok|missing`, by `/bin/test -x` on the
/// quoted full path: nothing depends on `PATH`.
fn check_script(tools: &[String]) -> String {
    let mut script = String::new();
    for (index, tool) in tools.iter().enumerate() {
        let quoted = shlex::try_quote(tool)
            .map(std::borrow::Cow::into_owned)
            .unwrap_or_else(|_| "''".to_string());
        script.push_str(&format!(
            "if /bin/test -x {quoted}; then echo 'ralph-town-preflight {index} ok'; else echo 'ralph-town-preflight {index} missing'; fi\n"
        ));
    }
    script
}

/// Which tools the output reports as found; a tool without a line counts as missing.
fn parse_checks(output: &str, count: usize) -> Vec<bool> {
    let mut found = vec![false; count];
    for line in output.lines() {
        let mut words = line.split_whitespace();
        if words.next() != Some("ralph-town-preflight") {
            continue;
        }
        let index = words.next().and_then(|index| index.parse::<usize>().ok());
        if let (Some(index), Some("ok")) = (index, words.next())
            && index < count
        {
            found[index] = true;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_check_script_finds_what_exists_on_this_machine() {
        let tools = ["/bin/sh".to_string(), "/nonexistent/tool it's".to_string()];
        let output = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(check_script(&tools))
            .output()
            .unwrap();
        let found = parse_checks(&String::from_utf8_lossy(&output.stdout), tools.len());
        assert_eq!(found, [true, false]);
    }

    #[test]
    fn lines_that_are_not_checks_are_ignored() {
        let output = "motd\nralph-town-preflight 1 ok\nralph-town-preflight 9 ok\nralph-town-preflight x ok\n";
        assert_eq!(parse_checks(output, 2), [false, true]);
    }
}
