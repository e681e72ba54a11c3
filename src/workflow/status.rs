//! `status`: the team's sandboxes and its declared teammates without one, one row each.

use std::time::SystemTime;

use serde::Serialize;

use crate::error::Result;
use crate::provider::Provider;
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
}

/// Every sandbox of `team` and every declared teammate without one, sorted by teammate, then
/// creation time.
pub async fn status(provider: &dyn Provider, team: &Team) -> Result<Vec<StatusRow>> {
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
            });
        }
    }
    rows.sort_by(|a, b| (&a.teammate, &a.created_at).cmp(&(&b.teammate, &b.created_at)));
    Ok(rows)
}
