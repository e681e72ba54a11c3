//! `status`: the team's sandboxes and its declared teammates without one, one row each.

use std::time::SystemTime;

use serde::Serialize;

use super::TeammateSandbox;
use crate::error::Result;
use crate::provider::{Provider, Sandbox, SandboxState};
use crate::runner::state::{CommandStatus, WorkFields};
use crate::team::Team;
use crate::vocabulary::{SetupOutcome, labels};

/// One row of `status`, as `status --json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct StatusRow {
    pub teammate: String,
    /// `None` for a declared teammate without a sandbox.
    pub sandbox_id: Option<String>,
    /// The sandbox state, or `missing`.
    pub state: String,
    pub branch: Option<String>,
    /// `None` while setup runs, when it never finished, or when there is no sandbox.
    pub setup: Option<SetupOutcome>,
    #[serde(serialize_with = "crate::provider::humantime_serde_compat::option::serialize")]
    pub created_at: Option<SystemTime>,
    /// Whether the teammate is still declared in the team file.
    pub declared: bool,
    /// The teammate's command, in a started sandbox that was set up (`None` elsewhere, and
    /// when the probe failed: see `probe_error`).
    pub command: Option<CommandStatus>,
    /// The teammate's repository: commits ahead of the base branch, dirty files, the last
    /// commit, whether the branch is pushed.
    pub work: Option<WorkFields>,
    /// Why the sandbox could not be probed.
    pub probe_error: Option<String>,
}

/// Every sandbox of `team` and every declared teammate without one, sorted by teammate, then
/// creation time; at most [`super::DEFAULT_PROBE_PARALLEL`] probed at once.
pub async fn status(provider: &dyn Provider, team: &Team) -> Result<Vec<StatusRow>> {
    status_with(provider, team, usize::from(super::DEFAULT_PROBE_PARALLEL)).await
}

/// [`status`], probing at most `parallel` teammates at once.
pub async fn status_with(
    provider: &dyn Provider,
    team: &Team,
    parallel: usize,
) -> Result<Vec<StatusRow>> {
    let sandboxes = super::observe(provider, &team.name).await?;
    let mut rows: Vec<StatusRow> = sandboxes
        .iter()
        .map(|sandbox| {
            let teammate = sandbox
                .labels
                .get(labels::TEAMMATE)
                .cloned()
                .unwrap_or_else(|| sandbox.name.clone());
            StatusRow {
                declared: team.teammates.iter().any(|t| t.name == teammate),
                teammate,
                sandbox_id: Some(sandbox.id.clone()),
                state: sandbox.state.to_string(),
                branch: sandbox.labels.get(labels::BRANCH).cloned(),
                setup: SetupOutcome::of(&sandbox.labels),
                created_at: Some(sandbox.created_at),
                command: None,
                work: None,
                probe_error: None,
            }
        })
        .collect();
    for teammate in &team.teammates {
        if !rows.iter().any(|row| row.teammate == teammate.name) {
            rows.push(StatusRow {
                teammate: teammate.name.clone(),
                sandbox_id: None,
                state: "missing".to_string(),
                branch: Some(teammate.branch.clone()),
                setup: None,
                created_at: None,
                declared: true,
                command: None,
                work: None,
                probe_error: None,
            });
        }
    }
    rows.sort_by(|a, b| (&a.teammate, &a.created_at).cmp(&(&b.teammate, &b.created_at)));
    probe_rows(provider, team, &sandboxes, &mut rows, parallel).await;
    Ok(rows)
}

/// Fills in the command and work fields of each started, set-up sandbox of a declared
/// teammate: one probe each (one exec, so one request on Daytona), `parallel` at once, so that
/// a team no larger than that answers in the list's round trip and one more.
async fn probe_rows(
    provider: &dyn Provider,
    team: &Team,
    sandboxes: &[Sandbox],
    rows: &mut [StatusRow],
    parallel: usize,
) {
    let probed: Vec<(usize, TeammateSandbox)> = rows
        .iter()
        .enumerate()
        .filter(|(_, row)| row.declared && row.setup == Some(SetupOutcome::Ok))
        .filter_map(|(index, row)| {
            let sandbox = sandboxes
                .iter()
                .find(|sandbox| Some(&sandbox.id) == row.sandbox_id.as_ref())?;
            let teammate = team.teammates.iter().find(|t| t.name == row.teammate)?;
            (sandbox.state == SandboxState::Started).then(|| {
                let found = TeammateSandbox {
                    teammate: teammate.clone(),
                    sandbox: sandbox.clone(),
                };
                (index, found)
            })
        })
        .collect();
    let found: Vec<TeammateSandbox> = probed.iter().map(|(_, found)| found.clone()).collect();
    let probes = super::work::probe_all(provider, &found, parallel).await;
    for ((index, found), probe) in probed.iter().zip(probes) {
        let row = &mut rows[*index];
        match probe {
            Ok(probe) => {
                row.command = super::work::command_of(&found.teammate, probe.command);
                row.work = probe.work;
            }
            Err(error) => row.probe_error = Some(error.to_string()),
        }
    }
}
