//! `up` in two steps, so that an interactive caller can show the plan and ask in between:
//! [`prepare_up`] reads the secrets and plans; [`apply_up`] checks the confirmation, runs the
//! work-loss guard and applies.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use serde::Serialize;

use super::{Switches, guard_targets};
use crate::apply::{self, ApplyOptions, ChangeResult};
use crate::desired::DesiredTeammate;
use crate::error::{Error, Result};
use crate::guard::Target;
use crate::plan::{Action, Plan, PlanOptions};
use crate::provider::{Provider, Sandbox};
use crate::report::Reporter;
use crate::secret::Secrets;
use crate::team::{self, Team};

/// A planned `up`, holding the secret values it will hand to setup (which never print).
pub struct Prepared {
    /// The team name.
    pub team: String,
    pub plan: Plan,
    desired: BTreeMap<String, DesiredTeammate>,
    secrets: BTreeMap<String, Secrets>,
    /// The sandboxes the plan was made against.
    observed: Vec<Sandbox>,
}

impl Prepared {
    /// The plan without starting or restarting commands (`--no-start`): a change made only for
    /// a command is kept as it is.
    pub fn without_commands(mut self) -> Prepared {
        for change in &mut self.plan.changes {
            change.command = false;
            if matches!(change.cause, crate::plan::Cause::CommandChanged { .. }) {
                change.action = Action::Keep;
                change.cause = crate::plan::Cause::UpToDate;
            }
        }
        self
    }

    /// The display names of the teammates the plan acts on, in plan order: the lines a live
    /// progress display draws up front.
    pub fn acting_on(&self) -> Vec<String> {
        self.plan
            .changes
            .iter()
            .filter(|change| !matches!(change.action, Action::Keep | Action::Orphan))
            .map(|change| change.display.clone())
            .collect()
    }
}

/// How to apply a prepared `up`.
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// Teammates worked on at once.
    pub parallel: usize,
    /// Create sandboxes without running the setup script.
    pub no_setup: bool,
    /// Set up sandboxes without starting the teammates' commands.
    pub no_start: bool,
    /// The caller confirmed that sandboxes may be recreated or removed.
    pub destructive_allowed: bool,
    /// Skip the work-loss guard: recreate or remove even when a sandbox holds unsaved work.
    pub force: bool,
    pub switches: Switches,
}

/// The result of `up`, as `up --json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct UpOutcome {
    pub team: String,
    pub plan: Plan,
    /// One result per change applied, sorted by teammate.
    pub results: Vec<ChangeResult>,
    /// Every change succeeded.
    pub ok: bool,
}

impl UpOutcome {
    /// How many changes failed.
    pub fn failed(&self) -> usize {
        self.results.iter().filter(|result| !result.ok).count()
    }
}

/// Reads every secret (so that a missing one changes nothing) and plans. `host` looks host
/// variables up (`None` = unset).
pub async fn prepare_up(
    provider: &dyn Provider,
    team: &Team,
    options: &PlanOptions,
    host: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<Prepared> {
    let mut secrets = BTreeMap::new();
    for teammate in &team.teammates {
        secrets.insert(teammate.name.clone(), team::read_secrets(teammate, host)?);
    }
    let super::Survey {
        desired,
        observed,
        plan,
    } = super::survey(provider, team, options).await?;
    let desired = desired
        .into_iter()
        .map(|entry| (entry.teammate.name.clone(), entry))
        .collect();
    Ok(Prepared {
        team: team.name.clone(),
        plan,
        desired,
        secrets,
        observed,
    })
}

/// Applies a prepared plan. Refuses a destructive plan that was not confirmed, and one that
/// would lose unsaved work unless `force`. Failed changes are in the outcome (`ok` false), not an
/// error; after `interrupted` is set no new change starts.
pub async fn apply_up(
    provider: Arc<dyn Provider>,
    prepared: Prepared,
    options: &UpOptions,
    reporter: &dyn Reporter,
    interrupted: &AtomicBool,
) -> Result<UpOutcome> {
    let Prepared {
        team,
        plan,
        desired,
        secrets,
        observed,
    } = prepared;
    if !plan.has_changes() {
        return Ok(UpOutcome {
            team,
            plan,
            results: Vec::new(),
            ok: true,
        });
    }
    if plan.is_destructive() && !options.destructive_allowed {
        return Err(Error::Refused {
            message: "the plan recreates or removes sandboxes and that was not confirmed; nothing was changed".to_string(),
            hint: Some(format!(
                "pass {} to apply destructive changes",
                options.switches.confirm
            )),
        });
    }
    if !options.force {
        let targets = destroyed(&plan, &observed, &desired);
        let guarded = guard_targets(
            &provider,
            &targets,
            options.parallel,
            &options.switches,
            reporter,
        )
        .await;
        if let Err(error) = guarded {
            reporter.finish();
            return Err(error);
        }
    }
    let apply_options = ApplyOptions {
        parallel: options.parallel,
        no_setup: options.no_setup,
        team: team.clone(),
        no_start: options.no_start,
    };
    let results = apply::apply(
        provider,
        &plan,
        &desired,
        &secrets,
        &apply_options,
        reporter,
        interrupted,
    )
    .await;
    let ok = results.iter().all(|result| result.ok);
    Ok(UpOutcome {
        team,
        plan,
        results,
        ok,
    })
}

/// The sandboxes the plan removes or recreates, as the guard sees them.
fn destroyed(
    plan: &Plan,
    observed: &[Sandbox],
    desired: &BTreeMap<String, DesiredTeammate>,
) -> Vec<Target> {
    plan.changes
        .iter()
        .filter(|change| matches!(change.action, Action::Remove | Action::Recreate))
        .filter_map(|change| {
            let id = &change.sandbox.as_ref()?.id;
            let sandbox = observed.iter().find(|sandbox| &sandbox.id == id)?;
            Some(Target {
                display: change.display.clone(),
                sandbox: sandbox.clone(),
                workdir: desired
                    .get(&change.teammate)
                    .map(|entry| entry.teammate.workdir.clone()),
            })
        })
        .collect()
}
