//! `ralph-town start`, `stop`, `restart` and `wait`: the teammates' commands, not their
//! sandboxes. Thin: each is one call of `workflow`, then a table or JSON.

use std::time::Duration;

use super::args::{CommandArgs, WaitArgs};
use super::{load_team, print_json, provider_for, table};
use crate::error::{Error, Result, exit};
use crate::provider::Provider;
use crate::team::Team;
use crate::workflow::{self, Act, WaitOutcome};

pub(super) async fn act(args: &CommandArgs, what: Act) -> Result<i32> {
    let team = load_team(&args.file, false)?;
    let provider = provider_for(team.provider, Some(&team))?;
    let outcomes = workflow::act(provider.as_ref(), &team, &args.teammates, what).await?;
    if args.json {
        print_json(&outcomes)?;
        return Ok(exit::SUCCESS);
    }
    for outcome in &outcomes {
        let now = outcome.status.as_ref().map_or_else(
            || "unknown".to_string(),
            super::super::runner::state::CommandStatus::describe,
        );
        println!("{}: {} ({now})", outcome.teammate, outcome.action);
    }
    Ok(exit::SUCCESS)
}

pub(super) async fn wait(args: &WaitArgs) -> Result<i32> {
    let team = load_team(&args.file, false)?;
    let provider = provider_for(team.provider, Some(&team))?;
    wait_and_report(
        provider.as_ref(),
        &team,
        &args.teammates,
        args.timeout,
        args.json,
    )
    .await
}

/// Waits as `wait` does and prints the result; the exit code: 0 when every command succeeded,
/// 1 when one did not, 124 when the deadline passed.
pub(super) async fn wait_and_report(
    provider: &dyn Provider,
    team: &Team,
    teammates: &[String],
    timeout: Option<u64>,
    json: bool,
) -> Result<i32> {
    let outcome =
        workflow::wait(provider, team, teammates, timeout.map(Duration::from_secs)).await?;
    if json {
        print_json(&outcome)?;
    } else {
        print!("{}", render(&outcome));
    }
    if outcome.timed_out {
        eprintln!(
            "ralph-town: the commands were not done after {}s",
            timeout.unwrap_or_default()
        );
        return Err(Error::Exit {
            code: exit::TIMED_OUT,
        });
    }
    if outcome.ok {
        Ok(exit::SUCCESS)
    } else {
        Err(Error::Exit {
            code: exit::FAILURE,
        })
    }
}

fn render(outcome: &WaitOutcome) -> String {
    let mut rows = vec![
        ["TEAMMATE", "COMMAND", "RUNS", "EXIT CODES"]
            .map(str::to_string)
            .to_vec(),
    ];
    for waited in &outcome.teammates {
        let codes: Vec<String> = waited
            .command
            .runs
            .iter()
            .map(|run| {
                run.exit_code
                    .map_or_else(|| "-".to_string(), |code| code.to_string())
            })
            .collect();
        rows.push(vec![
            waited.teammate.clone(),
            waited.command.describe(),
            waited.command.runs.len().to_string(),
            if codes.is_empty() {
                "-".to_string()
            } else {
                codes.join(",")
            },
        ]);
    }
    table(&rows)
}
