//! From a teammate's name to its sandbox: the one way `exec`, `ssh` and the MCP teammate tools
//! reach a teammate, so that a fix (which sandbox counts, where commands start) lands in all of
//! them at once.

use super::observe;
use crate::desired;
use crate::error::{Error, Result};
use crate::plan;
use crate::provider::{Provider, Sandbox, SandboxState};
use crate::team::{Team, Teammate};
use crate::vocabulary::{SetupOutcome, labels};

/// A declared teammate and the sandbox it works in.
#[derive(Debug, Clone)]
pub struct TeammateSandbox {
    pub teammate: Teammate,
    pub sandbox: Sandbox,
}

impl TeammateSandbox {
    /// Where commands start: the teammate's clone, or the home when setup was skipped (there is
    /// no clone).
    pub fn workdir(&self) -> Option<String> {
        let skipped = SetupOutcome::of(&self.sandbox.labels) == Some(SetupOutcome::Skipped);
        (!skipped).then(|| self.teammate.workdir.clone())
    }
}

/// The declared teammate `name`; an unknown name is an error with a "did you mean".
pub fn find_teammate<'a>(team: &'a Team, name: &str) -> Result<&'a Teammate> {
    team.teammates
        .iter()
        .find(|teammate| teammate.name == name)
        .ok_or_else(|| {
            unknown_teammate(
                team,
                name,
                team.teammates.iter().map(|teammate| teammate.name.as_str()),
            )
        })
}

/// The sandbox teammate `name` works in: of its live sandboxes, the one the planner keeps (healthy,
/// current spec, newest), which must be started.
pub async fn teammate_sandbox(
    provider: &dyn Provider,
    team: &Team,
    name: &str,
) -> Result<TeammateSandbox> {
    let teammate = find_teammate(team, name)?;
    let spec_hash = desired::resolve_teammate(team, teammate)?.desired.spec_hash;
    let observed = observe(provider, &team.name).await?;
    // Not a sandbox another team file of the same team name made.
    let candidates: Vec<&Sandbox> = observed
        .iter()
        .filter(|sandbox| sandbox.labels.get(labels::TEAMMATE) == Some(&teammate.name))
        .filter(
            |sandbox| match (sandbox.labels.get(labels::SOURCE), &team.source) {
                (Some(theirs), Some(ours)) => theirs == ours,
                _ => true,
            },
        )
        .collect();
    let Some(sandbox) = plan::preferred(&candidates, Some(&spec_hash)) else {
        return Err(Error::NotFound {
            message: format!("teammate `{}` has no sandbox", teammate.name),
            hint: Some("run `ralph-town up` first".to_string()),
        });
    };
    if sandbox.state != SandboxState::Started {
        return Err(Error::NotFound {
            message: format!(
                "the sandbox of teammate `{}` ({}) is `{}`, not started",
                teammate.name, sandbox.id, sandbox.state
            ),
            hint: Some("run `ralph-town up` to start it".to_string()),
        });
    }
    Ok(TeammateSandbox {
        teammate: teammate.clone(),
        sandbox: sandbox.clone(),
    })
}

/// "team has no teammate `x`", with the closest known name and the list.
pub(super) fn unknown_teammate<'a>(
    team: &Team,
    unknown: &str,
    known: impl Iterator<Item = &'a str>,
) -> Error {
    let known: std::collections::BTreeSet<&str> = known.collect();
    let closest = known
        .iter()
        .map(|name| (strsim::jaro_winkler(unknown, name), *name))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    let listed = known
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ");
    Error::NotFound {
        message: format!("team `{}` has no teammate `{unknown}`", team.name),
        hint: Some(match closest {
            Some((_, name)) => format!("did you mean `{name}`? teammates: {listed}"),
            None => format!("teammates: {listed}"),
        }),
    }
}
