//! The team tools: `team_plan`, `team_up`, `team_status`, `team_down`, each over a team file,
//! each one call of `workflow`.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::answer::{self, Progress, Redactor};
use super::{SWITCHES, Server};
use crate::error::Error;
use crate::plan::{Plan, PlanOptions};
use crate::provider::Provider;
use crate::team::{self, LoadOptions, Team};
use crate::workflow::{self, DownOptions, StatusRow, UpOptions, UpOutcome};

/// `team_plan`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PlanParams {
    /// Path of the team file (`team.toml`), relative to the server's working directory.
    file: PathBuf,
    /// Also remove sandboxes of teammates no longer in the file.
    #[serde(default)]
    prune: bool,
    /// Act only on these teammates.
    #[serde(default)]
    only: Vec<String>,
    /// Recreate the selected teammates' sandboxes even when up to date.
    #[serde(default)]
    force_recreate: bool,
    /// Take over sandboxes of this team that another team file made (left alone otherwise).
    #[serde(default)]
    adopt: bool,
}

/// `team_up`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpParams {
    /// Path of the team file (`team.toml`), relative to the server's working directory.
    file: PathBuf,
    /// Also remove sandboxes of teammates no longer in the file.
    #[serde(default)]
    prune: bool,
    /// Act only on these teammates.
    #[serde(default)]
    only: Vec<String>,
    /// Recreate the selected teammates' sandboxes even when up to date.
    #[serde(default)]
    force_recreate: bool,
    /// Take over sandboxes of this team that another team file made (left alone otherwise).
    #[serde(default)]
    adopt: bool,
    /// Confirm destructive changes; without it a plan that recreates or removes is refused.
    #[serde(default)]
    confirm: bool,
    /// Recreate or remove sandboxes even when they hold unsaved work (it is lost).
    #[serde(default)]
    force: bool,
    /// Create sandboxes without running the setup script (no clone).
    #[serde(default)]
    no_setup: bool,
    /// How many teammates to work on at once (default 8).
    #[schemars(range(min = 1, max = 256))]
    parallel: Option<u16>,
}

/// `team_status`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatusParams {
    /// Path of the team file (`team.toml`), relative to the server's working directory.
    file: PathBuf,
}

/// `team_down`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DownParams {
    /// Path of the team file (`team.toml`), relative to the server's working directory.
    file: PathBuf,
    /// Confirm deleting every sandbox of the team; without it the call is refused.
    #[serde(default)]
    confirm: bool,
    /// Delete even when a sandbox holds uncommitted or unpushed work (it is lost).
    #[serde(default)]
    force: bool,
}

#[tool_router(router = team_router, vis = "pub(crate)")]
impl Server {
    #[tool(
        description = "Show what `team_up` would change for a team file: one line per teammate (create, update, recreate, start, keep, remove, orphan) with its cause. Changes nothing."
    )]
    async fn team_plan(&self, Parameters(params): Parameters<PlanParams>) -> Answer {
        let (opened, redactor) = open(&params.file, false)?;
        let options = plan_options(
            &params.only,
            params.prune,
            params.force_recreate,
            params.adopt,
        );
        let result = workflow::plan(opened.provider.as_ref(), &opened.team, &options).await;
        Ok(redactor.apply(match result {
            Ok(plan) => {
                let mut warnings = opened.warnings;
                warnings.extend(workflow::orphan_warnings(&plan, &SWITCHES));
                let value = PlanAnswer {
                    team: &opened.team.name,
                    provider: opened.team.provider.to_string(),
                    has_changes: plan.has_changes(),
                    destructive: plan.is_destructive(),
                    plan: &plan,
                    warnings,
                };
                answer::success(plan.render(), &value)
            }
            Err(error) => failed(&error),
        }))
    }

    #[tool(
        description = "Create, update and set up a team's sandboxes to match its team file (clone the repo, check out each teammate's branch, hand over secrets). Refuses to recreate or remove sandboxes unless `confirm` is true, and refuses to destroy uncommitted or unpushed work unless `force` is true."
    )]
    async fn team_up(&self, Parameters(params): Parameters<UpParams>) -> Answer {
        let (opened, redactor) = open(&params.file, true)?;
        let answer = up(opened, &params).await;
        Ok(redactor.apply(answer))
    }

    #[tool(
        description = "List a team's sandboxes: each teammate with its sandbox id, state, branch, setup outcome and creation time; declared teammates without a sandbox are `missing`, sandboxes no longer declared have `declared: false`."
    )]
    async fn team_status(&self, Parameters(params): Parameters<StatusParams>) -> Answer {
        let (opened, redactor) = open(&params.file, false)?;
        Ok(redactor.apply(
            match workflow::status(opened.provider.as_ref(), &opened.team).await {
                Ok(rows) => {
                    let text = status_text(&opened.team, &rows);
                    let value = json!({
                        "team": opened.team.name,
                        "provider": opened.team.provider.to_string(),
                        "teammates": rows,
                        "warnings": opened.warnings,
                    });
                    answer::success(text, &value)
                }
                Err(error) => failed(&error),
            },
        ))
    }

    #[tool(
        description = "Delete every sandbox of a team. Refuses (deleting nothing) unless `confirm` is true, and when a sandbox's repository has uncommitted or unpushed work unless `force` is true."
    )]
    async fn team_down(&self, Parameters(params): Parameters<DownParams>) -> Answer {
        let (opened, redactor) = open(&params.file, false)?;
        let options = DownOptions {
            destructive_allowed: params.confirm,
            force: params.force,
            parallel: workflow::DEFAULT_PARALLEL.into(),
            switches: SWITCHES,
        };
        let progress = Progress::new();
        let result = workflow::down(
            opened.provider,
            &opened.team.name,
            Some(&opened.team),
            &options,
            &progress,
        )
        .await;
        let mut warnings = opened.warnings;
        warnings.extend(progress.warnings());
        Ok(redactor.apply(match result {
            Ok(outcome) => {
                let failed = outcome.failed();
                let mut text: Vec<String> = outcome
                    .removed
                    .iter()
                    .map(|entry| match &entry.error {
                        None => format!("removed `{}` ({})", entry.teammate, entry.id),
                        Some(error) => format!(
                            "failed to remove `{}` ({}): {error}",
                            entry.teammate, entry.id
                        ),
                    })
                    .collect();
                text.push(format!(
                    "team `{}`: {} of {} sandboxes removed",
                    outcome.team,
                    outcome.removed.len() - failed,
                    outcome.removed.len()
                ));
                let value = json!({
                    "team": outcome.team,
                    "removed": outcome.removed,
                    "ok": failed == 0,
                    "warnings": warnings,
                });
                if failed == 0 {
                    answer::success(text.join("\n"), &value)
                } else {
                    answer::failure(text.join("\n"), &value)
                }
            }
            Err(error) => answer::error(&error, json!({ "warnings": warnings })),
        }))
    }
}

/// `team_plan`'s structured answer.
#[derive(Serialize)]
struct PlanAnswer<'a> {
    team: &'a str,
    provider: String,
    plan: &'a Plan,
    has_changes: bool,
    destructive: bool,
    warnings: Vec<String>,
}

/// A loaded team with its provider.
pub(super) struct Opened {
    pub(super) team: Team,
    pub(super) provider: Arc<dyn Provider>,
    /// Warnings from the file and the provider, rendered.
    pub(super) warnings: Vec<String>,
}

/// What a tool answers: `Err` is the answer of a failure before the tool's own work (the team
/// file did not load, the teammate has no sandbox), marked as an error like any failure.
pub(super) type Answer = Result<CallToolResult, CallToolResult>;

/// Loads the team file and opens its provider; the redactor knows every secret value the
/// team's teammates would receive from this process's environment. A failure is the tool's
/// answer, ready to return.
pub(super) fn open(
    file: &std::path::Path,
    require_secrets: bool,
) -> Result<(Opened, Redactor), CallToolResult> {
    opening(file, require_secrets).map_err(|error| Redactor::new().apply(failed(&error)))
}

fn opening(file: &std::path::Path, require_secrets: bool) -> Result<(Opened, Redactor), Error> {
    let loaded = team::load(file, &LoadOptions { require_secrets })?;
    let team = loaded.team;
    let mut redactor = Redactor::new();
    for teammate in &team.teammates {
        for secret in &teammate.secrets {
            if let Some(value) = team::host_env(&secret.host_var) {
                redactor.add(value);
            }
        }
    }
    let mut warnings: Vec<String> = loaded
        .warnings
        .iter()
        .map(|warning| answer::render(warning))
        .collect();
    let opened = workflow::open_provider(team.provider, Some(&team))?;
    warnings.extend(opened.warnings);
    Ok((
        Opened {
            team,
            provider: opened.provider,
            warnings,
        },
        redactor,
    ))
}

/// `team_up`: prepare, then apply with the caller's confirmation; the answer always shows the
/// plan.
async fn up(opened: Opened, params: &UpParams) -> CallToolResult {
    let host = |name: &str| team::host_env(name);
    let options = plan_options(
        &params.only,
        params.prune,
        params.force_recreate,
        params.adopt,
    );
    let prepared =
        match workflow::prepare_up(opened.provider.as_ref(), &opened.team, &options, &host).await {
            Ok(prepared) => prepared,
            Err(error) => return Redactor::new().apply(failed(&error)),
        };
    let plan = prepared.plan.clone();
    let mut warnings = opened.warnings;
    warnings.extend(workflow::orphan_warnings(&plan, &SWITCHES));
    let options = UpOptions {
        parallel: params
            .parallel
            .unwrap_or(workflow::DEFAULT_PARALLEL)
            .clamp(1, 256)
            .into(),
        no_setup: params.no_setup,
        no_start: false,
        destructive_allowed: params.confirm,
        force: params.force,
        switches: SWITCHES,
    };
    let progress = Progress::new();
    // Nothing interrupts an MCP call halfway: a cancelled request drops this future instead.
    let interrupted = AtomicBool::new(false);
    let result =
        workflow::apply_up(opened.provider, prepared, &options, &progress, &interrupted).await;
    warnings.extend(progress.warnings());
    match result {
        Ok(outcome) => {
            let text = format!("{}{}", plan.render(), up_summary(&outcome));
            let value = json!({
                "team": outcome.team,
                "plan": outcome.plan,
                "results": outcome.results,
                "ok": outcome.ok,
                "warnings": warnings,
            });
            if outcome.ok {
                answer::success(text, &value)
            } else {
                answer::failure(text, &value)
            }
        }
        Err(error) => {
            let mut answer = answer::error(&error, json!({ "plan": plan, "warnings": warnings }));
            answer.content.insert(
                1,
                rmcp::model::ContentBlock::text(format!("plan:\n{}", plan.render())),
            );
            answer
        }
    }
}

fn plan_options(only: &[String], prune: bool, force_recreate: bool, adopt: bool) -> PlanOptions {
    PlanOptions {
        adopt,
        prune,
        force_recreate,
        only: (!only.is_empty()).then(|| only.iter().cloned().collect::<BTreeSet<_>>()),
    }
}

/// One line per applied change.
fn up_summary(outcome: &UpOutcome) -> String {
    outcome
        .results
        .iter()
        .map(|result| {
            let action = serde_json::to_value(result.action)
                .ok()
                .and_then(|value| value.as_str().map(str::to_string))
                .unwrap_or_default();
            let sandbox = result.sandbox_id.as_deref().unwrap_or("-");
            match &result.error {
                None => format!("{}: {action} ok ({sandbox})\n", result.display),
                Some(error) => format!("{}: {action} failed: {error}\n", result.display),
            }
        })
        .collect()
}

fn status_text(team: &Team, rows: &[StatusRow]) -> String {
    let mut text = format!("team `{}` on `{}`\n", team.name, team.provider);
    for row in rows {
        let orphan = if row.declared { "" } else { " (orphan)" };
        text.push_str(&format!(
            "{}{orphan}: {} {} branch {} setup {}\n",
            row.teammate,
            row.sandbox_id.as_deref().unwrap_or("-"),
            row.state,
            row.branch.as_deref().unwrap_or("-"),
            row.setup
                .map_or("-", crate::vocabulary::SetupOutcome::as_str),
        ));
    }
    text
}

pub(super) fn failed(error: &Error) -> CallToolResult {
    answer::error(error, json!({}))
}
