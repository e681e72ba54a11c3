//! `down` in two steps, like `up`: [`prepare_down`] observes the team and lays out what would
//! go as a plan (`plan --destroy` stops there); [`apply_down`] checks the confirmation, runs the
//! work-loss guard and deletes. [`down`] is both at once.
//!
//! A refusal (not confirmed, or work that could be lost) is a [`Refusal`] value naming every
//! sandbox that blocked it, so that a front end can answer it as structured data as well as
//! words. Nothing is deleted when anything is refused.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use serde::Serialize;

use super::Switches;
use crate::apply::{self, ChangeFailure};
use crate::error::{Error, Result};
use crate::guard::{self, Finding, Target};
use crate::plan::{self, Plan};
use crate::provider::{Labels, Provider, Sandbox};
use crate::report::Reporter;
use crate::team::Team;
use crate::vocabulary::labels;

/// How to tear down.
#[derive(Debug, Clone)]
pub struct DownOptions {
    /// The caller confirmed that every sandbox of the team may be deleted.
    pub destructive_allowed: bool,
    /// Delete even when a sandbox holds unsaved work.
    pub force: bool,
    /// Sandboxes checked and deleted at once.
    pub parallel: usize,
    pub switches: Switches,
}

/// One deleted (or not) sandbox, as `down --json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct Removed {
    pub teammate: String,
    pub id: String,
    pub ok: bool,
    pub error: Option<ChangeFailure>,
}

/// The result of `down`: `{"team", "plan", "removed", "refused"?}`.
#[derive(Debug, Clone, Serialize)]
pub struct DownOutcome {
    pub team: String,
    /// What was to be removed.
    pub plan: Plan,
    /// One entry per sandbox deleted or failed to delete, in no particular order; empty when
    /// refused.
    pub removed: Vec<Removed>,
    /// Why nothing was removed, when it was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<Refusal>,
}

impl DownOutcome {
    /// How many sandboxes could not be deleted.
    pub fn failed(&self) -> usize {
        self.removed.iter().filter(|entry| !entry.ok).count()
    }

    /// The outcome of a refused `down`: nothing removed.
    pub fn refused(prepared: &PreparedDown, refusal: Refusal) -> DownOutcome {
        DownOutcome {
            team: prepared.team.clone(),
            plan: prepared.plan.clone(),
            removed: Vec::new(),
            refused: Some(refusal),
        }
    }
}

/// Why a `down` deleted nothing.
#[derive(Debug, Clone, Serialize)]
pub struct Refusal {
    pub reason: RefusalReason,
    /// The refusal in words, as the error shows it.
    pub message: String,
    /// What to do about it.
    #[serde(skip)]
    pub hint: Option<String>,
    /// The sandboxes that blocked it: every one when it was not confirmed, else those that may
    /// hold work.
    pub sandboxes: Vec<RefusedSandbox>,
}

/// Why, in one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalReason {
    /// Deleting was not confirmed (a refused prompt, or a caller that did not confirm).
    NotConfirmed,
    /// A sandbox holds unsaved work, or could not be checked (the guard fails closed).
    UnsavedWork,
}

/// A sandbox a refusal names.
#[derive(Debug, Clone, Serialize)]
pub struct RefusedSandbox {
    pub teammate: String,
    pub id: String,
    /// What could be lost, or why it could not be checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl From<Refusal> for Error {
    fn from(refusal: Refusal) -> Error {
        Error::Refused {
            message: refusal.message,
            hint: refusal.hint,
        }
    }
}

/// A planned `down`.
#[derive(Debug, Clone)]
pub struct PreparedDown {
    /// The team name.
    pub team: String,
    /// One `remove` per sandbox to delete.
    pub plan: Plan,
    /// The sandboxes the plan removes, each as the guard sees it.
    targets: Vec<Target>,
    /// Sandboxes of the team that another team file made: left alone (no `--adopt`).
    pub foreign: Vec<String>,
}

impl PreparedDown {
    /// A refusal because deleting was not confirmed, naming every sandbox to delete.
    pub fn not_confirmed(&self, message: &str, hint: Option<String>) -> Refusal {
        Refusal {
            reason: RefusalReason::NotConfirmed,
            message: message.to_string(),
            hint,
            sandboxes: self
                .targets
                .iter()
                .map(|target| RefusedSandbox {
                    teammate: target.display.clone(),
                    id: target.sandbox.id.clone(),
                    detail: None,
                })
                .collect(),
        }
    }
}

/// Observes the team's sandboxes and plans their removal: all of them, or only those created
/// more than `older_than` ago. With a team `file`, sandboxes of the same team name that another
/// team file made are left alone unless `adopt` (without a file, `down --team`, all go).
pub async fn prepare_down(
    provider: &dyn Provider,
    team: &str,
    file: Option<&Team>,
    older_than: Option<Duration>,
    adopt: bool,
) -> Result<PreparedDown> {
    let now = SystemTime::now();
    let source = file
        .and_then(|team| team.source.as_deref())
        .filter(|_| !adopt);
    let (foreign, ours): (Vec<Sandbox>, Vec<Sandbox>) = super::observe(provider, team)
        .await?
        .into_iter()
        .partition(
            |sandbox| match (sandbox.labels.get(labels::SOURCE), source) {
                (Some(theirs), Some(ours)) => theirs != ours,
                _ => false,
            },
        );
    let sandboxes: Vec<Sandbox> = ours
        .into_iter()
        .filter(|sandbox| {
            older_than.is_none_or(|limit| {
                now.duration_since(sandbox.created_at)
                    .is_ok_and(|age| age > limit)
            })
        })
        .collect();
    let plan = plan::teardown(&sandboxes, now).for_file(file.and_then(|team| team.path.as_deref()));
    let targets = plan
        .changes
        .iter()
        .filter_map(|change| {
            let id = &change.sandbox.as_ref()?.id;
            let sandbox = sandboxes.iter().find(|sandbox| &sandbox.id == id)?;
            Some(Target {
                display: change.display.clone(),
                sandbox: sandbox.clone(),
                workdir: file.and_then(|team| super::declared_workdir(team, sandbox)),
            })
        })
        .collect();
    Ok(PreparedDown {
        team: team.to_string(),
        plan,
        targets,
        foreign: foreign.into_iter().map(|sandbox| sandbox.id).collect(),
    })
}

/// Deletes what `prepared` plans to, `options.parallel` at once. Refuses (deleting nothing)
/// when that was not confirmed, and when a sandbox may hold unsaved work unless `force`;
/// sandboxes the guard could not look into are warned about through `reporter`. A failed
/// delete is in the outcome, not an error.
pub async fn apply_down(
    provider: Arc<dyn Provider>,
    prepared: &PreparedDown,
    options: &DownOptions,
    reporter: &dyn Reporter,
) -> std::result::Result<DownOutcome, Refusal> {
    let targets = &prepared.targets;
    if !targets.is_empty() && !options.destructive_allowed {
        let names: Vec<String> = targets
            .iter()
            .map(|target| format!("`{}` ({})", target.display, target.sandbox.id))
            .collect();
        return Err(prepared.not_confirmed(
            &format!(
                "deleting the sandboxes of team `{}` was not confirmed; nothing was deleted:\n  {}",
                prepared.team,
                names.join("\n  ")
            ),
            Some(format!("pass {} to delete them", options.switches.confirm)),
        ));
    }
    if !options.force && !targets.is_empty() {
        let findings = guard::inspect(provider.clone(), targets, options.parallel, reporter).await;
        if let Some(message) = guard::refusal(&findings) {
            return Err(Refusal {
                reason: RefusalReason::UnsavedWork,
                message,
                hint: Some(format!(
                    "push or commit the work first, or pass {} to discard it",
                    options.switches.force
                )),
                sandboxes: findings
                    .into_iter()
                    .filter_map(|(target, finding)| {
                        let detail = match finding {
                            Finding::Unsaved(description) => description,
                            Finding::Unchecked(reason) => format!("not checked: {reason}"),
                            Finding::Clean | Finding::Unfinished => return None,
                        };
                        Some(RefusedSandbox {
                            teammate: target.display,
                            id: target.sandbox.id,
                            detail: Some(detail),
                        })
                    })
                    .collect(),
            });
        }
    }
    // Owned items: a stream of borrowed sandboxes makes this future not `Send`.
    let removed = futures::stream::iter(targets.clone())
        .map(|target| {
            let provider = provider.clone();
            async move {
                let outcome = apply::delete(provider.as_ref(), &target.sandbox.id).await;
                Removed {
                    teammate: teammate_of(&target.sandbox.labels, &target.sandbox.name),
                    id: target.sandbox.id,
                    ok: outcome.is_ok(),
                    error: outcome.err().map(|error| ChangeFailure {
                        kind: error.kind(),
                        message: error.to_string(),
                    }),
                }
            }
        })
        .buffer_unordered(options.parallel.max(1))
        .collect()
        .await;
    Ok(DownOutcome {
        team: prepared.team.clone(),
        plan: prepared.plan.clone(),
        removed,
        refused: None,
    })
}

/// Deletes every sandbox labelled with `team`: [`prepare_down`] then [`apply_down`], a refusal
/// as an error.
pub async fn down(
    provider: Arc<dyn Provider>,
    team: &str,
    file: Option<&Team>,
    options: &DownOptions,
    reporter: &dyn Reporter,
) -> Result<DownOutcome> {
    let prepared = prepare_down(provider.as_ref(), team, file, None, false).await?;
    Ok(apply_down(provider, &prepared, options, reporter).await?)
}

/// The teammate a sandbox belongs to: its label, else the sandbox name.
fn teammate_of(labels: &Labels, name: &str) -> String {
    labels
        .get(labels::TEAMMATE)
        .cloned()
        .unwrap_or_else(|| name.to_string())
}
