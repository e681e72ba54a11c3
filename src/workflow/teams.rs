//! `ls`: every team a provider holds sandboxes of, found by the ownership label alone, so a
//! team whose file is gone (a closed pull request, a deleted branch) still shows, with its age.
//!
//! Grouping is pure ([`summarize`]); [`teams`] only lists. Nothing here changes a sandbox.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::Serialize;

use crate::error::Result;
use crate::provider::{Labels, Provider, ProviderKind, Sandbox};
use crate::vocabulary::labels;

/// One team, as `ls` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TeamSummary {
    /// The team name (the `ralph-town/team` label).
    pub team: String,
    pub provider: ProviderKind,
    /// How many sandboxes carry the team's label.
    pub sandboxes: usize,
    /// How many are in each state (`started`, `stopped`, ...).
    pub states: BTreeMap<String, usize>,
    /// When the oldest was created.
    #[serde(with = "crate::provider::humantime_serde_compat")]
    pub oldest_created_at: SystemTime,
    /// The team file `up` recorded (the `ralph-town/file` label), when every sandbox that
    /// records one names the same file; several files are listed comma-separated.
    pub file: Option<String>,
}

/// The teams `provider` holds sandboxes of, sorted by name.
pub async fn teams(provider: &dyn Provider) -> Result<Vec<TeamSummary>> {
    let sandboxes = provider.list(&Labels::new()).await?;
    Ok(summarize(provider.kind(), &sandboxes))
}

/// Groups `sandboxes` by their team label; sandboxes without one are not a team's.
pub(super) fn summarize(provider: ProviderKind, sandboxes: &[Sandbox]) -> Vec<TeamSummary> {
    let mut teams: BTreeMap<&str, Vec<&Sandbox>> = BTreeMap::new();
    for sandbox in sandboxes {
        if let Some(team) = sandbox.labels.get(labels::TEAM) {
            teams.entry(team).or_default().push(sandbox);
        }
    }
    teams
        .into_iter()
        .map(|(team, members)| {
            let mut states = BTreeMap::new();
            for sandbox in &members {
                *states
                    .entry(sandbox.state.as_str().to_string())
                    .or_insert(0) += 1;
            }
            let files: std::collections::BTreeSet<&str> = members
                .iter()
                .filter_map(|sandbox| sandbox.labels.get(labels::FILE))
                .map(String::as_str)
                .collect();
            TeamSummary {
                team: team.to_string(),
                provider,
                sandboxes: members.len(),
                states,
                oldest_created_at: members
                    .iter()
                    .map(|sandbox| sandbox.created_at)
                    .min()
                    .unwrap_or(SystemTime::UNIX_EPOCH),
                file: (!files.is_empty()).then(|| files.into_iter().collect::<Vec<_>>().join(", ")),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::provider::{Lifecycle, SandboxState};

    fn sandbox(id: &str, team: Option<&str>, state: SandboxState, age: u64) -> Sandbox {
        let mut labels = Labels::new();
        if let Some(team) = team {
            labels.insert(labels::TEAM.to_string(), team.to_string());
            labels.insert(labels::FILE.to_string(), format!("/work/{team}.toml"));
        }
        Sandbox {
            id: id.to_string(),
            name: id.to_string(),
            state,
            labels,
            env: Default::default(),
            snapshot: None,
            created_at: SystemTime::UNIX_EPOCH + Duration::from_secs(10_000 - age),
            lifecycle: Lifecycle::default(),
            error_reason: None,
        }
    }

    #[test]
    fn teams_group_by_label_with_states_oldest_and_file() {
        let sandboxes = [
            sandbox("a", Some("pr-7"), SandboxState::Started, 100),
            sandbox("b", Some("pr-7"), SandboxState::Stopped, 900),
            sandbox("c", Some("demo"), SandboxState::Started, 5),
            sandbox("scratch", None, SandboxState::Started, 5000),
        ];
        let teams = summarize(ProviderKind::Local, &sandboxes);
        let names: Vec<&str> = teams.iter().map(|team| team.team.as_str()).collect();
        assert_eq!(names, ["demo", "pr-7"]);
        let pr = &teams[1];
        assert_eq!(pr.sandboxes, 2);
        assert_eq!(
            pr.states,
            BTreeMap::from([("started".to_string(), 1), ("stopped".to_string(), 1)])
        );
        assert_eq!(
            pr.oldest_created_at,
            SystemTime::UNIX_EPOCH + Duration::from_secs(9_100)
        );
        assert_eq!(pr.file.as_deref(), Some("/work/pr-7.toml"));
    }
}
