//! Environment assignments (`KEY=VALUE`) and a running sandbox's environment: `env_set` changes
//! it for every process started later, `env_list` reads it back with credentials redacted.
//!
//! A value may be a credential. It is split from its key at the first `=` only (values keep any
//! `=` and `,`), travels only in a provider's env request or exec environment, and never appears
//! in a result, an error or a command line.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use super::exec::{ExecOptions, exec};
use super::{Result, SandboxError};
use crate::names::{self, ENV_NAME_RULE, EnvName, looks_like_credential};
use crate::provider::Provider;

/// What `env_list` shows instead of a credential's value.
pub(super) const REDACTED: &str = "<redacted>";

/// Splits `KEY=VALUE` at the first `=` and checks the key. The error never shows the value.
pub(crate) fn parse_assignment(text: &str) -> Result<(String, String)> {
    let Some((key, value)) = text.split_once('=') else {
        return Err(SandboxError::invalid(
            "an environment assignment has no `=`",
            Some("write `KEY=VALUE` (the value may be empty: `KEY=`)".to_string()),
        ));
    };
    validate_env_name(key)?;
    Ok((key.to_string(), value.to_string()))
}

/// Checks a variable name with [`EnvName`] (Daytona's rule).
pub(crate) fn validate_env_name(name: &str) -> Result<()> {
    EnvName::check(name).map_err(|_| {
        SandboxError::invalid(
            format!(
                "`{}` is not a valid environment variable name",
                names::shown(name, 80)
            ),
            Some(format!("names match `{ENV_NAME_RULE}`")),
        )
    })
}

/// What `env_set` changed: names only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub(crate) struct EnvChange {
    pub sandbox_id: String,
    pub set: Vec<String>,
    pub unset: Vec<String>,
}

/// The environment a new command in the sandbox starts with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub(crate) struct EnvListing {
    pub sandbox_id: String,
    /// Every variable; credentials (by name) show [`REDACTED`].
    pub env: BTreeMap<String, String>,
    /// The names whose values were redacted.
    pub redacted: Vec<String>,
}

/// Changes a running sandbox's environment for every process started later (exec, SSH, login
/// shells): `unset` first, then `set`. Names are checked before anything is sent.
pub(crate) async fn env_set(
    provider: &Arc<dyn Provider>,
    id: &str,
    set: &BTreeMap<String, String>,
    unset: &[String],
) -> Result<EnvChange> {
    for name in set.keys().chain(unset) {
        validate_env_name(name)?;
    }
    if set.is_empty() && unset.is_empty() {
        return Err(SandboxError::invalid(
            "nothing to change",
            Some("give at least one `KEY=VALUE` (or a name to unset)".to_string()),
        ));
    }
    provider.set_env(id, set, unset).await?;
    Ok(EnvChange {
        sandbox_id: id.to_string(),
        set: set.keys().cloned().collect(),
        unset: unset.to_vec(),
    })
}

/// The environment a new command in the sandbox sees, read by running `env -0` there (so it
/// includes what `env_set` changed), with credentials redacted.
pub(crate) async fn env_list(provider: &Arc<dyn Provider>, id: &str) -> Result<EnvListing> {
    let options = ExecOptions::command("env -0");
    let result = exec(provider, id, &options).await?;
    if result.exit_code != 0 {
        return Err(SandboxError::invalid(
            format!(
                "cannot read the environment of sandbox `{id}`: `env -0` exited with {}",
                result.exit_code
            ),
            Some(
                "the sandbox image needs an `env` that supports `-0` (GNU coreutils, BusyBox)"
                    .to_string(),
            ),
        ));
    }
    Ok(redact(id, parse_env(&result.output)))
}

/// Parses `env -0` output: NUL-terminated `KEY=VALUE` entries; values may hold newlines.
fn parse_env(output: &str) -> BTreeMap<String, String> {
    output
        .split('\0')
        .filter_map(|entry| entry.split_once('='))
        .filter(|(key, _)| !key.is_empty())
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

fn redact(id: &str, mut env: BTreeMap<String, String>) -> EnvListing {
    let mut redacted = Vec::new();
    for (name, value) in &mut env {
        if looks_like_credential(name) {
            *value = REDACTED.to_string();
            redacted.push(name.clone());
        }
    }
    EnvListing {
        sandbox_id: id.to_string(),
        env,
        redacted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments_split_at_the_first_equals_sign_only() {
        assert_eq!(
            parse_assignment("URL=https://x/?a=b,c=d").unwrap(),
            ("URL".to_string(), "https://x/?a=b,c=d".to_string())
        );
        assert_eq!(
            parse_assignment("EMPTY=").unwrap(),
            ("EMPTY".to_string(), String::new())
        );
    }

    #[test]
    fn bad_assignments_never_echo_the_value() {
        for text in [
            "no-equals-SENTINEL",
            "1BAD=SENTINEL",
            "A-B=SENTINEL",
            "=SENTINEL",
        ] {
            let error = parse_assignment(text).unwrap_err();
            let shown = format!("{error} {error:?}");
            assert!(!shown.contains("SENTINEL"), "{text}: {shown}");
        }
    }

    #[test]
    fn credential_names_are_redacted() {
        let env = parse_env("GH_TOKEN=t0k\0api_key=k\0PLAIN=a=b\nc\0DB_PASSWORD=p\0HOME=/h\0");
        let listing = redact("sb", env);
        assert_eq!(listing.env["PLAIN"], "a=b\nc");
        assert_eq!(listing.env["HOME"], "/h");
        for name in ["GH_TOKEN", "api_key", "DB_PASSWORD"] {
            assert_eq!(listing.env[name], REDACTED);
        }
        assert_eq!(listing.redacted, ["DB_PASSWORD", "GH_TOKEN", "api_key"]);
    }
}
