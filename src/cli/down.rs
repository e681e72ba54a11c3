//! `ralph-town down`: delete every sandbox of a team, after the work-loss guard.

use futures::StreamExt;
use serde::Serialize;

use super::args::DownArgs;
use super::{load_team, print_json, provider_for};
use crate::apply;
use crate::desired;
use crate::error::{Error, Result, exit};
use crate::guard::{self, Finding, Target};
use crate::plan::labels;
use crate::provider::{ProviderKind, SandboxState};

/// One deleted (or not) sandbox, for `down --json`.
#[derive(Serialize)]
struct Removed {
    teammate: String,
    id: String,
    ok: bool,
    error: Option<String>,
}

pub(super) async fn run(args: &DownArgs) -> Result<i32> {
    let (team_name, provider) = match &args.team {
        Some(name) => (
            name.clone(),
            provider_for(args.provider.unwrap_or(ProviderKind::Local), None)?,
        ),
        None => {
            let team = load_team(&args.file, false)?;
            let provider = provider_for(team.provider, Some(&team))?;
            (team.name, provider)
        }
    };
    let sandboxes = desired::observe(provider.as_ref(), &team_name).await?;
    let teammate_of = |labels: &crate::provider::Labels, name: &str| {
        labels
            .get(labels::TEAMMATE)
            .cloned()
            .unwrap_or_else(|| name.to_string())
    };
    if !args.force {
        let targets: Vec<Target> = sandboxes
            .iter()
            .map(|sandbox| Target {
                display: teammate_of(&sandbox.labels, &sandbox.name),
                id: sandbox.id.clone(),
                running: sandbox.state == SandboxState::Started,
            })
            .collect();
        let findings = guard::inspect(provider.clone(), &targets, 8).await;
        for (target, finding) in &findings {
            if let Finding::NotChecked(reason) = finding {
                eprintln!(
                    "warning: `{}` not checked for unsaved work: {reason}",
                    target.display
                );
            }
        }
        if let Some(message) = guard::refusal(&findings) {
            return Err(Error::Refused {
                message,
                hint: Some(
                    "push or commit the work first, or pass `--force` to discard it".to_string(),
                ),
            });
        }
    }

    let removed: Vec<Removed> = futures::stream::iter(&sandboxes)
        .map(|sandbox| {
            let provider = provider.clone();
            async move {
                let outcome = apply::delete(provider.as_ref(), &sandbox.id).await;
                Removed {
                    teammate: teammate_of(&sandbox.labels, &sandbox.name),
                    id: sandbox.id.clone(),
                    ok: outcome.is_ok(),
                    error: outcome.err(),
                }
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let failed = removed.iter().filter(|entry| !entry.ok).count();
    if args.json {
        print_json(&removed)?;
    } else {
        for entry in &removed {
            match &entry.error {
                None => eprintln!("removed `{}` ({})", entry.teammate, entry.id),
                Some(error) => eprintln!(
                    "failed to remove `{}` ({}): {error}",
                    entry.teammate, entry.id
                ),
            }
        }
        let count = removed.len() - failed;
        println!(
            "team `{team_name}`: {count} sandbox{} removed",
            if count == 1 { "" } else { "es" }
        );
    }
    if failed > 0 {
        return Err(Error::ChangesFailed {
            failed,
            total: removed.len(),
        });
    }
    Ok(exit::SUCCESS)
}
