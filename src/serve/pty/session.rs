//! One PTY session of the toolbox or web terminal of port 22222: its shell on a pseudo-terminal
//! (the SSH gateway's terminal code), started through the provider and attached to the sandbox
//! so that stopping or deleting it kills the shell, and kept in its registry
//! ([`super::registry::Terminals`]). A task per session writes input, one reads output for
//! every connected client, and one waits for the shell and forgets the session when it exits.
//!
//! Neither input, output nor environment values are logged.

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::StatusCode;
use serde::Serialize;
use tokio::sync::{Notify, broadcast, mpsc, watch};

use super::Registry;
use crate::provider;
use crate::serve::error::DaemonError;
use crate::serve::ssh::pty::{self as terminal, Pty, Size};
use crate::serve::state::{AppState, Millis, iso, now};
use crate::serve::toolbox::run_checked;

/// The terminal type a session gets unless its environment says otherwise, as the daemon's.
const DEFAULT_TERM: &str = "xterm-256color";
/// Chunks of output a client may fall behind by before it is dropped as a slow consumer.
const OUTPUT_BACKLOG: usize = 256;
/// How long output may keep arriving after the shell exited, from what it left behind.
const STRAGGLER_GRACE: Duration = Duration::from_secs(2);

/// One session: its description, the terminal, and the channels to its shell.
pub(crate) struct Terminal {
    pub(super) id: String,
    pub(super) sandbox: String,
    registry: Registry,
    pub(super) cwd: String,
    pub(super) envs: BTreeMap<String, String>,
    pub(super) created_at: Millis,
    pub(super) size: Mutex<Size>,
    pub(super) pty: Arc<Pty>,
    /// Client input, written to the terminal in order by one task.
    pub(super) input: mpsc::UnboundedSender<Bytes>,
    /// Output for every connected client; `None` once the shell exited and its output ended.
    pub(super) output: Mutex<Option<broadcast::Sender<Bytes>>>,
    /// The shell's exit code, once it exited.
    pub(super) exit: watch::Receiver<Option<i32>>,
    pub(super) kill: Notify,
}

/// `PtySessionInfo`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PtySessionInfo {
    id: String,
    cwd: String,
    envs: BTreeMap<String, String>,
    cols: u32,
    rows: u32,
    created_at: String,
    active: bool,
    lazy_start: bool,
}

impl Terminal {
    pub(super) fn info(&self) -> PtySessionInfo {
        let size = *self
            .size
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        PtySessionInfo {
            id: self.id.clone(),
            cwd: self.cwd.clone(),
            envs: self.envs.clone(),
            cols: size.columns,
            rows: size.rows,
            created_at: iso(self.created_at),
            active: self.exit.borrow().is_none(),
            lazy_start: false,
        }
    }

    /// Writes `data` to the terminal as the shell's input, after what was written before.
    pub(crate) fn write(&self, data: Bytes) {
        let _ = self.input.send(data);
    }

    /// Tells the shell its terminal changed size.
    pub(crate) fn resize(&self, size: Size) -> std::io::Result<()> {
        self.pty.resize(size)?;
        *self
            .size
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = size;
        Ok(())
    }

    /// Kills the shell and everything it started; the session is forgotten once it exited.
    pub(crate) fn kill(&self) {
        self.kill.notify_one();
    }
}

/// What a new session asks for (validated by the caller).
pub(crate) struct Spec {
    pub(crate) registry: Registry,
    /// Unique in its registry and sandbox.
    pub(crate) id: String,
    /// A sandbox path; the sandbox's working directory when `None`.
    pub(crate) cwd: Option<String>,
    pub(crate) envs: BTreeMap<String, String>,
    pub(crate) cols: Option<u32>,
    pub(crate) rows: Option<u32>,
}

/// A session just started, and its output from the shell's first byte on.
pub(super) type Started = (Arc<Terminal>, broadcast::Receiver<Bytes>);

/// Starts the shell `spec` asks for in `sandbox` and registers the session. The receiver
/// returned was subscribed before anything read the terminal: a client that subscribed only
/// once this returned could miss the prompt of a shell that printed it at once.
pub(crate) async fn start(
    state: &Arc<AppState>,
    sandbox: &provider::Sandbox,
    spec: Spec,
) -> Result<Started, DaemonError> {
    let Spec {
        registry,
        id,
        cwd: requested_cwd,
        mut envs,
        cols,
        rows,
    } = spec;
    let size = Size {
        columns: cols.unwrap_or(80),
        rows: rows.unwrap_or(24),
    };
    envs.entry("TERM".to_string())
        .or_insert_with(|| DEFAULT_TERM.to_string());
    let cwd = match &requested_cwd {
        Some(cwd) => cwd.clone(),
        None => run_checked(state, sandbox, "pwd".to_string())
            .await?
            .trim_end_matches('\n')
            .to_string(),
    };
    let failed = |error: provider::ProviderError| DaemonError::from_provider(error, "sandbox");
    let request = provider::HostCommandRequest {
        cwd: requested_cwd.clone(),
        command: None,
        terminal: Some(envs["TERM"].clone()),
        env: envs.clone(),
    };
    let mut command = state
        .provider
        .host_command(&sandbox.id, &request)
        .await
        .map_err(failed)?;

    let cannot = |error: std::io::Error| {
        DaemonError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to start PTY session: {error}"),
        )
    };
    let (pty, tty) = terminal::open(size).map_err(cannot)?;
    terminal::attach(&mut command, tty).map_err(cannot)?;
    let mut command = tokio::process::Command::from(command);
    command.kill_on_drop(true);
    let child = command.spawn().map_err(cannot)?;
    // Our copy of the terminal side must close, or reading would never see the end.
    drop(command);
    let leader = child
        .id()
        .ok_or_else(|| cannot(std::io::Error::other("the shell exited at once")))?;
    let attached = state
        .provider
        .track_process(&sandbox.id, leader)
        .await
        .map_err(failed)?;

    let pty = Arc::new(pty);
    let (input, inputs) = mpsc::unbounded_channel();
    let (output, first) = broadcast::channel(OUTPUT_BACKLOG);
    let (exited, exit) = watch::channel(None);
    let session = Arc::new(Terminal {
        id: id.clone(),
        sandbox: sandbox.id.clone(),
        registry,
        cwd,
        envs,
        created_at: now(),
        size: Mutex::new(size),
        pty: pty.clone(),
        input,
        output: Mutex::new(Some(output.clone())),
        exit,
        kill: Notify::new(),
    });
    // Refused when a concurrent create won or the server stops: the shell then ends with
    // `child` and `attached`.
    registry.of(state).register(&session, &state.stopping)?;
    tokio::spawn(feed(pty.clone(), inputs));
    let reader = tokio::spawn(read(pty, output));
    tokio::spawn(supervise(
        state.clone(),
        session.clone(),
        child,
        attached,
        reader,
        exited,
    ));
    Ok((session, first))
}

/// Writes client input to the terminal until every sender is gone.
async fn feed(pty: Arc<Pty>, mut inputs: mpsc::UnboundedReceiver<Bytes>) {
    while let Some(data) = inputs.recv().await {
        if pty.write_all(&data).await.is_err() {
            return;
        }
    }
}

/// Copies the terminal's output to the connected clients until no process holds the
/// terminal. Output nobody is connected for is dropped, as the daemon does.
async fn read(pty: Arc<Pty>, output: broadcast::Sender<Bytes>) {
    let mut buffer = vec![0u8; 32 * 1024];
    loop {
        match pty.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => {
                let _ = output.send(Bytes::copy_from_slice(&buffer[..read]));
            }
        }
    }
}

/// Waits for the shell (or a kill), ends what it left running, lets the output drain, then
/// publishes the exit code and forgets the session.
async fn supervise(
    state: Arc<AppState>,
    session: Arc<Terminal>,
    mut child: tokio::process::Child,
    attached: provider::TrackedProcess,
    mut reader: tokio::task::JoinHandle<()>,
    exited: watch::Sender<Option<i32>>,
) {
    let mut attached = Some(attached);
    let status = tokio::select! {
        status = child.wait() => status,
        // Dropping the registration kills the shell's whole process group.
        () = session.kill.notified() => {
            drop(attached.take());
            child.wait().await
        }
    };
    // Whatever the shell left running in its group ends with it, as with exec.
    drop(attached);
    if tokio::time::timeout(STRAGGLER_GRACE, &mut reader)
        .await
        .is_err()
    {
        reader.abort();
    }
    let code = match status {
        Ok(status) => status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or_default()),
        Err(_) => 1,
    };
    let _ = exited.send(Some(code));
    // Clients drain what is buffered, then see the end.
    session
        .output
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    session.registry.of(&state).forget(&session);
}
