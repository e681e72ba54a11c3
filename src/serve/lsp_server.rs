//! The language servers the toolbox runs: which program serves which language id (as Daytona's
//! daemon: `pylsp` for `python`, `typescript-language-server --stdio` for `typescript`, and for
//! `javascript` too), starting one as a process in its sandbox through the provider (the same
//! isolation as every sandbox command, found on the sandbox's `PATH`), and the registry that
//! keeps one per sandbox, language id and project until it is stopped, exits, or its sandbox
//! stops or is deleted (the provider kills what is tracked with the sandbox).
//!
//! It must not decide what the toolbox answers: the routes (`lsp.rs`) turn its errors into the
//! daemon's bodies. The registry's lock is never held across an await.

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt as _;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::Notify;

use super::lsp_client::{Connection, RpcError};
use super::state::AppState;
use crate::provider::{self, HostCommandRequest};

/// How long a stopped server may take to exit on its own before it is killed.
const EXIT_GRACE: Duration = Duration::from_secs(2);
/// The shell's answer when the program is not on the sandbox's `PATH`.
const NOT_FOUND_EXIT: i32 = 127;

/// A language id's server program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Program {
    pub(crate) name: &'static str,
    arguments: &'static str,
    pub(crate) install: &'static str,
}

/// The program that serves `language_id`, if any does.
pub(crate) fn program(language_id: &str) -> Option<Program> {
    match language_id {
        "python" => Some(Program {
            name: "pylsp",
            arguments: "",
            install: "pip install python-lsp-server",
        }),
        "typescript" | "javascript" => Some(Program {
            name: "typescript-language-server",
            arguments: " --stdio",
            install: "npm install --global typescript-language-server typescript",
        }),
        _ => None,
    }
}

/// Why a server could not start.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub(crate) enum StartError {
    #[error("`{}` is not installed in this sandbox (not on its `PATH`)", program.name)]
    #[diagnostic(help("install it in the sandbox (`{}`) or put its directory on the sandbox's `PATH`", program.install))]
    Missing { program: Program },
    #[error("`{}` could not start: {source}", program.name)]
    Spawn {
        program: Program,
        source: std::io::Error,
    },
    #[error("`{}` exited with code {code} before it was initialized", program.name)]
    Exited { program: Program, code: i32 },
    #[error("`{}` did not initialize: {source}", program.name)]
    Initialize { program: Program, source: RpcError },
    #[error(transparent)]
    Provider(#[from] provider::ProviderError),
    #[error("the server is stopping")]
    Stopping,
}

/// One running server.
pub(crate) struct LanguageServer {
    pub(crate) connection: Arc<Connection>,
    /// The project's absolute path in the sandbox: relative document paths are below it.
    pub(crate) root: String,
    pub(crate) language_id: String,
    /// Notified to kill the server (its whole process group) at once.
    kill: Notify,
    /// Set once the process has exited.
    exited: tokio::sync::watch::Receiver<bool>,
}

impl LanguageServer {
    /// Asks the server to shut down and exit, then kills what is left after a grace period.
    pub(crate) async fn stop(&self) {
        let polite = async {
            let _ = self.connection.request("shutdown", Value::Null).await;
            let _ = self.connection.notify("exit", Value::Null).await;
            let mut exited = self.exited.clone();
            let _ = exited.wait_for(|exited| *exited).await;
        };
        if tokio::time::timeout(EXIT_GRACE * 2, polite).await.is_err() {
            self.kill.notify_one();
        }
        let mut exited = self.exited.clone();
        let _ = exited.wait_for(|exited| *exited).await;
    }
}

/// (sandbox id, language id, project path as given): Daytona keys servers by the last two.
type Key = (String, String, String);

/// A key's server, if it runs; its async lock serializes the starts of one key.
type Slot = Arc<tokio::sync::Mutex<Option<Arc<LanguageServer>>>>;

/// Every running server. Once `serve` has begun to stop ([`AppState::stopping`]) none starts:
/// a start in progress is given up, and one that reaches the registry later is refused.
#[derive(Default)]
pub(crate) struct LanguageServers {
    slots: Mutex<BTreeMap<Key, Slot>>,
}

impl LanguageServers {
    fn slot(&self, key: &Key) -> Slot {
        self.slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(key.clone())
            .or_default()
            .clone()
    }

    fn existing(&self, key: &Key) -> Option<Slot> {
        self.slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(key)
            .cloned()
    }

    /// The running server of `key`, if there is one.
    pub(crate) async fn get(&self, key: &Key) -> Option<Arc<LanguageServer>> {
        self.existing(key)?.lock().await.clone()
    }

    /// Takes the server of `key` out of the registry, for the caller to stop.
    pub(crate) async fn take(&self, key: &Key) -> Option<Arc<LanguageServer>> {
        self.existing(key)?.lock().await.take()
    }

    /// Kills every server and waits until each has exited (when `serve` stops, after its stop
    /// began: a start in progress gives up, its process killed, and any later one is refused).
    pub(crate) async fn close(&self) {
        let slots: Vec<Slot> = self
            .slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        for slot in slots {
            // Waits for a start in progress, which gives up at once; the lock is let go at
            // once (the server's supervisor takes it once the server exited).
            let server = slot.lock().await.clone();
            if let Some(server) = server {
                server.kill.notify_one();
                let mut exited = server.exited.clone();
                let _ = exited.wait_for(|exited| *exited).await;
            }
        }
    }
}

/// The running server of `key`, started (and initialized with project `root`) unless one is
/// already running.
pub(crate) async fn ensure(
    state: &Arc<AppState>,
    key: Key,
    root: String,
    program: Program,
) -> Result<Arc<LanguageServer>, StartError> {
    let slot = state.language_servers.slot(&key);
    let mut guard = slot.lock().await;
    // Checked once the key is in the registry: a stop begun after this look finds it
    // (`close` reads the registry after the stop began).
    if state.stopping.begun() {
        return Err(StartError::Stopping);
    }
    if let Some(server) = guard.as_ref()
        && !*server.exited.borrow()
    {
        return Ok(server.clone());
    }
    let server = spawn(state, &key, root, program).await?;
    *guard = Some(server.clone());
    Ok(server)
}

async fn spawn(
    state: &Arc<AppState>,
    key: &Key,
    root: String,
    program: Program,
) -> Result<Arc<LanguageServer>, StartError> {
    let (sandbox, language_id, _) = key;
    let name = program.name;
    let request = HostCommandRequest {
        cwd: None,
        // The check tells a missing program (127) from one that failed; `exec` keeps the
        // server the leader of the tracked group.
        command: Some(format!(
            "command -v {name} >/dev/null 2>&1 || exit {NOT_FOUND_EXIT}; exec {name}{}",
            program.arguments
        )),
        terminal: None,
        env: BTreeMap::new(),
    };
    let mut command = state.provider.host_command(sandbox, &request).await?;
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0);
    let mut command = tokio::process::Command::from(command);
    command.kill_on_drop(true);
    let spawn_error = |source| StartError::Spawn { program, source };
    let mut child = command.spawn().map_err(spawn_error)?;
    let leader = child
        .id()
        .ok_or_else(|| spawn_error(std::io::Error::other("it exited at once")))?;
    let tracked = state.provider.track_process(sandbox, leader).await?;
    let (Some(input), Some(output)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(spawn_error(std::io::Error::other(
            "no standard input or output",
        )));
    };
    let connection = Connection::new(input, output);
    let initialize = connection.request("initialize", initialize_params(&root));
    // A server may take up to the request's whole timeout to answer, or never answer: a stop
    // of `serve` does not wait for it. Dropping `tracked` and `child` kills it.
    let initialized = tokio::select! {
        initialized = initialize => initialized,
        () = state.stopping.begins() => return Err(StartError::Stopping),
    };
    if let Err(source) = initialized {
        drop(tracked);
        let status = child.wait().await.ok().and_then(|status| status.code());
        return Err(match status {
            Some(NOT_FOUND_EXIT) => StartError::Missing { program },
            Some(code) if matches!(source, RpcError::Exited) => {
                StartError::Exited { program, code }
            }
            _ => StartError::Initialize { program, source },
        });
    }
    let _ = connection.notify("initialized", json!({})).await;
    let (exited_sender, exited) = tokio::sync::watch::channel(false);
    let server = Arc::new(LanguageServer {
        connection,
        root,
        language_id: language_id.clone(),
        kill: Notify::new(),
        exited,
    });
    tokio::spawn(supervise(
        state.clone(),
        key.clone(),
        server.clone(),
        child,
        tracked,
        exited_sender,
    ));
    Ok(server)
}

/// Waits for the server to exit (or a kill), ends its process group, and forgets it unless a
/// newer server took its place.
async fn supervise(
    state: Arc<AppState>,
    key: Key,
    server: Arc<LanguageServer>,
    mut child: tokio::process::Child,
    tracked: provider::TrackedProcess,
    exited: tokio::sync::watch::Sender<bool>,
) {
    let mut tracked = Some(tracked);
    tokio::select! {
        _ = child.wait() => {}
        () = server.kill.notified() => {
            drop(tracked.take());
            let _ = child.wait().await;
        }
    }
    // Whatever it started in its group ends with it.
    drop(tracked);
    let _ = exited.send(true);
    if let Some(slot) = state.language_servers.existing(&key) {
        let mut current = slot.lock().await;
        if current
            .as_ref()
            .is_some_and(|current| Arc::ptr_eq(current, &server))
        {
            *current = None;
        }
    }
}

/// What the daemon's client announces. `processId` is null: the server runs in the sandbox's
/// process namespace, where this process's id means nothing (`pylsp` exits when the process it
/// names does not exist).
fn initialize_params(root: &str) -> Value {
    json!({
        "processId": null,
        "clientInfo": { "name": "ralph-town-serve", "version": env!("CARGO_PKG_VERSION") },
        "rootUri": format!("file://{root}"),
        "rootPath": root,
        "workspaceFolders": [{ "uri": format!("file://{root}"), "name": root }],
        "capabilities": {
            "textDocument": {
                "completion": {
                    "dynamicRegistration": true,
                    "completionItem": {
                        "snippetSupport": true,
                        "commitCharactersSupport": true,
                        "documentationFormat": ["markdown", "plaintext"],
                        "deprecatedSupport": true,
                        "preselectSupport": true,
                    },
                    "contextSupport": true,
                },
                "documentSymbol": {
                    "dynamicRegistration": true,
                    "symbolKind": { "valueSet": (1..=26).collect::<Vec<u8>>() },
                },
            },
            "workspace": { "symbol": { "dynamicRegistration": true } },
        },
    })
}
