//! The tools a lead agent uses on teammates at work: `team_logs`, `team_wait`,
//! `teammate_status`, `teammate_restart`, and the teammate-scoped tools that work in a teammate's
//! workdir (`teammate_exec`, `teammate_read_file`, `teammate_write_file`, `teammate_edit_file`,
//! `teammate_list_files`, `teammate_diff`). Each is one call of `workflow`; every answer is
//! redacted.

use std::path::PathBuf;
use std::time::Duration;

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::Server;
use super::answer::{self, Redactor};
use super::team::{Answer, Opened, failed, open};
use crate::error::Result;
use crate::provider::ExecOutput;
use crate::runner::state::CommandStatus;
use crate::workflow::{self, Act, TeammateSandbox, files};

/// The most lines `team_logs` answers per teammate unless told.
const DEFAULT_TAIL: usize = 200;
/// `team_wait` gives up after this long unless told.
const DEFAULT_WAIT_SECONDS: u64 = 600;

/// Teammates of a team file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LogsParams {
    /// Path of the team file (`team.toml`), relative to the server's working directory.
    file: PathBuf,
    /// The teammates (default: every teammate with a `command`).
    #[serde(default)]
    teammates: Vec<String>,
    /// Only the last N lines of each teammate (default 200).
    tail: Option<usize>,
}

/// `team_wait`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WaitParams {
    /// Path of the team file (`team.toml`), relative to the server's working directory.
    file: PathBuf,
    /// The teammates (default: every teammate with a `command`).
    #[serde(default)]
    teammates: Vec<String>,
    /// Give up after this many seconds (default 600).
    #[schemars(range(min = 1, max = 86400))]
    timeout_seconds: Option<u64>,
}

/// One teammate of a team file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TeammateParams {
    /// Path of the team file (`team.toml`), relative to the server's working directory.
    file: PathBuf,
    /// The teammate.
    teammate: String,
}

/// `teammate_exec`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExecParams {
    /// Path of the team file (`team.toml`), relative to the server's working directory.
    file: PathBuf,
    /// The teammate.
    teammate: String,
    /// Shell text, run by bash in the teammate's workdir.
    command: String,
    /// Kill the command after this many seconds.
    timeout_seconds: Option<u64>,
}

/// A path in a teammate's workdir.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PathParams {
    /// Path of the team file (`team.toml`), relative to the server's working directory.
    file: PathBuf,
    /// The teammate.
    teammate: String,
    /// A path relative to the teammate's workdir (no `..`).
    path: String,
}

/// `teammate_write_file`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WriteParams {
    /// Path of the team file (`team.toml`), relative to the server's working directory.
    file: PathBuf,
    /// The teammate.
    teammate: String,
    /// A path relative to the teammate's workdir (no `..`).
    path: String,
    /// The file's new contents.
    content: String,
}

/// `teammate_edit_file`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EditParams {
    /// Path of the team file (`team.toml`), relative to the server's working directory.
    file: PathBuf,
    /// The teammate.
    teammate: String,
    /// A path relative to the teammate's workdir (no `..`).
    path: String,
    /// The exact text to replace; it must occur exactly once.
    old_text: String,
    /// The text to put in its place.
    new_text: String,
}

/// `teammate_list_files`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListParams {
    /// Path of the team file (`team.toml`), relative to the server's working directory.
    file: PathBuf,
    /// The teammate.
    teammate: String,
    /// A directory relative to the teammate's workdir (default: the workdir).
    #[serde(default)]
    path: String,
    /// How deep to list (default 3).
    #[schemars(range(min = 1, max = 20))]
    depth: Option<u32>,
}

/// Opens the team and finds the teammate's sandbox; the answer of a failure.
async fn reach(
    file: &std::path::Path,
    teammate: &str,
) -> Result<(Opened, TeammateSandbox, Redactor), CallToolResult> {
    let (opened, redactor) = open(file, false)?;
    match workflow::teammate_sandbox(opened.provider.as_ref(), &opened.team, teammate).await {
        Ok(found) => Ok((opened, found, redactor)),
        Err(error) => Err(redactor.apply(failed(&error))),
    }
}

/// The answer of a `Result`: `summary` of the value, or the error.
fn respond<T: serde::Serialize>(
    redactor: &Redactor,
    result: Result<T>,
    summary: impl FnOnce(&T) -> String,
) -> CallToolResult {
    redactor.apply(match result {
        Ok(value) => answer::success(summary(&value), &value),
        Err(error) => failed(&error),
    })
}

/// The answer of a command: its output, a failure when it exited non-zero.
fn exited(result: Result<ExecOutput>) -> CallToolResult {
    match result {
        Ok(output) if output.exit_code == 0 => answer::success(output.output.clone(), &output),
        Ok(output) => answer::failure(output.output.clone(), &output),
        Err(error) => failed(&error),
    }
}

#[tool_router(router = work_router, vis = "pub(crate)")]
impl Server {
    #[tool(
        description = "The output of teammates' commands (every teammate with a command unless `teammates` names some): the last `tail` lines of each, with the time and stream of every line."
    )]
    async fn team_logs(&self, Parameters(params): Parameters<LogsParams>) -> Answer {
        let (opened, redactor) = open(&params.file, false)?;
        let provider = opened.provider.as_ref();
        let tail = params.tail.unwrap_or(DEFAULT_TAIL);
        let result = async {
            let names = workflow::logs_selection(&opened.team, &params.teammates)?;
            let found = workflow::teammate_sandboxes(provider, &opened.team, &names).await?;
            let mut lines = Vec::new();
            for found in &found {
                let (mut read, _) = workflow::logs::read(provider, found).await?;
                let start = read.len().saturating_sub(tail);
                lines.extend(read.drain(start..));
            }
            Ok(json!({ "lines": lines }))
        }
        .await;
        Ok(respond(&redactor, result, |value| {
            value["lines"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|line| {
                    format!(
                        "{} | {}\n",
                        line["teammate"].as_str().unwrap_or_default(),
                        line["line"].as_str().unwrap_or_default()
                    )
                })
                .collect()
        }))
    }

    #[tool(
        description = "Wait until teammates' commands are done for good (restarts exhausted or finished), at most `timeout_seconds` (default 600). Answers each teammate's runs and exit codes; `ok` is true when every command succeeded."
    )]
    async fn team_wait(&self, Parameters(params): Parameters<WaitParams>) -> Answer {
        let (opened, redactor) = open(&params.file, false)?;
        let timeout = Duration::from_secs(params.timeout_seconds.unwrap_or(DEFAULT_WAIT_SECONDS));
        let result = workflow::wait(
            opened.provider.as_ref(),
            &opened.team,
            &params.teammates,
            Some(timeout),
        )
        .await;
        Ok(redactor.apply(match result {
            Ok(outcome) => {
                let text: String = outcome
                    .teammates
                    .iter()
                    .map(|waited| format!("{}: {}\n", waited.teammate, waited.command.describe()))
                    .collect();
                let text = if outcome.timed_out {
                    format!("{text}timed out: not every command is done")
                } else {
                    text
                };
                if outcome.ok {
                    answer::success(text, &outcome)
                } else {
                    answer::failure(text, &outcome)
                }
            }
            Err(error) => failed(&error),
        }))
    }

    #[tool(
        description = "One teammate's command (state, runs, exit codes; null for a teammate that declares no command) and work: commits ahead of the base branch, dirty files, the last commit's subject, whether the branch is pushed."
    )]
    async fn teammate_status(&self, Parameters(params): Parameters<TeammateParams>) -> Answer {
        let (opened, redactor) = open(&params.file, false)?;
        let result =
            workflow::teammate_work(opened.provider.as_ref(), &opened.team, &params.teammate).await;
        Ok(respond(&redactor, result, |work| {
            let command = work
                .command
                .as_ref()
                .map_or_else(|| "no command".to_string(), CommandStatus::describe);
            format!("{}: {command}", work.teammate)
        }))
    }

    #[tool(
        description = "Restart one teammate's command: stop it if it runs, then start it again with the team file's command and task (runs count from 1). The sandbox and its work are kept."
    )]
    async fn teammate_restart(&self, Parameters(params): Parameters<TeammateParams>) -> Answer {
        let (opened, redactor) = open(&params.file, false)?;
        let names = [params.teammate.clone()];
        let result =
            workflow::act(opened.provider.as_ref(), &opened.team, &names, Act::Restart).await;
        Ok(respond(
            &redactor,
            result.map(|mut outcomes| outcomes.remove(0)),
            |outcome| format!("{}: {}", outcome.teammate, outcome.action),
        ))
    }

    #[tool(
        description = "Run shell text with bash in a teammate's workdir; answers its exit code and output (a non-zero exit is a tool error that still carries them)."
    )]
    async fn teammate_exec(&self, Parameters(params): Parameters<ExecParams>) -> Answer {
        let (opened, found, redactor) = reach(&params.file, &params.teammate).await?;
        let timeout = params.timeout_seconds.map(Duration::from_secs);
        let result = files::exec(opened.provider.as_ref(), &found, &params.command, timeout).await;
        Ok(redactor.apply(exited(result)))
    }

    #[tool(description = "Read a text file of a teammate's workdir (a path relative to it).")]
    async fn teammate_read_file(&self, Parameters(params): Parameters<PathParams>) -> Answer {
        let (opened, found, redactor) = reach(&params.file, &params.teammate).await?;
        let result = files::read_file(opened.provider.as_ref(), &found, &params.path).await;
        Ok(respond(
            &redactor,
            result.map(|content| json!({ "path": params.path, "content": content })),
            |value| value["content"].as_str().unwrap_or_default().to_string(),
        ))
    }

    #[tool(
        description = "Write a file of a teammate's workdir (a path relative to it), making its directories."
    )]
    async fn teammate_write_file(&self, Parameters(params): Parameters<WriteParams>) -> Answer {
        let (opened, found, redactor) = reach(&params.file, &params.teammate).await?;
        let result = files::write_file(
            opened.provider.as_ref(),
            &found,
            &params.path,
            &params.content,
        )
        .await;
        Ok(respond(
            &redactor,
            result.map(|()| json!({ "path": params.path, "written": params.content.len() })),
            |_| format!("wrote `{}`", params.path),
        ))
    }

    #[tool(
        description = "Edit a file of a teammate's workdir by exact string replacement: `old_text` must occur exactly once, else nothing changes and the call fails."
    )]
    async fn teammate_edit_file(&self, Parameters(params): Parameters<EditParams>) -> Answer {
        let (opened, found, redactor) = reach(&params.file, &params.teammate).await?;
        let result = files::edit_file(
            opened.provider.as_ref(),
            &found,
            &params.path,
            &params.old_text,
            &params.new_text,
        )
        .await;
        Ok(respond(
            &redactor,
            result.map(|()| json!({ "path": params.path, "edited": true })),
            |_| format!("edited `{}`", params.path),
        ))
    }

    #[tool(
        description = "List the files and directories of a teammate's workdir (or a directory in it), `.git` left out."
    )]
    async fn teammate_list_files(&self, Parameters(params): Parameters<ListParams>) -> Answer {
        let (opened, found, redactor) = reach(&params.file, &params.teammate).await?;
        let result = files::list_files(
            opened.provider.as_ref(),
            &found,
            &params.path,
            params.depth.unwrap_or(3),
        )
        .await;
        Ok(respond(&redactor, result, |listing| {
            listing.entries.join("\n")
        }))
    }

    #[tool(
        description = "The teammate's branch against its base branch: every change since they forked, committed or not (`git diff --stat`, then the diff)."
    )]
    async fn teammate_diff(&self, Parameters(params): Parameters<TeammateParams>) -> Answer {
        let (opened, found, redactor) = reach(&params.file, &params.teammate).await?;
        let result = files::diff(opened.provider.as_ref(), &found).await;
        Ok(redactor.apply(exited(result)))
    }
}
