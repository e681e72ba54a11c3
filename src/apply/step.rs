//! One change in flight: create (adopting a sandbox another run made under the same name),
//! start, update, set up in place, remove; with the retries that are safe.
//!
//! What may be repeated after a failure whose outcome is unknown: reads, label writes, deletes
//! and the whole setup step (upload, run, label), because the setup script is idempotent and
//! runs under a lock inside the sandbox. A create is never repeated blindly: the provider adopts
//! a create whose answer was lost, and a name conflict means another run made the sandbox.

use std::time::{Duration, Instant};

use super::{ApplyError, ApplyOptions, Outcome, Quota};
use crate::desired::DesiredTeammate;
use crate::plan::{Action, Change};
use crate::provider::{CreateSandbox, ExecRequest, Provider, ProviderError, Sandbox, SandboxState};
use crate::report::{Phase, Reporter};
use crate::runner;
use crate::secret::Secrets;
use crate::setup;
use crate::vocabulary::{SetupOutcome, labels};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;

/// Attempts of a step that is safe to repeat, and the first pause between them (doubling).
const ATTEMPTS: u32 = 4;
const FIRST_PAUSE: Duration = Duration::from_millis(500);

/// Creates tried while the sandbox's name is held by a sandbox that is not this teammate's
/// (about 25 s of pauses in all).
const NAME_ATTEMPTS: u32 = 7;

/// How long a sandbox may take to reach `started` before its setup (a create made by another
/// run, a start in flight).
const START_TIMEOUT: Duration = Duration::from_secs(300);

/// How long the setup script may run.
const SETUP_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// The sandbox's own directory for ralph-town's files, relative to its home.
const STATE_DIR: &str = ".ralph-town";

pub(crate) struct Step<'a> {
    pub(crate) provider: &'a dyn Provider,
    pub(crate) change: &'a Change,
    pub(crate) reporter: &'a dyn Reporter,
    pub(crate) started: Instant,
    pub(crate) options: &'a ApplyOptions,
    pub(crate) quota: &'a Quota,
}

impl Step<'_> {
    fn phase(&self, phase: Phase) {
        self.reporter
            .phase(&self.change.display, &phase, self.started.elapsed());
    }

    /// Runs the change.
    pub(crate) async fn run(
        &self,
        desired: Option<&DesiredTeammate>,
        secrets: &Secrets,
    ) -> Outcome {
        let existing = self
            .change
            .sandbox
            .as_ref()
            .map(|sandbox| sandbox.id.clone());
        let outcome = match self.change.action {
            Action::Create | Action::Recreate => match desired {
                Some(desired) => self.create(desired, secrets, existing.as_deref()).await,
                None => Outcome::failed(None, ApplyError::InconsistentPlan("undeclared teammate")),
            },
            Action::Start | Action::Update => match (existing, desired) {
                (Some(id), Some(desired)) => self.in_place(&id, desired, secrets).await,
                (None, _) => Outcome::failed(None, ApplyError::InconsistentPlan("no sandbox")),
                (Some(id), None) => Outcome::failed(
                    Some(id),
                    ApplyError::InconsistentPlan("undeclared teammate"),
                ),
            },
            Action::Remove => {
                self.phase(Phase::Removing);
                let Some(id) = existing else {
                    return Outcome::failed(None, ApplyError::InconsistentPlan("no sandbox"));
                };
                return match delete(self.provider, &id).await {
                    Ok(()) => {
                        self.phase(Phase::Removed);
                        Outcome::done(None)
                    }
                    Err(error) => Outcome::failed(Some(id), error),
                };
            }
            Action::Keep | Action::Orphan | Action::Foreign => Outcome::done(existing),
        };
        if outcome.error.is_none() {
            self.phase(Phase::Ready);
        }
        outcome
    }

    /// Creates the teammate's sandbox (or adopts the one another run is making under the same
    /// name), sets it up, then removes the sandbox it replaces.
    async fn create(
        &self,
        desired: &DesiredTeammate,
        secrets: &Secrets,
        replacing: Option<&str>,
    ) -> Outcome {
        self.phase(Phase::Creating);
        if self.quota.exceeded.load(Ordering::SeqCst) {
            return Outcome::failed(None, ApplyError::NotAttempted);
        }
        let name = desired.sandbox_name(&self.options.team, replacing);
        let request = desired.create_request(&self.options.team, &name);
        let sandbox = match self.create_or_adopt(&request).await {
            Ok(sandbox) => sandbox,
            Err(error) => return Outcome::failed(None, error),
        };
        let setup = self.set_up(&sandbox.id, desired, secrets).await;
        if let Some(error) = setup {
            return Outcome::failed(Some(sandbox.id), error);
        }
        if let Some(old) = replacing {
            self.phase(Phase::Removing);
            if let Err(error) = delete(self.provider, old).await {
                return Outcome::failed(Some(sandbox.id), error);
            }
        }
        if let Some(error) = self.start_command(&sandbox.id, desired, false).await {
            return Outcome::failed(Some(sandbox.id), error);
        }
        Outcome::done(Some(sandbox.id))
    }

    /// Creates the sandbox `request` names, or adopts the one another run made under that name
    /// (its create won the name). A name whose holder is not listed as this teammate's is tried
    /// again for a while: the holder may be an older sandbox on its way out (a `down` racing
    /// this run), or one the provider's list has not caught up with yet.
    async fn create_or_adopt(&self, request: &CreateSandbox) -> Result<Sandbox, ApplyError> {
        let mut pause = FIRST_PAUSE;
        let mut attempt = 1;
        loop {
            match self.provider.create(request).await {
                Ok(sandbox) => return Ok(sandbox),
                Err(ProviderError::QuotaExceeded { message }) => {
                    self.quota.exceeded.store(true, Ordering::SeqCst);
                    let message = message.lines().next().unwrap_or_default().to_string();
                    let creates = self.quota.creates;
                    return Err(ApplyError::QuotaExceeded { message, creates });
                }
                Err(ProviderError::Conflict { .. }) => {
                    let listed = repeat(|| self.provider.list(&request.labels)).await?;
                    if let Some(sandbox) = listed
                        .into_iter()
                        .find(|sandbox| sandbox.name == request.name)
                    {
                        return Ok(sandbox);
                    }
                }
                Err(error) => return Err(error.into()),
            }
            if attempt == NAME_ATTEMPTS {
                return Err(ProviderError::Conflict {
                    message: format!(
                        "the name `{}` is taken by a sandbox that is not this teammate's",
                        request.name
                    ),
                }
                .into());
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(5));
            attempt += 1;
        }
    }

    /// Start, update and set up again in place.
    async fn in_place(&self, id: &str, desired: &DesiredTeammate, secrets: &Secrets) -> Outcome {
        if self.change.action == Action::Start {
            self.phase(Phase::Starting);
            if let Err(error) = self.provider.start(id).await {
                return Outcome::failed(Some(id.to_string()), error);
            }
        }
        if !self.change.lifecycle.is_empty() {
            self.phase(Phase::Updating);
            // Unset timers go back to their defaults, as the plan said.
            let lifecycle = desired.teammate.lifecycle.or_default();
            if let Err(error) = repeat(|| self.provider.set_lifecycle(id, &lifecycle)).await {
                return Outcome::failed(Some(id.to_string()), error);
            }
        }
        if !self.change.env.is_empty() {
            self.phase(Phase::Updating);
            if let Err(error) = self.change_env(id, desired).await {
                return Outcome::failed(Some(id.to_string()), error);
            }
        }
        if self.change.relabel {
            let relabelled = async {
                let sandbox = repeat(|| self.provider.get(id)).await?;
                let mut labels = sandbox.labels;
                labels.extend(desired.labels(&self.options.team));
                repeat(|| self.provider.set_labels(id, &labels)).await
            };
            if let Err(error) = relabelled.await {
                return Outcome::failed(Some(id.to_string()), error);
            }
        }
        if self.change.setup
            && let Some(error) = self.set_up(id, desired, secrets).await
        {
            return Outcome::failed(Some(id.to_string()), error);
        }
        if (self.change.command || self.change.setup || self.resumes(id, desired).await)
            && let Some(error) = self.start_command(id, desired, self.change.command).await
        {
            return Outcome::failed(Some(id.to_string()), error);
        }
        Outcome::done(Some(id.to_string()))
    }

    /// Applies the plan's environment changes in place: the provider's environment (what new
    /// processes get) and the `env.sh` login shells and the teammate's command source.
    async fn change_env(&self, id: &str, desired: &DesiredTeammate) -> Result<(), ProviderError> {
        let wanted = &desired.teammate.env;
        let changed: BTreeSet<&str> = self
            .change
            .env
            .iter()
            .filter_map(|change| change.field.strip_prefix("env "))
            .collect();
        let set: BTreeMap<String, String> = wanted
            .iter()
            .filter(|(name, _)| changed.contains(name.as_str()))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        let unset: Vec<String> = changed
            .iter()
            .filter(|name| !wanted.contains_key(**name))
            .map(std::string::ToString::to_string)
            .collect();
        repeat(|| self.provider.set_env(id, &set, &unset)).await?;
        let file = setup::env_file(wanted);
        repeat(|| self.provider.upload(id, setup::ENV_FILE, file.as_bytes())).await
    }

    /// Whether a sandbox that was stopped while its command ran gets the command again: its
    /// runner is gone without having finished (a command that ended stays ended).
    async fn resumes(&self, id: &str, desired: &DesiredTeammate) -> bool {
        if self.change.action != Action::Start || desired.teammate.work.is_none() {
            return false;
        }
        matches!(
            runner::probe_in(self.provider, id, &desired.teammate).await,
            Ok(probe) if probe.command.state == runner::state::RunState::Lost
        )
    }

    /// Starts the teammate's command once its sandbox is set up; with `replace`, stops the one
    /// that runs first (a changed command), or only stops it when no command is declared any
    /// more. Nothing starts without setup or with `--no-start`.
    async fn start_command(
        &self,
        id: &str,
        desired: &DesiredTeammate,
        replace: bool,
    ) -> Option<ApplyError> {
        let teammate = &desired.teammate;
        if self.options.no_start || self.options.no_setup {
            return None;
        }
        if teammate.work.is_none() && !replace {
            return None;
        }
        self.phase(Phase::Command);
        let failed = |error: crate::error::Error| ApplyError::CommandFailed {
            message: error.to_string(),
        };
        if replace && let Err(error) = runner::stop_in(self.provider, id, teammate).await {
            return Some(failed(error));
        }
        let started = match teammate.work {
            Some(_) => runner::start_in(self.provider, id, teammate)
                .await
                .map(|_| ()),
            None => runner::set_command_label(self.provider, id, None).await,
        };
        started.err().map(failed)
    }

    /// Runs setup once the sandbox has started (or records that it was skipped), then writes the
    /// outcome label. A failure whose outcome is unknown is retried: the script is idempotent.
    async fn set_up(
        &self,
        id: &str,
        desired: &DesiredTeammate,
        secrets: &Secrets,
    ) -> Option<ApplyError> {
        let sandbox = match wait_started(self.provider, id).await {
            Ok(sandbox) => sandbox,
            Err(error) => return Some(error.into()),
        };
        let (outcome, failure) = if self.options.no_setup {
            (SetupOutcome::Skipped, None)
        } else {
            self.phase(Phase::Setup);
            match run_setup(self.provider, id, desired, secrets).await {
                Ok(()) => (SetupOutcome::Ok, None),
                Err(error @ ApplyError::SetupFailed { .. }) => (SetupOutcome::Failed, Some(error)),
                // The script may not have run: no outcome to record.
                Err(error) => return Some(error),
            }
        };
        let mut labels = sandbox.labels;
        labels.insert(labels::SETUP.to_string(), outcome.as_str().to_string());
        if let Err(error) = repeat(|| self.provider.set_labels(id, &labels)).await {
            return Some(error.into());
        }
        failure
    }
}

/// Uploads the setup script under a name of its own (never over a script another run may be
/// executing) and runs it with the secrets in its environment only, under the sandbox's setup
/// lock where `flock` exists. A run whose outcome is unknown is retried from the upload: the
/// command moves the script away when it ends, so a run whose answer was lost has consumed it.
async fn run_setup(
    provider: &dyn Provider,
    id: &str,
    desired: &DesiredTeammate,
    secrets: &Secrets,
) -> Result<(), ApplyError> {
    let text = desired
        .script()
        .map_err(|error| ApplyError::Setup(Box::new(error)))?;
    let script = format!("{STATE_DIR}/setup-{}.sh", uuid::Uuid::new_v4().simple());
    // The plain environment is written here, not by the script, so that a change of `env`
    // can be applied in place later without running setup again.
    let env = setup::env_file(&desired.teammate.env);
    repeat(|| provider.upload(id, setup::ENV_FILE, env.as_bytes())).await?;
    let request = ExecRequest {
        no_ssh_fallback: false,
        command: format!(
            "d=\"$HOME\"/{STATE_DIR}; s=\"$HOME\"/{script}; \
             if command -v flock >/dev/null 2>&1; then flock \"$d/setup.lock\" bash \"$s\"; \
             else bash \"$s\"; fi; status=$?; mv -f \"$s\" \"$d/setup.sh\"; exit $status"
        ),
        cwd: None,
        env: secrets
            .iter()
            .map(|(name, value)| (name.clone(), value.expose().to_string()))
            .collect(),
        timeout: Some(SETUP_TIMEOUT),
    };
    let output = repeat(|| async {
        provider.upload(id, &script, text.as_bytes()).await?;
        provider.exec(id, &request).await
    })
    .await?;
    if output.exit_code == 0 {
        return Ok(());
    }
    let tail: Vec<&str> = output.output.lines().rev().take(5).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    Err(ApplyError::SetupFailed {
        exit_code: output.exit_code,
        tail: tail.join(" | "),
    })
}

/// Waits until the sandbox is `started`, starting it when it is stopped.
async fn wait_started(provider: &dyn Provider, id: &str) -> Result<Sandbox, ProviderError> {
    let deadline = Instant::now() + START_TIMEOUT;
    let mut pause = Duration::from_millis(100);
    loop {
        let sandbox = repeat(|| provider.get(id)).await?;
        match &sandbox.state {
            SandboxState::Started => return Ok(sandbox),
            SandboxState::Stopped | SandboxState::Archived => return provider.start(id).await,
            // Deleted meanwhile (a `down` racing this run): nothing to wait for.
            SandboxState::Destroying | SandboxState::Destroyed => {
                return Err(ProviderError::NotFound {
                    what: format!("sandbox `{}`", sandbox.name),
                });
            }
            state if state.is_failed() => {
                return Err(ProviderError::Api {
                    status: None,
                    message: format!(
                        "sandbox `{}` is in state `{state}`: {}",
                        sandbox.name,
                        sandbox.error_reason.as_deref().unwrap_or("no reason given")
                    ),
                    retryable: false,
                });
            }
            state if Instant::now() >= deadline => {
                return Err(ProviderError::Timeout {
                    message: format!(
                        "sandbox `{}` is still `{state}` after {}s",
                        sandbox.name,
                        START_TIMEOUT.as_secs()
                    ),
                });
            }
            _ => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
        }
    }
}

/// Deletes a sandbox; one that is already gone counts as deleted, and one in transition (the
/// provider answers a conflict) is waited for and deleted again.
pub(crate) async fn delete(provider: &dyn Provider, id: &str) -> Result<(), ProviderError> {
    let mut pause = FIRST_PAUSE;
    let mut conflicts = 0;
    loop {
        match repeat(|| provider.delete(id)).await {
            Ok(()) | Err(ProviderError::NotFound { .. }) => return Ok(()),
            Err(ProviderError::Conflict { .. }) if conflicts < 2 * ATTEMPTS => {
                conflicts += 1;
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
            Err(error) => return Err(error),
        }
    }
}

/// Runs `call` until it succeeds or fails in a way repeating cannot help; for calls that are
/// safe to repeat (reads, label and lifecycle writes, deletes, the idempotent setup, checks).
pub(crate) async fn repeat<T, F, Fut>(mut call: F) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ProviderError>>,
{
    let mut pause = FIRST_PAUSE;
    let mut attempt = 1;
    loop {
        match call().await {
            Err(error) if error.is_retryable() && attempt < ATTEMPTS => {
                let wait = match &error {
                    ProviderError::RateLimited {
                        retry_after: Some(after),
                    } => (*after).max(pause),
                    _ => pause,
                };
                tokio::time::sleep(wait).await;
                pause *= 2;
                attempt += 1;
            }
            other => return other,
        }
    }
}
