//! `ralph-town down`: delete every sandbox of a team, after the work-loss guard.

use super::args::DownArgs;
use super::{load_team, print_json, provider_for};
use crate::error::{Error, Result, exit};
use crate::progress::SilentReporter;
use crate::provider::ProviderKind;
use crate::workflow::{self, DownOptions, Switches};

pub(super) async fn run(args: &DownArgs) -> Result<i32> {
    let (team_name, team, provider) = match &args.team {
        Some(name) => (
            name.clone(),
            None,
            provider_for(args.provider.unwrap_or(ProviderKind::Local), None)?,
        ),
        None => {
            let team = load_team(&args.file, false)?;
            let provider = provider_for(team.provider, Some(&team))?;
            (team.name.clone(), Some(team), provider)
        }
    };
    // `down` is the command's whole purpose: running it is the confirmation.
    let options = DownOptions {
        destructive_allowed: true,
        force: args.force,
        parallel: 8,
        switches: Switches::CLI,
    };
    // Warnings only: deleting shows no progress, the lines below say what happened.
    let reporter = SilentReporter::new(Box::new(std::io::stderr()));
    let outcome = workflow::down(provider, &team_name, team.as_ref(), &options, &reporter).await?;
    let failed = outcome.failed();
    if args.json {
        print_json(&outcome.removed)?;
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
        println!(
            "team `{team_name}`: {count} sandbox{} removed",
            if count == 1 { "" } else { "es" }
        );
    }
    if failed > 0 {
        return Err(Error::ChangesFailed {
            failed,
            total: outcome.removed.len(),
        });
    }
    Ok(exit::SUCCESS)
}
