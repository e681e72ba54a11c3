//! `ralph-town status` (`ps`): the team's sandboxes, one line each, with each teammate's command
//! and work; `--watch` redraws until interrupted.

use std::time::Duration;

use tokio::signal::unix::{Signal, SignalKind, signal};

use super::args::StatusArgs;
use super::{age, load_team, print_json, provider_for, table};
use crate::error::{Result, exit};
use crate::workflow::{self, StatusRow};

/// How often `--watch` redraws.
const WATCH_EVERY: Duration = Duration::from_secs(2);

pub(super) async fn run(args: &StatusArgs) -> Result<i32> {
    let team = load_team(&args.file.file, false)?;
    let provider = provider_for(team.provider, Some(&team))?;
    // Listened for from the start: a Ctrl-C that lands while a frame is probed ends the watch
    // at once, the probe dropped (a listener made at each pause would miss it, and the default
    // action is gone).
    let mut interrupt = if args.watch {
        signal(SignalKind::interrupt()).ok()
    } else {
        None
    };
    loop {
        let probe = workflow::status_with(provider.as_ref(), &team, usize::from(args.parallel));
        let rows = tokio::select! {
            rows = probe => rows?,
            _ = interrupted(interrupt.as_mut()) => return Ok(exit::SUCCESS),
        };
        if args.json {
            print_json(&rows)?;
            return Ok(exit::SUCCESS);
        }
        let text = format!(
            "team `{}` on `{}`\n{}",
            team.name,
            team.provider,
            render(&rows)
        );
        if !args.watch {
            print!("{text}");
            return Ok(exit::SUCCESS);
        }
        // Clear the screen and draw from the top, as `watch` does.
        print!("\x1b[H\x1b[2J{text}");
        tokio::select! {
            _ = tokio::time::sleep(WATCH_EVERY) => {}
            _ = interrupted(interrupt.as_mut()) => return Ok(exit::SUCCESS),
        }
    }
}

/// The next SIGINT; never, when it could not be listened for (it then keeps its default action,
/// which ends the process).
async fn interrupted(interrupt: Option<&mut Signal>) {
    match interrupt {
        Some(interrupt) => {
            interrupt.recv().await;
        }
        None => std::future::pending().await,
    }
}

fn render(rows: &[StatusRow]) -> String {
    let mut lines = vec![
        [
            "TEAMMATE",
            "SANDBOX",
            "STATE",
            "BRANCH",
            "SETUP",
            "AGE",
            "COMMAND",
            "WORK",
            "LAST COMMIT",
        ]
        .map(str::to_string)
        .to_vec(),
    ];
    for row in rows {
        let dash = || "-".to_string();
        let name = if row.declared {
            row.teammate.clone()
        } else {
            format!("{} (orphan)", row.teammate)
        };
        let command = match (&row.command, &row.probe_error) {
            (Some(command), _) => command.describe(),
            (None, Some(_)) => "unknown".to_string(),
            (None, None) => dash(),
        };
        let work = row.work.as_ref().map_or_else(dash, |work| {
            let mut parts = Vec::new();
            if let Some(ahead) = work.ahead {
                parts.push(format!("{ahead} ahead"));
            }
            if let Some(dirty) = work.dirty {
                parts.push(format!("{dirty} dirty"));
            }
            parts.push(match (work.pushed, work.unpushed) {
                (Some(true), _) => "pushed".to_string(),
                (Some(false), Some(count)) => format!("{count} unpushed"),
                (Some(false), None) => "not all pushed".to_string(),
                (None, _) => "not pushed".to_string(),
            });
            parts.join(", ")
        });
        let last = row
            .work
            .as_ref()
            .and_then(|work| work.last_commit.clone())
            .map_or_else(dash, |subject| crate::names::shown(&subject, 50));
        lines.push(vec![
            name,
            row.sandbox_id.clone().unwrap_or_else(dash),
            row.state.clone(),
            row.branch.clone().unwrap_or_else(dash),
            row.setup.map(|setup| setup.to_string()).unwrap_or_else(|| {
                if row.sandbox_id.is_some() {
                    "pending".into()
                } else {
                    dash()
                }
            }),
            row.created_at.map(age).unwrap_or_else(dash),
            command,
            work,
            last,
        ]);
    }
    table(&lines)
}
