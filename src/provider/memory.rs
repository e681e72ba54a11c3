//! An in-memory [`Provider`] for tests of everything above the seam (`apply`, the guard, the
//! workflow): sandboxes are records in a map, commands are answered by a handler the test
//! gives, and faults are injected per call. It keeps a log of the calls in order and counts how
//! many creates were in flight at once, so tests can check ordering and bounded concurrency.
//!
//! It behaves like the real providers where the layers above depend on it: a duplicate live
//! name is a `Conflict`, deleting a missing sandbox is `NotFound`, labels filter `list`, and
//! creates return `started`. It never touches the file system or the network.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use super::{
    CreateSandbox, ExecOutput, ExecRequest, Labels, Lifecycle, Provider, ProviderError,
    ProviderKind, Result, Sandbox, SandboxState, ShellAccess,
};

/// One call the provider received, in the order received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// A create, by the requested name (also logged when it failed).
    Create(String),
    Start(String),
    Stop(String),
    Delete(String),
    SetLabels(String),
    SetLifecycle(String),
    /// An exec, by sandbox id and command line.
    Exec(String, String),
    Upload(String, String),
}

/// Which call a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Start,
    Delete,
    Exec,
    Upload,
    SetLabels,
    List,
    Get,
}

type Fault = Box<dyn Fn() -> ProviderError + Send>;
type ExecHandler = Box<dyn Fn(&Sandbox, &ExecRequest) -> ExecOutput + Send + Sync>;

#[derive(Default)]
struct State {
    sandboxes: BTreeMap<String, Sandbox>,
    next_id: u64,
    log: Vec<Call>,
    faults: BTreeMap<OperationKey, VecDeque<Fault>>,
    /// The most sandboxes that may exist at once; a create beyond it is a quota error.
    quota: Option<usize>,
    creates_in_flight: usize,
    max_creates_in_flight: usize,
}

/// `Operation` as a map key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct OperationKey(u8);

impl From<Operation> for OperationKey {
    fn from(operation: Operation) -> Self {
        OperationKey(operation as u8)
    }
}

/// Sandboxes in memory.
pub struct MemoryProvider {
    state: Mutex<State>,
    exec: ExecHandler,
    /// How long every create takes (so that creates overlap).
    create_latency: Duration,
}

impl Default for MemoryProvider {
    fn default() -> Self {
        MemoryProvider::new()
    }
}

impl MemoryProvider {
    /// An empty provider whose commands all succeed with no output.
    pub fn new() -> MemoryProvider {
        MemoryProvider {
            state: Mutex::new(State::default()),
            exec: Box::new(|_, _| ExecOutput::exec(0, "")),
            create_latency: Duration::ZERO,
        }
    }

    /// Commands are answered by `handler` (the sandbox as it is now, and the request).
    pub fn with_exec(
        mut self,
        handler: impl Fn(&Sandbox, &ExecRequest) -> ExecOutput + Send + Sync + 'static,
    ) -> MemoryProvider {
        self.exec = Box::new(handler);
        self
    }

    /// Every create takes `latency`.
    pub fn with_create_latency(mut self, latency: Duration) -> MemoryProvider {
        self.create_latency = latency;
        self
    }

    /// At most `sandboxes` may exist; a create beyond that fails with a quota error.
    pub fn with_quota(self, sandboxes: usize) -> MemoryProvider {
        self.lock().quota = Some(sandboxes);
        self
    }

    /// The next call of `operation` fails with the error `fault` makes (queued: one per call).
    pub fn fail_next(
        &self,
        operation: Operation,
        fault: impl Fn() -> ProviderError + Send + 'static,
    ) {
        self.lock()
            .faults
            .entry(operation.into())
            .or_default()
            .push_back(Box::new(fault));
    }

    /// Adds an existing sandbox (the observed state a test starts from).
    pub fn insert(&self, sandbox: Sandbox) {
        self.lock().sandboxes.insert(sandbox.id.clone(), sandbox);
    }

    /// Every sandbox, by id.
    pub fn sandboxes(&self) -> Vec<Sandbox> {
        self.lock().sandboxes.values().cloned().collect()
    }

    /// The calls received so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().log.clone()
    }

    /// The most creates that were in flight at the same time.
    pub fn max_creates_in_flight(&self) -> usize {
        self.lock().max_creates_in_flight
    }

    // A std mutex is fine: it is never held across an `.await`.
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Logs the call and takes the fault queued for it, if any.
    fn enter(&self, operation: Operation, call: Option<Call>) -> Result<()> {
        let mut state = self.lock();
        if let Some(call) = call {
            state.log.push(call);
        }
        let fault = state
            .faults
            .get_mut(&operation.into())
            .and_then(VecDeque::pop_front);
        match fault {
            Some(fault) => Err(fault()),
            None => Ok(()),
        }
    }

    fn change(&self, id: &str, change: impl FnOnce(&mut Sandbox)) -> Result<Sandbox> {
        let mut state = self.lock();
        let sandbox = state
            .sandboxes
            .get_mut(id)
            .ok_or_else(|| ProviderError::not_found(format!("sandbox `{id}`")))?;
        change(sandbox);
        Ok(sandbox.clone())
    }

    fn find(&self, id: &str) -> Result<Sandbox> {
        let state = self.lock();
        state
            .sandboxes
            .get(id)
            .or_else(|| state.sandboxes.values().find(|sandbox| sandbox.name == id))
            .cloned()
            .ok_or_else(|| ProviderError::not_found(format!("sandbox `{id}`")))
    }
}

#[async_trait]
impl Provider for MemoryProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Local
    }

    async fn list(&self, labels: &Labels) -> Result<Vec<Sandbox>> {
        self.enter(Operation::List, None)?;
        Ok(self
            .lock()
            .sandboxes
            .values()
            .filter(|sandbox| {
                labels
                    .iter()
                    .all(|(key, value)| sandbox.labels.get(key) == Some(value))
            })
            .cloned()
            .collect())
    }

    async fn get(&self, id: &str) -> Result<Sandbox> {
        self.enter(Operation::Get, None)?;
        self.find(id)
    }

    async fn create(&self, request: &CreateSandbox) -> Result<Sandbox> {
        self.enter(Operation::Create, Some(Call::Create(request.name.clone())))?;
        {
            let mut state = self.lock();
            state.creates_in_flight += 1;
            state.max_creates_in_flight = state.max_creates_in_flight.max(state.creates_in_flight);
        }
        tokio::time::sleep(self.create_latency).await;
        let mut state = self.lock();
        state.creates_in_flight -= 1;
        if !request.name.is_empty()
            && state
                .sandboxes
                .values()
                .any(|sandbox| sandbox.name == request.name)
        {
            return Err(ProviderError::Conflict {
                message: format!("Sandbox with name {} already exists", request.name),
            });
        }
        if state
            .quota
            .is_some_and(|quota| state.sandboxes.len() >= quota)
        {
            return Err(ProviderError::QuotaExceeded {
                message: "Total CPU limit exceeded. Maximum allowed: 10.".to_string(),
            });
        }
        state.next_id += 1;
        let id = format!("mem-{:04}", state.next_id);
        let sandbox = Sandbox {
            id: id.clone(),
            name: if request.name.is_empty() {
                id.clone()
            } else {
                request.name.clone()
            },
            state: SandboxState::Started,
            labels: request.labels.clone(),
            env: request.env.clone(),
            snapshot: request.snapshot.clone(),
            // Later creates are newer, whatever the clock's resolution.
            created_at: SystemTime::UNIX_EPOCH + Duration::from_secs(state.next_id),
            lifecycle: request.lifecycle,
            error_reason: None,
        };
        state.sandboxes.insert(id, sandbox.clone());
        Ok(sandbox)
    }

    async fn start(&self, id: &str) -> Result<Sandbox> {
        self.enter(Operation::Start, Some(Call::Start(id.to_string())))?;
        self.change(id, |sandbox| sandbox.state = SandboxState::Started)
    }

    async fn stop(&self, id: &str) -> Result<Sandbox> {
        self.lock().log.push(Call::Stop(id.to_string()));
        self.change(id, |sandbox| sandbox.state = SandboxState::Stopped)
    }

    async fn delete(&self, id: &str) -> Result<()> {
        self.enter(Operation::Delete, Some(Call::Delete(id.to_string())))?;
        self.lock()
            .sandboxes
            .remove(id)
            .map(drop)
            .ok_or_else(|| ProviderError::not_found(format!("sandbox `{id}`")))
    }

    async fn set_labels(&self, id: &str, labels: &Labels) -> Result<Sandbox> {
        self.enter(Operation::SetLabels, Some(Call::SetLabels(id.to_string())))?;
        self.change(id, |sandbox| sandbox.labels = labels.clone())
    }

    async fn set_lifecycle(&self, id: &str, lifecycle: &Lifecycle) -> Result<Sandbox> {
        self.lock().log.push(Call::SetLifecycle(id.to_string()));
        self.change(id, |sandbox| {
            let current = &mut sandbox.lifecycle;
            current.auto_stop = lifecycle.auto_stop.or(current.auto_stop);
            current.auto_archive = lifecycle.auto_archive.or(current.auto_archive);
            current.auto_delete = lifecycle.auto_delete.or(current.auto_delete);
        })
    }

    async fn exec(&self, id: &str, request: &ExecRequest) -> Result<ExecOutput> {
        let call = Call::Exec(id.to_string(), request.command.clone());
        self.enter(Operation::Exec, Some(call))?;
        let sandbox = self.find(id)?;
        if sandbox.state != SandboxState::Started {
            return Err(ProviderError::Conflict {
                message: format!("sandbox `{id}` is not started"),
            });
        }
        Ok((self.exec)(&sandbox, request))
    }

    async fn upload(&self, id: &str, path: &str, _contents: &[u8]) -> Result<()> {
        self.enter(
            Operation::Upload,
            Some(Call::Upload(id.to_string(), path.to_string())),
        )?;
        self.find(id).map(drop)
    }

    async fn download(&self, id: &str, path: &str) -> Result<Vec<u8>> {
        self.find(id)?;
        Err(ProviderError::not_found(format!("file `{path}`")))
    }

    async fn shell_access(
        &self,
        id: &str,
        _cwd: Option<&str>,
        _expires_in_minutes: u32,
    ) -> Result<ShellAccess> {
        self.find(id)?;
        Err(ProviderError::Unsupported {
            provider: "memory",
            operation: "shell access".to_string(),
        })
    }
}
