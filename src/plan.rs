//! The plan: what `up` must change to make the live sandboxes match the team file.
//!
//! [`reconcile`] is pure: no async, no file system, no network, no clock. It compares the desired
//! teammates with the observed sandboxes (found by their labels) and returns one [`Change`] per
//! teammate or sandbox, each with an [`Action`] and the [`Cause`] that led to it. Rendering is
//! deterministic (sorted by teammate) so plans can be compared as text; the text and JSON forms
//! live in `plan/render.rs`.
//!
//! Choices the rules leave open, made here once:
//! - A kept sandbox is judged in this order: failed state (recreate); in transition (left alone,
//!   unless `--force-recreate`, or unless its setup never started: then it is set up once it has
//!   started); spec changed (recreate); `--force-recreate`; stopped or archived (start); setup
//!   failed or never finished (update: the idempotent setup runs again in place, so a killed or
//!   failed `up` converges without a destructive recreate); lifecycle differs (update); else up to
//!   date. [`Change::setup`] marks every change after which setup runs again.
//! - A stopped sandbox whose lifecycle also differs gets one `start` change that carries the
//!   lifecycle fixes in [`Change::lifecycle`], so one run converges both.
//! - `only` restricts the plan to the named teammates: everything else, orphans included, is
//!   left out. Checking that the names are declared is the caller's job.
//! - Lines sort by teammate, then duplicate number, so `bob#2` follows `bob` directly.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::provider::{Lifecycle, Sandbox, SandboxState};
use crate::vocabulary::{SetupOutcome, labels};

mod render;
#[cfg(test)]
mod tests;

pub use render::Summary;

/// One teammate as the team file wants it, reduced to what the planner compares.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Desired {
    pub teammate: String,
    /// `v1:` + hex; see `team::spec_hash`.
    pub spec_hash: String,
    pub branch: String,
    pub snapshot: Option<String>,
    pub env: BTreeMap<String, String>,
    /// Timers a provider can change in place (not part of the spec hash).
    pub lifecycle: Lifecycle,
    // [work] The teammate's command hash (`team::command_hash`); `None` = no command.
    pub command: Option<String>,
}

/// Flags that steer the planner.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Remove orphans (sandboxes of the team whose teammate is no longer declared).
    pub prune: bool,
    /// Recreate every selected teammate even when it is up to date.
    pub force_recreate: bool,
    /// Restrict the plan to these teammates (`None` = all).
    pub only: Option<BTreeSet<String>>,
}

/// What to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    Update,
    Recreate,
    Start,
    Keep,
    Remove,
    /// An orphan that is kept (no `--prune`): reported, not touched.
    Orphan,
}

/// One changed lifecycle field, e.g. `auto_stop 15m -> 30m`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    pub field: String,
    pub from: String,
    pub to: String,
}

/// Why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Cause {
    /// No sandbox exists for the teammate.
    NoSandbox,
    /// In-place fields differ.
    LifecycleChanged { changes: Vec<FieldChange> },
    /// The spec hash differs; `fields` names what is known to differ (may be empty).
    SpecChanged { fields: Vec<String> },
    /// The sandbox is in a failed state (`error`, `build_failed`).
    Failed { state: String },
    /// Setup ended with `failed`.
    SetupFailed,
    /// Setup never recorded an outcome (interrupted).
    SetupIncomplete,
    /// `--force-recreate`.
    ForceRecreate,
    /// The sandbox is stopped (or archived).
    Stopped { state: String },
    /// Up to date.
    UpToDate,
    /// The sandbox is on its way somewhere (`creating`, `starting`, ...); left alone.
    InTransition { state: String },
    /// A second live sandbox for a teammate; `kept` is the id of the one kept.
    Duplicate { kept: String },
    /// The teammate is no longer in the team file.
    NotInTeamFile,
    // [work] The command differs from the one started (`from`: its label, `to`: the desired
    // hash); it is (re)started or stopped in place.
    CommandChanged {
        from: Option<String>,
        to: Option<String>,
    },
}

/// One line of the plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// The teammate this change is about (for orphans: the label's value).
    pub teammate: String,
    /// How the line is labelled in the rendering (`bob`, or `bob#2` for a duplicate).
    pub display: String,
    pub action: Action,
    pub cause: Cause,
    /// The existing sandbox acted on (update, recreate, start, keep, remove, orphan).
    pub sandbox: Option<SandboxRef>,
    /// Lifecycle timers to set in place as part of this change: the update's own changes, or
    /// those of a stopped sandbox that is started. Empty for every other change.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lifecycle: Vec<FieldChange>,
    /// Run the setup script again in place (an update or start of a sandbox whose setup failed
    /// or never finished). Creates and recreates always run setup; this is for the rest.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub setup: bool,
    // [work] (Re)start the teammate's command in place (stop it when it is no longer declared).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub command: bool,
}

/// The identity of an observed sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SandboxRef {
    pub id: String,
    pub name: String,
    /// Whether it is running (so its work can be checked before removal).
    pub running: bool,
}

/// The whole plan. Its JSON form is `{"changes": [...], "summary": {...}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub changes: Vec<Change>,
}

/// Compares desired with observed. Pure.
pub fn reconcile(desired: &[Desired], observed: &[Sandbox], options: &PlanOptions) -> Plan {
    let selected = |teammate: &str| {
        options
            .only
            .as_ref()
            .is_none_or(|only| only.contains(teammate))
    };

    // Live sandboxes by their teammate label. Unlabelled ones can never be a teammate's
    // sandbox (even when their name matches one), so they go straight to the orphans.
    let mut labelled: BTreeMap<&str, Vec<&Sandbox>> = BTreeMap::new();
    let mut orphans: BTreeMap<&str, Vec<&Sandbox>> = BTreeMap::new();
    for sandbox in observed.iter().filter(|sandbox| is_live(&sandbox.state)) {
        match sandbox.labels.get(labels::TEAMMATE) {
            Some(teammate) => labelled.entry(teammate).or_default().push(sandbox),
            None => orphans.entry(&sandbox.name).or_default().push(sandbox),
        }
    }

    let mut lines: Vec<(Order, Change)> = Vec::new();
    for wanted in desired.iter().filter(|wanted| selected(&wanted.teammate)) {
        let mut candidates = labelled
            .remove(wanted.teammate.as_str())
            .unwrap_or_default();
        rank(&mut candidates, Some(&wanted.spec_hash));
        let Some((kept, duplicates)) = candidates.split_first() else {
            let change = Change {
                teammate: wanted.teammate.clone(),
                display: wanted.teammate.clone(),
                action: Action::Create,
                cause: Cause::NoSandbox,
                sandbox: None,
                lifecycle: Vec::new(),
                setup: false,
                command: false,
            };
            lines.push((Order::new(&wanted.teammate, 1, None), change));
            continue;
        };
        let change = judge(wanted, kept, options.force_recreate);
        lines.push((Order::new(&wanted.teammate, 1, Some(kept)), change));
        for (index, duplicate) in duplicates.iter().enumerate() {
            let number = index + 2;
            let change = Change {
                teammate: wanted.teammate.clone(),
                display: format!("{}#{number}", wanted.teammate),
                action: Action::Remove,
                cause: Cause::Duplicate {
                    kept: kept.id.clone(),
                },
                sandbox: Some(reference(duplicate)),
                lifecycle: Vec::new(),
                setup: false,
                command: false,
            };
            lines.push((
                Order::new(&wanted.teammate, number, Some(duplicate)),
                change,
            ));
        }
    }

    if options.only.is_none() {
        for (teammate, sandboxes) in labelled {
            orphans.entry(teammate).or_default().extend(sandboxes);
        }
        for (teammate, mut sandboxes) in orphans {
            rank(&mut sandboxes, None);
            for (index, sandbox) in sandboxes.into_iter().enumerate() {
                let number = index + 1;
                let display = match number {
                    1 => teammate.to_string(),
                    _ => format!("{teammate}#{number}"),
                };
                let change = Change {
                    teammate: teammate.to_string(),
                    display,
                    action: if options.prune {
                        Action::Remove
                    } else {
                        Action::Orphan
                    },
                    cause: Cause::NotInTeamFile,
                    sandbox: Some(reference(sandbox)),
                    lifecycle: Vec::new(),
                    setup: false,
                    command: false,
                };
                lines.push((Order::new(teammate, number, Some(sandbox)), change));
            }
        }
    }

    lines.sort_by(|(left, _), (right, _)| left.cmp(right));
    Plan {
        changes: lines.into_iter().map(|(_, change)| change).collect(),
    }
}

/// Sort key of a plan line: teammate, then duplicate number (so `bob#10` follows `bob#2`), then
/// sandbox id for the one case two lines could tie (an unlabelled sandbox named like a teammate).
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Order {
    teammate: String,
    number: usize,
    sandbox: Option<String>,
}

impl Order {
    fn new(teammate: &str, number: usize, sandbox: Option<&Sandbox>) -> Order {
        Order {
            teammate: teammate.to_string(),
            number,
            sandbox: sandbox.map(|sandbox| sandbox.id.clone()),
        }
    }
}

/// A sandbox on its way out is as good as gone.
fn is_live(state: &SandboxState) -> bool {
    !matches!(state, SandboxState::Destroying | SandboxState::Destroyed)
}

/// Neither settled nor failed: the backend is still moving it.
fn is_in_transition(state: &SandboxState) -> bool {
    !state.is_failed()
        && !matches!(
            state,
            SandboxState::Started | SandboxState::Stopped | SandboxState::Archived
        )
}

/// The sandbox the plan keeps for a teammate among `sandboxes` (its live ones): the one `exec`,
/// `ssh` and the MCP teammate tools reach. `spec_hash` is the teammate's current spec.
pub fn preferred<'a>(sandboxes: &[&'a Sandbox], spec_hash: Option<&str>) -> Option<&'a Sandbox> {
    let mut live: Vec<&Sandbox> = sandboxes
        .iter()
        .copied()
        .filter(|sandbox| is_live(&sandbox.state))
        .collect();
    rank(&mut live, spec_hash);
    live.first().copied()
}

/// Best first: healthy (not failed, started, setup ok, current spec), then newest, then the
/// smallest id, so the choice does not depend on the order the backend listed them in.
fn rank(sandboxes: &mut [&Sandbox], spec_hash: Option<&str>) {
    sandboxes.sort_by_cached_key(|sandbox| {
        let setup = SetupOutcome::of(&sandbox.labels);
        let spec = sandbox.labels.get(labels::SPEC);
        let health = (
            !sandbox.state.is_failed(),
            sandbox.state == SandboxState::Started,
            matches!(setup, Some(SetupOutcome::Ok | SetupOutcome::Skipped)),
            spec_hash.is_some_and(|hash| spec.map(String::as_str) == Some(hash)),
        );
        (
            Reverse(health),
            Reverse(sandbox.created_at),
            sandbox.id.clone(),
        )
    });
}

fn reference(sandbox: &Sandbox) -> SandboxRef {
    SandboxRef {
        id: sandbox.id.clone(),
        name: sandbox.name.clone(),
        running: sandbox.state == SandboxState::Started,
    }
}

/// What to do with the one sandbox kept for a declared teammate.
fn judge(desired: &Desired, sandbox: &Sandbox, force_recreate: bool) -> Change {
    let state = sandbox.state.as_str().to_string();
    let lifecycle = lifecycle_changes(&desired.lifecycle, &sandbox.lifecycle);
    let setup = setup_problem(sandbox);
    let stopped = matches!(
        sandbox.state,
        SandboxState::Stopped | SandboxState::Archived
    );
    let (action, cause) = if sandbox.state.is_failed() {
        (Action::Recreate, Cause::Failed { state })
    } else if is_in_transition(&sandbox.state) && !force_recreate {
        match &setup {
            // Made by a run that was killed (or is still creating it): set it up once started.
            Some(Cause::SetupIncomplete) => (Action::Update, Cause::SetupIncomplete),
            _ => (Action::Keep, Cause::InTransition { state }),
        }
    } else if sandbox.labels.get(labels::SPEC) != Some(&desired.spec_hash) {
        let fields = spec_fields(desired, sandbox);
        (Action::Recreate, Cause::SpecChanged { fields })
    } else if force_recreate {
        (Action::Recreate, Cause::ForceRecreate)
    } else if stopped {
        (Action::Start, Cause::Stopped { state })
    } else if let Some(cause) = setup.clone() {
        (Action::Update, cause)
    } else if !lifecycle.is_empty() {
        let changes = lifecycle.clone();
        (Action::Update, Cause::LifecycleChanged { changes })
    } else {
        (Action::Keep, Cause::UpToDate)
    };
    // [work] A command that differs from the one started is restarted in place.
    let started = sandbox.labels.get(labels::COMMAND);
    let command = desired.command.as_ref() != started;
    let (action, cause) = match cause {
        Cause::UpToDate if command => (
            Action::Update,
            Cause::CommandChanged {
                from: started.cloned(),
                to: desired.command.clone(),
            },
        ),
        cause => (action, cause),
    };
    let in_place = matches!(action, Action::Update | Action::Start);
    Change {
        teammate: desired.teammate.clone(),
        display: desired.teammate.clone(),
        action,
        cause,
        sandbox: Some(reference(sandbox)),
        lifecycle: if in_place { lifecycle } else { Vec::new() },
        setup: in_place && setup.is_some(),
        command: in_place && command,
    }
}

fn setup_problem(sandbox: &Sandbox) -> Option<Cause> {
    match (
        sandbox.labels.get(labels::SETUP),
        SetupOutcome::of(&sandbox.labels),
    ) {
        (_, Some(SetupOutcome::Failed)) => Some(Cause::SetupFailed),
        (None, _) => Some(Cause::SetupIncomplete),
        // `ok`, `skipped`, or a value a newer version wrote: not ours to judge.
        (Some(_), _) => None,
    }
}

/// The parts of a spec that can be compared without the hash; the rest only shows in it.
fn spec_fields(desired: &Desired, sandbox: &Sandbox) -> Vec<String> {
    let mut fields = Vec::new();
    if sandbox
        .labels
        .get(labels::BRANCH)
        .is_some_and(|branch| *branch != desired.branch)
    {
        fields.push("branch".to_string());
    }
    if let (Some(observed), Some(wanted)) = (&sandbox.snapshot, &desired.snapshot)
        && observed != wanted
    {
        fields.push("snapshot".to_string());
    }
    if sandbox.env != desired.env {
        fields.push("env".to_string());
    }
    fields
}

/// Fields the team file sets that differ from the sandbox; unset fields are left alone.
fn lifecycle_changes(desired: &Lifecycle, observed: &Lifecycle) -> Vec<FieldChange> {
    let fields = [
        (
            "auto_stop",
            desired.auto_stop.map(i64::from),
            observed.auto_stop.map(i64::from),
        ),
        (
            "auto_archive",
            desired.auto_archive.map(i64::from),
            observed.auto_archive.map(i64::from),
        ),
        (
            "auto_delete",
            desired.auto_delete.map(i64::from),
            observed.auto_delete.map(i64::from),
        ),
    ];
    fields
        .into_iter()
        .filter_map(|(field, wanted, have)| {
            let wanted = wanted?;
            (have != Some(wanted)).then(|| FieldChange {
                field: field.to_string(),
                from: have.map_or_else(|| "default".to_string(), render::minutes),
                to: render::minutes(wanted),
            })
        })
        .collect()
}
