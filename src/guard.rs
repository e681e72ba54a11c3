//! The work-loss guard: before a running sandbox is removed or recreated, look inside it for
//! uncommitted changes and unpushed commits, so that no work is lost silently.

use std::sync::Arc;

use futures::StreamExt;

use crate::apply::check_work;
use crate::provider::Provider;

/// A sandbox about to be destroyed.
#[derive(Debug, Clone)]
pub struct Target {
    /// How the user knows it (`alice`, `bob#2`).
    pub display: String,
    pub id: String,
    pub running: bool,
}

/// What the guard found in one sandbox.
#[derive(Debug, Clone)]
pub enum Finding {
    /// Clean: nothing would be lost.
    Clean,
    /// Unsaved work, described for the user.
    Unsaved(String),
    /// Could not look (stopped, or the check failed): named, not blocking.
    NotChecked(String),
}

/// Checks every target concurrently; returns findings in the targets' order.
pub async fn inspect(
    provider: Arc<dyn Provider>,
    targets: &[Target],
    parallel: usize,
) -> Vec<(Target, Finding)> {
    let mut found: Vec<(usize, Target, Finding)> =
        futures::stream::iter(targets.iter().cloned().enumerate())
            .map(|(index, target)| {
                let provider = provider.clone();
                async move {
                    let finding = if !target.running {
                        Finding::NotChecked("sandbox is not running".to_string())
                    } else {
                        match check_work(provider.as_ref(), &target.id).await {
                            Ok(check) if check.is_clean() => Finding::Clean,
                            Ok(check) => Finding::Unsaved(check.describe()),
                            Err(error) => Finding::NotChecked(error),
                        }
                    };
                    (index, target, finding)
                }
            })
            .buffer_unordered(parallel.max(1))
            .collect()
            .await;
    found.sort_by_key(|(index, ..)| *index);
    found
        .into_iter()
        .map(|(_, target, finding)| (target, finding))
        .collect()
}

/// The refusal text when any target has unsaved work, else `None`.
pub fn refusal(findings: &[(Target, Finding)]) -> Option<String> {
    let unsaved: Vec<String> = findings
        .iter()
        .filter_map(|(target, finding)| match finding {
            Finding::Unsaved(description) => Some(format!(
                "`{}` ({}): {}",
                target.display, target.id, description
            )),
            _ => None,
        })
        .collect();
    if unsaved.is_empty() {
        return None;
    }
    Some(format!(
        "refusing to delete sandboxes with unsaved work:\n  {}",
        unsaved.join("\n  ")
    ))
}
