//! `ralph-town up`: load -> observe -> plan -> confirm -> guard -> apply -> summary.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;

use super::args::UpArgs;
use super::plan::plan_options;
use super::{confirm, load_team, print_json, provider_for, table};
use crate::apply::{self, ApplyOptions, ChangeResult};
use crate::desired;
use crate::error::{Error, Result, exit};
use crate::guard::{self, Finding, Target};
use crate::plan::{Action, Plan};
use crate::progress;
use crate::team;

/// The machine-readable result of `up --json`.
#[derive(Serialize)]
struct UpResult<'a> {
    team: &'a str,
    plan: &'a Plan,
    results: &'a [ChangeResult],
    ok: bool,
}

pub(super) async fn run(args: &UpArgs) -> Result<i32> {
    let team = load_team(&args.file.file, true)?;
    let provider = provider_for(team.provider, Some(&team))?;
    // Read every secret before anything is created, so a missing one changes nothing.
    let host = |name: &str| std::env::var(name).ok();
    let mut secrets = BTreeMap::new();
    for teammate in &team.teammates {
        secrets.insert(teammate.name.clone(), team::read_secrets(teammate, &host)?);
    }
    let options = plan_options(&args.plan);
    let (desired, _, plan) = desired::plan(provider.as_ref(), &team, &options).await?;
    eprint!("{}", plan.render());
    for change in plan.changes.iter().filter(|c| c.action == Action::Orphan) {
        eprintln!(
            "warning: sandbox of `{}` is not in the team file; it is kept (`--prune` removes it)",
            change.teammate
        );
    }

    if !plan.has_changes() {
        if args.json {
            print_json(&UpResult {
                team: &team.name,
                plan: &plan,
                results: &[],
                ok: true,
            })?;
        }
        return Ok(exit::SUCCESS);
    }
    if plan.is_destructive() && !args.yes {
        match confirm("Recreate or remove the sandboxes above?") {
            Some(true) => {}
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
    guard_destructive(&provider, &plan, args.force, args.parallel.into()).await?;

    let names: Vec<String> = plan
        .changes
        .iter()
        .filter(|change| !matches!(change.action, Action::Keep | Action::Orphan))
        .map(|change| change.display.clone())
        .collect();
    let reporter = progress::reporter(args.progress, &names);
    let interrupted = Arc::new(AtomicBool::new(false));
    let listener = interrupt_listener(interrupted.clone());
    let desired: BTreeMap<String, _> = desired
        .into_iter()
        .map(|entry| (entry.teammate.name.clone(), entry))
        .collect();
    let apply_options = ApplyOptions {
        parallel: args.parallel.into(),
        no_setup: args.no_setup,
        team: team.name.clone(),
    };
    let results = apply::apply(
        provider.clone(),
        &plan,
        &desired,
        &secrets,
        &apply_options,
        reporter.as_ref(),
        &interrupted,
    )
    .await;
    listener.abort();

    let failed = results.iter().filter(|result| !result.ok).count();
    if args.json {
        print_json(&UpResult {
            team: &team.name,
            plan: &plan,
            results: &results,
            ok: failed == 0,
        })?;
    } else {
        print!("{}", summary(&results));
    }
    if interrupted.load(Ordering::SeqCst) {
        eprintln!(
            "interrupted: changes not started were skipped; run `ralph-town up` again to converge"
        );
        return Err(Error::Interrupted);
    }
    if failed > 0 {
        return Err(Error::ChangesFailed {
            failed,
            total: results.len(),
        });
    }
    Ok(exit::SUCCESS)
}

/// Refuses when a sandbox about to be removed or recreated holds unsaved work.
async fn guard_destructive(
    provider: &Arc<dyn crate::provider::Provider>,
    plan: &Plan,
    force: bool,
    parallel: usize,
) -> Result<()> {
    let targets: Vec<Target> = plan
        .changes
        .iter()
        .filter(|change| matches!(change.action, Action::Remove | Action::Recreate))
        .filter_map(|change| {
            change.sandbox.as_ref().map(|sandbox| Target {
                display: change.display.clone(),
                id: sandbox.id.clone(),
                running: sandbox.running,
            })
        })
        .collect();
    if targets.is_empty() || force {
        return Ok(());
    }
    let findings = guard::inspect(provider.clone(), &targets, parallel).await;
    for (target, finding) in &findings {
        if let Finding::NotChecked(reason) = finding {
            eprintln!(
                "warning: `{}` not checked for unsaved work: {reason}",
                target.display
            );
        }
    }
    match guard::refusal(&findings) {
        None => Ok(()),
        Some(message) => Err(Error::Refused {
            message,
            hint: Some(
                "push or commit the work first, or pass `--force` to discard it".to_string(),
            ),
        }),
    }
}

/// Sets `flag` on Ctrl-C; a second Ctrl-C exits at once.
fn interrupt_listener(flag: Arc<AtomicBool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            flag.store(true, Ordering::SeqCst);
            eprintln!("interrupt: finishing changes in flight (Ctrl-C again to abort)");
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(exit::INTERRUPTED);
            }
        }
    })
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
