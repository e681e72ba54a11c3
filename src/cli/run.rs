//! `ralph-town run`: a command in a disposable sandbox, by [`crate::sandbox::run`]. The
//! command's output goes to stdout, the process exits with its exit code; progress and the
//! cleanup go to stderr.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::args::RunArgs;
use super::sandbox::{assignments, command_line, write_stdout};
use super::signals;
use super::{local_provider, print_json};
use crate::error::Result;
use crate::names::RepoSource;
use crate::provider::daytona::DaytonaProvider;
use crate::provider::{Provider, ProviderKind};
use crate::sandbox::{self, RunOptions};

pub(super) async fn run(args: &RunArgs) -> Result<i32> {
    let repo = args.repo.as_deref().map(absolute_if_local);
    let options = RunOptions {
        command: command_line(&args.command)?,
        repo: repo.clone(),
        branch: args.branch.clone(),
        cwd: args.cwd.clone(),
        env: assignments(&args.env)?,
        snapshot: args.snapshot.clone(),
        timeout: args.timeout.map(Duration::from_secs),
        keep: args.keep,
    };
    let provider = provider(args.provider, repo.as_deref())?;
    if !args.json {
        eprintln!("creating a sandbox on `{}`", args.provider);
    }
    let report = sandbox::run(&provider, &options, signals::stopped()).await?;
    if args.json {
        print_json(&report)?;
    } else {
        write_stdout(&report.output)?;
        if report.timed_out {
            eprintln!(
                "error: the command did not finish within {}s",
                args.timeout.unwrap_or_default()
            );
        }
        if report.kept {
            eprintln!("kept sandbox `{}`", report.sandbox_id);
        } else if report.deleted {
            eprintln!("deleted sandbox `{}`", report.sandbox_id);
        }
    }
    if let Some(error) = &report.cleanup_error {
        eprintln!(
            "warning: sandbox `{}` could not be deleted ({error}): delete it with `ralph-town sandbox delete {}`",
            report.sandbox_id, report.sandbox_id
        );
    }
    Ok(report.exit_code)
}

/// A repository path (not a URL) made absolute against the current directory, as the sandbox
/// does not start there.
fn absolute_if_local(repo: &str) -> String {
    // What does not parse is refused by `sandbox::run`, as written.
    if !matches!(RepoSource::parse(repo), Ok(RepoSource::Local(_))) {
        return repo.to_string();
    }
    std::path::absolute(repo)
        .map(|path| path.to_string_lossy().into_owned())
        .unwrap_or_else(|_| repo.to_string())
}

/// The provider, with a local repository readable inside `local` sandboxes (bubblewrap hides
/// `/tmp` and home directories).
fn provider(kind: ProviderKind, repo: Option<&str>) -> Result<Arc<dyn Provider>> {
    match kind {
        ProviderKind::Local => {
            let read_only_paths = repo
                .map(PathBuf::from)
                .filter(|path| path.is_absolute() && path.exists())
                .into_iter()
                .collect();
            Ok(Arc::new(local_provider(read_only_paths)?))
        }
        ProviderKind::Daytona => Ok(Arc::new(DaytonaProvider::from_env(&Default::default())?)),
    }
}
