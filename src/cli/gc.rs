//! `ralph-town gc`: remove `local` sandboxes whose `ttl` has passed (Daytona does this by
//! itself), and the unfinished entries a crashed run left in the state root. Every command
//! that lists `local` sandboxes removes expired ones anyway; this does it on demand, and is
//! the one place stale `staging/` and `trash/` entries go.

use super::args::GcArgs;
use super::{local_provider, out, print_json};
use crate::error::{Result, exit};
use crate::vocabulary::labels;

pub(super) async fn run(args: &GcArgs) -> Result<i32> {
    let provider = local_provider(Vec::new())?;
    let garbage = provider.collect_garbage(args.stale_after).await?;
    if args.json {
        print_json(&garbage)?;
        return Ok(exit::SUCCESS);
    }
    for expired in &garbage.expired {
        let sandbox = &expired.sandbox;
        let owner = match (
            sandbox.labels.get(labels::TEAM),
            sandbox.labels.get(labels::TEAMMATE),
        ) {
            (Some(team), Some(teammate)) => format!(" (`{teammate}` of team `{team}`)"),
            (Some(team), None) => format!(" (team `{team}`)"),
            _ => String::new(),
        };
        eprintln!(
            "removed `{}`{owner}: its ttl of {} minutes has passed",
            sandbox.id, expired.ttl_minutes
        );
    }
    for entry in &garbage.stale {
        eprintln!(
            "removed `{}`: left unfinished by a run that stopped",
            entry.path.display()
        );
    }
    out(&format!(
        "{} expired sandbox{}, {} stale entr{} removed\n",
        garbage.expired.len(),
        if garbage.expired.len() == 1 { "" } else { "es" },
        garbage.stale.len(),
        if garbage.stale.len() == 1 { "y" } else { "ies" },
    ))?;
    Ok(exit::SUCCESS)
}
