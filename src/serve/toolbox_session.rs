//! The toolbox's process sessions (`/toolbox/{id}/process/session...`) over the provider's
//! session calls, and the routes of `process/code-run` (`code_run.rs`) and of the interpreter
//! contexts (`interpreter.rs`).
//!
//! Daytona's daemon shapes session output by the client's SDK version (`X-Daytona-SDK-Version`,
//! or a `X-Daytona-SDK-Version~<v>` WebSocket subprotocol), and so does this file, after the
//! v0.190 daemon (`apps/daemon/pkg/session/common.go`): before 0.27, or with no version and no
//! `X-Daytona-Split-Output: true`, output is "combined" (stream markers removed); before 0.167 the
//! log comes as plain text with its markers and an exec answer has no `stdout`/`stderr`; from
//! 0.167 on (the pinned Python SDK 0.226.1 sends its own version), logs are JSON with `output`
//! (the marked log), `stdout` and `stderr`. Following logs (`?follow=true`) works over a WebSocket
//! only, as the SDK does it (`get_session_command_logs_async` opens
//! `ws://.../logs?follow=true` and demultiplexes binary messages); a plain GET with `follow`
//! answers what is there, as the daemon does. The stream ends with a normal close once the
//! command has ended and all its output was sent. No command output or input is logged here.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::StreamExt as _;
use serde::Deserialize;

use super::code_run;
use super::error::DaemonError;
use super::output_form::OutputForm;
use super::state::AppState;
use super::toolbox::ready;
use super::view::JsonBody;
use super::{computer_use, interpreter};
use crate::daytona_api::{
    CreateSessionRequest, SessionCommandDto, SessionCommandLogsResponse, SessionDto,
    SessionExecuteRequest, SessionExecuteResponse, SessionSendInputRequest,
};
use crate::provider::{
    CommandLogs, LogChunk, ProviderError, SessionCommand, SessionExecRequest, SessionInfo,
};

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/{sandbox}/process/session", post(create).get(list))
        .route(
            "/{sandbox}/process/session/{session}",
            get(get_session).delete(delete),
        )
        .route("/{sandbox}/process/session/{session}/exec", post(exec))
        .route(
            "/{sandbox}/process/session/{session}/command/{command}",
            get(command),
        )
        .route(
            "/{sandbox}/process/session/{session}/command/{command}/logs",
            get(logs),
        )
        .route(
            "/{sandbox}/process/session/{session}/command/{command}/input",
            post(input),
        )
        .route("/{sandbox}/process/code-run", post(code_run::code_run))
        .route(
            "/{sandbox}/process/interpreter/context",
            post(interpreter::create).get(interpreter::list),
        )
        .route(
            "/{sandbox}/process/interpreter/context/{context}",
            axum::routing::delete(interpreter::delete),
        )
        .route(
            "/{sandbox}/process/interpreter/execute",
            get(interpreter::execute),
        )
}

/// A provider failure in the daemon's words ("session not found", "command ... not found").
fn daemon_error(error: ProviderError) -> DaemonError {
    match error {
        ProviderError::NotFound { .. } => DaemonError::not_found(error.to_string()),
        ProviderError::Unsupported { .. } => DaemonError::bad_request(error.to_string()),
        // A session whose shell has exited: the SDKs raise their `SessionEnded` error for it.
        ProviderError::Api {
            status: Some(410),
            message,
            ..
        } => DaemonError::new(StatusCode::GONE, message).with_code("SESSION_ENDED"),
        other => DaemonError::from_provider(other, "session"),
    }
}

fn command_dto(command: SessionCommand) -> SessionCommandDto {
    SessionCommandDto {
        id: command.id,
        command: command.command,
        exit_code: command.exit_code,
    }
}

fn session_dto(session: SessionInfo) -> SessionDto {
    SessionDto {
        session_id: session.id,
        commands: session.commands.into_iter().map(command_dto).collect(),
    }
}

async fn create(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<CreateSessionRequest>,
) -> Result<StatusCode, DaemonError> {
    if request.session_id == "entrypoint" {
        return Err(DaemonError::bad_request(
            "provided session ID is reserved and cannot be created/overridden",
        ));
    }
    let sandbox = ready(&state, &id).await?;
    state
        .provider
        .create_session(&sandbox.id, &request.session_id)
        .await
        .map_err(daemon_error)?;
    Ok(StatusCode::CREATED)
}

async fn list(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Vec<SessionDto>>, DaemonError> {
    let sandbox = ready(&state, &id).await?;
    let sessions = state
        .provider
        .list_sessions(&sandbox.id)
        .await
        .map_err(daemon_error)?;
    // The sessions behind interpreter contexts and the display are not the client's.
    let sessions = sessions.into_iter().filter(|session| {
        !session.id.starts_with(interpreter::SESSION_PREFIX)
            && !session.id.starts_with(computer_use::SESSION_PREFIX)
    });
    Ok(Json(sessions.map(session_dto).collect()))
}

async fn get_session(
    State(state): State<Arc<AppState>>,
    Path((id, session)): Path<(String, String)>,
) -> Result<Json<SessionDto>, DaemonError> {
    let sandbox = ready(&state, &id).await?;
    let session = state
        .provider
        .get_session(&sandbox.id, &session)
        .await
        .map_err(daemon_error)?;
    Ok(Json(session_dto(session)))
}

async fn delete(
    State(state): State<Arc<AppState>>,
    Path((id, session)): Path<(String, String)>,
) -> Result<StatusCode, DaemonError> {
    let sandbox = ready(&state, &id).await?;
    state
        .provider
        .delete_session(&sandbox.id, &session)
        .await
        .map_err(daemon_error)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn exec(
    State(state): State<Arc<AppState>>,
    Path((id, session)): Path<(String, String)>,
    headers: HeaderMap,
    JsonBody(request): JsonBody<SessionExecuteRequest>,
) -> Result<Response, DaemonError> {
    if request.command.trim().is_empty() {
        return Err(DaemonError::bad_request("command cannot be empty"));
    }
    let run_async = request.run_async == Some(true) || request.legacy_async == Some(true);
    let sandbox = ready(&state, &id).await?;
    let exec = SessionExecRequest {
        command: request.command,
        run_async,
        suppress_input_echo: request.suppress_input_echo == Some(true),
    };
    let output = state
        .provider
        .session_exec(&sandbox.id, &session, &exec)
        .await
        .map_err(daemon_error)?;
    if run_async {
        let body = SessionExecuteResponse {
            cmd_id: output.command_id,
            ..SessionExecuteResponse::default()
        };
        return Ok((StatusCode::ACCEPTED, Json(body)).into_response());
    }
    let form = OutputForm::of(&headers);
    let logs = &output.logs;
    let body = SessionExecuteResponse {
        cmd_id: output.command_id,
        output: Some(if form.combined {
            logs.output()
        } else {
            String::from_utf8_lossy(&logs.multiplexed()).into_owned()
        }),
        stdout: (!form.combined && form.split_by_server).then(|| logs.stdout()),
        stderr: (!form.combined && form.split_by_server).then(|| logs.stderr()),
        exit_code: output.exit_code,
    };
    Ok(Json(body).into_response())
}

async fn command(
    State(state): State<Arc<AppState>>,
    Path((id, session, command)): Path<(String, String, String)>,
) -> Result<Json<SessionCommandDto>, DaemonError> {
    let sandbox = ready(&state, &id).await?;
    let command = state
        .provider
        .session_command(&sandbox.id, &session, &command)
        .await
        .map_err(daemon_error)?;
    Ok(Json(command_dto(command)))
}

#[derive(Debug, Deserialize)]
struct LogsQuery {
    follow: Option<String>,
}

async fn logs(
    State(state): State<Arc<AppState>>,
    Path((id, session, command)): Path<(String, String, String)>,
    Query(query): Query<LogsQuery>,
    request: Request,
) -> Result<Response, DaemonError> {
    let form = OutputForm::of(request.headers());
    let wants_socket = request
        .headers()
        .get(header::UPGRADE)
        .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"websocket"));
    let sandbox = ready(&state, &id).await?;
    if !wants_socket {
        let logs = state
            .provider
            .session_command_logs(&sandbox.id, &session, &command)
            .await
            .map_err(daemon_error)?;
        return Ok(logs_reply(&logs, form));
    }
    // Checked before the upgrade, so that an unknown command is a plain 404.
    state
        .provider
        .session_command(&sandbox.id, &session, &command)
        .await
        .map_err(daemon_error)?;
    let (mut parts, _) = request.into_parts();
    let upgrade = WebSocketUpgrade::from_request_parts(&mut parts, &())
        .await
        .map_err(|rejection| DaemonError::bad_request(rejection.body_text()))?;
    let follow = query.follow.as_deref() == Some("true");
    Ok(upgrade.on_upgrade(move |socket| {
        stream_logs(socket, state, sandbox.id, session, command, follow, form)
    }))
}

fn logs_reply(logs: &CommandLogs, form: OutputForm) -> Response {
    if form.combined {
        return logs.output().into_response();
    }
    let output = String::from_utf8_lossy(&logs.multiplexed()).into_owned();
    if !form.split_by_server {
        return output.into_response();
    }
    Json(SessionCommandLogsResponse {
        output,
        stdout: logs.stdout(),
        stderr: logs.stderr(),
    })
    .into_response()
}

/// Sends a command's logs as binary messages (markers kept unless the client wants them
/// combined), then closes: normally once everything was sent, with 1011 on a failure.
async fn stream_logs(
    mut socket: WebSocket,
    state: Arc<AppState>,
    sandbox: String,
    session: String,
    command: String,
    follow: bool,
    form: OutputForm,
) {
    let provider = &state.provider;
    let mut chunks = if follow {
        match provider
            .follow_session_command_logs(&sandbox, &session, &command)
            .await
        {
            Ok(stream) => stream,
            Err(error) => return close(socket, 1011, &error.to_string()).await,
        }
    } else {
        match provider
            .session_command_logs(&sandbox, &session, &command)
            .await
        {
            Ok(logs) => futures::stream::iter(logs.chunks.into_iter().map(Ok)).boxed(),
            Err(error) => return close(socket, 1011, &error.to_string()).await,
        }
    };
    loop {
        tokio::select! {
            chunk = chunks.next() => match chunk {
                None => return close(socket, 1000, "").await,
                Some(Ok(chunk)) => {
                    let bytes = match (&chunk, form.combined) {
                        (LogChunk::Stdout(bytes) | LogChunk::Stderr(bytes), true) => bytes.clone(),
                        (_, false) => chunk.to_multiplexed(),
                    };
                    if socket.send(Message::Binary(bytes.into())).await.is_err() {
                        return;
                    }
                }
                Some(Err(error)) => return close(socket, 1011, &error.to_string()).await,
            },
            // The client went away (or closed): stop following.
            message = socket.recv() => if !matches!(message, Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Text(_) | Message::Binary(_)))) {
                return;
            },
        }
    }
}

async fn close(mut socket: WebSocket, code: u16, reason: &str) {
    let frame = CloseFrame {
        code,
        reason: reason.chars().take(120).collect::<String>().into(),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

async fn input(
    State(state): State<Arc<AppState>>,
    Path((id, session, command)): Path<(String, String, String)>,
    JsonBody(request): JsonBody<SessionSendInputRequest>,
) -> Result<StatusCode, DaemonError> {
    let sandbox = ready(&state, &id).await?;
    let status = state
        .provider
        .session_command(&sandbox.id, &session, &command)
        .await
        .map_err(daemon_error)?;
    if let Some(code) = status.exit_code {
        return Err(DaemonError::new(
            StatusCode::GONE,
            format!("command has already completed with exit code {code}"),
        )
        .with_code("COMMAND_ALREADY_COMPLETED"));
    }
    state
        .provider
        .send_session_input(&sandbox.id, &session, &command, &request.data)
        .await
        .map_err(daemon_error)?;
    Ok(StatusCode::NO_CONTENT)
}
