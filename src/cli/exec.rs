//! `ralph-town exec` and `ralph-town ssh`: reach into one teammate's sandbox, through the one
//! teammate path of `workflow`.
//!
//! `exec` works like `docker compose exec`: stdin is forwarded, stdout and stderr stay apart
//! (one terminal stream with `--tty`, the default when stdin is a terminal), the command's exit
//! code is the process's, 124 means `--timeout` killed it, and ralph-town's own failures exit 125
//! so they are never taken for the command's.

use std::io::IsTerminal;
use std::time::Duration;

use super::args::{ExecArgs, SshArgs};
use super::{load_team, provider_for};
use crate::error::exit::TIMED_OUT;
use crate::error::{Error, Result};
use crate::provider::AttachRequest;
use crate::workflow;

/// The exit code of `exec`'s own failures (compose's), never a command's.
pub(super) const OWN_FAILURE: i32 = 125;

pub(super) async fn run(args: &ExecArgs) -> Result<i32> {
    match exec(args).await {
        Ok(code) => Ok(code),
        Err(Error::Exit { code }) => Ok(code),
        Err(error) => {
            eprintln!("{:?}", miette::Report::new(error));
            Ok(OWN_FAILURE)
        }
    }
}

async fn exec(args: &ExecArgs) -> Result<i32> {
    let command = shlex::try_join(args.command.iter().map(String::as_str))
        .map_err(|_| Error::usage("the command contains a NUL byte", None))?;
    let team = load_team(&args.file, false)?;
    let provider = provider_for(team.provider, Some(&team))?;
    let found = workflow::teammate_sandbox(provider.as_ref(), &team, &args.teammate).await?;
    let terminal = match (args.tty, args.no_tty) {
        (true, _) => true,
        (_, true) => false,
        _ => std::io::stdin().is_terminal() && std::io::stdout().is_terminal(),
    };
    let request = AttachRequest {
        cwd: found.workdir(),
        command: Some(command),
        terminal,
        timeout: args.timeout.map(Duration::from_secs),
    };
    if let Some(code) = provider.attach(&found.sandbox.id, &request).await? {
        Ok(code)
    } else {
        eprintln!(
            "ralph-town: the command timed out after {}s and was killed",
            args.timeout.unwrap_or_default()
        );
        Ok(TIMED_OUT)
    }
}

pub(super) async fn ssh(args: &SshArgs) -> Result<i32> {
    let team = load_team(&args.file, false)?;
    let provider = provider_for(team.provider, Some(&team))?;
    let found = workflow::teammate_sandbox(provider.as_ref(), &team, &args.teammate).await?;
    let cwd = found.workdir();
    if args.print {
        let access = provider
            .shell_access(&found.sandbox.id, cwd.as_deref(), 60)
            .await?;
        super::sandbox::print_shell_access(&access);
        return Ok(0);
    }
    let request = AttachRequest::shell(cwd.as_deref());
    Ok(provider
        .attach(&found.sandbox.id, &request)
        .await?
        .unwrap_or(TIMED_OUT))
}
