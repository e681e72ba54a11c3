//! The toolbox's stateful code interpreter (`/toolbox/{id}/process/interpreter/...`, the SDK's
//! `sandbox.code_interpreter`), built on the provider's process sessions: a context is a
//! session whose one async command is a Python worker (`interpreter_worker.py`) that keeps its
//! globals between runs. A run sends the worker one JSON line on its stdin (never echoed into
//! its logs: `envs` may hold secrets) and follows the worker's logs for the records tagged with
//! that run, which go to the client over the WebSocket as Daytona's daemon sends them:
//! `{"type": "stdout"|"stderr", "text"}` and `{"type": "error", "name", "value", "traceback"}`,
//! then a normal close, or close code 4008 when the run timed out. The default context starts on
//! first use and is not listed. Context records live in the sandbox, beside the worker, in
//! `~/.daytona/interpreter/`.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, Weak};

use axum::Json;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::response::Response;
use futures::StreamExt as _;
use serde::{Deserialize, Serialize};

use super::error::DaemonError;
use super::state::AppState;
use super::toolbox::{ready, run_checked};
use super::view::JsonBody;
use crate::daytona_api::{
    CreateContextRequest, InterpreterContext, InterpreterExecuteRequest, ListContextsResponse,
};
use crate::provider::{LogChunk, SessionExecRequest};

const WORKER: &str = include_str!("interpreter_worker.py");
const DIR: &str = ".daytona/interpreter";
/// Sessions behind contexts carry this prefix; the session routes do not list them.
pub(super) const SESSION_PREFIX: &str = "daytona-interpreter-";
const DEFAULT_CONTEXT: &str = "default";
/// Daytona's close code for a run that exceeded its timeout.
const TIMEOUT_CLOSE: u16 = 4008;

/// The gates of default-context starts, by sandbox: first runs at once (the async SDK's
/// `gather`) must start one worker between them, not race to create its session. A gate lives
/// while a run holds or waits for it.
#[derive(Default)]
pub(crate) struct DefaultStarts(std::sync::Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>);

impl DefaultStarts {
    /// The sandbox's gate: the one a run holds or waits for, or a new one.
    fn gate(&self, sandbox: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut starts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        starts.retain(|_, gate| gate.strong_count() > 0);
        if let Some(gate) = starts.get(sandbox).and_then(Weak::upgrade) {
            return gate;
        }
        let gate = Arc::new(tokio::sync::Mutex::new(()));
        starts.insert(sandbox.to_string(), Arc::downgrade(&gate));
        gate
    }
}

/// What `~/.daytona/interpreter/<context>.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    info: InterpreterContext,
    /// The worker's command in the context's session.
    command_id: String,
}

fn record_path(context: &str) -> String {
    format!("{DIR}/{context}.json")
}

fn failed(error: crate::provider::ProviderError) -> DaemonError {
    DaemonError::from_provider(error, "interpreter context")
}

/// Starts a context's worker and records it.
async fn start(
    state: &AppState,
    sandbox: &crate::provider::Sandbox,
    context: &str,
    cwd: Option<String>,
) -> Result<InterpreterContext, DaemonError> {
    let cwd = match cwd.filter(|cwd| !cwd.is_empty()) {
        Some(cwd) => cwd,
        None => run_checked(state, sandbox, "pwd".to_string())
            .await?
            .trim_end()
            .to_string(),
    };
    let check = format!(
        "command -v python3 >/dev/null || {{ echo 'python3 is not installed in this sandbox: the interpreter needs it' >&2; exit 1; }}; cd -- {}",
        shlex::try_quote(&cwd).map_err(|_| DaemonError::bad_request("cwd holds a NUL byte"))?
    );
    run_checked(state, sandbox, check).await?;
    let provider = &state.provider;
    let worker = format!("{DIR}/worker.py");
    provider
        .upload(&sandbox.id, &worker, WORKER.as_bytes())
        .await
        .map_err(failed)?;
    let session = format!("{SESSION_PREFIX}{context}");
    provider
        .create_session(&sandbox.id, &session)
        .await
        .map_err(failed)?;
    let command = SessionExecRequest {
        command: format!(
            "cd -- {} && python3 -u ~/{worker}",
            shlex::try_quote(&cwd).unwrap_or_default()
        ),
        run_async: true,
        suppress_input_echo: true,
        command_id: None,
    };
    let started = provider
        .session_exec(&sandbox.id, &session, &command)
        .await
        .map_err(failed)?;
    let info = InterpreterContext {
        id: context.to_string(),
        cwd,
        created_at: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
        active: true,
        language: "python".to_string(),
    };
    let record = Record {
        info: info.clone(),
        command_id: started.command_id,
    };
    let text = serde_json::to_vec(&record).unwrap_or_default();
    provider
        .upload(&sandbox.id, &record_path(context), &text)
        .await
        .map_err(failed)?;
    Ok(info)
}

/// A context's record, if it exists.
async fn find(state: &AppState, sandbox: &str, context: &str) -> Option<Record> {
    let session = format!("{SESSION_PREFIX}{context}");
    state.provider.get_session(sandbox, &session).await.ok()?;
    let bytes = state
        .provider
        .download(sandbox, &record_path(context))
        .await
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The default context's record, its worker started on first use, once for runs at once.
async fn default_context(
    state: &AppState,
    sandbox: &crate::provider::Sandbox,
) -> Result<Record, String> {
    let gate = state.interpreter_starts.gate(&sandbox.id);
    let _started = gate.lock().await;
    if let Some(record) = find(state, &sandbox.id, DEFAULT_CONTEXT).await {
        return Ok(record);
    }
    start(state, sandbox, DEFAULT_CONTEXT, None)
        .await
        .map_err(|error| format!("failed to get default context: {}", error.message))?;
    find(state, &sandbox.id, DEFAULT_CONTEXT)
        .await
        .ok_or_else(|| "failed to get default context".to_string())
}

pub(super) async fn create(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<CreateContextRequest>,
) -> Result<Json<InterpreterContext>, DaemonError> {
    let language = request.language.unwrap_or_else(|| "python".to_string());
    if language != "python" {
        return Err(DaemonError::bad_request(format!(
            "unsupported language: {language} (only 'python' is supported currently)"
        )));
    }
    let sandbox = ready(&state, &id).await?;
    let context = uuid::Uuid::new_v4().to_string();
    start(&state, &sandbox, &context, request.cwd)
        .await
        .map(Json)
}

pub(super) async fn list(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<ListContextsResponse>, DaemonError> {
    let sandbox = ready(&state, &id).await?;
    let sessions = state
        .provider
        .list_sessions(&sandbox.id)
        .await
        .map_err(failed)?;
    let mut contexts = Vec::new();
    for session in sessions {
        let Some(context) = session.id.strip_prefix(SESSION_PREFIX) else {
            continue;
        };
        if context == DEFAULT_CONTEXT {
            continue;
        }
        if let Some(record) = find(&state, &sandbox.id, context).await {
            contexts.push(record.info);
        }
    }
    Ok(Json(ListContextsResponse { contexts }))
}

pub(super) async fn delete(
    State(state): State<Arc<AppState>>,
    Path((id, context)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, DaemonError> {
    if context == DEFAULT_CONTEXT {
        return Err(DaemonError::bad_request("cannot delete default context"));
    }
    let sandbox = ready(&state, &id).await?;
    if find(&state, &sandbox.id, &context).await.is_none() {
        return Err(DaemonError::not_found(format!(
            "context not found: {context}"
        )));
    }
    let session = format!("{SESSION_PREFIX}{context}");
    state
        .provider
        .delete_session(&sandbox.id, &session)
        .await
        .map_err(failed)?;
    let remove = format!("rm -f -- {}", record_path(&context));
    run_checked(&state, &sandbox, remove).await?;
    Ok(Json(
        serde_json::json!({ "message": "Context deleted successfully" }),
    ))
}

pub(super) async fn execute(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    upgrade: WebSocketUpgrade,
) -> Result<Response, DaemonError> {
    let sandbox = ready(&state, &id).await?;
    Ok(upgrade.on_upgrade(move |socket| serve_run(socket, state, sandbox)))
}

/// One run: the request is the socket's first message; records stream back until the worker
/// says the run is over.
async fn serve_run(mut socket: WebSocket, state: Arc<AppState>, sandbox: crate::provider::Sandbox) {
    let request = match socket.recv().await {
        Some(Ok(Message::Text(text))) => serde_json::from_str::<InterpreterExecuteRequest>(&text),
        Some(Ok(Message::Binary(bytes))) => serde_json::from_slice(&bytes),
        _ => return close(socket, 1002, "failed to read first message").await,
    };
    let Ok(request) = request else {
        return close(socket, 1002, "invalid JSON payload").await;
    };
    if request.code.is_empty() {
        return close(socket, 1008, "code is required").await;
    }
    if request.timeout.is_some_and(|timeout| timeout < 0) {
        return close(socket, 1008, "timeout must be greater than or equal to 0").await;
    }
    let context = request
        .context_id
        .clone()
        .unwrap_or_else(|| DEFAULT_CONTEXT.to_string());
    let record = match find(&state, &sandbox.id, &context).await {
        Some(record) => record,
        None if context == DEFAULT_CONTEXT => match default_context(&state, &sandbox).await {
            Ok(record) => record,
            Err(reason) => return close(socket, 1011, &reason).await,
        },
        None => return close(socket, 1008, &format!("context not found: {context}")).await,
    };
    let session = format!("{SESSION_PREFIX}{context}");
    let run = uuid::Uuid::new_v4().simple().to_string();
    let line = serde_json::json!({
        "run": run, "code": request.code, "envs": request.envs, "timeout": request.timeout,
    });
    let provider = &state.provider;
    let stream = provider
        .follow_session_command_logs(&sandbox.id, &session, &record.command_id)
        .await;
    let sent = provider
        .send_session_input(&sandbox.id, &session, &record.command_id, &line.to_string())
        .await;
    let (Ok(mut stream), Ok(())) = (stream, sent) else {
        return close(socket, 1011, "the context's interpreter is not running").await;
    };
    // The worker ends a timed-out run itself; this is the backstop for code that keeps the
    // alarm from firing.
    let limit = request
        .timeout
        .filter(|&seconds| seconds > 0)
        .map(|seconds| std::time::Duration::from_secs(seconds.unsigned_abs() + 10));
    let deadline = tokio::time::sleep(limit.unwrap_or(std::time::Duration::MAX / 4));
    tokio::pin!(deadline);
    let mut pending = Vec::new();
    loop {
        let chunk = tokio::select! {
            chunk = stream.next() => chunk,
            () = &mut deadline, if limit.is_some() => {
                let reason = "Execution timed out: operation exceeded the configured timeout";
                return close(socket, TIMEOUT_CLOSE, reason).await;
            }
        };
        let Some(chunk) = chunk else {
            break;
        };
        let Ok(LogChunk::Stdout(bytes)) = chunk else {
            continue;
        };
        pending.extend_from_slice(&bytes);
        while let Some(end) = pending.iter().position(|&byte| byte == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let Ok(mut record) = serde_json::from_slice::<serde_json::Value>(&line) else {
                continue;
            };
            if record["run"] != run.as_str() {
                continue;
            }
            if record["type"] == "control" {
                return match record["text"].as_str() {
                    Some("timeout") => {
                        let reason =
                            "Execution timed out: operation exceeded the configured timeout";
                        close(socket, TIMEOUT_CLOSE, reason).await;
                    }
                    _ => close(socket, 1000, "").await,
                };
            }
            if let Some(fields) = record.as_object_mut() {
                fields.remove("run");
            }
            if socket
                .send(Message::Text(record.to_string().into()))
                .await
                .is_err()
            {
                return;
            }
        }
    }
    close(socket, 1011, "the context's interpreter ended").await;
}

async fn close(mut socket: WebSocket, code: u16, reason: &str) {
    let frame = CloseFrame {
        code,
        reason: reason.chars().take(120).collect::<String>().into(),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
}
