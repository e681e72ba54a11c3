//! Runs a [`Plan`] against a provider with bounded concurrency.
//!
//! Knows nothing about terminals: every step is reported through the [`Reporter`] trait, which
//! `progress.rs` implements for a TTY, plain lines and NDJSON, and tests implement by recording.
//! One teammate's failure never stops the others: each change ends in its own [`ChangeResult`].
//!
//! Invariants:
//! - Recreate is create-new-then-remove-old, so a failed create leaves the old sandbox running.
//! - Secrets travel only in the setup command's environment; any output shown is redacted.
//! - After an interrupt no new change starts; changes in flight run to their end.
//! - After a quota error no further create is attempted in the run: each would fail the same
//!   way, and a half-staffed team is better reported once than hammered.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::Serialize;

use crate::desired::DesiredTeammate;
use crate::plan::{Action, Change, Plan};
use crate::provider::{ExecRequest, Provider, ProviderError};
use crate::report::{Phase, Reporter};
use crate::secret::{Redactor, Secrets};
use crate::vocabulary::{SetupOutcome, labels};

/// Where the setup script lives inside a sandbox, relative to its home.
pub const SETUP_SCRIPT_PATH: &str = ".ralph-town/setup.sh";

/// How to apply.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Changes in flight at once.
    pub parallel: usize,
    /// Skip the setup script (sandboxes get `ralph-town/setup=skipped`).
    pub no_setup: bool,
    /// Names new sandboxes; a fresh random suffix per create unless a test pins one.
    pub team: String,
}

/// The outcome of one change.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeResult {
    pub teammate: String,
    pub display: String,
    pub action: Action,
    /// The sandbox the teammate has after the change (the new one after a create/recreate).
    pub sandbox_id: Option<String>,
    pub ok: bool,
    pub error: Option<String>,
    pub elapsed_ms: u128,
}

/// Applies every actionable change of `plan`. `desired` and `secrets` are keyed by teammate.
pub async fn apply(
    provider: Arc<dyn Provider>,
    plan: &Plan,
    desired: &BTreeMap<String, DesiredTeammate>,
    secrets: &BTreeMap<String, Secrets>,
    options: &ApplyOptions,
    reporter: &dyn Reporter,
    interrupted: &AtomicBool,
) -> Vec<ChangeResult> {
    // Owned changes: a stream over borrowed items makes a future that is not `Send`.
    let actionable: Vec<Change> = plan
        .changes
        .iter()
        .filter(|change| !matches!(change.action, Action::Keep | Action::Orphan))
        .cloned()
        .collect();
    for change in &actionable {
        reporter.phase(&change.display, &Phase::Queued, Duration::ZERO);
    }
    let empty = Secrets::new();
    let quota = Quota {
        exceeded: AtomicBool::new(false),
        creates: actionable
            .iter()
            .filter(|change| matches!(change.action, Action::Create | Action::Recreate))
            .count(),
    };
    let quota = &quota;
    let results = futures::stream::iter(actionable)
        .map(|change| {
            let provider = provider.clone();
            let desired = desired.get(&change.teammate);
            let secrets = secrets.get(&change.teammate).unwrap_or(&empty);
            async move {
                if interrupted.load(Ordering::SeqCst) {
                    return None;
                }
                let started = Instant::now();
                let step = Step {
                    provider: provider.as_ref(),
                    change: &change,
                    reporter,
                    started,
                    options,
                    quota,
                };
                let outcome = step.run(desired, secrets).await;
                let elapsed = started.elapsed();
                let (ok, error, sandbox_id) = match outcome {
                    Ok(id) => (true, None, id),
                    Err(error) => {
                        let error = Redactor::of(secrets).redact(&error);
                        reporter.phase(
                            &change.display,
                            &Phase::Failed {
                                error: error.clone(),
                            },
                            elapsed,
                        );
                        (false, Some(error), None)
                    }
                };
                Some(ChangeResult {
                    teammate: change.teammate.clone(),
                    display: change.display.clone(),
                    action: change.action,
                    sandbox_id,
                    ok,
                    error,
                    elapsed_ms: elapsed.as_millis(),
                })
            }
        })
        .buffer_unordered(options.parallel.max(1))
        .filter_map(|result| async move { result })
        .collect::<Vec<_>>()
        .await;
    reporter.finish();
    let mut results = results;
    results.sort_by(|a, b| a.display.cmp(&b.display));
    results
}

/// One change in flight.
struct Step<'a> {
    provider: &'a dyn Provider,
    change: &'a Change,
    reporter: &'a dyn Reporter,
    started: Instant,
    options: &'a ApplyOptions,
    quota: &'a Quota,
}

/// The run-wide quota state shared by every create.
struct Quota {
    /// Set by the first create that failed for quota.
    exceeded: AtomicBool,
    /// How many sandboxes the plan creates, for the message.
    creates: usize,
}

impl Step<'_> {
    fn phase(&self, phase: Phase) {
        self.reporter
            .phase(&self.change.display, &phase, self.started.elapsed());
    }

    /// Runs the change; returns the id of the teammate's sandbox afterwards.
    async fn run(
        &self,
        desired: Option<&DesiredTeammate>,
        secrets: &Secrets,
    ) -> Result<Option<String>, String> {
        let existing = self
            .change
            .sandbox
            .as_ref()
            .map(|sandbox| sandbox.id.clone());
        let result = match self.change.action {
            Action::Create | Action::Recreate => {
                let desired = desired.ok_or("the teammate is not in the team file")?;
                let id = self.create(desired, secrets).await?;
                if let Some(old) = existing {
                    self.phase(Phase::Removing);
                    delete(self.provider, &old).await?;
                }
                Some(id)
            }
            Action::Start => {
                self.phase(Phase::Starting);
                let id = existing.ok_or("no sandbox to start")?;
                self.provider.start(&id).await.map_err(message)?;
                if let (false, Some(desired)) = (self.change.lifecycle.is_empty(), desired) {
                    self.phase(Phase::Updating);
                    self.provider
                        .set_lifecycle(&id, &desired.teammate.lifecycle)
                        .await
                        .map_err(message)?;
                }
                Some(id)
            }
            Action::Update => {
                self.phase(Phase::Updating);
                let desired = desired.ok_or("the teammate is not in the team file")?;
                let id = existing.ok_or("no sandbox to update")?;
                self.provider
                    .set_lifecycle(&id, &desired.teammate.lifecycle)
                    .await
                    .map_err(message)?;
                Some(id)
            }
            Action::Remove => {
                self.phase(Phase::Removing);
                let id = existing.ok_or("no sandbox to remove")?;
                delete(self.provider, &id).await?;
                self.phase(Phase::Removed);
                return Ok(None);
            }
            Action::Keep | Action::Orphan => existing,
        };
        self.phase(Phase::Ready);
        Ok(result)
    }

    /// Creates the teammate's sandbox and runs its setup. A sandbox whose setup fails is kept
    /// (labelled `failed`, so the next `up` recreates it) for inspection.
    async fn create(&self, desired: &DesiredTeammate, secrets: &Secrets) -> Result<String, String> {
        self.phase(Phase::Creating);
        let suffix = random_suffix();
        let request = desired.create_request(&self.options.team, &suffix);
        if self.quota.exceeded.load(Ordering::SeqCst) {
            return Err(
                "not attempted: the provider's quota was exceeded earlier in this run".into(),
            );
        }
        let sandbox = match self.provider.create(&request).await {
            Ok(sandbox) => sandbox,
            Err(ProviderError::QuotaExceeded { message }) => {
                self.quota.exceeded.store(true, Ordering::SeqCst);
                let first_line = message.lines().next().unwrap_or_default();
                return Err(format!(
                    "quota exceeded: {first_line} (this plan creates {} sandbox{}; free capacity, \
                     e.g. `ralph-town down` an unused team, or raise the quota)",
                    self.quota.creates,
                    if self.quota.creates == 1 { "" } else { "es" }
                ));
            }
            Err(error) => return Err(message(error)),
        };
        let mut labels = sandbox.labels.clone();
        let outcome = if self.options.no_setup {
            labels.insert(
                labels::SETUP.to_string(),
                SetupOutcome::Skipped.as_str().to_string(),
            );
            Ok(())
        } else {
            self.phase(Phase::Setup);
            let outcome = run_setup(self.provider, &sandbox.id, desired, secrets).await;
            let value = match outcome {
                Ok(()) => SetupOutcome::Ok,
                Err(_) => SetupOutcome::Failed,
            };
            labels.insert(labels::SETUP.to_string(), value.as_str().to_string());
            outcome
        };
        self.provider
            .set_labels(&sandbox.id, &labels)
            .await
            .map_err(message)?;
        outcome.map(|()| sandbox.id)
    }
}

/// Uploads and runs the setup script with the secrets in its environment only.
async fn run_setup(
    provider: &dyn Provider,
    id: &str,
    desired: &DesiredTeammate,
    secrets: &Secrets,
) -> Result<(), String> {
    provider
        .upload(id, SETUP_SCRIPT_PATH, desired.script.as_bytes())
        .await
        .map_err(message)?;
    let request = ExecRequest {
        command: format!("bash \"$HOME\"/{SETUP_SCRIPT_PATH}"),
        cwd: None,
        env: secrets
            .iter()
            .map(|(name, value)| (name.clone(), value.expose().to_string()))
            .collect(),
        timeout: Some(Duration::from_secs(30 * 60)),
    };
    let output = provider.exec(id, &request).await.map_err(message)?;
    if output.exit_code == 0 {
        return Ok(());
    }
    let tail: Vec<&str> = output.output.lines().rev().take(5).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    Err(format!(
        "setup exited with {}: {}",
        output.exit_code,
        tail.join(" | ")
    ))
}

/// Deletes a sandbox; one that is already gone counts as deleted.
pub async fn delete(provider: &dyn Provider, id: &str) -> Result<(), String> {
    match provider.delete(id).await {
        Ok(()) | Err(ProviderError::NotFound { .. }) => Ok(()),
        Err(error) => Err(message(error)),
    }
}

fn message(error: ProviderError) -> String {
    error.to_string()
}

fn random_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..6].to_string()
}
