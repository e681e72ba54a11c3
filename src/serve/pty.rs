//! The toolbox's PTY sessions (`/toolbox/{id}/process/pty...`, the daemon's `pty` package): a
//! login shell on a pseudo-terminal in the sandbox, started through the provider and the
//! SSH gateway's terminal code, which clients create, list, resize and delete, and stream over
//! WebSocket: binary frames of output, text or binary frames of input, and at the end the exit
//! code (see [`stream`]).
//!
//! Wire notes (the toolbox spec predates some of this; the shapes follow the pinned SDKs and
//! the daemon's `apps/daemon/pkg/toolbox/process/pty`):
//! - Both SDKs create through `GET /process/pty/create-connect?id=&cwd=&cols=&rows=`, one
//!   WebSocket upgrade that creates and connects, with the environment in a subprotocol token
//!   `X-Daytona-Pty-Envs~<base64url JSON>` (kept out of URLs and logs) and the capability
//!   `X-Daytona-Pty-Exit-Control`, which the server echoes (the TypeScript SDK's `ws` refuses
//!   an upgrade that selects no offered subprotocol). `POST /process/pty` still creates.
//! - A session ends with its shell: it leaves the list, as the daemon's does. `lazyStart` is
//!   accepted, but every session starts at once (and reports `lazyStart: false`).
//! - An unknown session answers 404 on resize too (the daemon says 410 there).
//!
//! Sessions live in this server's memory: a restart ends them, as a daemon restart does.
//! Stopping or deleting the sandbox kills them (the provider kills what is attached to it).
//! Neither input, output nor environment values are logged.
//!
//! [`start`] is also how the web terminal of port 22222 ([`super::web_terminal`]) starts its
//! shells, kept in a [`Registry`] of their own.

mod registry;
mod session;
mod stream;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Deserialize;

use super::error::DaemonError;
use super::ssh::pty::Size;
use super::state::AppState;
use super::toolbox::{check_env_names, ready};
use super::view::JsonBody;
use registry::{Starting, begin};
use session::PtySessionInfo;

pub(crate) use registry::{Client, Terminals};
pub(crate) use session::{Spec, Terminal, start};

/// Which registry a session is kept in. The toolbox's routes list and reach only their own
/// sessions; a web terminal is reached only by the WebSocket that started it, as the daemon's
/// web terminal is no PTY session either. Both end when the server stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Registry {
    Toolbox,
    WebTerminal,
}

impl Registry {
    fn of(self, state: &AppState) -> &Terminals {
        match self {
            Registry::Toolbox => &state.terminals,
            Registry::WebTerminal => &state.web_terminals,
        }
    }
}

/// Daytona's limit on either dimension.
const MAX_SIZE: u32 = 1000;

/// `PtyCreateRequest`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PtyCreateRequest {
    id: Option<String>,
    cwd: Option<String>,
    envs: Option<BTreeMap<String, String>>,
    cols: Option<u32>,
    rows: Option<u32>,
}

impl PtyCreateRequest {
    fn spec(self) -> Spec {
        Spec {
            registry: Registry::Toolbox,
            id: self.id.unwrap_or_default(),
            cwd: self.cwd.filter(|cwd| !cwd.is_empty()),
            envs: self.envs.unwrap_or_default(),
            cols: self.cols,
            rows: self.rows,
        }
    }
}

/// `PtyResizeRequest`.
#[derive(Debug, Deserialize)]
pub(crate) struct PtyResizeRequest {
    cols: u32,
    rows: u32,
}

fn not_found(id: &str) -> DaemonError {
    DaemonError::not_found(format!("PTY session {id} not found"))
}

/// The checks of a create, before anything starts: an id, sizes within Daytona's limit, valid
/// environment names, and no live or starting session of that id, which it marks starting.
fn validate(
    state: &Arc<AppState>,
    sandbox: &str,
    request: &PtyCreateRequest,
) -> Result<Starting, DaemonError> {
    let id = request.id.as_deref().unwrap_or_default();
    if id.is_empty() {
        return Err(DaemonError::bad_request("session ID is required"));
    }
    for (name, value) in [("cols", request.cols), ("rows", request.rows)] {
        if value.is_some_and(|value| value > MAX_SIZE) {
            return Err(DaemonError::bad_request(format!(
                "invalid value for {name} - must be less than {MAX_SIZE}"
            )));
        }
    }
    check_env_names(request.envs.iter().flat_map(BTreeMap::keys))?;
    begin(state, sandbox, id)
}

/// `POST /process/pty`.
pub(crate) async fn create(
    State(state): State<Arc<AppState>>,
    Path(sandbox): Path<String>,
    JsonBody(request): JsonBody<PtyCreateRequest>,
) -> Result<(StatusCode, Json<serde_json::Value>), DaemonError> {
    let sandbox = ready(&state, &sandbox).await?;
    let starting = validate(&state, &sandbox.id, &request)?;
    // Output nobody is connected for yet is dropped, as the daemon does.
    let (session, _) = start(&state, &sandbox, request.spec()).await?;
    drop(starting);
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "sessionId": session.id })),
    ))
}

/// `GET /process/pty`.
pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    Path(sandbox): Path<String>,
) -> Result<Json<serde_json::Value>, DaemonError> {
    let sandbox = ready(&state, &sandbox).await?;
    state.terminals.settled(&sandbox.id).await;
    let sessions: Vec<PtySessionInfo> = state
        .terminals
        .lock()
        .get(&sandbox.id)
        .map(|sessions| sessions.values().map(|session| session.info()).collect())
        .unwrap_or_default();
    Ok(Json(serde_json::json!({ "sessions": sessions })))
}

/// `GET /process/pty/{sessionId}`.
pub(crate) async fn get(
    State(state): State<Arc<AppState>>,
    Path((sandbox, id)): Path<(String, String)>,
) -> Result<Json<PtySessionInfo>, DaemonError> {
    let sandbox = ready(&state, &sandbox).await?;
    state.terminals.settled(&sandbox.id).await;
    let session = state
        .terminals
        .get(&sandbox.id, &id)
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(session.info()))
}

/// `DELETE /process/pty/{sessionId}`: kills the shell and everything it started; connected
/// clients see exit code 137.
pub(crate) async fn delete(
    State(state): State<Arc<AppState>>,
    Path((sandbox, id)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, DaemonError> {
    let sandbox = ready(&state, &sandbox).await?;
    state.terminals.settled(&sandbox.id).await;
    let session = state
        .terminals
        .remove(&sandbox.id, &id)
        .ok_or_else(|| not_found(&id))?;
    session.kill();
    Ok(Json(
        serde_json::json!({ "message": "PTY session deleted" }),
    ))
}

/// `POST /process/pty/{sessionId}/resize`.
pub(crate) async fn resize(
    State(state): State<Arc<AppState>>,
    Path((sandbox, id)): Path<(String, String)>,
    JsonBody(request): JsonBody<PtyResizeRequest>,
) -> Result<Json<PtySessionInfo>, DaemonError> {
    for (name, value) in [("cols", request.cols), ("rows", request.rows)] {
        if !(1..=MAX_SIZE).contains(&value) {
            return Err(DaemonError::bad_request(format!(
                "{name} must be between 1 and {MAX_SIZE}"
            )));
        }
    }
    let sandbox = ready(&state, &sandbox).await?;
    state.terminals.settled(&sandbox.id).await;
    let session = state
        .terminals
        .get(&sandbox.id, &id)
        .ok_or_else(|| not_found(&id))?;
    let size = Size {
        columns: request.cols,
        rows: request.rows,
    };
    session
        .resize(size)
        .map_err(|error| DaemonError::new(StatusCode::INTERNAL_SERVER_ERROR, error.to_string()))?;
    Ok(Json(session.info()))
}

/// `GET /process/pty/{sessionId}/connect` (WebSocket). An unknown session is refused after
/// the upgrade, with a control message, as the daemon does.
pub(crate) async fn connect(
    State(state): State<Arc<AppState>>,
    Path((sandbox, id)): Path<(String, String)>,
    upgrade: WebSocketUpgrade,
) -> Result<Response, DaemonError> {
    let sandbox = ready(&state, &sandbox).await?;
    state.terminals.settled(&sandbox.id).await;
    let session = state.terminals.get(&sandbox.id, &id);
    let (upgrade, exit_control) = stream::negotiate(upgrade);
    Ok(upgrade.on_upgrade(move |socket| async move {
        if let Some(session) = session {
            stream::serve(socket, state, session, exit_control).await;
        } else {
            let message = format!("Failed to connect to PTY session: PTY session {id} not found");
            stream::refuse(socket, &message).await;
        }
    }))
}

/// The query of `create-connect`.
#[derive(Debug, Deserialize)]
pub(crate) struct CreateConnectQuery {
    id: Option<String>,
    cwd: Option<String>,
    cols: Option<u32>,
    rows: Option<u32>,
}

/// The prefix of the subprotocol token that carries a session's environment.
const ENVS_PROTOCOL: &str = "X-Daytona-Pty-Envs~";

/// The environment in the `X-Daytona-Pty-Envs~` token, if offered.
fn envs_of(upgrade: &WebSocketUpgrade) -> Result<Option<BTreeMap<String, String>>, DaemonError> {
    let Some(token) = upgrade
        .requested_protocols()
        .filter_map(|protocol| protocol.to_str().ok())
        .find_map(|protocol| protocol.strip_prefix(ENVS_PROTOCOL))
    else {
        return Ok(None);
    };
    // The token may hold credentials: the error names what is wrong, never what was sent.
    let invalid = || {
        DaemonError::bad_request(
            "invalid envs subprotocol: expected base64url (no padding) of a JSON object of strings",
        )
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|_| invalid())?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|_| invalid())
}

/// `GET /process/pty/create-connect` (WebSocket): creates a session and connects to it in
/// one round trip.
pub(crate) async fn create_connect(
    State(state): State<Arc<AppState>>,
    Path(sandbox): Path<String>,
    Query(query): Query<CreateConnectQuery>,
    upgrade: WebSocketUpgrade,
) -> Result<Response, DaemonError> {
    let sandbox = ready(&state, &sandbox).await?;
    let request = PtyCreateRequest {
        id: query.id,
        cwd: query.cwd,
        envs: envs_of(&upgrade)?,
        cols: query.cols,
        rows: query.rows,
    };
    let marked = validate(&state, &sandbox.id, &request)?;
    let (upgrade, exit_control) = stream::negotiate(upgrade);
    Ok(upgrade
        .on_upgrade(move |socket| async move {
            let starting = {
                let state = state.clone();
                async move {
                    let started = start(&state, &sandbox, request.spec())
                        .await
                        .map_err(|error| format!("Failed to start PTY session: {}", error.message));
                    drop(marked);
                    started
                }
            };
            stream::start_and_serve(socket, state, starting, exit_control).await;
        })
        .into_response())
}
