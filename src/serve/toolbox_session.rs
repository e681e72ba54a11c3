//! The toolbox's process sessions (`/toolbox/{id}/process/session...`) over the provider's
//! session calls, and the routes of `process/code-run` (`code_run.rs`) and of the interpreter
//! contexts (`interpreter.rs`); a command's logs are `toolbox_session_logs.rs`.
//!
//! Daytona's daemon shapes session output by the client's SDK version (`X-Daytona-SDK-Version`,
//! or a `X-Daytona-SDK-Version~<v>` WebSocket subprotocol), and so does this file, after the
//! v0.190 daemon (`apps/daemon/pkg/session/common.go`): before 0.27, or with no version and no
//! `X-Daytona-Split-Output: true`, output is "combined" (stream markers removed); before 0.167 the
//! log comes as plain text with its markers and an exec answer has no `stdout`/`stderr`; from
//! 0.167 on (the pinned Python SDK 0.226.1 sends its own version), logs are JSON with `output`
//! (the marked log), `stdout` and `stderr`. No command output or input is logged here.
//!
//! The image entrypoint's session (`entrypoint.rs`) is shown as the daemon shows it: by
//! `GET .../session/entrypoint` and `.../session/entrypoint/logs`, left out of the list, and
//! closed to commands, input and deletion (400, the daemon's messages).

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::code_run;
use super::entrypoint;
use super::error::DaemonError;
use super::output_form::OutputForm;
use super::state::AppState;
use super::toolbox::ready;
use super::toolbox_session_logs;
use super::view::JsonBody;
use super::{computer_use, interpreter};
use crate::daytona_api::{
    CreateSessionRequest, SessionCommandDto, SessionDto, SessionExecuteRequest,
    SessionExecuteResponse, SessionSendInputRequest,
};
use crate::provider::{ProviderError, SessionCommand, SessionExecRequest, SessionInfo};

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/{sandbox}/process/session", post(create).get(list))
        .route(
            "/{sandbox}/process/session/{session}",
            get(get_session).delete(delete),
        )
        .route(
            "/{sandbox}/process/session/entrypoint",
            get(entrypoint_session).delete(delete_entrypoint),
        )
        .route(
            "/{sandbox}/process/session/entrypoint/logs",
            get(toolbox_session_logs::entrypoint_logs),
        )
        .route("/{sandbox}/process/session/{session}/exec", post(exec))
        .route(
            "/{sandbox}/process/session/{session}/command/{command}",
            get(command),
        )
        .route(
            "/{sandbox}/process/session/{session}/command/{command}/logs",
            get(toolbox_session_logs::logs),
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
pub(super) fn daemon_error(error: ProviderError) -> DaemonError {
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
    // The sessions behind interpreter contexts and the display are not the client's; the
    // entrypoint's is left out as the daemon leaves it out.
    let sessions = sessions.into_iter().filter(|session| {
        session.id != entrypoint::SESSION
            && !session.id.starts_with(interpreter::SESSION_PREFIX)
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

/// The image entrypoint's session (the daemon's `GetEntrypointSession`).
async fn entrypoint_session(
    state: State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<SessionDto>, DaemonError> {
    get_session(state, Path((id, entrypoint::SESSION.to_string()))).await
}

/// The entrypoint's session ends only with its sandbox, as on Daytona.
async fn delete_entrypoint() -> DaemonError {
    DaemonError::bad_request("can't delete entrypoint session")
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
    if session == entrypoint::SESSION {
        return Err(DaemonError::bad_request(
            "can't execute command in entrypoint session",
        ));
    }
    if request.command.trim().is_empty() {
        return Err(DaemonError::bad_request("command cannot be empty"));
    }
    let run_async = request.run_async == Some(true) || request.legacy_async == Some(true);
    let sandbox = ready(&state, &id).await?;
    let exec = SessionExecRequest {
        command: request.command,
        run_async,
        suppress_input_echo: request.suppress_input_echo == Some(true),
        command_id: None,
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

async fn input(
    State(state): State<Arc<AppState>>,
    Path((id, session, command)): Path<(String, String, String)>,
    JsonBody(request): JsonBody<SessionSendInputRequest>,
) -> Result<StatusCode, DaemonError> {
    if session == entrypoint::SESSION {
        return Err(DaemonError::bad_request(
            "can't send input to entrypoint session",
        ));
    }
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
