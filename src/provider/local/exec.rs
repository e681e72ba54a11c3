//! Commands in a `local` sandbox: `exec` (one command to completion, output collected) and the
//! interactive login shell behind `ssh`.
//!
//! The request's environment (where secrets travel) goes into the child's environment only:
//! never onto a command line, into an error message or onto disk.

use std::collections::BTreeMap;
use std::fs::File;

use super::bubblewrap::SANDBOX;
use super::invocation::Invocation;
use super::paths::{self, Location};
use super::process::{self, Background, Finished};
use super::process_env;
use super::store::{Metadata, SandboxDirs};
use super::{LocalProvider, blocking};
use crate::provider::{ExecOutput, ExecRequest, ProviderError, Result, SandboxState};

/// A started sandbox while a command starts in it. The shared root lock spans the state check,
/// the spawn and the registration of the command, so a stop or delete either comes first (and
/// the start is refused) or sees the command (and kills it): hold it until the command is
/// registered.
pub(super) struct Starting {
    pub lock: File,
    pub metadata: Metadata,
    /// The sandbox's environment, with the changes made since it was created.
    pub env: BTreeMap<String, String>,
}

impl LocalProvider {
    /// A command that opens an interactive login shell in the sandbox, in `cwd` (a sandbox
    /// path; the home when `None`). The caller sets stdio (usually inherited) and runs it.
    pub async fn shell_command(
        &self,
        id: &str,
        cwd: Option<&str>,
    ) -> Result<std::process::Command> {
        let invocation = self.shell_invocation(id, cwd).await?;
        invocation
            .command()
            .map_err(|error| start_error(id, &error))
    }

    /// The login shell of `shell_command`, with the environment changes made since create.
    async fn shell_invocation(&self, id: &str, cwd: Option<&str>) -> Result<Invocation> {
        let metadata = self.blocking_resolve(id).await?;
        ensure_started(&metadata)?;
        let dirs = self.store.dirs(&metadata);
        let location = self.working_directory(&metadata, &dirs, cwd)?;
        // The terminal type is the user's own terminal, not configuration of the host.
        let terminal = std::env::var("TERM").unwrap_or_else(|_| "xterm-256color".to_string());
        let (store, key) = (self.store.clone(), metadata.id.clone());
        let sandbox_env = blocking(move || store.env_changes(&key))
            .await?
            .apply(&metadata.env);
        let environment = process_env::environment(
            &self.launcher.home_value(&dirs),
            &metadata.user,
            &sandbox_env,
            &BTreeMap::new(),
            Some(&terminal),
        );
        let shell = process_env::login_shell();
        let program = [shell, "-l"];
        Ok(self
            .launcher
            .invocation(&dirs, &location, environment, &program, false, SANDBOX))
    }

    /// Runs `request` to completion in sandbox `id`.
    pub(crate) async fn run(&self, id: &str, request: &ExecRequest) -> Result<ExecOutput> {
        validate(request)?;
        let Starting {
            lock,
            metadata,
            env,
        } = self.starting(id).await?;
        let dirs = self.store.dirs(&metadata);
        let location = self.working_directory(&metadata, &dirs, request.cwd.as_deref())?;
        let environment = process_env::environment(
            &self.launcher.home_value(&dirs),
            &metadata.user,
            &env,
            &request.env,
            None,
        );
        let background = if self.launcher.is_isolated() {
            Background::Sandbox
        } else {
            Background::Group
        };
        let program = process::kept(process_env::COMMAND_SHELL, &request.command, background);
        let invocation =
            self.launcher
                .invocation(&dirs, &location, environment, &program, true, SANDBOX);
        let running = invocation
            .command()
            .and_then(|command| {
                let run_dir = self.store.run_dir(&metadata.id);
                process::spawn(command, &run_dir, self.launcher.owner())
            })
            .map_err(|error| start_error(&metadata.name, &error))?;
        drop(lock);
        // As on Daytona, a zero timeout means none.
        let timeout = request.timeout.filter(|limit| !limit.is_zero());
        let finished = running.finish(timeout).await.map_err(|error| {
            ProviderError::transport(format!(
                "lost a command in sandbox `{}`: {error}",
                metadata.name
            ))
        })?;
        match finished {
            Finished::Exited { exit_code, output } => Ok(ExecOutput::exec(
                exit_code,
                String::from_utf8_lossy(&output).into_owned(),
            )),
            Finished::TimedOut => Err(ProviderError::Timeout {
                message: format!(
                    "command in sandbox `{}` did not finish within {}",
                    metadata.name,
                    humantime::format_duration(request.timeout.unwrap_or_default())
                ),
            }),
        }
    }

    /// Sandbox `id`, started, held for starting a command in it.
    pub(super) async fn starting(&self, id: &str) -> Result<Starting> {
        let (store, key) = (self.store.clone(), id.to_string());
        let (lock, metadata, changes) = blocking(move || {
            let lock = store.lock(false)?;
            let metadata = store.resolve(&key)?;
            let changes = store.env_changes(&metadata.id)?;
            Ok((lock, metadata, changes))
        })
        .await?;
        ensure_started(&metadata)?;
        Ok(Starting {
            lock,
            env: changes.apply(&metadata.env),
            metadata,
        })
    }

    /// Resolves a working directory, refusing one inside the sandbox that does not exist. As
    /// on Daytona, whose daemon runs in the image's `WORKDIR`, none means the sandbox's work
    /// directory (that `WORKDIR`, else the home) and a relative one lies under it; `~` is the
    /// home.
    pub(super) fn working_directory(
        &self,
        metadata: &Metadata,
        dirs: &SandboxDirs,
        cwd: Option<&str>,
    ) -> Result<Location> {
        let workdir = self.image_workdir(metadata, dirs);
        let cwd = cwd.filter(|cwd| !cwd.is_empty());
        let path = match (cwd, workdir) {
            (None, workdir) => workdir.unwrap_or_default().to_string(),
            (Some(cwd), Some(workdir)) if !paths::is_anchored(cwd) => format!("{workdir}/{cwd}"),
            (Some(cwd), _) => cwd.to_string(),
        };
        let location = self.launcher.locate(dirs, &path);
        if let Some(host) = self.launcher.host_path(dirs, &location)
            && !host.is_dir()
        {
            return Err(ProviderError::Api {
                status: None,
                message: format!(
                    "working directory `{}` does not exist in sandbox `{}`",
                    cwd.unwrap_or(&path),
                    metadata.name
                ),
                retryable: false,
            });
        }
        Ok(location)
    }

    /// The image's `WORKDIR` of a sandbox, when the sandbox sees it as a directory: the build
    /// made it, but one in the home or `/tmp` may since have gone, and then the home serves.
    pub(super) fn image_workdir<'a>(
        &self,
        metadata: &'a Metadata,
        dirs: &SandboxDirs,
    ) -> Option<&'a str> {
        let workdir = metadata.workdir.as_deref()?;
        let location = self.launcher.locate(dirs, workdir);
        let exists = match (self.launcher.host_path(dirs, &location), &location) {
            (Some(host), _) => host.is_dir(),
            (None, Location::Elsewhere(path)) => {
                path.is_dir()
                    || (self.launcher.is_isolated()
                        && dirs
                            .layer
                            .as_ref()
                            .is_some_and(|layer| layer.holds_dir(path)))
            }
            // Without bubblewrap `/tmp` is the host's, where no build wrote.
            (None, Location::Home(_) | Location::Tmp(_)) => false,
        };
        exists.then_some(workdir)
    }
}

pub(super) fn start_error(sandbox: &str, error: &std::io::Error) -> ProviderError {
    ProviderError::transport(format!(
        "cannot start a command in sandbox `{sandbox}`: {error}"
    ))
}

pub(super) fn ensure_started(metadata: &Metadata) -> Result<()> {
    if metadata.state == SandboxState::Started {
        return Ok(());
    }
    Err(ProviderError::Conflict {
        message: format!(
            "sandbox `{}` is not started (state: {})",
            metadata.name, metadata.state
        ),
    })
}

/// Daytona's rules for an exec request, so that both providers refuse the same requests.
fn validate(request: &ExecRequest) -> Result<()> {
    let invalid = |message: String| ProviderError::Api {
        status: None,
        message,
        retryable: false,
    };
    if request.command.trim().is_empty() {
        return Err(invalid("the command is empty".to_string()));
    }
    if let Some(name) = request
        .env
        .keys()
        .find(|name| !crate::names::EnvName::is_valid(name))
    {
        return Err(invalid_name(name));
    }
    Ok(())
}

/// Daytona's 400 for a variable name outside `^[A-Za-z_][A-Za-z0-9_]*$`.
pub(super) fn invalid_name(name: &str) -> ProviderError {
    ProviderError::Api {
        status: None,
        message: format!("invalid environment variable name `{name}`"),
        retryable: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_requests_follow_daytona_rules() {
        let request = |command: &str, name: &str| ExecRequest {
            command: command.to_string(),
            env: [(name.to_string(), "value".to_string())].into(),
            ..ExecRequest::default()
        };
        assert!(validate(&request("true", "_OK_1")).is_ok());
        assert!(validate(&request("  ", "OK")).is_err());
        for name in ["1ABC", "A-B", "", "A B", "A=B"] {
            assert!(
                validate(&request("true", name)).is_err(),
                "{name:?} is not a valid name"
            );
        }
    }
}
