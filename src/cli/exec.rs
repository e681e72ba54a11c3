//! `ralph-town exec` and `ralph-town ssh`: reach into one teammate's sandbox.

use std::io::Write;
use std::time::Duration;

use super::args::{ExecArgs, SshArgs};
use super::{load_team, provider_for};
use crate::error::{Error, Result};
use crate::provider::{ExecRequest, Provider, ProviderError, Sandbox, SandboxState, ShellAccess};
use crate::sandbox::{SshSession, SshTarget};
use crate::team::{Team, Teammate};
use crate::vocabulary::{SetupOutcome, labels};

pub(super) async fn run(args: &ExecArgs) -> Result<i32> {
    let team = load_team(&args.file, false)?;
    let teammate = teammate(&team, &args.teammate)?;
    let provider = provider_for(team.provider, Some(&team))?;
    let sandbox = sandbox_of(provider.as_ref(), &team, teammate).await?;
    let command = shlex::try_join(args.command.iter().map(String::as_str))
        .map_err(|_| Error::usage("the command contains a NUL byte", None))?;
    let request = ExecRequest {
        command,
        cwd: workdir(&sandbox, teammate),
        env: Default::default(),
        timeout: args.timeout.map(Duration::from_secs),
    };
    let output = match provider.exec(&sandbox.id, &request).await {
        Ok(output) => output,
        Err(ProviderError::Timeout { message }) => {
            eprintln!("ralph-town: the command timed out: {message}");
            return Ok(crate::sandbox::TIMED_OUT_EXIT_CODE);
        }
        Err(error) => return Err(error.into()),
    };
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(output.output.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|error| Error::io("cannot write to stdout", error))?;
    Ok(output.exit_code)
}

pub(super) async fn ssh(args: &SshArgs) -> Result<i32> {
    let team = load_team(&args.file, false)?;
    let teammate = teammate(&team, &args.teammate)?;
    let provider = provider_for(team.provider, Some(&team))?;
    let sandbox = sandbox_of(provider.as_ref(), &team, teammate).await?;
    let cwd = workdir(&sandbox, teammate);
    let access = provider
        .shell_access(&sandbox.id, cwd.as_deref(), 60)
        .await?;
    let argv = match access {
        ShellAccess::Command { argv } => argv,
        ShellAccess::Ssh {
            token,
            command,
            expires_at,
        } => {
            if args.print {
                println!("{command}");
                eprintln!(
                    "expires at {}",
                    humantime::format_rfc3339_seconds(expires_at)
                );
                return Ok(0);
            }
            // The token reaches `ssh` in a 0600 config file, never on its command line.
            let target = SshTarget::parse(&command, &token)?;
            let session = SshSession::interactive(&target)?;
            let mut ssh = session.command();
            if let Some(dir) = &cwd {
                let dir = shlex::try_quote(dir).map_err(|_| Error::NotFound {
                    message: "the workdir contains a NUL byte".to_string(),
                    hint: None,
                })?;
                ssh.arg(format!(
                    "cd {dir} 2>/dev/null; exec \"${{SHELL:-/bin/sh}}\" -l"
                ));
            }
            let status = ssh
                .status()
                .map_err(|error| Error::io("cannot run `ssh`", error))?;
            return Ok(status.code().unwrap_or(255));
        }
    };
    if args.print {
        println!(
            "{}",
            shlex::try_join(argv.iter().map(String::as_str)).unwrap_or_default()
        );
        return Ok(0);
    }
    let (program, rest) = argv.split_first().ok_or_else(|| Error::NotFound {
        message: "the provider gave no way to open a shell".to_string(),
        hint: None,
    })?;
    let status = std::process::Command::new(program)
        .args(rest)
        .status()
        .map_err(|error| Error::io(format!("cannot run `{program}`"), error))?;
    Ok(status.code().unwrap_or(1))
}

/// The declared teammate called `name`.
fn teammate<'a>(team: &'a Team, name: &str) -> Result<&'a Teammate> {
    team.teammates
        .iter()
        .find(|teammate| teammate.name == name)
        .ok_or_else(|| Error::NotFound {
            message: format!("team `{}` has no teammate `{name}`", team.name),
            hint: Some(format!(
                "teammates: {}",
                team.teammates
                    .iter()
                    .map(|t| format!("`{}`", t.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        })
}

/// The teammate's live sandbox: the newest started one.
async fn sandbox_of(provider: &dyn Provider, team: &Team, teammate: &Teammate) -> Result<Sandbox> {
    let sandboxes = crate::workflow::observe(provider, &team.name).await?;
    sandboxes
        .into_iter()
        .filter(|sandbox| sandbox.labels.get(labels::TEAMMATE) == Some(&teammate.name))
        .filter(|sandbox| sandbox.state == SandboxState::Started)
        .max_by_key(|sandbox| sandbox.created_at)
        .ok_or_else(|| Error::NotFound {
            message: format!("teammate `{}` has no running sandbox", teammate.name),
            hint: Some("run `ralph-town up` first".to_string()),
        })
}

/// Where commands start: the teammate's clone, or the home when setup was skipped (no clone).
fn workdir(sandbox: &Sandbox, teammate: &Teammate) -> Option<String> {
    let skipped = SetupOutcome::of(&sandbox.labels) == Some(SetupOutcome::Skipped);
    (!skipped).then(|| teammate.workdir.clone())
}
