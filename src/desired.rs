//! The desired state of a team: each teammate with its rendered setup script, its spec hash and
//! its labels. The bridge between the team file and the planner; it holds no secret value.

use crate::error::Result;
use crate::plan::{self, Desired, labels};
use crate::provider::{CreateSandbox, Labels, Sandbox};
use crate::team::{self, Team, Teammate};
use crate::{provider::Provider, setup};

/// One teammate, ready to plan and to apply.
#[derive(Debug, Clone)]
pub struct DesiredTeammate {
    pub teammate: Teammate,
    /// The rendered setup script (no secret values: those come from the environment).
    pub script: String,
    /// What the planner compares.
    pub desired: Desired,
}

impl DesiredTeammate {
    /// The labels every sandbox of this teammate carries at creation.
    pub fn labels(&self, team: &str) -> Labels {
        Labels::from([
            (labels::TEAM.to_string(), team.to_string()),
            (labels::TEAMMATE.to_string(), self.teammate.name.clone()),
            (labels::SPEC.to_string(), self.desired.spec_hash.clone()),
            (labels::BRANCH.to_string(), self.teammate.branch.clone()),
        ])
    }

    /// The create request for a new sandbox of this teammate. `suffix` keeps names unique
    /// while a recreate briefly has the old and the new sandbox side by side.
    pub fn create_request(&self, team: &str, suffix: &str) -> CreateSandbox {
        let teammate = &self.teammate;
        CreateSandbox {
            name: format!("{team}-{}-{suffix}", teammate.name),
            labels: self.labels(team),
            env: teammate.env.clone(),
            snapshot: teammate.snapshot.clone(),
            user: None,
            lifecycle: teammate.lifecycle,
            ttl_minutes: teammate.ttl_minutes,
            resources: teammate.resources,
            volumes: Vec::new(),
        }
    }
}

/// Renders every teammate's setup script and computes its spec hash.
pub fn resolve(team: &Team) -> Result<Vec<DesiredTeammate>> {
    team.teammates
        .iter()
        .map(|teammate| {
            let script = setup::render(teammate, &team.name)?;
            let spec_hash = team::spec_hash(teammate, &script);
            let desired = Desired {
                teammate: teammate.name.clone(),
                spec_hash,
                branch: teammate.branch.clone(),
                snapshot: teammate.snapshot.clone(),
                env: teammate.env.clone(),
                lifecycle: teammate.lifecycle,
            };
            Ok(DesiredTeammate {
                teammate: teammate.clone(),
                script,
                desired,
            })
        })
        .collect()
}

/// The team's live sandboxes, found by the ownership label.
pub async fn observe(provider: &dyn Provider, team: &str) -> Result<Vec<Sandbox>> {
    let selector = Labels::from([(labels::TEAM.to_string(), team.to_string())]);
    Ok(provider.list(&selector).await?)
}

/// Plans `team` against what `provider` has now.
pub async fn plan(
    provider: &dyn Provider,
    team: &Team,
    options: &plan::PlanOptions,
) -> Result<(Vec<DesiredTeammate>, Vec<Sandbox>, plan::Plan)> {
    let desired = resolve(team)?;
    let observed = observe(provider, &team.name).await?;
    let wanted: Vec<Desired> = desired.iter().map(|d| d.desired.clone()).collect();
    let plan = plan::reconcile(&wanted, &observed, options);
    Ok((desired, observed, plan))
}
