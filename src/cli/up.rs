//! `ralph-town up`: load -> plan -> show -> confirm -> guard and apply -> summary.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::args::UpArgs;
use super::plan::plan_options;
use super::{confirm, load_team, print_json, provider_for, signals, table};
use crate::apply::ChangeResult;
use crate::error::{Error, Result, exit};
use crate::progress::{self, ProgressMode};
use crate::report::Reporter as _;
use crate::workflow::{self, Switches, UpOptions, UpOutcome};

pub(super) async fn run(args: &UpArgs) -> Result<i32> {
    let team = load_team(&args.file.file, true)?;
    let provider = provider_for(team.provider, Some(&team))?;
    let host = |name: &str| std::env::var(name).ok();
    let mut prepared =
        workflow::prepare_up(provider.as_ref(), &team, &plan_options(&args.plan), &host).await?;
    if args.no_start {
        prepared = prepared.without_commands();
    }
    let warnings = workflow::orphan_warnings(&prepared.plan, &Switches::CLI);
    if args.progress == ProgressMode::Json {
        // Every line a JSON reader sees is an event, the plan first.
        eprintln!("{}", progress::plan_event(&prepared.plan));
        let events = progress::JsonReporter::new(Box::new(std::io::stderr()));
        for warning in &warnings {
            events.warn(warning);
        }
    } else {
        eprint!("{}", prepared.plan.render());
        for warning in &warnings {
            eprintln!("warning: {warning}");
        }
    }

    if !prepared.plan.has_changes() {
        if args.json {
            print_json(&UpOutcome {
                team: prepared.team,
                plan: prepared.plan,
                results: Vec::new(),
                ok: true,
            })?;
        }
        return wait_after(args, provider.as_ref(), &team).await;
    }
    let mut destructive_allowed = args.yes;
    if prepared.plan.is_destructive() && !args.yes {
        match confirm("Recreate or remove the sandboxes above?") {
            Some(true) => destructive_allowed = true,
            Some(false) => {
                return Err(Error::Refused {
                    message: "nothing was changed".to_string(),
                    hint: None,
                });
            }
            None => {
                return Err(Error::Refused {
                    message: "the plan recreates or removes sandboxes and there is no terminal to confirm on".to_string(),
                    hint: Some("pass `--yes` to apply destructive changes without asking".to_string()),
                });
            }
        }
    }

    let reporter = progress::reporter(args.progress, &prepared.acting_on());
    let interrupted = Arc::new(AtomicBool::new(false));
    let listener = signals::listener(interrupted.clone());
    let options = UpOptions {
        parallel: args.parallel.into(),
        no_setup: args.no_setup,
        no_start: args.no_start,
        destructive_allowed,
        force: args.force,
        switches: Switches::CLI,
    };
    let outcome = workflow::apply_up(
        provider,
        prepared,
        &options,
        reporter.as_ref(),
        &interrupted,
    )
    .await;
    listener.abort();
    let outcome = outcome?;

    if args.json {
        print_json(&outcome)?;
    } else {
        print!("{}", summary(&outcome.results));
    }
    if interrupted.load(Ordering::SeqCst) {
        eprintln!(
            "interrupted: changes not started were skipped; run `ralph-town up` again to converge"
        );
        return Err(Error::Interrupted);
    }
    let failed = outcome.failed();
    if failed > 0 {
        return Err(Error::ChangesFailed {
            failed,
            total: outcome.results.len(),
        });
    }
    wait_after(
        args,
        provider_for(team.provider, Some(&team))?.as_ref(),
        &team,
    )
    .await
}

/// `up --wait`: waits for the commands as `wait` does.
async fn wait_after(
    args: &UpArgs,
    provider: &dyn crate::provider::Provider,
    team: &crate::team::Team,
) -> Result<i32> {
    if !args.wait {
        return Ok(exit::SUCCESS);
    }
    super::work::wait_and_report(provider, team, &[], args.wait_timeout, args.json).await
}

/// The summary table printed after `up`.
fn summary(results: &[ChangeResult]) -> String {
    if results.is_empty() {
        return String::new();
    }
    let mut rows = vec![vec![
        "TEAMMATE".to_string(),
        "ACTION".to_string(),
        "SANDBOX".to_string(),
        "TIME".to_string(),
        "RESULT".to_string(),
    ]];
    for result in results {
        rows.push(vec![
            result.display.clone(),
            serde_json::to_value(result.action)
                .ok()
                .and_then(|value| value.as_str().map(str::to_string))
                .unwrap_or_default(),
            result.sandbox_id.clone().unwrap_or_else(|| "-".to_string()),
            format!("{:.1}s", result.elapsed_ms as f64 / 1000.0),
            match &result.error {
                None => "ok".to_string(),
                Some(error) => format!("failed: {error}"),
            },
        ]);
    }
    table(&rows)
}
