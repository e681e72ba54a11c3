//! `ralph-town down`: show what goes (the plan form of `plan --destroy`), ask on a terminal,
//! then delete after the work-loss guard.
//!
//! Without a terminal there is no one to ask, and running `down` is the confirmation (compose
//! does the same); the guard still protects unsaved work. A refusal with `--json` still
//! answers on stdout, so a script learns why nothing was deleted.

use std::sync::Arc;

use super::args::DownArgs;
use super::{confirm, load_team, out, print_json, provider_for};
use crate::error::{Error, Result, exit};
use crate::progress::SilentReporter;
use crate::provider::{Provider, ProviderKind};
use crate::team::Team;
use crate::workflow::{self, DownOptions, DownOutcome, PreparedDown, Switches};

pub(super) async fn run(args: &DownArgs) -> Result<i32> {
    let (team_name, team, provider) = open(args)?;
    let prepared = workflow::prepare_down(
        provider.as_ref(),
        &team_name,
        team.as_ref(),
        args.older_than,
        args.adopt,
    )
    .await?;
    eprint!("{}", prepared.plan.render());
    if !prepared.foreign.is_empty() {
        eprintln!(
            "warning: {} sandbox{} of team `{team_name}` made from another team file {} left alone ({}); `--adopt` deletes them too",
            prepared.foreign.len(),
            if prepared.foreign.len() == 1 {
                ""
            } else {
                "es"
            },
            if prepared.foreign.len() == 1 {
                "is"
            } else {
                "are"
            },
            prepared.foreign.join(", ")
        );
    }
    if !prepared.plan.has_changes() {
        return finish(args, &team_name, &empty(&prepared));
    }
    if !args.yes && confirm("Remove the sandboxes above?") == Some(false) {
        let refusal = prepared.not_confirmed("nothing was removed", None);
        return refuse(args, &prepared, refusal);
    }
    let options = DownOptions {
        destructive_allowed: true,
        force: args.force,
        parallel: args.parallel.into(),
        switches: Switches::CLI,
    };
    // Warnings only: deleting shows no progress, the lines below say what happened.
    let reporter = SilentReporter::new(Box::new(std::io::stderr()));
    match workflow::apply_down(provider, &prepared, &options, &reporter).await {
        Ok(outcome) => finish(args, &team_name, &outcome),
        Err(refusal) => refuse(args, &prepared, refusal),
    }
}

/// The team named by `--team` or the file, and its provider.
fn open(args: &DownArgs) -> Result<(String, Option<Team>, Arc<dyn Provider>)> {
    Ok(if let Some(name) = &args.team {
        (
            name.clone(),
            None,
            provider_for(args.provider.unwrap_or(ProviderKind::Local), None)?,
        )
    } else {
        let team = load_team(&args.file, false)?;
        let provider = provider_for(team.provider, Some(&team))?;
        (team.name.clone(), Some(team), provider)
    })
}

fn empty(prepared: &PreparedDown) -> DownOutcome {
    DownOutcome {
        team: prepared.team.clone(),
        plan: prepared.plan.clone(),
        removed: Vec::new(),
        refused: None,
    }
}

/// Reports what was removed; exits non-zero when a delete failed.
fn finish(args: &DownArgs, team: &str, outcome: &DownOutcome) -> Result<i32> {
    let failed = outcome.failed();
    if args.json {
        print_json(outcome)?;
    } else {
        for entry in &outcome.removed {
            match &entry.error {
                None => eprintln!("removed `{}` ({})", entry.teammate, entry.id),
                Some(error) => eprintln!(
                    "failed to remove `{}` ({}): {error}",
                    entry.teammate, entry.id
                ),
            }
        }
        let count = outcome.removed.len() - failed;
        out(&format!(
            "team `{team}`: {count} sandbox{} removed\n",
            if count == 1 { "" } else { "es" }
        ))?;
    }
    if failed > 0 {
        return Err(Error::ChangesFailed {
            failed,
            total: outcome.removed.len(),
        });
    }
    Ok(exit::SUCCESS)
}

/// Nothing was deleted: the JSON answer says why, the error says it to people (exit 4).
fn refuse(args: &DownArgs, prepared: &PreparedDown, refusal: workflow::Refusal) -> Result<i32> {
    if args.json {
        print_json(&DownOutcome::refused(prepared, refusal.clone()))?;
    }
    Err(refusal.into())
}
