//! Runs a [`Plan`] against a provider with bounded concurrency.
//!
//! Knows nothing about terminals: every step is reported through the [`Reporter`] trait, which
//! `progress.rs` implements for a TTY, plain lines and NDJSON, and tests implement by recording.
//! One teammate's failure never stops the others: each change ends in its own [`ChangeResult`],
//! whose error keeps its kind ([`ApplyError::kind`]) for scripts and the retry policy.
//!
//! Invariants:
//! - Recreate is create-new-then-remove-old, so a failed create leaves the old sandbox running.
//! - A new sandbox's name is the same in every run that would create it (see
//!   [`DesiredTeammate::sandbox_name`]), so two runs at once make one sandbox: the provider
//!   refuses the second name and the loser adopts the winner's sandbox.
//! - Setup is idempotent and serialised inside the sandbox, so it is safe to run again: after a
//!   lost answer, after a failure, after another run's setup was killed.
//! - Secrets travel only in the setup command's environment; any output shown is redacted.
//! - After an interrupt no new change starts; changes in flight run to their end.
//! - After a quota error no further create is attempted in the run: each would fail the same
//!   way, and a half-staffed team is better reported once than hammered.

mod step;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::Serialize;

use crate::desired::DesiredTeammate;
use crate::plan::{Action, Change, Plan};
use crate::provider::{Provider, ProviderError};
use crate::report::{Phase, Reporter};
use crate::secret::{Redactor, Secrets};

pub(crate) use step::{delete, repeat};

/// How to apply.
#[derive(Debug, Clone)]
pub(crate) struct ApplyOptions {
    /// Changes in flight at once.
    pub parallel: usize,
    /// Skip the setup script (sandboxes get `ralph-town/setup=skipped`).
    pub no_setup: bool,
    /// The team name: the prefix of every new sandbox's name.
    pub team: String,
    /// Set up sandboxes without starting (or restarting) the teammates' commands.
    pub no_start: bool,
}

/// Why a change failed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub(crate) enum ApplyError {
    /// A provider call failed (after the retries that were safe).
    #[error(transparent)]
    #[diagnostic(transparent)]
    Provider(#[from] ProviderError),

    /// The setup script ran and failed; the sandbox is kept, labelled `failed`, for inspection.
    #[error("setup exited with {exit_code}: {tail}")]
    #[diagnostic(code(apply::setup_failed))]
    SetupFailed {
        exit_code: i32,
        /// The last lines of its output, `|`-joined.
        tail: String,
    },

    /// The provider's quota refused a create; no further create is tried in this run.
    #[error(
        "quota exceeded: {message} (this plan creates {creates} sandbox{}; free capacity, e.g. `ralph-town down` an unused team, or raise the quota)",
        if *creates == 1 { "" } else { "es" }
    )]
    #[diagnostic(code(apply::quota_exceeded))]
    QuotaExceeded { message: String, creates: usize },

    /// Not tried: an earlier create of this run hit the quota.
    #[error("not attempted: the provider's quota was exceeded earlier in this run")]
    #[diagnostic(code(apply::not_attempted))]
    NotAttempted,

    /// The setup script could not be rendered.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Setup(Box<crate::setup::SetupError>),

    /// The teammate's command could not be started or stopped; the sandbox is kept.
    #[error("the command could not be started: {message}")]
    #[diagnostic(code(apply::command_failed))]
    CommandFailed { message: String },

    /// The plan and the team file disagree (a change for a teammate that is not declared).
    #[error("the plan does not fit the team file: {0}")]
    #[diagnostic(code(apply::inconsistent_plan))]
    InconsistentPlan(&'static str),
}

impl ApplyError {
    /// A stable name for the kind of failure, as `up --json` reports it.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            ApplyError::Provider(error) => error.kind(),
            ApplyError::SetupFailed { .. } => "setup_failed",
            ApplyError::QuotaExceeded { .. } => "quota_exceeded",
            ApplyError::NotAttempted => "not_attempted",
            ApplyError::CommandFailed { .. } => "command_failed",
            ApplyError::InconsistentPlan(_) => "inconsistent_plan",
            ApplyError::Setup(_) => "setup_template",
        }
    }
}

/// A failed change, as results and JSON show it. The message holds no secret value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeFailure {
    /// [`ApplyError::kind`]: `setup_failed`, `quota_exceeded`, `rate_limited`, `transport`, ...
    pub kind: &'static str,
    pub message: String,
}

impl std::fmt::Display for ChangeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The outcome of one change.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeResult {
    pub teammate: String,
    pub display: String,
    pub action: Action,
    /// The sandbox the teammate has after the change (the new one after a create/recreate; the
    /// one that was kept, for inspection, when setup failed).
    pub sandbox_id: Option<String>,
    pub ok: bool,
    pub error: Option<ChangeFailure>,
    pub elapsed_ms: u128,
}

/// What a step ends with: the teammate's sandbox afterwards (if any), and the failure.
pub(crate) struct Outcome {
    sandbox_id: Option<String>,
    error: Option<ApplyError>,
}

impl Outcome {
    fn done(sandbox_id: Option<String>) -> Outcome {
        Outcome {
            sandbox_id,
            error: None,
        }
    }

    fn failed(sandbox_id: Option<String>, error: impl Into<ApplyError>) -> Outcome {
        Outcome {
            sandbox_id,
            error: Some(error.into()),
        }
    }
}

/// The run-wide quota state shared by every create.
pub(crate) struct Quota {
    /// Set by the first create that failed for quota.
    exceeded: AtomicBool,
    /// How many sandboxes the plan creates, for the message.
    creates: usize,
}

/// Applies every actionable change of `plan`. `desired` and `secrets` are keyed by teammate.
pub(crate) async fn apply(
    provider: Arc<dyn Provider>,
    plan: &Plan,
    desired: &BTreeMap<String, DesiredTeammate>,
    secrets: &BTreeMap<String, Secrets>,
    options: &ApplyOptions,
    reporter: &dyn Reporter,
    interrupted: &AtomicBool,
) -> Vec<ChangeResult> {
    // Owned changes: a stream over borrowed items makes a future that is not `Send`.
    let actionable: Vec<Change> = plan
        .changes
        .iter()
        .filter(|change| change.action.is_actionable())
        .cloned()
        .collect();
    for change in &actionable {
        reporter.phase(&change.display, &Phase::Queued, Duration::ZERO);
    }
    let empty = Secrets::new();
    let quota = Quota {
        exceeded: AtomicBool::new(false),
        creates: actionable
            .iter()
            .filter(|change| matches!(change.action, Action::Create | Action::Recreate))
            .count(),
    };
    let quota = &quota;
    let mut results = futures::stream::iter(actionable)
        .map(|change| {
            let provider = provider.clone();
            let desired = desired.get(&change.teammate);
            let secrets = secrets.get(&change.teammate).unwrap_or(&empty);
            async move {
                if interrupted.load(Ordering::SeqCst) {
                    return None;
                }
                let started = Instant::now();
                let step = step::Step {
                    provider: provider.as_ref(),
                    change: &change,
                    reporter,
                    started,
                    options,
                    quota,
                };
                let outcome = step.run(desired, secrets).await;
                let elapsed = started.elapsed();
                let error = outcome.error.map(|error| ChangeFailure {
                    kind: error.kind(),
                    message: Redactor::of(secrets).redact(&error.to_string()),
                });
                if let Some(error) = &error {
                    let error = error.message.clone();
                    reporter.phase(&change.display, &Phase::Failed { error }, elapsed);
                }
                Some(ChangeResult {
                    teammate: change.teammate.clone(),
                    display: change.display.clone(),
                    action: change.action,
                    sandbox_id: outcome.sandbox_id,
                    ok: error.is_none(),
                    error,
                    elapsed_ms: elapsed.as_millis(),
                })
            }
        })
        .buffer_unordered(options.parallel.max(1))
        .filter_map(|result| async move { result })
        .collect::<Vec<_>>()
        .await;
    reporter.finish();
    results.sort_by(|a, b| a.display.cmp(&b.display));
    results
}

#[cfg(test)]
mod tests;
