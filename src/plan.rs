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
//! - What a sandbox can change in place is updated in place: lifecycle timers (a key removed from
//!   the file converges back to its default) and the plain environment (not part of the spec
//!   hash). A spec change shows every field's old and new value from the `ralph-town/fields`
//!   label, values that came from this host marked as such.
//! - A sandbox of the team made from another team file (its `ralph-town/source` label differs) is
//!   `foreign`: never changed or removed unless `--adopt`, which makes it this file's.
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

mod fields;
mod render;
mod teardown;
#[cfg(test)]
mod tests;

pub(crate) use fields::SpecFields;
pub(crate) use teardown::teardown;

/// One teammate as the team file wants it, reduced to what the planner compares.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Desired {
    pub teammate: String,
    /// `v2:` + hex; see `team::spec_hash`.
    pub spec_hash: String,
    /// The spec's values (the plain environment included), to show what changes.
    pub fields: SpecFields,
    /// The `env` names whose values come from this host.
    pub env_from_host: BTreeSet<String>,
    /// Timers a provider can change in place (not part of the spec hash).
    pub lifecycle: Lifecycle,
    /// The team file's `ralph-town/source` id, when it was loaded from a file.
    pub source: Option<String>,
    /// The teammate's command hash (`team::command_hash`); `None` = no command.
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
    /// Treat sandboxes of the team made from another team file as this file's own.
    pub adopt: bool,
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
    /// A sandbox of the team made from another team file: reported, not touched (no
    /// `--adopt`).
    Foreign,
}

/// One changed field, e.g. `auto_stop 15m -> 30m` or `env LOG_LEVEL from the host: a -> b`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    pub field: String,
    pub from: String,
    pub to: String,
    /// The new value comes from this host's environment (so it may differ on another machine).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub from_host: bool,
}

impl FieldChange {
    pub fn new(field: &str, from: impl Into<String>, to: impl Into<String>) -> FieldChange {
        FieldChange {
            field: field.to_string(),
            from: from.into(),
            to: to.into(),
            from_host: false,
        }
    }
}

impl std::fmt::Display for FieldChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let FieldChange {
            field, from, to, ..
        } = self;
        if field.starts_with("env ") {
            let host = if self.from_host { " from the host" } else { "" };
            write!(f, "{field}{host}: {from} -> {to}")
        } else {
            write!(f, "{field} {from} -> {to}")
        }
    }
}

/// Why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Cause {
    /// No sandbox exists for the teammate.
    NoSandbox,
    /// Lifecycle timers differ.
    LifecycleChanged { changes: Vec<FieldChange> },
    /// The plain environment differs (applied in place).
    EnvChanged { changes: Vec<FieldChange> },
    /// The spec hash differs; `fields` names what is known to differ and `changes` shows the
    /// values (both empty for a sandbox made by an older version, which recorded none).
    SpecChanged {
        fields: Vec<String>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        changes: Vec<FieldChange>,
        /// Whether the sandbox recorded its values (older versions did not).
        recorded: bool,
    },
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
    /// Made from another team file (`source` is its `ralph-town/source`).
    OtherSource { source: String },
    /// `--adopt`: made from another team file, now this one's.
    Adopted,
    /// `down` removes the team (`plan --destroy` shows it): the sandbox's state and how long
    /// ago it was created.
    TearDown { state: String, age_seconds: u64 },
    /// The command differs from the one started (`from`: its label, `to`: the desired hash);
    /// it is (re)started or stopped in place.
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
    /// Environment changes to apply in place (an update or start).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<FieldChange>,
    /// Write the sandbox's labels again (its fields, its source): an adoption, or a sandbox
    /// whose recorded fields are out of date.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub relabel: bool,
    /// (Re)start the teammate's command in place (stop it when it is no longer declared).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub command: bool,
}

impl Change {
    /// A change with nothing to do in place.
    fn new(
        teammate: &str,
        display: String,
        action: Action,
        cause: Cause,
        sandbox: Option<&Sandbox>,
    ) -> Change {
        Change {
            teammate: teammate.to_string(),
            display,
            action,
            cause,
            sandbox: sandbox.map(reference),
            lifecycle: Vec::new(),
            setup: false,
            env: Vec::new(),
            relabel: false,
            command: false,
        }
    }
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
    /// The team file's name (`local.toml`), which orphan lines say they are missing from;
    /// `None` = "the team file". Only the text form shows it.
    pub file: Option<String>,
}

impl Plan {
    /// The plan, its orphan lines naming the team file at `path`.
    pub fn for_file(mut self, path: Option<&std::path::Path>) -> Plan {
        self.file = path
            .and_then(std::path::Path::file_name)
            .map(|name| name.to_string_lossy().into_owned());
        self
    }
}

/// Compares desired with observed. Pure.
pub(crate) fn reconcile(desired: &[Desired], observed: &[Sandbox], options: &PlanOptions) -> Plan {
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
        // Sandboxes another team file made are that file's business, unless adopted.
        let (foreign, candidates): (Vec<&Sandbox>, Vec<&Sandbox>) = candidates
            .into_iter()
            .partition(|sandbox| !options.adopt && is_foreign(sandbox, wanted.source.as_deref()));
        let mut number = 0;
        let Some((kept, duplicates)) = candidates.split_first() else {
            let change = Change::new(
                &wanted.teammate,
                wanted.teammate.clone(),
                Action::Create,
                Cause::NoSandbox,
                None,
            );
            lines.push((Order::new(&wanted.teammate, 1, None), change));
            push_foreign(&mut lines, &wanted.teammate, &foreign, 1);
            continue;
        };
        let change = judge(wanted, kept, options.force_recreate);
        lines.push((Order::new(&wanted.teammate, 1, Some(kept)), change));
        for (index, duplicate) in duplicates.iter().enumerate() {
            number = index + 2;
            let change = Change::new(
                &wanted.teammate,
                format!("{}#{number}", wanted.teammate),
                Action::Remove,
                Cause::Duplicate {
                    kept: kept.id.clone(),
                },
                Some(duplicate),
            );
            lines.push((
                Order::new(&wanted.teammate, number, Some(duplicate)),
                change,
            ));
        }
        push_foreign(&mut lines, &wanted.teammate, &foreign, number.max(1));
    }

    if options.only.is_none() {
        for (teammate, sandboxes) in labelled {
            orphans.entry(teammate).or_default().extend(sandboxes);
        }
        let source = desired.first().and_then(|wanted| wanted.source.as_deref());
        for (teammate, mut sandboxes) in orphans {
            rank(&mut sandboxes, None);
            for (index, sandbox) in sandboxes.into_iter().enumerate() {
                let number = index + 1;
                let display = match number {
                    1 => teammate.to_string(),
                    _ => format!("{teammate}#{number}"),
                };
                let change = if !options.adopt && is_foreign(sandbox, source) {
                    foreign_change(teammate, display, sandbox)
                } else {
                    let action = if options.prune {
                        Action::Remove
                    } else {
                        Action::Orphan
                    };
                    Change::new(
                        teammate,
                        display,
                        action,
                        Cause::NotInTeamFile,
                        Some(sandbox),
                    )
                };
                lines.push((Order::new(teammate, number, Some(sandbox)), change));
            }
        }
    }

    lines.sort_by(|(left, _), (right, _)| left.cmp(right));
    Plan {
        changes: lines.into_iter().map(|(_, change)| change).collect(),
        file: None,
    }
}

/// Sort key of a plan line: teammate, then duplicate number (so `bob#10` follows `bob#2`), then
/// sandbox id for the one case two lines could tie (an unlabelled sandbox named like a teammate).
#[derive(PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Order {
    teammate: String,
    number: usize,
    sandbox: Option<String>,
}

impl Order {
    pub(crate) fn new(teammate: &str, number: usize, sandbox: Option<&Sandbox>) -> Order {
        Order {
            teammate: teammate.to_string(),
            number,
            sandbox: sandbox.map(|sandbox| sandbox.id.clone()),
        }
    }
}

/// Whether `sandbox` was made from another team file than `source` (sandboxes of older
/// versions carry no source and count as this file's).
fn is_foreign(sandbox: &Sandbox, source: Option<&str>) -> bool {
    match (sandbox.labels.get(labels::SOURCE), source) {
        (Some(theirs), Some(ours)) => theirs != ours,
        _ => false,
    }
}

fn foreign_change(teammate: &str, display: String, sandbox: &Sandbox) -> Change {
    let source = sandbox
        .labels
        .get(labels::SOURCE)
        .cloned()
        .unwrap_or_default();
    Change::new(
        teammate,
        display,
        Action::Foreign,
        Cause::OtherSource { source },
        Some(sandbox),
    )
}

/// Lines for a teammate's sandboxes made by another team file, numbered after `after`.
fn push_foreign(
    lines: &mut Vec<(Order, Change)>,
    teammate: &str,
    foreign: &[&Sandbox],
    after: usize,
) {
    for (index, sandbox) in foreign.iter().enumerate() {
        let number = after + index + 1;
        let display = format!("{teammate}#{number}");
        lines.push((
            Order::new(teammate, number, Some(sandbox)),
            foreign_change(teammate, display, sandbox),
        ));
    }
}

/// A sandbox on its way out is as good as gone.
pub(crate) fn is_live(state: &SandboxState) -> bool {
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
pub(crate) fn preferred<'a>(
    sandboxes: &[&'a Sandbox],
    spec_hash: Option<&str>,
) -> Option<&'a Sandbox> {
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

pub(crate) fn reference(sandbox: &Sandbox) -> SandboxRef {
    SandboxRef {
        id: sandbox.id.clone(),
        name: sandbox.name.clone(),
        running: sandbox.state == SandboxState::Started,
    }
}

/// What to do with the one sandbox kept for a declared teammate.
fn judge(desired: &Desired, sandbox: &Sandbox, force_recreate: bool) -> Change {
    let state = sandbox.state.as_str().to_string();
    let lifecycle = fields::lifecycle_changes(&desired.lifecycle, &sandbox.lifecycle);
    // Most sandboxes of a large team are up to date: the same label text means the same fields,
    // and parsing it can be skipped.
    let label = desired.fields.to_label();
    let recorded = match sandbox.labels.get(labels::FIELDS) {
        Some(text) if *text == label => Some(desired.fields.clone()),
        _ => SpecFields::of(&sandbox.labels),
    };
    let env = match &recorded {
        Some(recorded) => {
            fields::env_changes(&desired.fields.env, &recorded.env, &desired.env_from_host)
        }
        None => Vec::new(),
    };
    // Only with `--adopt` does a sandbox of another team file get this far.
    let adopted = is_foreign(sandbox, desired.source.as_deref());
    let unlabelled = desired.source.is_some() && !sandbox.labels.contains_key(labels::SOURCE);
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
        let changes = recorded
            .as_ref()
            .map(|recorded| fields::spec_changes(&desired.fields, recorded))
            .unwrap_or_default();
        let fields = changes.iter().map(|change| change.field.clone()).collect();
        let recorded = recorded.is_some();
        (
            Action::Recreate,
            Cause::SpecChanged {
                fields,
                changes,
                recorded,
            },
        )
    } else if force_recreate {
        (Action::Recreate, Cause::ForceRecreate)
    } else if stopped {
        (Action::Start, Cause::Stopped { state })
    } else if let Some(cause) = setup.clone() {
        (Action::Update, cause)
    } else if !env.is_empty() {
        let changes = env.clone();
        (Action::Update, Cause::EnvChanged { changes })
    } else if !lifecycle.is_empty() {
        let changes = lifecycle.clone();
        (Action::Update, Cause::LifecycleChanged { changes })
    } else if adopted {
        (Action::Update, Cause::Adopted)
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
        relabel: in_place && (adopted || unlabelled || !env.is_empty() || recorded.is_none()),
        env: if in_place { env } else { Vec::new() },
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
