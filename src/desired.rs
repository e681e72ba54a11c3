//! The desired state of a team: each teammate with its rendered setup script, its spec hash and
//! its labels. The bridge between the team file and the planner; it holds no secret value and
//! does no I/O beyond reading setup templates (observing sandboxes is `workflow`'s job).

use crate::error::Result;
use crate::plan::{Desired, SpecFields};
use crate::provider::{CreateSandbox, Labels};
use crate::setup;
use crate::team::{self, Team, Teammate};
use crate::vocabulary::labels;

/// One teammate, ready to plan and to apply.
#[derive(Debug, Clone)]
pub(crate) struct DesiredTeammate {
    pub teammate: Teammate,
    /// The team's name (the setup script names it).
    team: String,
    /// What the planner compares.
    pub desired: Desired,
    /// The team file's absolute path, when the team came from a file: the [`labels::FILE`]
    /// label.
    pub file: Option<String>,
}

impl DesiredTeammate {
    /// The setup script (no secret values: those come from the environment). Rendered when a
    /// change runs it, not when a plan is made.
    pub(crate) fn script(&self) -> std::result::Result<String, setup::SetupError> {
        setup::render(&self.teammate, &self.team)
    }

    /// The labels every sandbox of this teammate carries at creation (and after an in-place
    /// change of its fields). None holds a secret value.
    pub(crate) fn labels(&self, team: &str) -> Labels {
        let mut labels = Labels::from([
            (labels::TEAM.to_string(), team.to_string()),
            (labels::TEAMMATE.to_string(), self.teammate.name.clone()),
            (labels::SPEC.to_string(), self.desired.spec_hash.clone()),
            (labels::BRANCH.to_string(), self.teammate.branch.clone()),
            (labels::FIELDS.to_string(), self.desired.fields.to_label()),
        ]);
        if let Some(source) = &self.desired.source {
            labels.insert(labels::SOURCE.to_string(), source.clone());
        }
        if let Some(file) = &self.file {
            labels.insert(labels::FILE.to_string(), file.clone());
        }
        labels
    }

    /// The name of a new sandbox for this teammate: `<team>-<teammate>-<6 hex>`, where the hex
    /// digits are derived from the spec hash, the team file's source and the sandbox it replaces
    /// (if any). Every run that
    /// would create this sandbox picks the same name, so two runs at once make one sandbox (the
    /// provider refuses a second sandbox of that name, and the loser adopts the winner's); and a
    /// recreate's new sandbox never clashes with the old one it replaces.
    pub(crate) fn sandbox_name(&self, team: &str, replacing: Option<&str>) -> String {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        hasher.update(self.desired.spec_hash.as_bytes());
        hasher.update([0]);
        hasher.update(
            self.desired
                .source
                .as_deref()
                .unwrap_or_default()
                .as_bytes(),
        );
        hasher.update([0]);
        hasher.update(replacing.unwrap_or_default().as_bytes());
        let digest = hex::encode(hasher.finalize());
        format!("{team}-{}-{}", self.teammate.name, &digest[..6])
    }

    /// The create request for a new sandbox of this teammate, named `name`.
    pub(crate) fn create_request(&self, team: &str, name: &str) -> CreateSandbox {
        let teammate = &self.teammate;
        CreateSandbox {
            name: name.to_string(),
            labels: self.labels(team),
            env: teammate.env.clone(),
            snapshot: teammate.snapshot.clone(),
            user: None,
            lifecycle: teammate.lifecycle,
            ttl_minutes: teammate.ttl_minutes,
            resources: teammate.resources,
            volumes: Vec::new(),
            hosts: Default::default(),
            network: crate::provider::Network::Open,
        }
    }
}

/// Renders every teammate's setup script and computes its spec hash.
pub(crate) fn resolve(team: &Team) -> Result<Vec<DesiredTeammate>> {
    let mut renderer = setup::Renderer::default();
    team.teammates
        .iter()
        .map(|teammate| resolve_with(&mut renderer, team, teammate))
        .collect()
}

/// One teammate of `team`, resolved as [`resolve`] does.
pub(crate) fn resolve_teammate(team: &Team, teammate: &Teammate) -> Result<DesiredTeammate> {
    resolve_with(&mut setup::Renderer::default(), team, teammate)
}

fn resolve_with(
    renderer: &mut setup::Renderer,
    team: &Team,
    teammate: &Teammate,
) -> Result<DesiredTeammate> {
    let digest = setup::script_digest(teammate, renderer, &team.name)?;
    let spec_hash = team::spec_hash(teammate, &digest);
    let mut secrets: Vec<String> = teammate.secrets.iter().map(|s| s.name.clone()).collect();
    secrets.sort();
    secrets.dedup();
    let fields = SpecFields {
        repo: teammate.repo.clone(),
        branch: teammate.branch.clone(),
        base_branch: teammate.base_branch.clone(),
        snapshot: teammate.snapshot.clone(),
        git: format!("{} <{}>", teammate.git.user_name, teammate.git.user_email),
        workdir: teammate.workdir.clone(),
        secrets,
        ttl_minutes: teammate.ttl_minutes,
        resources: teammate.resources,
        setup: digest[..12].to_string(),
        env: teammate.env.clone(),
    };
    let desired = Desired {
        teammate: teammate.name.clone(),
        spec_hash,
        fields,
        env_from_host: teammate.env_from_host.clone(),
        lifecycle: teammate.lifecycle,
        source: team.source.clone(),
        // [work]
        command: teammate.work.as_ref().map(team::command_hash),
    };
    let file = team.path.as_deref().map(|path| {
        std::path::absolute(path)
            .unwrap_or_else(|_| path.to_path_buf())
            .display()
            .to_string()
    });
    Ok(DesiredTeammate {
        teammate: teammate.clone(),
        team: team.name.clone(),
        desired,
        file,
    })
}
