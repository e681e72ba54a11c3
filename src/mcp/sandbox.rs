//! The sandbox tools: `sandbox_*`, single sandboxes on a provider, each one call of `sandbox`.
//!
//! Arguments are typed in `arguments.rs`. Values of credential-looking names given in a call
//! are redacted from its answer; the SSH token `sandbox_ssh` returns is the one credential an
//! answer carries, because the caller asked for it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};
use serde_json::json;

use super::answer::{self, Redactor};
use super::arguments::{
    CreateParams, EnvSetParams, ExecParams, ListParams, PreflightParams, RunParams, SandboxParams,
    SshParams, resolve_env,
};
use super::{Server, provider_kind};
use crate::provider::ShellAccess;
use crate::provider::{Provider, ProviderKind};
use crate::sandbox::{
    self, CreateOptions, ExecOptions, PreflightOptions, RunOptions, SandboxError,
};
use crate::workflow;

#[tool_router(router = sandbox_router, vis = "pub(crate)")]
impl Server {
    #[tool(
        description = "Create a sandbox and wait until it is started; returns its id. For a whole team use `team_up`."
    )]
    async fn sandbox_create(&self, Parameters(params): Parameters<CreateParams>) -> CallToolResult {
        let mut redactor = Redactor::new();
        let answer = async {
            let env = resolve_env(params.env.as_ref(), &mut redactor).map_err(fail)?;
            let provider = open(params.provider, None)?;
            let options = CreateOptions {
                name: params.name,
                snapshot: params.snapshot,
                env,
                labels: params.labels,
                auto_stop: params.auto_stop,
                auto_delete: params.auto_delete,
            };
            let created = sandbox::create(&provider, &options).await.map_err(fail)?;
            let mut text = format!(
                "created sandbox `{}` (`{}`) on `{}`: {}",
                created.sandbox.id,
                created.sandbox.name,
                provider.kind(),
                created.sandbox.state
            );
            for warning in &created.warnings {
                text.push_str(&format!("\nwarning: {warning}"));
            }
            Ok(answer::success(text, &created))
        }
        .await;
        redactor.apply(answer.unwrap_or_else(|error| error))
    }

    #[tool(
        description = "Get SSH access to a sandbox: on Daytona a token, the `ssh` command and when it expires; on `local` the command that opens a shell."
    )]
    async fn sandbox_ssh(&self, Parameters(params): Parameters<SshParams>) -> CallToolResult {
        let answer = async {
            let provider = open(params.provider, None)?;
            let minutes = params.expires_in_minutes.unwrap_or(60).clamp(1, 1440);
            let access = sandbox::ssh_access(&provider, &params.sandbox, minutes)
                .await
                .map_err(fail)?;
            let (text, value) = match &access {
                ShellAccess::Ssh {
                    command,
                    expires_at,
                    ..
                } => (
                    format!("connect with `{command}` (expires at {expires_at})"),
                    json!(access),
                ),
                ShellAccess::Local { command, .. } => {
                    // The command that opens the shell carries no environment value.
                    let mut value = json!(access);
                    value["argv"] = json!(shlex::split(command).unwrap_or_default());
                    (format!("open a shell with `{command}`"), value)
                }
            };
            Ok(answer::success(text, &value))
        }
        .await;
        Redactor::new().apply(answer.unwrap_or_else(|error| error))
    }

    #[tool(
        description = "List live sandboxes (id, name, state, snapshot, labels, age), optionally only those carrying given labels."
    )]
    async fn sandbox_list(&self, Parameters(params): Parameters<ListParams>) -> CallToolResult {
        let answer = async {
            let provider = open(params.provider, None)?;
            let sandboxes = sandbox::list(&provider, &params.labels)
                .await
                .map_err(fail)?;
            let mut text = format!(
                "{} sandbox{} on `{}`",
                sandboxes.len(),
                if sandboxes.len() == 1 { "" } else { "es" },
                provider.kind()
            );
            for summary in &sandboxes {
                text.push_str(&format!(
                    "\n{}  {}  {}  {}s",
                    summary.id, summary.name, summary.state, summary.age_seconds
                ));
            }
            Ok(answer::success(text, &json!({ "sandboxes": sandboxes })))
        }
        .await;
        Redactor::new().apply(answer.unwrap_or_else(|error| error))
    }

    #[tool(
        description = "Run a shell command in a sandbox and return its output (stdout and stderr merged) and exit code. A non-zero exit code is a tool error that still carries both."
    )]
    async fn sandbox_exec(&self, Parameters(params): Parameters<ExecParams>) -> CallToolResult {
        let mut redactor = Redactor::new();
        let answer = async {
            let env = resolve_env(params.env.as_ref(), &mut redactor).map_err(fail)?;
            let provider = open(params.provider, None)?;
            let options = ExecOptions {
                command: params.command,
                cwd: params.cwd,
                env,
                timeout: params.timeout_seconds.map(Duration::from_secs),
                ssh_fallback: true,
            };
            let result = sandbox::exec(&provider, &params.sandbox, &options)
                .await
                .map_err(fail)?;
            Ok(command_answer(
                &result.output,
                result.exit_code,
                result.timed_out,
                &result,
            ))
        }
        .await;
        redactor.apply(answer.unwrap_or_else(|error| error))
    }

    #[tool(description = "Delete a sandbox and everything in it.")]
    async fn sandbox_delete(
        &self,
        Parameters(params): Parameters<SandboxParams>,
    ) -> CallToolResult {
        let provider = match open(params.provider, None) {
            Ok(provider) => provider,
            Err(failed) => return Redactor::new().apply(failed),
        };
        let answer = {
            let outcome = sandbox::delete(&provider, std::slice::from_ref(&params.sandbox))
                .await
                .pop()
                .expect("one outcome per id");
            match &outcome.error {
                None => answer::success(format!("deleted sandbox `{}`", outcome.id), &outcome),
                Some(error) => answer::failure(
                    format!("cannot delete sandbox `{}`: {error}", outcome.id),
                    &outcome,
                ),
            }
        };
        Redactor::new().apply(answer)
    }

    #[tool(
        description = "Check that a snapshot has the tools a teammate needs: create a temporary sandbox from it, test each tool by full path, delete the sandbox. Missing tools make a tool error with the report."
    )]
    async fn sandbox_preflight(
        &self,
        Parameters(params): Parameters<PreflightParams>,
    ) -> CallToolResult {
        let answer = async {
            let provider = open(params.provider, None)?;
            let options = PreflightOptions {
                snapshot: params.snapshot,
                tools: params.tools,
            };
            let report = sandbox::preflight(&provider, &options, std::future::pending())
                .await
                .map_err(fail)?;
            let mut text = format!(
                "preflight of snapshot `{}` {}",
                report.snapshot,
                if report.passed { "passed" } else { "failed" }
            );
            for tool in &report.tools {
                let found = if tool.found { "found" } else { "missing" };
                text.push_str(&format!("\n{found}  {}", tool.path));
            }
            if let Some(error) = &report.cleanup_error {
                text.push_str(&format!(
                    "\nwarning: the temporary sandbox `{}` was not deleted: {error}",
                    report.sandbox_id
                ));
            }
            Ok(if report.passed {
                answer::success(text, &report)
            } else {
                answer::failure(text, &report)
            })
        }
        .await;
        Redactor::new().apply(answer.unwrap_or_else(|error| error))
    }

    #[tool(
        description = "Run one command in a new, disposable sandbox (optionally cloning a repository first) and delete the sandbox afterwards unless `keep`. Returns output and exit code; a non-zero exit code is a tool error that still carries both."
    )]
    async fn sandbox_run(&self, Parameters(params): Parameters<RunParams>) -> CallToolResult {
        let mut redactor = Redactor::new();
        let answer = async {
            let env = resolve_env(params.env.as_ref(), &mut redactor).map_err(fail)?;
            let readable = params.repo.iter().map(PathBuf::from).collect::<Vec<_>>();
            let provider = open(params.provider, Some(readable))?;
            let options = RunOptions {
                command: params.command,
                repo: params.repo,
                branch: params.branch,
                cwd: params.cwd,
                env,
                snapshot: params.snapshot,
                timeout: params.timeout_seconds.map(Duration::from_secs),
                keep: params.keep,
            };
            let report = sandbox::run(&provider, &options, std::future::pending())
                .await
                .map_err(fail)?;
            Ok(command_answer(
                &report.output,
                report.exit_code,
                report.timed_out,
                &report,
            ))
        }
        .await;
        redactor.apply(answer.unwrap_or_else(|error| error))
    }

    #[tool(
        description = "List the environment a new command in a sandbox starts with; values of credential-looking names (*TOKEN*, *KEY*, *SECRET*, *PASSWORD*) are redacted."
    )]
    async fn sandbox_env_list(
        &self,
        Parameters(params): Parameters<SandboxParams>,
    ) -> CallToolResult {
        let answer = async {
            let provider = open(params.provider, None)?;
            let listing = sandbox::env_list(&provider, &params.sandbox)
                .await
                .map_err(fail)?;
            let text = listing
                .env
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect::<Vec<_>>()
                .join("\n");
            Ok(answer::success(text, &listing))
        }
        .await;
        Redactor::new().apply(answer.unwrap_or_else(|error| error))
    }

    #[tool(
        description = "Change a running sandbox's environment for every command started later: `unset` names are removed, then `env` is set. The answer names the variables, never their values."
    )]
    async fn sandbox_env_set(
        &self,
        Parameters(params): Parameters<EnvSetParams>,
    ) -> CallToolResult {
        let mut redactor = Redactor::new();
        let answer = async {
            let set = resolve_env(params.env.as_ref(), &mut redactor).map_err(fail)?;
            // Every value set here may be a credential, whatever its name.
            set.values().for_each(|value| redactor.add(value.clone()));
            let provider = open(params.provider, None)?;
            let change = sandbox::env_set(&provider, &params.sandbox, &set, &params.unset)
                .await
                .map_err(fail)?;
            let text = format!(
                "sandbox `{}`: set {}; unset {}",
                change.sandbox_id,
                names(&change.set),
                names(&change.unset)
            );
            Ok(answer::success(text, &change))
        }
        .await;
        redactor.apply(answer.unwrap_or_else(|error| error))
    }
}

/// A failed tool call: the answer to give instead.
type Failed = CallToolResult;

fn fail(error: SandboxError) -> Failed {
    answer::error(&error, json!({}))
}

/// Opens the provider a call names (`readable`: host paths a `local` sandbox must read).
fn open(
    argument: Option<ProviderKind>,
    readable: Option<Vec<PathBuf>>,
) -> Result<Arc<dyn Provider>, Failed> {
    let failed = |error: crate::error::Error| answer::error(&error, json!({}));
    let kind = provider_kind(argument).map_err(failed)?;
    let opened =
        workflow::open_provider_reading(kind, readable.unwrap_or_default()).map_err(failed)?;
    for warning in &opened.warnings {
        eprintln!("warning: {warning}");
    }
    Ok(opened.provider)
}

/// A command's answer: its output, then its exit code; non-zero is a tool error.
fn command_answer(
    output: &str,
    exit_code: i32,
    timed_out: bool,
    value: &impl serde::Serialize,
) -> CallToolResult {
    let status = if timed_out {
        format!("timed out (exit code {exit_code})")
    } else {
        format!("exit code {exit_code}")
    };
    let text = format!(
        "{output}{}[{status}]",
        if output.ends_with('\n') || output.is_empty() {
            ""
        } else {
            "\n"
        }
    );
    if exit_code == 0 && !timed_out {
        answer::success(text, value)
    } else {
        answer::failure(text, value)
    }
}

fn names(names: &[String]) -> String {
    if names.is_empty() {
        return "nothing".to_string();
    }
    names
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
