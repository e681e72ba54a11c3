//! Teammates at work: starting, stopping and probing each teammate's command in its sandbox.
//!
//! A command runs under the runner (`setup/templates/runner.sh.j2`), which is sent to a process
//! session of the sandbox ([`SESSION`]) so that it outlives this process on every provider; the
//! runner keeps restarting it as the team file says and records each run in a state file that
//! [`probe_in`] reads. Starting writes the task and the runner into the sandbox, then labels the
//! sandbox with the command's hash (`ralph-town/command`) so that the planner sees a change.
//! Stopping asks the runner, through a file, to end its command. No secret value passes through
//! here: the command reads the teammate's secrets from the files setup wrote.

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::Serialize;

use super::work_state::{self, CommandStatus, Probe};
use super::{TeammateSandbox, teammate_sandboxes};
use crate::error::{Error, Result};
use crate::provider::{ExecRequest, Provider, ProviderError, SessionExecRequest};
use crate::setup::{self, WORK_DIR};
use crate::team::{self, Team, Teammate};
use crate::vocabulary::labels;

/// The process session every teammate's runner is sent to.
pub const SESSION: &str = "ralph-town-work";
/// How the runner is invoked in the session; its commands are found by this text.
pub(crate) const RUNNER: &str = "bash \"$HOME/.ralph-town/work/runner.sh\"";
/// How long a stop waits for the runner to record its end before ending its session.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the probe may run.
const PROBE_TIMEOUT: Duration = Duration::from_secs(60);
/// Teammates worked on at once: a probe is a few round trips of waiting, so a team of 64 is
/// probed in one wave.
const PARALLEL: usize = 64;

/// What a start, stop or restart did for one teammate.
#[derive(Debug, Clone, Serialize)]
pub struct CommandOutcome {
    pub teammate: String,
    pub sandbox_id: String,
    /// `started`, `already running`, `stopped`, `not running`, `no command`.
    pub action: String,
    /// The command afterwards (`None` when the probe failed).
    pub status: Option<CommandStatus>,
}

/// Probes the teammate's command and repository in sandbox `id`.
pub(crate) async fn probe_in(
    provider: &dyn Provider,
    id: &str,
    teammate: &Teammate,
) -> Result<Probe> {
    let mut command = format!(
        "bash -c {} ralph-town-work",
        setup::shell::quote(setup::work_probe_script())
    );
    for argument in [
        teammate.workdir.as_str(),
        teammate.base_branch.as_deref().unwrap_or_default(),
        teammate.branch.as_str(),
    ] {
        command.push(' ');
        command.push_str(&setup::shell::quote(argument));
    }
    let request = ExecRequest {
        command,
        timeout: Some(PROBE_TIMEOUT),
        ..ExecRequest::default()
    };
    let output = provider.exec(id, &request).await?;
    work_state::parse_probe(&output.output).ok_or_else(|| {
        Error::Provider(ProviderError::Api {
            status: None,
            message: format!(
                "the work probe of `{}` did not finish (exit code {}): {}",
                teammate.name,
                output.exit_code,
                output.output.lines().last().unwrap_or_default()
            ),
            retryable: true,
        })
    })
}

/// Starts the teammate's command in sandbox `id` unless its runner is at work; returns the
/// action taken. Writes the task and the runner, sends the runner to the session and labels the
/// sandbox with the command's hash.
pub(crate) async fn start_in(
    provider: &dyn Provider,
    id: &str,
    teammate: &Teammate,
) -> Result<&'static str> {
    let Some(work) = &teammate.work else {
        return Ok("no command");
    };
    if probe_in(provider, id, teammate)
        .await?
        .command
        .state
        .is_active()
    {
        return Ok("already running");
    }
    let hash = team::command_hash(work);
    let runner = setup::render_runner(teammate, work, &hash)?;
    if work.tty {
        let found = provider
            .exec(
                id,
                &ExecRequest {
                    command: "command -v tmux".to_string(),
                    timeout: Some(PROBE_TIMEOUT),
                    ..ExecRequest::default()
                },
            )
            .await?;
        if found.exit_code != 0 {
            return Err(Error::NotFound {
                message: format!(
                    "`tmux` is not installed in the sandbox of `{}`, and its `tty = true` command runs inside tmux",
                    teammate.name
                ),
                hint: Some(
                    "install tmux in the sandbox's snapshot, or set `tty = false`".to_string(),
                ),
            });
        }
    }
    provider
        .upload(id, &format!("{WORK_DIR}/runner.sh"), runner.as_bytes())
        .await?;
    provider
        .upload(id, &format!("{WORK_DIR}/task.md"), work.task.as_bytes())
        .await?;
    let queued = format!("queued\t{}\t{hash}\n", unix_now());
    provider
        .upload(id, &format!("{WORK_DIR}/state"), queued.as_bytes())
        .await?;
    send_runner(provider, id).await?;
    set_command_label(provider, id, Some(&hash)).await?;
    Ok("started")
}

/// Sends the runner to the session, making the session when there is none (or its shell ended).
async fn send_runner(provider: &dyn Provider, id: &str) -> Result<()> {
    let request = SessionExecRequest {
        command: RUNNER.to_string(),
        run_async: true,
        suppress_input_echo: true,
    };
    match provider.create_session(id, SESSION).await {
        Ok(()) | Err(ProviderError::Conflict { .. }) => {}
        Err(error) => return Err(error.into()),
    }
    match provider.session_exec(id, SESSION, &request).await {
        Ok(_) => Ok(()),
        // The session's shell ended (a stop killed it): a new one.
        Err(ProviderError::Conflict { .. } | ProviderError::NotFound { .. }) => {
            let _ = provider.delete_session(id, SESSION).await;
            provider.create_session(id, SESSION).await?;
            provider.session_exec(id, SESSION, &request).await?;
            Ok(())
        }
        Err(error) => Err(error.into()),
    }
}

/// Stops the command in sandbox `id`: asks the runner to end it and waits for the runner to
/// record its end; a runner that does not answer in time loses its session. Returns whether
/// there was anything to stop.
pub(crate) async fn stop_in(
    provider: &dyn Provider,
    id: &str,
    teammate: &Teammate,
) -> Result<bool> {
    if !probe_in(provider, id, teammate)
        .await?
        .command
        .state
        .is_active()
    {
        return Ok(false);
    }
    provider
        .upload(id, &format!("{WORK_DIR}/stop"), b"stop\n")
        .await?;
    let deadline = Instant::now() + STOP_TIMEOUT;
    let mut pause = Duration::from_millis(200);
    while Instant::now() < deadline {
        tokio::time::sleep(pause).await;
        if !probe_in(provider, id, teammate)
            .await?
            .command
            .state
            .is_active()
        {
            return Ok(true);
        }
        pause = (pause * 2).min(Duration::from_secs(1));
    }
    // The runner did not answer: its session (and so the runner) ends, and its end is recorded.
    let _ = provider.delete_session(id, SESSION).await;
    let record = format!(
        "printf 'done\\t%s\\tstopped\\t137\\n' \"$(date +%s)\" >>\"$HOME\"/{WORK_DIR}/state"
    );
    provider
        .exec(
            id,
            &ExecRequest {
                command: record,
                ..ExecRequest::default()
            },
        )
        .await?;
    Ok(true)
}

/// Writes (or, with `None`, removes) the `ralph-town/command` label of sandbox `id`.
pub(crate) async fn set_command_label(
    provider: &dyn Provider,
    id: &str,
    hash: Option<&str>,
) -> Result<()> {
    let mut labels = provider.get(id).await?.labels;
    match hash {
        Some(hash) => labels.insert(labels::COMMAND.to_string(), hash.to_string()),
        None => labels.remove(labels::COMMAND),
    };
    provider.set_labels(id, &labels).await?;
    Ok(())
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |elapsed| elapsed.as_secs_f64())
}

/// Which of `team`'s teammates a command acts on: the named ones, else every teammate with a
/// `command`. A named teammate without one is an error.
pub(crate) fn selected<'a>(team: &'a Team, names: &[String]) -> Result<Vec<&'a Teammate>> {
    if names.is_empty() {
        return Ok(team
            .teammates
            .iter()
            .filter(|teammate| teammate.work.is_some())
            .collect());
    }
    names
        .iter()
        .map(|name| {
            let teammate = super::find_teammate(team, name)?;
            match teammate.work {
                Some(_) => Ok(teammate),
                None => Err(Error::NotFound {
                    message: format!("teammate `{name}` has no `command`"),
                    hint: Some("declare one in the team file (`command = \"...\"`)".to_string()),
                }),
            }
        })
        .collect()
}

/// What [`act`] does for each teammate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    Start,
    Stop,
    Restart,
}

/// Starts, stops or restarts the commands of the named teammates (every teammate with a
/// command when `names` is empty), all at once; the first failure is the error.
pub async fn act(
    provider: &dyn Provider,
    team: &Team,
    names: &[String],
    what: Act,
) -> Result<Vec<CommandOutcome>> {
    let chosen: Vec<String> = selected(team, names)?
        .into_iter()
        .map(|teammate| teammate.name.clone())
        .collect();
    let found = teammate_sandboxes(provider, team, &chosen).await?;
    let acts: Vec<_> = found
        .into_iter()
        .map(|found| async move {
            let id = found.sandbox.id.as_str();
            let teammate = &found.teammate;
            let action = match what {
                Act::Start => start_in(provider, id, teammate).await?,
                Act::Stop => match stop_in(provider, id, teammate).await? {
                    true => "stopped",
                    false => "not running",
                },
                Act::Restart => {
                    stop_in(provider, id, teammate).await?;
                    start_in(provider, id, teammate).await?
                }
            };
            let status = probe_in(provider, id, teammate)
                .await
                .ok()
                .map(|probe| probe.command);
            Ok(CommandOutcome {
                teammate: teammate.name.clone(),
                sandbox_id: found.sandbox.id.clone(),
                action: action.to_string(),
                status,
            })
        })
        .collect();
    let results: Vec<Result<CommandOutcome>> = futures::stream::iter(acts)
        .buffered(PARALLEL)
        .collect()
        .await;
    results.into_iter().collect()
}

/// The probe of every found teammate, in order, at most [`PARALLEL`] at once.
pub(crate) async fn probe_all(
    provider: &dyn Provider,
    found: &[TeammateSandbox],
) -> Vec<Result<Probe>> {
    // Futures made first: a stream mapping borrowed items makes a future that is not `Send`.
    let probes: Vec<_> = found
        .iter()
        .map(|found| probe_in(provider, &found.sandbox.id, &found.teammate))
        .collect();
    futures::stream::iter(probes)
        .buffered(PARALLEL)
        .collect()
        .await
}

/// One teammate's command and work, as `teammate_status` answers.
#[derive(Debug, Clone, Serialize)]
pub struct TeammateWork {
    pub teammate: String,
    pub sandbox_id: String,
    pub branch: String,
    pub command: CommandStatus,
    pub work: Option<work_state::WorkFields>,
}

/// The command and work of one teammate.
pub async fn teammate_work(
    provider: &dyn Provider,
    team: &Team,
    name: &str,
) -> Result<TeammateWork> {
    let found = super::teammate_sandbox(provider, team, name).await?;
    let probe = probe_in(provider, &found.sandbox.id, &found.teammate).await?;
    Ok(TeammateWork {
        teammate: found.teammate.name.clone(),
        sandbox_id: found.sandbox.id.clone(),
        branch: found.teammate.branch.clone(),
        command: probe.command,
        work: probe.work,
    })
}

/// The teammates `logs` shows: the named ones, else every teammate with a `command`.
pub fn logs_selection(team: &Team, names: &[String]) -> Result<Vec<String>> {
    Ok(selected(team, names)?
        .into_iter()
        .map(|teammate| teammate.name.clone())
        .collect())
}
