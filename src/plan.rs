//! The plan: what `up` must change to make the live sandboxes match the team file.
//!
//! [`reconcile`] is pure: no async, no file system, no network, no clock. It compares the desired
//! teammates with the observed sandboxes (found by their labels) and returns one [`Change`] per
//! teammate or sandbox, each with an [`Action`] and the [`Cause`] that led to it. Rendering is
//! deterministic (sorted by teammate) so plans can be compared as text.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::provider::{Lifecycle, Sandbox};

/// Label keys that mark ownership. Every sandbox `up` creates carries the first three; the
/// setup label is written when setup ends.
pub mod labels {
    /// The team name.
    pub const TEAM: &str = "ralph-town/team";
    /// The teammate name.
    pub const TEAMMATE: &str = "ralph-town/teammate";
    /// The versioned spec hash (`v1:` + hex).
    pub const SPEC: &str = "ralph-town/spec";
    /// `ok`, `failed` or `skipped`; absent while setup runs (or if it never finished).
    pub const SETUP: &str = "ralph-town/setup";
    /// The teammate's branch, for display and for naming the changed field in a plan.
    pub const BRANCH: &str = "ralph-town/branch";
}

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
}

/// The identity of an observed sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SandboxRef {
    pub id: String,
    pub name: String,
    /// Whether it is running (so its work can be checked before removal).
    pub running: bool,
}

/// The whole plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub changes: Vec<Change>,
}

/// Compares desired with observed. Pure.
pub fn reconcile(desired: &[Desired], observed: &[Sandbox], options: &PlanOptions) -> Plan {
    let _ = (desired, observed, options);
    todo!("reconcile")
}
