//! Teammates at work, team by team: which teammates a command acts on, starting, stopping and
//! restarting their commands, and probing many at once. The work in one sandbox is `runner`'s.

use futures::StreamExt;
use serde::Serialize;

use super::{TeammateSandbox, teammate_sandboxes};
use crate::error::{Error, Result};
use crate::provider::Provider;
use crate::runner::state::{CommandStatus, Probe};
use crate::runner::{probe_in, start_in, stop_in};
use crate::team::{Team, Teammate};

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
                Act::Stop => {
                    if stop_in(provider, id, teammate).await? {
                        "stopped"
                    } else {
                        "not running"
                    }
                }
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
        .buffered(usize::from(super::DEFAULT_PROBE_PARALLEL))
        .collect()
        .await;
    results.into_iter().collect()
}

/// The probe of every found teammate, in order, at most `parallel` at once.
pub(crate) async fn probe_all(
    provider: &dyn Provider,
    found: &[TeammateSandbox],
    parallel: usize,
) -> Vec<Result<Probe>> {
    // Futures made first: a stream mapping borrowed items makes a future that is not `Send`.
    let probes: Vec<_> = found
        .iter()
        .map(|found| probe_in(provider, &found.sandbox.id, &found.teammate))
        .collect();
    futures::stream::iter(probes)
        .buffered(parallel.max(1))
        .collect()
        .await
}

/// One teammate's command and work, as `teammate_status` answers.
#[derive(Debug, Clone, Serialize)]
pub struct TeammateWork {
    pub teammate: String,
    pub sandbox_id: String,
    pub branch: String,
    /// `None` for a teammate that declares no `command`: there is nothing to start, so no state.
    pub command: Option<CommandStatus>,
    pub work: Option<crate::runner::state::WorkFields>,
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
        command: command_of(&found.teammate, probe.command),
        work: probe.work,
    })
}

/// A teammate's command state as shown: none for a teammate that declares no `command`
/// (the probe says "not started", but there is nothing to start).
pub(crate) fn command_of(teammate: &Teammate, probed: CommandStatus) -> Option<CommandStatus> {
    teammate.work.is_some().then_some(probed)
}

/// The teammates `logs` shows: the named ones, else every teammate with a `command`.
pub fn logs_selection(team: &Team, names: &[String]) -> Result<Vec<String>> {
    Ok(selected(team, names)?
        .into_iter()
        .map(|teammate| teammate.name.clone())
        .collect())
}
