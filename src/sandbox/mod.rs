//! The imperative single-sandbox operations of the original ralph-town: create, list, ssh,
//! exec (with the SSH fallback for Daytona's `-1` defect), delete, preflight, run, env and the
//! default snapshot.
//!
//! Both the command line (`ralph-town sandbox ...`, `ralph-town run`) and the MCP server call
//! these functions: they take plain typed arguments and a provider, return serializable results,
//! and never print. They know nothing about teams or plans. Temporary sandboxes (preflight, run)
//! are deleted on every path out, including an interrupt and a dropped future. Environment values
//! may be credentials: no result, error or command line here carries one, except the SSH token
//! the caller asked for.

mod cleanup;
mod create;
mod env;
mod error;
mod exec;
mod preflight;
mod run;
mod snapshot;
mod ssh;

use std::time::SystemTime;

use serde::Serialize;

use crate::provider::{Labels, Sandbox};

pub(crate) use create::{CreateOptions, create, delete, list};
pub(crate) use env::{env_list, env_set, parse_assignment, validate_env_name};
pub(crate) use error::SandboxError;
pub(crate) use exec::{ExecChannel, ExecOptions, exec};
pub(crate) use preflight::{DEFAULT_SNAPSHOT, PreflightOptions, preflight};
pub(crate) use run::{RunOptions, run};
pub(crate) use snapshot::{SnapshotOptions, default_dockerfile, snapshot_create};
pub(crate) use ssh::ssh_access;

/// Result type of the operations here.
pub(crate) type Result<T, E = SandboxError> = std::result::Result<T, E>;

/// A sandbox as `create` and `list` report it. Carries no environment: values may be secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub(crate) struct SandboxSummary {
    pub id: String,
    pub name: String,
    /// `started`, `stopped`, `creating`, ...
    pub state: String,
    pub snapshot: Option<String>,
    pub labels: Labels,
    /// RFC 3339.
    pub created_at: String,
    pub age_seconds: u64,
}

impl SandboxSummary {
    pub(crate) fn of(sandbox: &Sandbox) -> SandboxSummary {
        SandboxSummary {
            id: sandbox.id.clone(),
            name: sandbox.name.clone(),
            state: sandbox.state.to_string(),
            snapshot: sandbox.snapshot.clone(),
            labels: sandbox.labels.clone(),
            created_at: rfc3339(sandbox.created_at),
            age_seconds: sandbox
                .created_at
                .elapsed()
                .map(|age| age.as_secs())
                .unwrap_or(0),
        }
    }
}

pub(crate) fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}
