//! `snapshot_create`: the default snapshot (`ralph-town-dev`) built by Daytona from a Dockerfile
//! sent as `buildInfo`, polled until active. `force` deletes an existing snapshot of that name
//! first. Only the `daytona` provider has snapshots to build; `local` records snapshot names.
//!
//! The Dockerfile is a fixed text (`ralph-town-dev.Dockerfile` beside this file): nothing from
//! the caller's environment is interpolated into it, so no credential can be baked in.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::preflight::DEFAULT_SNAPSHOT;
use super::{Result, SandboxError};
use crate::provider::ProviderError;
use crate::provider::Resources;
use crate::provider::daytona::{CreateSnapshotRequest, DaytonaProvider, SnapshotSource};

/// How long a deleted snapshot may take to disappear before it is recreated.
const REMOVAL_TIMEOUT: Duration = Duration::from_secs(120);
const REMOVAL_POLL: Duration = Duration::from_secs(1);

/// The default snapshot's recipe.
pub(crate) fn default_dockerfile() -> &'static str {
    include_str!("ralph-town-dev.Dockerfile")
}

/// What to build.
#[derive(Debug, Clone, Default)]
pub(crate) struct SnapshotOptions {
    /// `None` is `ralph-town-dev`.
    pub name: Option<String>,
    /// Delete an existing snapshot of that name and build it again.
    pub force: bool,
}

/// A built snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub(crate) struct SnapshotReport {
    pub name: String,
    pub id: String,
    /// `active` once built.
    pub state: String,
    /// An existing snapshot of that name was deleted first.
    pub replaced: bool,
}

/// Builds the default snapshot under `options.name` and waits until it is active; a failed
/// build is an error carrying Daytona's reason.
pub(crate) async fn snapshot_create(
    provider: &DaytonaProvider,
    options: &SnapshotOptions,
) -> Result<SnapshotReport> {
    let name = options
        .name
        .clone()
        .unwrap_or_else(|| DEFAULT_SNAPSHOT.to_string());
    check_name(&name)?;
    let replaced = match provider.get_snapshot(&name).await {
        Ok(existing) if !options.force => {
            return Err(SandboxError::Refused {
                message: format!(
                    "snapshot `{name}` already exists (state `{}`)",
                    existing.state
                ),
                help: Some("`--force` deletes it and builds it again".to_string()),
            });
        }
        Ok(existing) => {
            provider.delete_snapshot(&existing.id).await?;
            wait_until_gone(provider, &name).await?;
            true
        }
        Err(ProviderError::NotFound { .. }) => false,
        Err(error) => return Err(error.into()),
    };
    let request = CreateSnapshotRequest {
        name: name.clone(),
        source: SnapshotSource::Dockerfile(default_dockerfile().to_string()),
        entrypoint: None,
        resources: Resources::default(),
    };
    let snapshot = provider.create_snapshot(&request).await?;
    Ok(SnapshotReport {
        name: snapshot.name,
        id: snapshot.id,
        state: snapshot.state,
        replaced,
    })
}

/// Daytona's rule: letters, digits, `.`, `:`, `-` (and `_`, `/` for image-like names).
fn check_name(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".:-_/".contains(c));
    if valid {
        return Ok(());
    }
    Err(SandboxError::invalid(
        format!("`{}` is not a snapshot name", name.escape_debug()),
        Some("use letters, digits, `.`, `:`, `-`, `_` and `/`".to_string()),
    ))
}

async fn wait_until_gone(provider: &DaytonaProvider, name: &str) -> Result<()> {
    let deadline = Instant::now() + REMOVAL_TIMEOUT;
    loop {
        match provider.get_snapshot(name).await {
            Err(ProviderError::NotFound { .. }) => return Ok(()),
            Err(error) => return Err(error.into()),
            Ok(snapshot) if Instant::now() >= deadline => {
                return Err(ProviderError::Timeout {
                    message: format!(
                        "snapshot `{name}` is still `{}` after it was deleted",
                        snapshot.state
                    ),
                }
                .into());
            }
            Ok(_) => tokio::time::sleep(REMOVAL_POLL).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The recipe's promises, line by line: a change that breaks one fails here.
    #[test]
    fn the_dockerfile_has_everything_a_teammate_needs() {
        let dockerfile = default_dockerfile();
        let first = dockerfile
            .lines()
            .find(|line| !line.starts_with('#') && !line.trim().is_empty());
        assert_eq!(first, Some("FROM debian:bookworm-slim"));
        for needle in [
            "apt-get install -y --no-install-recommends ca-certificates curl git",
            "https://cli.github.com/packages stable main",
            "install -y --no-install-recommends gh",
            "ENV BUN_INSTALL=/root/.bun",
            "https://bun.sh/install",
            "bun add @anthropic-ai/claude-agent-sdk",
            "WORKDIR /home/daytona",
            "> /etc/environment",
            "> /etc/profile.d/ralph-town-path.sh",
            "/root/.bashrc /home/daytona/.bashrc",
        ] {
            assert!(dockerfile.contains(needle), "missing `{needle}`");
        }
        // Every PATH written holds Bun's directory.
        for line in dockerfile.lines().filter(|line| line.contains("PATH=")) {
            assert!(line.contains("/root/.bun/bin"), "{line}");
        }
    }

    #[test]
    fn the_dockerfile_bakes_in_no_credential() {
        let dockerfile = default_dockerfile();
        for line in dockerfile.lines() {
            let upper = line.to_ascii_uppercase();
            if upper.starts_with("ENV ") || upper.starts_with("ARG ") {
                assert!(
                    !crate::names::looks_like_credential(line.split('=').next().unwrap_or("")),
                    "{line}"
                );
            }
        }
        assert!(!dockerfile.contains("${"), "no build-time interpolation");
    }

    #[test]
    fn snapshot_names_are_checked() {
        assert!(check_name("ralph-town-dev").is_ok());
        assert!(check_name("team/dev:1.0").is_ok());
        for bad in ["", "a b", "x\ny", "semi;colon"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
