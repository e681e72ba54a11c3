//! Daytona's computer use for local sandboxes (`/toolbox/{id}/computeruse/...`, the SDK's
//! `sandbox.computer_use`): a virtual X display per sandbox, run inside the sandbox's isolation.
//! This file owns the display's life (`start`, `stop`, `status`, the process routes) and the one
//! way routes reach the display ([`run_x`]); the mouse and window routes are in
//! `computer_use_mouse.rs`, keys in `computer_use_keyboard.rs`, screenshots in
//! `computer_use_screen.rs`, recordings in `computer_use_recording.rs`, the accessibility tree and
//! its buses (started and ended with the display) in `computer_use_a11y.rs`. It must not reach
//! the display from this process: every X client runs in the sandbox through the provider, as
//! the sandbox user.
//!
//! The display is `Xvfb`, the async command of a process session (`daytona-computeruse-xvfb`),
//! so stopping or deleting the sandbox kills it with the session, and any `serve` on the state
//! root sees it. Daytona's daemon also runs `xfce4`, `x11vnc` and `novnc`; local sandboxes run
//! only the display (no desktop, VNC or web viewer): the process routes list those three as not
//! running and answer 400 for their restart, logs and errors. `status` is `active` when the
//! display runs.
//!
//! `-noreset`: every route is a short-lived X client, and a server resets when its last client
//! leaves, refusing connections meanwhile; Daytona's display always has its desktop connected.
//!
//! Display numbers: `Xvfb -displayfd` picks the first free one and reports it when it is ready.
//! It listens only on its socket file (`-nolisten tcp -nolisten local`: no TCP port and no
//! abstract socket, both of which live in the network namespace every sandbox shares with the
//! host), and under bubblewrap `/tmp` (so `/tmp/.X11-unix`) is the sandbox's own: no other
//! sandbox can reach the display, and each sandbox may well get `:0`. Without bubblewrap `/tmp`
//! is shared and the lock files keep the numbers apart. `start` sets `DISPLAY` in the sandbox's
//! environment (as Daytona's desktop images have it) and `stop` removes it.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::error::DaemonError;
use super::state::AppState;
use super::toolbox::{ready, run_script};
use super::{
    computer_use_a11y, computer_use_keyboard, computer_use_mouse, computer_use_recording,
    computer_use_screen,
};
use crate::provider::{self, ProviderError, SessionExecRequest};

/// The display's files, relative to the sandbox user's home.
pub(super) const DIR: &str = ".daytona/computeruse";
/// Sessions of computer use carry this prefix; the session routes do not list them.
pub(super) const SESSION_PREFIX: &str = "daytona-computeruse-";
const XVFB_SESSION: &str = "daytona-computeruse-xvfb";
/// The display process, by Daytona's name.
const XVFB: &str = "xvfb";
/// Daytona's processes that local sandboxes do not run, with their priorities.
const NOT_RUN: [(&str, u32); 3] = [("xfce4", 200), ("x11vnc", 300), ("novnc", 400)];

/// A program an X route needs, and the Debian package that brings it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Tool {
    pub(super) program: &'static str,
    pub(super) package: &'static str,
}

pub(super) const XVFB_TOOL: Tool = Tool {
    program: "Xvfb",
    package: "xvfb",
};
pub(super) const XDOTOOL: Tool = Tool {
    program: "xdotool",
    package: "xdotool",
};

/// Starts, stops and restarts one at a time: a second start must not clear the files of a first
/// one's display or delete its session halfway. Never held by anything but those routes.
static LIFECYCLE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Exit codes of the script prelude: not started, then one per missing tool.
const NOT_STARTED_EXIT: i32 = 90;
const MISSING_EXIT: i32 = 91;

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/{sandbox}/computeruse/start", post(start))
        .route("/{sandbox}/computeruse/stop", post(stop))
        .route("/{sandbox}/computeruse/status", get(status))
        .route("/{sandbox}/computeruse/process-status", get(status))
        .route(
            "/{sandbox}/computeruse/process/{name}/status",
            get(process_status),
        )
        .route(
            "/{sandbox}/computeruse/process/{name}/restart",
            post(process_restart),
        )
        .route(
            "/{sandbox}/computeruse/process/{name}/logs",
            get(process_logs),
        )
        .route(
            "/{sandbox}/computeruse/process/{name}/errors",
            get(process_errors),
        )
        .merge(computer_use_mouse::routes())
        .merge(computer_use_keyboard::routes())
        .merge(computer_use_screen::routes())
        .merge(computer_use_recording::routes())
        .merge(computer_use_a11y::routes())
}

/// A program the sandbox lacks: 503, as Daytona's daemon answers when its computer-use plugin
/// cannot load for missing X11 dependencies.
pub(super) fn missing(tool: Tool) -> DaemonError {
    DaemonError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "`{}` is not installed in this sandbox: install the `{}` package (apt-get install {})",
            tool.program, tool.package, tool.package
        ),
    )
}

fn not_started() -> DaemonError {
    DaemonError::bad_request(
        "computer use is not started in this sandbox: start it first (`computer_use.start()`)",
    )
}

pub(super) fn failed(error: ProviderError) -> DaemonError {
    DaemonError::from_provider(error, "computer use session")
}

/// Starts `command` as the async command of a new session `session` (stopping or deleting the
/// sandbox ends it): the command's id.
pub(super) async fn run_in_session(
    state: &AppState,
    sandbox: &provider::Sandbox,
    session: &str,
    command: String,
) -> Result<String, DaemonError> {
    let provider = &state.provider;
    provider
        .create_session(&sandbox.id, session)
        .await
        .map_err(failed)?;
    let request = SessionExecRequest {
        command,
        run_async: true,
        suppress_input_echo: true,
        command_id: None,
    };
    let started = provider
        .session_exec(&sandbox.id, session, &request)
        .await
        .map_err(failed)?;
    Ok(started.command_id)
}

/// Whether the display's session runs its command (a stopped sandbox has no sessions).
async fn xvfb_running(state: &AppState, sandbox: &str) -> bool {
    match state.provider.get_session(sandbox, XVFB_SESSION).await {
        Ok(session) => session
            .commands
            .iter()
            .any(|command| command.exit_code.is_none()),
        Err(_) => false,
    }
}

/// The started sandbox behind a route that drives the display: 400 when the display is not up.
pub(super) async fn display_ready(
    state: &AppState,
    id: &str,
) -> Result<provider::Sandbox, DaemonError> {
    let sandbox = ready(state, id).await?;
    if !xvfb_running(state, &sandbox.id).await {
        return Err(not_started());
    }
    Ok(sandbox)
}

/// Runs `script` in the sandbox with `DISPLAY` set to its display and `env` added (user values
/// travel there, never in the command line), after checking that `tools` are installed. A
/// failing script answers 400 with its output, as Daytona's handlers answer a failed action.
pub(super) async fn run_x(
    state: &AppState,
    sandbox: &provider::Sandbox,
    tools: &[Tool],
    script: &str,
    env: BTreeMap<String, String>,
) -> Result<String, DaemonError> {
    let mut prelude = format!(
        "d=$(cat ~/{DIR}/display 2>/dev/null); [ -n \"$d\" ] || exit {NOT_STARTED_EXIT}\nexport DISPLAY=\":$d\"\n"
    );
    for (index, tool) in tools.iter().enumerate() {
        let code = MISSING_EXIT + i32::try_from(index).unwrap_or(0);
        prelude.push_str(&format!(
            "command -v {} >/dev/null || exit {code}\n",
            tool.program
        ));
    }
    let output = run_script(state, sandbox, format!("{prelude}{script}"), env).await?;
    match output.exit_code {
        0 => Ok(output.output),
        NOT_STARTED_EXIT => Err(not_started()),
        code if code >= MISSING_EXIT
            && usize::try_from(code - MISSING_EXIT).is_ok_and(|index| index < tools.len()) =>
        {
            let index = usize::try_from(code - MISSING_EXIT).unwrap_or(0);
            Err(missing(tools[index]))
        }
        _ => Err(DaemonError::bad_request(output.output.trim().to_string())),
    }
}

/// Daytona's `ProcessStatus` of each process it supervises.
fn process_map(running: bool, pid: Option<u32>) -> Value {
    let mut map = serde_json::Map::new();
    let mut xvfb = json!({ "running": running, "priority": 100, "autoRestart": false });
    // The spec's `pid` is an integer: left out, not null, when there is none.
    if let Some(pid) = pid {
        xvfb["pid"] = json!(pid);
    }
    map.insert(XVFB.to_string(), xvfb);
    for (name, priority) in NOT_RUN {
        map.insert(
            name.to_string(),
            json!({ "running": false, "priority": priority, "autoRestart": false }),
        );
    }
    Value::Object(map)
}

/// Starts the display unless it runs; its pid inside the sandbox.
async fn start_display(
    state: &AppState,
    sandbox: &provider::Sandbox,
) -> Result<Option<u32>, DaemonError> {
    let provider = &state.provider;
    if !xvfb_running(state, &sandbox.id).await {
        let prepare = format!(
            "command -v {} >/dev/null || exit {MISSING_EXIT}\nmkdir -p ~/{DIR} && cd ~/{DIR} && rm -f display xvfb.pid xvfb.exit",
            XVFB_TOOL.program
        );
        let output = run_script(state, sandbox, prepare, BTreeMap::new()).await?;
        match output.exit_code {
            0 => {}
            MISSING_EXIT => return Err(missing(XVFB_TOOL)),
            _ => return Err(start_failed(output.output.trim())),
        }
        // A session whose display died (or a sandbox restarted under it) goes first.
        let _ = provider.delete_session(&sandbox.id, XVFB_SESSION).await;
        let xvfb = format!(
            "cd ~/{DIR} && {{ Xvfb -displayfd 3 -noreset -nolisten tcp -nolisten local -screen 0 \"${{VNC_RESOLUTION:-1024x768}}x24\" 3>display >xvfb.log 2>xvfb.err & echo $! >xvfb.pid; wait $!; echo $? >xvfb.exit; }}"
        );
        run_in_session(state, sandbox, XVFB_SESSION, xvfb).await?;
    }
    // `-displayfd` writes the number once the server accepts connections.
    let wait = format!(
        "cd ~/{DIR} || exit 1\ni=0\nwhile [ ! -s display ] && [ ! -e xvfb.exit ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done\n\
         if [ -s display ]; then echo \"$(cat display) $(cat xvfb.pid 2>/dev/null)\"; exit 0; fi\n\
         echo \"Xvfb did not start: $(tail -n 5 xvfb.err 2>/dev/null)\"; exit 1"
    );
    let output = run_script(state, sandbox, wait, BTreeMap::new()).await?;
    if output.exit_code != 0 {
        return Err(start_failed(output.output.trim()));
    }
    let mut fields = output.output.split_whitespace();
    let display = fields.next().unwrap_or_default();
    // What the sandbox starts from now on finds the display, as on Daytona's desktop images.
    let set = BTreeMap::from([("DISPLAY".to_string(), format!(":{display}"))]);
    provider
        .set_env(&sandbox.id, &set, &[])
        .await
        .map_err(failed)?;
    computer_use_a11y::start_buses(state, sandbox).await?;
    Ok(fields.next().and_then(|pid| pid.parse().ok()))
}

fn start_failed(details: &str) -> DaemonError {
    DaemonError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("Failed to start computer use: {details}"),
    )
}

/// Ends the display and its recordings; leaves no lock or socket file behind.
async fn stop_display(state: &AppState, sandbox: &provider::Sandbox) -> Result<(), DaemonError> {
    computer_use_recording::stop_all(state, sandbox).await;
    computer_use_a11y::stop_buses(state, sandbox).await?;
    match state
        .provider
        .delete_session(&sandbox.id, XVFB_SESSION)
        .await
    {
        Ok(()) | Err(ProviderError::NotFound { .. }) => {}
        Err(error) => return Err(failed(error)),
    }
    match state
        .provider
        .set_env(&sandbox.id, &BTreeMap::new(), &["DISPLAY".to_string()])
        .await
    {
        Ok(()) | Err(ProviderError::Unsupported { .. }) => {}
        Err(error) => return Err(failed(error)),
    }
    let clean = format!(
        "cd ~/{DIR} 2>/dev/null || exit 0\nd=$(cat display 2>/dev/null); rm -f display xvfb.pid\n\
         [ -z \"$d\" ] || rm -f \"/tmp/.X$d-lock\" \"/tmp/.X11-unix/X$d\""
    );
    run_script(state, sandbox, clean, BTreeMap::new()).await?;
    Ok(())
}

/// `POST /computeruse/start`.
async fn start(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, DaemonError> {
    let sandbox = ready(&state, &id).await?;
    let _one_at_a_time = LIFECYCLE.lock().await;
    let pid = start_display(&state, &sandbox).await?;
    Ok(Json(json!({
        "message": "Computer use processes started successfully",
        "status": process_map(true, pid),
    })))
}

/// `POST /computeruse/stop`.
async fn stop(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, DaemonError> {
    let sandbox = ready(&state, &id).await?;
    let _one_at_a_time = LIFECYCLE.lock().await;
    stop_display(&state, &sandbox).await?;
    Ok(Json(json!({
        "message": "Computer use processes stopped successfully",
        "status": process_map(false, None),
    })))
}

/// `GET /computeruse/status` and `/computeruse/process-status`: `active` or `inactive`.
async fn status(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, DaemonError> {
    let sandbox = ready(&state, &id).await?;
    let status = if xvfb_running(&state, &sandbox.id).await {
        "active"
    } else {
        "inactive"
    };
    Ok(Json(json!({ "status": status })))
}

/// Whether local sandboxes run the process Daytona knows by `name`: 400 for a name it does not.
fn known_process(name: &str) -> Result<bool, DaemonError> {
    if name == XVFB {
        return Ok(true);
    }
    if NOT_RUN.iter().any(|(known, _)| *known == name) {
        return Ok(false);
    }
    Err(DaemonError::bad_request(format!(
        "process {name} not found"
    )))
}

/// The display process by name: 400 for one local sandboxes do not run or Daytona does not know.
fn check_process(name: &str) -> Result<(), DaemonError> {
    if known_process(name)? {
        return Ok(());
    }
    Err(DaemonError::bad_request(format!(
        "process {name} is not run by local sandboxes: only `xvfb` (the display) is"
    )))
}

/// `GET /computeruse/process/{name}/status`.
async fn process_status(
    State(state): State<Arc<AppState>>,
    Path((id, name)): Path<(String, String)>,
) -> Result<Json<Value>, DaemonError> {
    let sandbox = ready(&state, &id).await?;
    let running = known_process(&name)? && xvfb_running(&state, &sandbox.id).await;
    Ok(Json(json!({ "processName": name, "running": running })))
}

/// `POST /computeruse/process/{name}/restart`.
async fn process_restart(
    State(state): State<Arc<AppState>>,
    Path((id, name)): Path<(String, String)>,
) -> Result<Json<Value>, DaemonError> {
    check_process(&name)?;
    let sandbox = ready(&state, &id).await?;
    let _one_at_a_time = LIFECYCLE.lock().await;
    stop_display(&state, &sandbox).await?;
    start_display(&state, &sandbox).await?;
    Ok(Json(json!({
        "message": format!("Process {name} restarted successfully"),
        "processName": name,
    })))
}

/// The display's stdout (`logs`) or stderr (`errors`) file.
async fn process_file(
    state: &AppState,
    id: &str,
    name: &str,
    file: &str,
    kind: &str,
) -> Result<String, DaemonError> {
    check_process(name)?;
    let sandbox = ready(state, id).await?;
    let output = run_script(
        state,
        &sandbox,
        format!("cat ~/{DIR}/{file}"),
        BTreeMap::new(),
    )
    .await?;
    if output.exit_code != 0 {
        return Err(DaemonError::bad_request(format!(
            "failed to read {kind} file for {name}: {}",
            output.output.trim()
        )));
    }
    Ok(output.output)
}

/// `GET /computeruse/process/{name}/logs`.
async fn process_logs(
    State(state): State<Arc<AppState>>,
    Path((id, name)): Path<(String, String)>,
) -> Result<Json<Value>, DaemonError> {
    let logs = process_file(&state, &id, &name, "xvfb.log", "log").await?;
    Ok(Json(json!({ "processName": name, "logs": logs })))
}

/// `GET /computeruse/process/{name}/errors`.
async fn process_errors(
    State(state): State<Arc<AppState>>,
    Path((id, name)): Path<(String, String)>,
) -> Result<Json<Value>, DaemonError> {
    let errors = process_file(&state, &id, &name, "xvfb.err", "error").await?;
    Ok(Json(json!({ "processName": name, "errors": errors })))
}
