//! `down`: delete every sandbox of a team, after the work-loss guard.

use std::sync::Arc;

use futures::StreamExt;
use serde::Serialize;

use super::{Switches, guard_targets};
use crate::apply::{self, ChangeFailure};
use crate::error::{Error, Result};
use crate::guard::Target;
use crate::provider::{Labels, Provider};
use crate::report::Reporter;
use crate::team::Team;
use crate::vocabulary::labels;

/// How to tear down.
#[derive(Debug, Clone)]
pub struct DownOptions {
    /// The caller confirmed that every sandbox of the team may be deleted.
    pub destructive_allowed: bool,
    /// Delete even when a sandbox holds unsaved work.
    pub force: bool,
    /// Sandboxes checked by the guard at once.
    pub parallel: usize,
    pub switches: Switches,
}

/// One deleted (or not) sandbox, as `down --json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct Removed {
    pub teammate: String,
    pub id: String,
    pub ok: bool,
    pub error: Option<ChangeFailure>,
}

/// The result of `down`.
#[derive(Debug, Clone, Serialize)]
pub struct DownOutcome {
    pub team: String,
    /// One entry per sandbox of the team, in no particular order.
    pub removed: Vec<Removed>,
}

impl DownOutcome {
    /// How many sandboxes could not be deleted.
    pub fn failed(&self) -> usize {
        self.removed.iter().filter(|entry| !entry.ok).count()
    }
}

/// Deletes every sandbox labelled with `team`. Refuses (deleting nothing) when that was not
/// confirmed, and when a sandbox holds unsaved work unless `force`; sandboxes the guard could
/// not look into are warned about through `reporter`. A failed delete is in the outcome, not an
/// error.
pub async fn down(
    provider: Arc<dyn Provider>,
    team: &str,
    file: Option<&Team>,
    options: &DownOptions,
    reporter: &dyn Reporter,
) -> Result<DownOutcome> {
    let sandboxes = super::observe(provider.as_ref(), team).await?;
    if !sandboxes.is_empty() && !options.destructive_allowed {
        let names: Vec<String> = sandboxes
            .iter()
            .map(|sandbox| {
                format!(
                    "`{}` ({})",
                    teammate_of(&sandbox.labels, &sandbox.name),
                    sandbox.id
                )
            })
            .collect();
        return Err(Error::Refused {
            message: format!(
                "deleting the sandboxes of team `{team}` was not confirmed; nothing was deleted:\n  {}",
                names.join("\n  ")
            ),
            hint: Some(format!("pass {} to delete them", options.switches.confirm)),
        });
    }
    if !options.force {
        let targets: Vec<Target> = sandboxes
            .iter()
            .map(|sandbox| Target {
                display: teammate_of(&sandbox.labels, &sandbox.name),
                sandbox: sandbox.clone(),
                workdir: file.and_then(|team| super::declared_workdir(team, sandbox)),
            })
            .collect();
        guard_targets(
            &provider,
            &targets,
            options.parallel,
            &options.switches,
            reporter,
        )
        .await?;
    }
    // Owned items: a stream of borrowed sandboxes makes this future not `Send`.
    let removed = futures::stream::iter(sandboxes)
        .map(|sandbox| {
            let provider = provider.clone();
            async move {
                let outcome = apply::delete(provider.as_ref(), &sandbox.id).await;
                Removed {
                    teammate: teammate_of(&sandbox.labels, &sandbox.name),
                    id: sandbox.id,
                    ok: outcome.is_ok(),
                    error: outcome.err().map(|error| ChangeFailure {
                        kind: error.kind(),
                        message: error.to_string(),
                    }),
                }
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    Ok(DownOutcome {
        team: team.to_string(),
        removed,
    })
}

/// The teammate a sandbox belongs to: its label, else the sandbox name.
fn teammate_of(labels: &Labels, name: &str) -> String {
    labels
        .get(labels::TEAMMATE)
        .cloned()
        .unwrap_or_else(|| name.to_string())
}
