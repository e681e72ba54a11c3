//! The work-loss guard: before a sandbox is removed or recreated, look inside it for uncommitted
//! changes, unpushed commits and stashes, so that no work is lost silently.
//!
//! It fails closed. A sandbox that cannot be checked (in an error state, unreachable, a check
//! that did not finish) blocks its removal unless the caller forces it. A stopped or archived
//! sandbox is started, checked and stopped again. The one sandbox that is not checked is one whose
//! setup never finished (an interrupted `up`): nothing in it is the teammate's work yet, and its
//! half-made clone would read as uncommitted changes.
//!
//! It only looks: nothing here deletes, and the decision to go ahead is the caller's.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use crate::provider::{ExecRequest, Provider, ProviderError, Sandbox, SandboxState};
use crate::report::{Phase, Reporter};
use crate::setup::{self, WorkCheck};
use crate::vocabulary::labels;

/// How long a sandbox in transition may take to settle before it counts as not checkable.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(120);

/// How long the check script may run.
const CHECK_TIMEOUT: Duration = Duration::from_secs(120);

/// A sandbox about to be destroyed.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// How the user knows it (`alice`, `bob#2`).
    pub display: String,
    pub sandbox: Sandbox,
    /// The teammate's declared workdir, checked even where the home scan would not reach.
    pub workdir: Option<String>,
}

/// What the guard found in one sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Finding {
    /// Nothing would be lost.
    Clean,
    /// Setup never finished: no work of the teammate's can be in it yet.
    Unfinished,
    /// Unsaved work, described for the user.
    Unsaved(String),
    /// Could not look; blocks removal like unsaved work does.
    Unchecked(String),
}

/// Checks every target, `parallel` at once; returns the findings in the targets' order.
pub(crate) async fn inspect(
    provider: Arc<dyn Provider>,
    targets: &[Target],
    parallel: usize,
    reporter: &dyn Reporter,
) -> Vec<(Target, Finding)> {
    let mut found: Vec<(usize, Target, Finding)> =
        futures::stream::iter(targets.iter().cloned().enumerate())
            .map(|(index, target)| {
                let provider = provider.clone();
                async move {
                    let finding = inspect_one(provider.as_ref(), &target, reporter).await;
                    (index, target, finding)
                }
            })
            .buffer_unordered(parallel.max(1))
            .collect()
            .await;
    found.sort_by_key(|(index, ..)| *index);
    found
        .into_iter()
        .map(|(_, target, finding)| (target, finding))
        .collect()
}

async fn inspect_one(provider: &dyn Provider, target: &Target, reporter: &dyn Reporter) -> Finding {
    if !target.sandbox.labels.contains_key(labels::SETUP) {
        return Finding::Unfinished;
    }
    reporter.phase(&target.display, &Phase::Checking, Duration::ZERO);
    let id = &target.sandbox.id;
    let state = match settle(provider, id, &target.sandbox.state).await {
        Ok(state) => state,
        Err(reason) => return Finding::Unchecked(reason),
    };
    match state {
        SandboxState::Started => check(provider, id, target.workdir.as_deref()).await,
        SandboxState::Stopped | SandboxState::Archived => {
            reporter.warn(&format!(
                "`{}` is {state}: starting it to check for unsaved work, then stopping it again",
                target.display
            ));
            if let Err(error) = provider.start(id).await {
                return Finding::Unchecked(format!(
                    "it is {state} and could not be started to check it: {error}"
                ));
            }
            let finding = check(provider, id, target.workdir.as_deref()).await;
            if let Err(error) = provider.stop(id).await {
                reporter.warn(&format!(
                    "`{}` could not be stopped again after the check: {error}",
                    target.display
                ));
            }
            finding
        }
        other => Finding::Unchecked(format!("it is `{other}`, so its files cannot be read")),
    }
}

/// Waits for a sandbox in transition to reach a settled state; returns it.
async fn settle(
    provider: &dyn Provider,
    id: &str,
    state: &SandboxState,
) -> Result<SandboxState, String> {
    if !is_transition(state) {
        return Ok(state.clone());
    }
    let deadline = tokio::time::Instant::now() + SETTLE_TIMEOUT;
    let mut delay = Duration::from_millis(200);
    loop {
        tokio::time::sleep(delay).await;
        let sandbox = crate::apply::repeat(|| provider.get(id))
            .await
            .map_err(|error| format!("its state could not be read: {error}"))?;
        if !is_transition(&sandbox.state) {
            return Ok(sandbox.state);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "it is still `{}` after {}s",
                sandbox.state,
                SETTLE_TIMEOUT.as_secs()
            ));
        }
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}

fn is_transition(state: &SandboxState) -> bool {
    matches!(
        state,
        SandboxState::Creating
            | SandboxState::Starting
            | SandboxState::Stopping
            | SandboxState::PendingBuild
    )
}

async fn check(provider: &dyn Provider, id: &str, workdir: Option<&str>) -> Finding {
    match check_work(provider, id, workdir).await {
        Ok(check) if check.is_clean() => Finding::Clean,
        Ok(check) => Finding::Unsaved(check.describe()),
        Err(error) => Finding::Unchecked(format!("the work check failed: {error}")),
    }
}

/// Runs the work check in a started sandbox: every repository under its home, plus `workdir`.
pub(crate) async fn check_work(
    provider: &dyn Provider,
    id: &str,
    workdir: Option<&str>,
) -> Result<WorkCheck, ProviderError> {
    let mut command = format!(
        "bash -c {} ralph-town-work-check",
        setup::shell::quote(setup::worktree_check_script())
    );
    if let Some(workdir) = workdir {
        command.push(' ');
        command.push_str(&setup::shell::quote(workdir));
    }
    let request = ExecRequest {
        no_ssh_fallback: false,
        command,
        cwd: None,
        env: BTreeMap::new(),
        timeout: Some(CHECK_TIMEOUT),
    };
    // The check only reads, so a call whose answer was lost is simply made again.
    let output = crate::apply::repeat(|| provider.exec(id, &request)).await?;
    if output.exit_code != 0 {
        return Err(ProviderError::Api {
            status: None,
            message: format!(
                "the work check exited with {}: {}",
                output.exit_code,
                output.output.trim()
            ),
            retryable: false,
        });
    }
    Ok(setup::parse_worktree_check(&output.output))
}

/// The refusal text when any target may hold work, else `None`.
pub(crate) fn refusal(findings: &[(Target, Finding)]) -> Option<String> {
    let blocking: Vec<String> = findings
        .iter()
        .filter_map(|(target, finding)| {
            let what = match finding {
                Finding::Unsaved(description) => description.replace('\n', "\n    "),
                Finding::Unchecked(reason) => format!("not checked: {reason}"),
                Finding::Clean | Finding::Unfinished => return None,
            };
            Some(format!(
                "`{}` ({}): {what}",
                target.display, target.sandbox.id
            ))
        })
        .collect();
    if blocking.is_empty() {
        return None;
    }
    Some(format!(
        "refusing to delete sandboxes that may hold unsaved work:\n  {}",
        blocking.join("\n  ")
    ))
}
