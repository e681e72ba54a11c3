//! The arguments of the sandbox tools, with their JSON Schemas (from the doc comments).
//!
//! An `env` argument is a list of `KEY=VALUE` strings or an object, and every entry is kept (the
//! original server passed a list through its own command line and lost all but the last).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use super::answer::Redactor;
use crate::provider::{Labels, ProviderKind};
use crate::sandbox::{self, SandboxError};

/// Environment as `["KEY=VALUE", ...]` or `{"KEY": "VALUE"}`; every entry is kept.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub(crate) enum Env {
    /// `KEY=VALUE` strings, split at the first `=`.
    List(Vec<String>),
    /// Names and values.
    Map(BTreeMap<String, String>),
}

impl Env {
    /// The variables; values of credential-looking names go to `redactor`.
    pub(super) fn resolve(
        &self,
        redactor: &mut Redactor,
    ) -> Result<BTreeMap<String, String>, SandboxError> {
        let pairs = match self {
            Env::List(entries) => entries
                .iter()
                .map(|entry| sandbox::parse_assignment(entry))
                .collect::<Result<Vec<_>, _>>()?,
            Env::Map(map) => map
                .iter()
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect(),
        };
        for (name, value) in &pairs {
            if crate::names::looks_like_credential(name) {
                redactor.add(value.clone());
            }
        }
        Ok(pairs.into_iter().collect())
    }
}

pub(super) fn resolve_env(
    env: Option<&Env>,
    redactor: &mut Redactor,
) -> Result<BTreeMap<String, String>, SandboxError> {
    env.map_or(Ok(BTreeMap::new()), |env| env.resolve(redactor))
}

/// `sandbox_create`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateParams {
    /// `local` or `daytona`; default `RALPH_TOWN_PROVIDER`, else `local`.
    pub(super) provider: Option<ProviderKind>,
    /// Display name; default: named after the sandbox id.
    pub(super) name: Option<String>,
    /// Snapshot to create from; default: the provider's.
    pub(super) snapshot: Option<String>,
    /// Environment of the sandbox, shown by the provider's API; credentials: `sandbox_env_set`.
    pub(super) env: Option<Env>,
    /// Labels to put on the sandbox.
    #[serde(default)]
    pub(super) labels: Labels,
    /// Stop after this many idle minutes; 0 = never.
    pub(super) auto_stop: Option<u32>,
    /// Delete after this many stopped minutes; 0 = as soon as it stops, negative = never.
    pub(super) auto_delete: Option<i32>,
}

/// Arguments naming one sandbox.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SandboxParams {
    /// `local` or `daytona`; default `RALPH_TOWN_PROVIDER`, else `local`.
    pub(super) provider: Option<ProviderKind>,
    /// The sandbox id.
    pub(super) sandbox: String,
}

/// `sandbox_ssh`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SshParams {
    /// `local` or `daytona`; default `RALPH_TOWN_PROVIDER`, else `local`.
    pub(super) provider: Option<ProviderKind>,
    /// The sandbox id.
    pub(super) sandbox: String,
    /// Minutes the SSH token stays valid (default 60).
    #[schemars(range(min = 1, max = 1440))]
    pub(super) expires_in_minutes: Option<u32>,
}

/// `sandbox_list`'s arguments.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListParams {
    /// `local` or `daytona`; default `RALPH_TOWN_PROVIDER`, else `local`.
    pub(super) provider: Option<ProviderKind>,
    /// Only sandboxes carrying all of these labels.
    #[serde(default)]
    pub(super) labels: Labels,
}

/// `sandbox_exec`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExecParams {
    /// `local` or `daytona`; default `RALPH_TOWN_PROVIDER`, else `local`.
    pub(super) provider: Option<ProviderKind>,
    /// The sandbox id.
    pub(super) sandbox: String,
    /// A shell command line, run by the sandbox's shell.
    pub(super) command: String,
    /// Working directory; relative paths are under the sandbox home (the default).
    pub(super) cwd: Option<String>,
    /// Extra environment for this command only.
    pub(super) env: Option<Env>,
    /// Kill the command after this many seconds (exit code 124).
    pub(super) timeout_seconds: Option<u64>,
}

/// `sandbox_preflight`'s arguments.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PreflightParams {
    /// `local` or `daytona`; default `RALPH_TOWN_PROVIDER`, else `local`.
    pub(super) provider: Option<ProviderKind>,
    /// The snapshot to check (default `ralph-town-dev`).
    pub(super) snapshot: Option<String>,
    /// Full paths of the tools to look for (default gh, git, bun and curl).
    #[serde(default)]
    pub(super) tools: Vec<String>,
}

/// `sandbox_run`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunParams {
    /// `local` or `daytona`; default `RALPH_TOWN_PROVIDER`, else `local`.
    pub(super) provider: Option<ProviderKind>,
    /// A shell command line.
    pub(super) command: String,
    /// A repository to clone first (URL without credentials, or a path the sandbox can read).
    pub(super) repo: Option<String>,
    /// The branch or tag to check out (default: the remote's default branch).
    pub(super) branch: Option<String>,
    /// Where the command runs, relative to the clone (or the home without one).
    pub(super) cwd: Option<String>,
    /// Environment of the command only.
    pub(super) env: Option<Env>,
    /// Snapshot to create from; default: the provider's.
    pub(super) snapshot: Option<String>,
    /// Kill the command after this many seconds (exit code 124).
    pub(super) timeout_seconds: Option<u64>,
    /// Keep the sandbox afterwards instead of deleting it.
    #[serde(default)]
    pub(super) keep: bool,
}

/// `sandbox_env_set`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EnvSetParams {
    /// `local` or `daytona`; default `RALPH_TOWN_PROVIDER`, else `local`.
    pub(super) provider: Option<ProviderKind>,
    /// The sandbox id.
    pub(super) sandbox: String,
    /// Variables to set for every command started later.
    pub(super) env: Option<Env>,
    /// Names to remove (before `env` is set).
    #[serde(default)]
    pub(super) unset: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::answer;
    use serde_json::json;

    #[test]
    fn every_entry_of_a_list_or_object_is_kept_and_credentials_are_redacted() {
        let mut redactor = Redactor::default();
        let list: Env =
            serde_json::from_value(json!(["A=1", "B=x=y", "GH_TOKEN=hunter2"])).unwrap();
        let env = list.resolve(&mut redactor).unwrap();
        assert_eq!(env["A"], "1");
        assert_eq!(env["B"], "x=y");
        assert_eq!(env["GH_TOKEN"], "hunter2");
        let map: Env = serde_json::from_value(json!({"C": "3", "D": "4"})).unwrap();
        assert_eq!(map.resolve(&mut redactor).unwrap().len(), 2);
        let answer = redactor.apply(answer::success("got hunter2 and 1".to_string(), &env));
        let shown = serde_json::to_string(&answer).unwrap();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("got <secret> and 1"), "{shown}");
    }

    #[test]
    fn a_bad_entry_is_an_error_that_does_not_show_its_value() {
        let list: Env = serde_json::from_value(json!(["NO_EQUALS_hunter2"])).unwrap();
        let error = list.resolve(&mut Redactor::default()).unwrap_err();
        assert!(!format!("{error} {error:?}").contains("hunter2"));
    }
}
