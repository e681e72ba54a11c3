//! `wait`: block until the teammates' commands are done for good (their runners recorded an end,
//! or are gone), then say who succeeded.
//!
//! It only looks: polling the work probe of each teammate, all at once, until every one is final
//! or the deadline passes. Nothing here prints or decides an exit code.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::teammate_sandboxes;
use super::work::{probe_all, selected};
use crate::error::Result;
use crate::provider::Provider;
use crate::runner::state::CommandStatus;
use crate::team::Team;

/// How often the commands are looked at.
const POLL: Duration = Duration::from_secs(1);

/// One teammate's command when `wait` returned.
#[derive(Debug, Clone, Serialize)]
pub struct Waited {
    pub teammate: String,
    pub sandbox_id: String,
    /// Done for good and its last run exited 0.
    pub ok: bool,
    pub command: CommandStatus,
}

/// The result of `wait`.
#[derive(Debug, Clone, Serialize)]
pub struct WaitOutcome {
    pub teammates: Vec<Waited>,
    /// Every command is done for good and succeeded.
    pub ok: bool,
    /// The deadline passed before every command was done.
    pub timed_out: bool,
}

/// Waits for the commands of the named teammates (every teammate with a command when `names` is
/// empty), at most `timeout`. A probe that fails is tried again at the next look.
pub async fn wait(
    provider: &dyn Provider,
    team: &Team,
    names: &[String],
    timeout: Option<Duration>,
) -> Result<WaitOutcome> {
    let chosen: Vec<String> = selected(team, names)?
        .into_iter()
        .map(|teammate| teammate.name.clone())
        .collect();
    let found = teammate_sandboxes(provider, team, &chosen).await?;
    let deadline = timeout.map(|timeout| Instant::now() + timeout);
    let mut last: Vec<Option<CommandStatus>> = vec![None; found.len()];
    loop {
        let pending: Vec<usize> = (0..found.len())
            .filter(|&index| {
                !last[index]
                    .as_ref()
                    .is_some_and(|status| status.state.is_final())
            })
            .collect();
        let looked = probe_all(
            provider,
            &pending
                .iter()
                .map(|&index| found[index].clone())
                .collect::<Vec<_>>(),
            usize::from(super::DEFAULT_PROBE_PARALLEL),
        )
        .await;
        let mut first_error = None;
        for (index, probe) in pending.iter().zip(looked) {
            match probe {
                Ok(probe) => last[*index] = Some(probe.command),
                Err(error) => first_error = first_error.or(Some(error)),
            }
        }
        let done = last.iter().all(|status| {
            status
                .as_ref()
                .is_some_and(|status| status.state.is_final())
        });
        let timed_out = deadline.is_some_and(|deadline| Instant::now() >= deadline);
        if done || timed_out {
            if let (Some(error), true) = (first_error, last.iter().any(Option::is_none)) {
                return Err(error);
            }
            let teammates: Vec<Waited> = found
                .iter()
                .zip(last)
                .map(|(found, status)| {
                    let command = status.unwrap_or_else(CommandStatus::not_started);
                    Waited {
                        teammate: found.teammate.name.clone(),
                        sandbox_id: found.sandbox.id.clone(),
                        ok: command.succeeded(),
                        command,
                    }
                })
                .collect();
            return Ok(WaitOutcome {
                ok: !timed_out && teammates.iter().all(|waited| waited.ok),
                timed_out: timed_out && !done,
                teammates,
            });
        }
        let pause = match deadline {
            Some(deadline) => POLL.min(deadline.saturating_duration_since(Instant::now())),
            None => POLL,
        };
        tokio::time::sleep(pause).await;
    }
}
