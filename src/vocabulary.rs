//! The shared vocabulary: the few words every layer uses (label keys, the setup outcome, the
//! provider kind and its settings, lifecycle timers, resources).
//!
//! A leaf module: it imports nothing from the crate, so that `team`, `provider`, `plan` and the
//! front ends can all speak it without importing each other.

use serde::{Deserialize, Serialize};

/// Label keys that mark ownership. Every sandbox `up` creates carries the first four; the setup
/// label is written when setup ends.
pub mod labels {
    /// The team name.
    pub const TEAM: &str = "ralph-town/team";
    /// The teammate name.
    pub const TEAMMATE: &str = "ralph-town/teammate";
    /// The versioned spec hash (`v1:` + hex).
    pub const SPEC: &str = "ralph-town/spec";
    /// The teammate's branch, for display and for naming the changed field in a plan.
    pub const BRANCH: &str = "ralph-town/branch";
    /// A [`super::SetupOutcome`]; absent while setup runs (or if it never finished).
    pub const SETUP: &str = "ralph-town/setup";
    /// `create`, `preflight` or `run`: sandboxes made by the single-sandbox commands.
    pub const PURPOSE: &str = "ralph-town/purpose";
    /// The teammate's spec fields (repo, snapshot, env, ...) as JSON, never a secret value: what
    /// a plan compares to show `old -> new` values.
    pub const FIELDS: &str = "ralph-town/fields";
    /// Which team file made the sandbox (`team::source_id`): two projects sharing a team name
    /// do not take each other's sandboxes.
    pub const SOURCE: &str = "ralph-town/source";
}

/// How a sandbox's setup ended, as the [`labels::SETUP`] label records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SetupOutcome {
    /// The setup script succeeded.
    Ok,
    /// The setup script failed; the sandbox is kept for inspection.
    Failed,
    /// `up --no-setup`: no setup was run.
    Skipped,
}

impl SetupOutcome {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            SetupOutcome::Ok => "ok",
            SetupOutcome::Failed => "failed",
            SetupOutcome::Skipped => "skipped",
        }
    }

    /// A label value; `None` for one this version does not know (a newer version wrote it).
    pub fn parse(value: &str) -> Option<SetupOutcome> {
        match value {
            "ok" => Some(SetupOutcome::Ok),
            "failed" => Some(SetupOutcome::Failed),
            "skipped" => Some(SetupOutcome::Skipped),
            _ => None,
        }
    }

    /// The outcome a sandbox's labels record; `None` while setup runs or when it never finished.
    pub fn of(labels: &std::collections::BTreeMap<String, String>) -> Option<SetupOutcome> {
        labels
            .get(labels::SETUP)
            .and_then(|value| SetupOutcome::parse(value))
    }
}

impl std::fmt::Display for SetupOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which backend sandboxes come from.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Sandboxes are directories on this machine (bubblewrap when installed). No account needed.
    #[default]
    Local,
    /// Daytona's sandboxes over its REST API.
    Daytona,
}

impl ProviderKind {
    /// Every kind, in the order help texts list them.
    pub const ALL: [ProviderKind; 2] = [ProviderKind::Local, ProviderKind::Daytona];

    /// The name in files, flags and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Local => "local",
            ProviderKind::Daytona => "daytona",
        }
    }
}

impl std::fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ProviderKind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        ProviderKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| format!("unknown provider `{text}` (expected `local` or `daytona`)"))
    }
}

/// Non-secret provider settings a team file may carry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProviderSettings {
    /// Daytona API base URL (`DAYTONA_API_URL` overrides it).
    pub api_url: Option<String>,
    /// Daytona target region (`DAYTONA_TARGET` overrides it).
    pub target: Option<String>,
}

/// Lifecycle timers, in minutes, with Daytona's meanings. `None` is the default (see
/// [`Lifecycle::DEFAULT`]), which a create leaves to the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Lifecycle {
    /// Stop after this many idle minutes; 0 = never.
    pub auto_stop: Option<u32>,
    /// Archive after this many stopped minutes; 0 = the backend's maximum.
    pub auto_archive: Option<u32>,
    /// Delete after this many stopped minutes; negative = never, 0 = as soon as it stops.
    pub auto_delete: Option<i32>,
}

impl Lifecycle {
    /// Daytona's defaults (and `serve`'s): stop after 15 idle minutes, archive after 7 days
    /// stopped, never delete. A key removed from a team file converges back to these.
    pub const DEFAULT: Lifecycle = Lifecycle {
        auto_stop: Some(15),
        auto_archive: Some(7 * 24 * 60),
        auto_delete: Some(-1),
    };

    /// Every field set: the given ones, the defaults for the rest.
    pub fn or_default(self) -> Lifecycle {
        Lifecycle {
            auto_stop: self.auto_stop.or(Lifecycle::DEFAULT.auto_stop),
            auto_archive: self.auto_archive.or(Lifecycle::DEFAULT.auto_archive),
            auto_delete: self.auto_delete.or(Lifecycle::DEFAULT.auto_delete),
        }
    }
}

/// Compute resources. Daytona units: vCPU, GiB, GiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Resources {
    pub cpu: Option<u32>,
    pub memory: Option<u32>,
    pub disk: Option<u32>,
}
