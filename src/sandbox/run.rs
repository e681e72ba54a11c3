//! `run`: a disposable sandbox, an optional clone, one command, its output and exit code, and
//! the sandbox deleted afterwards (also on failure, interrupt or a dropped future) unless kept.
//!
//! The clone is a plain `git clone` inside the sandbox, without credentials: a repository URL
//! that carries one is refused, so it never lands on a command line or in a result.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::cleanup::{Cleanup, Interrupt, Temporary};
use super::exec::{ExecOptions, ExecResult, exec};
use super::{Result, SandboxError};
use crate::names::{self, BranchName, REPO_ACCEPTED, RepoSource};
use crate::provider::{CreateSandbox, Lifecycle, Provider};
use crate::vocabulary::labels;

/// Lines of git's output kept in a clone error.
const CLONE_ERROR_LINES: usize = 20;

/// What to run.
#[derive(Debug, Clone, Default)]
pub(crate) struct RunOptions {
    /// A shell command line.
    pub command: String,
    /// A repository to clone into the sandbox home first (URL or a path the sandbox can read).
    pub repo: Option<String>,
    /// The branch (or tag) to check out; `None` is the remote's default.
    pub branch: Option<String>,
    /// Where the command runs: relative to the clone (or the home without one).
    pub cwd: Option<String>,
    /// Environment of the command only (not of the sandbox record the provider's API shows);
    /// values may be credentials and are never reported.
    pub env: BTreeMap<String, String>,
    pub snapshot: Option<String>,
    /// Kill the command after this long.
    pub timeout: Option<Duration>,
    /// Keep the sandbox afterwards.
    pub keep: bool,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub(crate) struct RunReport {
    pub sandbox_id: String,
    pub command: String,
    pub repo: Option<String>,
    pub branch: Option<String>,
    /// The command's exit code; 124 when it timed out.
    pub exit_code: i32,
    /// Stdout and stderr, merged.
    pub output: String,
    pub timed_out: bool,
    pub duration_ms: u64,
    pub kept: bool,
    pub deleted: bool,
    pub cleanup_error: Option<String>,
}

/// Runs the command in a new sandbox. The command's own failure is a report (its exit code);
/// a failed create, clone or exec is `Err`, after the sandbox is deleted (unless `keep`).
pub(crate) async fn run(
    provider: &Arc<dyn Provider>,
    options: &RunOptions,
    interrupt: impl Future<Output = ()> + Send,
) -> Result<RunReport> {
    let started = Instant::now();
    let mut interrupt: Interrupt = Box::pin(interrupt);
    check(options)?;
    let request = CreateSandbox {
        labels: [(labels::PURPOSE.to_string(), "run".to_string())].into(),
        snapshot: options.snapshot.clone(),
        // Should this process die before it deletes the sandbox, it goes when it stops.
        lifecycle: Lifecycle {
            auto_delete: (!options.keep).then_some(0),
            ..Lifecycle::default()
        },
        ..CreateSandbox::default()
    };
    let (temporary, sandbox) = match Temporary::create(provider, &request, &mut interrupt).await {
        Ok(created) => created,
        Err(Some(error)) => return Err(error.into()),
        Err(None) => {
            return Err(SandboxError::Interrupted {
                cleanup: "; the sandbox was deleted".to_string(),
            });
        }
    };
    let id = sandbox.id.clone();
    let work = async {
        let clone_dir = match &options.repo {
            Some(repo) => Some(clone(provider, &id, repo, options.branch.as_deref()).await?),
            None => None,
        };
        let command = ExecOptions {
            command: options.command.clone(),
            cwd: working_directory(clone_dir.as_deref(), options.cwd.as_deref()),
            env: options.env.clone(),
            timeout: options.timeout,
            ssh_fallback: true,
        };
        exec(provider, &id, &command).await
    };
    let outcome = tokio::select! {
        outcome = work => Some(outcome),
        () = interrupt.as_mut() => None,
    };
    let cleanup = temporary.finish(options.keep).await;
    let result: ExecResult = match outcome {
        None => {
            return Err(SandboxError::Interrupted {
                cleanup: cleanup.sentence(&id),
            });
        }
        Some(Err(SandboxError::Clone {
            repo,
            sandbox_id,
            exit_code,
            output,
            ..
        })) => {
            return Err(SandboxError::Clone {
                repo,
                exit_code,
                output,
                cleanup: cleanup.sentence(&sandbox_id),
                sandbox_id,
            });
        }
        Some(Err(error)) => return Err(error),
        Some(Ok(result)) => result,
    };
    Ok(RunReport {
        sandbox_id: id,
        command: options.command.clone(),
        repo: options.repo.clone(),
        branch: options.branch.clone(),
        exit_code: result.exit_code,
        output: result.output,
        timed_out: result.timed_out,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        kept: cleanup == Cleanup::Kept,
        deleted: cleanup == Cleanup::Deleted,
        cleanup_error: match cleanup {
            Cleanup::Failed(error) => Some(error),
            _ => None,
        },
    })
}

/// Refuses what would fail later or leak: an empty command, a credential in the repository URL,
/// a branch that git would read as an option, a bad env name.
fn check(options: &RunOptions) -> Result<()> {
    if options.command.trim().is_empty() {
        return Err(SandboxError::invalid("the command is empty", None));
    }
    for name in options.env.keys() {
        super::validate_env_name(name)?;
    }
    if let Some(repo) = &options.repo {
        // The reason never quotes the URL: it may carry a credential.
        let source = RepoSource::parse(repo).map_err(|violation| {
            let message = if repo.trim().is_empty() {
                violation.reason
            } else {
                format!("the repository is not one git clones safely: {violation}")
            };
            SandboxError::invalid(message, Some(REPO_ACCEPTED.to_string()))
        })?;
        if source.credential().is_some() {
            return Err(SandboxError::invalid(
                "the repository URL carries a credential",
                Some("remove it from the URL; the clone runs without credentials (a private repository needs `ralph-town up` with `secrets`)".to_string()),
            ));
        }
    } else if options.branch.is_some() {
        return Err(SandboxError::invalid(
            "a branch needs a repository",
            Some("add `--repo URL`".to_string()),
        ));
    }
    if let Some(branch) = &options.branch
        && let Err(violation) = BranchName::check(branch)
    {
        return Err(SandboxError::invalid(
            format!("`{}` is not a branch name", names::shown(branch, 80)),
            Some(format!(
                "{violation}; branch names follow `git check-ref-format --branch`"
            )),
        ));
    }
    Ok(())
}

/// The directory a clone gets under the home: the last path segment without `.git`.
fn clone_directory(repo: &str) -> String {
    RepoSource::parse(repo)
        .ok()
        .and_then(|source| source.directory_name())
        .unwrap_or_else(|| "repo".to_string())
}

/// Clones `repo` into the home and returns the clone's directory (relative to the home).
async fn clone(
    provider: &Arc<dyn Provider>,
    id: &str,
    repo: &str,
    branch: Option<&str>,
) -> Result<String> {
    let quote = |text: &str| {
        shlex::try_quote(text)
            .map(std::borrow::Cow::into_owned)
            .map_err(|_| {
                SandboxError::invalid("the repository or branch contains a NUL byte", None)
            })
    };
    let directory = clone_directory(repo);
    let mut command = String::from("git clone --quiet");
    if let Some(branch) = branch {
        command.push_str(&format!(" --branch {}", quote(branch)?));
    }
    command.push_str(&format!(" -- {} {}", quote(repo)?, quote(&directory)?));
    let options = ExecOptions {
        command,
        // Nobody is there to answer a prompt.
        env: [("GIT_TERMINAL_PROMPT".to_string(), "0".to_string())].into(),
        ..ExecOptions::command("")
    };
    let result = exec(provider, id, &options).await?;
    if result.exit_code != 0 {
        let lines: Vec<&str> = result.output.lines().collect();
        let tail = lines[lines.len().saturating_sub(CLONE_ERROR_LINES)..].join("\n");
        return Err(SandboxError::Clone {
            repo: repo.to_string(),
            sandbox_id: id.to_string(),
            exit_code: result.exit_code,
            output: tail,
            cleanup: String::new(),
        });
    }
    Ok(directory)
}

/// Where the command starts: `cwd` under the clone (absolute `cwd` as given), the clone, or
/// `cwd` under the home.
fn working_directory(clone: Option<&str>, cwd: Option<&str>) -> Option<String> {
    match (clone, cwd) {
        (_, Some(cwd)) if cwd.starts_with('/') => Some(cwd.to_string()),
        (Some(clone), Some(cwd)) => Some(format!("{clone}/{cwd}")),
        (Some(clone), None) => Some(clone.to_string()),
        (None, cwd) => cwd.map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(repo: Option<&str>, branch: Option<&str>) -> Result<()> {
        check(&RunOptions {
            command: "true".into(),
            repo: repo.map(str::to_string),
            branch: branch.map(str::to_string),
            ..RunOptions::default()
        })
    }

    #[test]
    fn repositories_and_branches_follow_the_team_file_rules() {
        assert!(checked(Some("https://github.com/a/b.git"), Some("feature/x")).is_ok());
        assert!(checked(Some("/srv/repos/app"), None).is_ok());
        for repo in [
            "",
            "ext::sh -c touch% /tmp/pwned",
            "fd::3",
            "ftp://host/a.git",
            "https://x-access-token:abc@github.com/a/b.git",
            "https://abc@github.com/a/b.git",
        ] {
            let error = checked(Some(repo), None).expect_err(repo);
            assert!(!error.to_string().contains("abc"), "{error}");
        }
        for branch in [
            "a..b",
            "x$(reboot)",
            "main\u{202E}",
            "-x",
            "a b",
            &"b".repeat(201),
        ] {
            assert!(checked(Some("/srv/app"), Some(branch)).is_err(), "{branch}");
        }
    }

    #[test]
    fn clones_land_in_a_directory_named_after_the_repository() {
        assert_eq!(clone_directory("https://github.com/acme/app.git"), "app");
        assert_eq!(clone_directory("/tmp/x/origin/"), "origin");
        assert_eq!(clone_directory("git@host:acme/tool"), "tool");
        assert_eq!(clone_directory("/"), "repo");
    }

    #[test]
    fn the_command_starts_in_the_clone() {
        assert_eq!(working_directory(Some("app"), None).as_deref(), Some("app"));
        assert_eq!(
            working_directory(Some("app"), Some("src")).as_deref(),
            Some("app/src")
        );
        assert_eq!(
            working_directory(Some("app"), Some("/etc")).as_deref(),
            Some("/etc")
        );
        assert_eq!(working_directory(None, Some("x")).as_deref(), Some("x"));
        assert_eq!(working_directory(None, None), None);
    }
}
