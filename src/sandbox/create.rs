//! `create`, `list` and `delete`: one sandbox at a time, by id (or name).

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt;
use serde::Serialize;

use super::{Result, SandboxError, SandboxSummary};
use crate::names::looks_like_credential;
use crate::provider::{CreateSandbox, Labels, Lifecycle, Provider};
use crate::vocabulary::labels;

/// How many deletes run at once.
const DELETE_PARALLELISM: usize = 8;

/// What to create.
#[derive(Debug, Clone, Default)]
pub(crate) struct CreateOptions {
    /// Display name; `None` lets the provider name it after its id.
    pub name: Option<String>,
    /// Snapshot; `None` is the provider's default.
    pub snapshot: Option<String>,
    /// Plain environment, visible through the provider's API.
    pub env: BTreeMap<String, String>,
    pub labels: Labels,
    /// Stop after this many idle minutes; 0 = never.
    pub auto_stop: Option<u32>,
    /// Delete after this many stopped minutes; 0 = as soon as it stops, negative = never.
    pub auto_delete: Option<i32>,
}

/// A created sandbox, and what the caller should know about how it was asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub(crate) struct Created {
    pub sandbox: SandboxSummary,
    /// E.g. a credential-like name given as plain environment.
    pub warnings: Vec<String>,
}

/// Creates a sandbox and waits until it is started.
pub(crate) async fn create(
    provider: &Arc<dyn Provider>,
    options: &CreateOptions,
) -> Result<Created> {
    for name in options.env.keys() {
        super::validate_env_name(name)?;
    }
    for key in options.labels.keys() {
        if key.is_empty() {
            return Err(SandboxError::invalid("a label has an empty key", None));
        }
    }
    let mut labels = options.labels.clone();
    labels
        .entry(labels::PURPOSE.to_string())
        .or_insert_with(|| "create".to_string());
    let request = CreateSandbox {
        name: options.name.clone().unwrap_or_default(),
        labels,
        env: options.env.clone(),
        snapshot: options.snapshot.clone(),
        lifecycle: Lifecycle {
            auto_stop: options.auto_stop,
            auto_archive: None,
            auto_delete: options.auto_delete,
        },
        ..CreateSandbox::default()
    };
    let sandbox = provider.create(&request).await?;
    let warnings = options
        .env
        .keys()
        .filter(|name| looks_like_credential(name))
        .map(|name| {
            format!(
                "`{name}` looks like a credential: environment given at create is visible through the provider's API; `ralph-town sandbox env set` keeps it out of the sandbox record"
            )
        })
        .collect();
    Ok(Created {
        sandbox: SandboxSummary::of(&sandbox),
        warnings,
    })
}

/// Every live sandbox carrying all of `labels` (all pages), oldest first.
pub(crate) async fn list(
    provider: &Arc<dyn Provider>,
    labels: &Labels,
) -> Result<Vec<SandboxSummary>> {
    let mut sandboxes = provider.list(labels).await?;
    sandboxes
        .sort_by(|left, right| (left.created_at, &left.id).cmp(&(right.created_at, &right.id)));
    Ok(sandboxes.iter().map(SandboxSummary::of).collect())
}

/// The outcome of deleting one sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub(crate) struct DeleteOutcome {
    pub id: String,
    pub deleted: bool,
    pub error: Option<String>,
}

/// Deletes each sandbox (a few at a time); one failure does not stop the others. Outcomes come
/// back in the order of `ids`.
pub(crate) async fn delete(provider: &Arc<dyn Provider>, ids: &[String]) -> Vec<DeleteOutcome> {
    // Owned ids: a stream over borrowed items makes a future that is not `Send`.
    futures::stream::iter(ids.to_vec())
        .map(|id| async move {
            match provider.delete(&id).await {
                Ok(()) => DeleteOutcome {
                    id: id.clone(),
                    deleted: true,
                    error: None,
                },
                Err(error) => DeleteOutcome {
                    id: id.clone(),
                    deleted: false,
                    error: Some(error.to_string()),
                },
            }
        })
        .buffered(DELETE_PARALLELISM)
        .collect()
        .await
}
