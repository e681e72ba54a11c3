//! A session command's logs (`/toolbox/{id}/process/session/{session}/command/{command}/logs`)
//! and the image entrypoint's (`/process/session/entrypoint/logs`), in the form the client's
//! SDK version asks for (`output_form.rs`, see `toolbox_session.rs`).
//!
//! Following logs (`?follow=true`) works over a WebSocket only, as the SDK does it
//! (`get_session_command_logs_async` opens `ws://.../logs?follow=true` and demultiplexes binary
//! messages); a plain GET with `follow` answers what is there, as the daemon does. The stream
//! ends with a normal close once the command has ended and all its output was sent. No command
//! output is logged here.

use std::sync::Arc;

use axum::Json;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Path, Query, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures::StreamExt as _;
use serde::Deserialize;

use super::entrypoint;
use super::error::DaemonError;
use super::output_form::OutputForm;
use super::state::AppState;
use super::toolbox::ready;
use super::toolbox_session::daemon_error;
use crate::daytona_api::SessionCommandLogsResponse;
use crate::provider::{CommandLogs, LogChunk};

/// `?follow=true`: keep sending until the command ends.
#[derive(Debug, Deserialize)]
pub(super) struct LogsQuery {
    follow: Option<String>,
}

pub(super) async fn logs(
    State(state): State<Arc<AppState>>,
    Path((id, session, command)): Path<(String, String, String)>,
    Query(query): Query<LogsQuery>,
    request: Request,
) -> Result<Response, DaemonError> {
    let form = OutputForm::of(request.headers());
    command_logs(state, id, session, command, query, form, request).await
}

/// The entrypoint command's logs, as the daemon's `GetEntrypointLogs` answers them: never
/// combined, whatever the client's version; split by the server for clients from 0.167 on.
pub(super) async fn entrypoint_logs(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(query): Query<LogsQuery>,
    request: Request,
) -> Result<Response, DaemonError> {
    let form = OutputForm {
        combined: false,
        ..OutputForm::of(request.headers())
    };
    let (session, command) = (
        entrypoint::SESSION.to_string(),
        entrypoint::COMMAND.to_string(),
    );
    command_logs(state, id, session, command, query, form, request).await
}

/// A command's logs in `form`: what is there, or over a WebSocket (followed with `follow`).
async fn command_logs(
    state: Arc<AppState>,
    id: String,
    session: String,
    command: String,
    query: LogsQuery,
    form: OutputForm,
    request: Request,
) -> Result<Response, DaemonError> {
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
