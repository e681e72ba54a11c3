//! A teammate's command in its sandbox: starting it under the runner, stopping it, probing it.
//!
//! A command runs under the runner (`setup/templates/runner.sh.j2`), which is sent to a process
//! session of the sandbox ([`SESSION`]) so that it outlives this process on every provider; the
//! runner keeps restarting it as the team file says and records each run in a state file that
//! [`probe_in`] reads ([`state`] parses it). Starting writes the task and the runner into the
//! sandbox, then labels the sandbox with the command's hash (`ralph-town/command`) so that the
//! planner sees a change. Stopping asks the runner, through a file, to end its command. No
//! secret value passes through here: the command reads the teammate's secrets from the files
//! setup wrote. One sandbox at a time; `workflow` acts on teams, `apply` on a plan's changes.

pub(crate) mod state;

use std::time::{Duration, Instant};

use self::state::Probe;
use crate::error::{Error, Result};
use crate::provider::{ExecRequest, Provider, ProviderError, SessionExecRequest};
use crate::setup::{self, WORK_DIR};
use crate::team::{self, Teammate};
use crate::vocabulary::labels;

/// The process session every teammate's runner is sent to.
pub const SESSION: &str = "ralph-town-work";
/// How the runner is invoked in the session; its commands are found by this text.
pub(crate) const RUNNER: &str = "bash \"$HOME/.ralph-town/work/runner.sh\"";
/// How long a stop waits for the runner to record its end before ending its session.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the probe may run.
const PROBE_TIMEOUT: Duration = Duration::from_secs(60);
/// Where the probe runs. It names every directory it reads itself, so any will do; an absolute
/// one spares the provider finding the sandbox's home (on Daytona, a request of its own before
/// each probe, which doubled what a `status` of a large team waited for).
const PROBE_CWD: &str = "/";

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
        cwd: Some(PROBE_CWD.to_string()),
        timeout: Some(PROBE_TIMEOUT),
        ..ExecRequest::default()
    };
    let output = provider.exec(id, &request).await?;
    state::parse_probe(&output.output).ok_or_else(|| {
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
        command_id: None,
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
