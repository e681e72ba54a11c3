//! `team.toml`: the desired state of a team.
//!
//! Loading goes file text -> raw TOML model (with spans) -> interpolation -> defaults merged per
//! key -> validation -> the resolved [`Team`] below. Everything after loading works on the
//! resolved types only; they hold no secret value (only secret *names*, see [`SecretRef`]).
//!
//! Entry points: [`load`] / [`load_str`] (every problem is a miette diagnostic pointing into the
//! file), [`spec_hash`] for the `ralph-town/spec` label, [`read_secrets`] at `up` time,
//! [`schema_json`] for `ralph-town schema` and [`starter`] for `ralph-town init`.

mod duration;
mod entries;
mod error;
mod excerpt;
mod interpolate;
mod keys;
mod load;
mod problems;
mod raw;
mod repo;
mod resolve;
mod schema;
mod secrets;
mod settings;
mod source;
mod spec_hash;
mod starter;
mod values;

pub use error::{
    FileDiagnostic, Invalid, MAX_FILE_BYTES, MAX_LISTED, ProblemKind, TeamError, TeamWarning,
};
pub use load::{LoadOptions, Loaded, load, load_str};
pub use schema::schema_json;
pub use secrets::{host_env, read_secrets};
pub use source::source_id;
pub use spec_hash::spec_hash;
pub use starter::starter;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

pub use crate::vocabulary::ProviderSettings;
use crate::vocabulary::{Lifecycle, ProviderKind, Resources};

/// A loaded, interpolated and validated team file.
#[derive(Debug, Clone, Serialize)]
pub struct Team {
    /// The team name: the ownership label of every sandbox.
    pub name: String,
    /// Where the sandboxes come from (`local` when the file does not say).
    pub provider: ProviderKind,
    /// Provider settings the file may carry (never a credential).
    pub provider_settings: ProviderSettings,
    /// Teammates in file order.
    pub teammates: Vec<Teammate>,
    /// The team file's path, when loaded from a file.
    pub path: Option<PathBuf>,
    /// Where the team file lives (its repository and path in it, hashed; see `source.rs`):
    /// the `ralph-town/source` label, so that one team name used by two projects is noticed.
    pub source: Option<String>,
}

/// One teammate with the defaults merged in: everything needed to build its sandbox.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Teammate {
    /// The teammate name, unique in the team: the `ralph-town/teammate` label.
    pub name: String,
    /// Clone URL, or an absolute path to a local repository (relative paths in the file are
    /// resolved against the team file's directory).
    pub repo: String,
    /// The teammate's own branch.
    pub branch: String,
    /// New branches fork from here; `None` = the remote's HEAD.
    pub base_branch: Option<String>,
    /// The snapshot to create from; `None` = the provider's default.
    pub snapshot: Option<String>,
    /// Plain environment, merged by key with the defaults; values already resolved.
    pub env: BTreeMap<String, String>,
    /// The `env` names whose value came from this host (copied, or interpolated).
    pub env_from_host: std::collections::BTreeSet<String>,
    /// Secrets by name; their values are read from the host only at `up`.
    pub secrets: Vec<SecretRef>,
    /// Defaults to `ralph-town` / `ralph-town@localhost`.
    pub git: GitIdentity,
    /// Timers a provider changes in place (not part of the spec hash).
    pub lifecycle: Lifecycle,
    /// Destroy this many minutes after creation.
    pub ttl_minutes: Option<u32>,
    /// `None` fields take the provider's defaults.
    pub resources: Resources,
    /// Where the repository is cloned, relative to the sandbox home unless absolute; defaults
    /// to the repository's own name (`app` for `.../app.git`).
    pub workdir: String,
    /// A team-supplied setup template (`*.sh.j2`), resolved against the team file's directory.
    pub setup: Option<PathBuf>,
}

/// A secret the sandbox receives as `name`, read from the host variable `host_var`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct SecretRef {
    /// The variable name inside the sandbox.
    pub name: String,
    /// The host variable holding the value.
    pub host_var: String,
}

/// The git author identity configured in the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GitIdentity {
    pub user_name: String,
    pub user_email: String,
}
