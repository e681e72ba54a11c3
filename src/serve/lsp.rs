//! The toolbox's language-server routes (`/toolbox/{id}/lsp/...`, the SDKs'
//! `sandbox.create_lsp_server`), as Daytona's daemon serves them: `start` and `stop` a server
//! for a language id and project, `did-open` and `did-close` a document (the file is read from
//! the sandbox and sent whole), `completions`, `document-symbols` and `workspacesymbols`.
//!
//! Answers and errors follow the daemon: 400 for a bad request, a server that is not started
//! or a request the server refused; 500 when a server cannot start (naming the program and how
//! to install it) or there is none to stop. A start still in progress when `serve` begins to
//! stop, or asked for after, is answered 503 `the server is stopping`, as a PTY session's is.
//! Where this differs from the daemon, it is on purpose: `javascript` is served (by the
//! TypeScript server) and a relative document path is below the project, as the SDKs document
//! (unless it starts with the relative project path, as `find_files` answers: then it is the
//! working directory's, as on the daemon); a relative project path is below the sandbox's
//! working directory, one under `~` below its home.
//! Document contents are never logged.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::DaemonError;
use super::lsp_answer::{completion_list, symbols};
use super::lsp_client::RpcError;
use super::lsp_server::{LanguageServer, StartError, ensure, program};
use super::state::AppState;
use super::stopping::Stopping;
use super::toolbox::{ready, required, run_checked};
use super::toolbox_files::quote_path;
use super::view::JsonBody;

pub(crate) use super::lsp_server::LanguageServers;

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/{sandbox}/lsp/start", post(start))
        .route("/{sandbox}/lsp/stop", post(stop))
        .route("/{sandbox}/lsp/did-open", post(did_open))
        .route("/{sandbox}/lsp/did-close", post(did_close))
        .route("/{sandbox}/lsp/completions", post(completions))
        .route("/{sandbox}/lsp/document-symbols", get(document_symbols))
        .route("/{sandbox}/lsp/workspacesymbols", get(workspace_symbols))
}

/// `LspServerRequest`, `LspDocumentRequest` and `LspCompletionParams` in one: the routes check
/// what each needs. The query routes' parameters have the same names.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LspRequest {
    language_id: Option<String>,
    path_to_project: Option<String>,
    uri: Option<String>,
    position: Option<Value>,
    context: Option<Value>,
    query: Option<String>,
}

impl LspRequest {
    /// The registry key's language id and project, checked in the daemon's order.
    fn server(&self) -> Result<(&str, &str), DaemonError> {
        let language_id = required(self.language_id.as_deref(), "languageId")?;
        let project = required(self.path_to_project.as_deref(), "pathToProject")?;
        Ok((language_id, project))
    }
}

fn unsupported(language_id: &str) -> DaemonError {
    DaemonError::bad_request(format!(
        "unsupported language: {language_id} (served: python, typescript, javascript)"
    ))
}

fn refused(error: &RpcError) -> DaemonError {
    DaemonError::bad_request(error.to_string())
}

/// `POST /lsp/start`: starts the server unless it runs already.
async fn start(
    State(state): State<Arc<AppState>>,
    Path(sandbox): Path<String>,
    JsonBody(request): JsonBody<LspRequest>,
) -> Result<StatusCode, DaemonError> {
    let (language_id, project) = request.server()?;
    let program = program(language_id).ok_or_else(|| unsupported(language_id))?;
    let sandbox = ready(&state, &sandbox).await?;
    let root = if project.starts_with('/') {
        project.to_string()
    } else if project == "~" || project.starts_with("~/") {
        run_checked(
            &state,
            &sandbox,
            format!("printf %s {}", quote_path(project)?),
        )
        .await?
    } else {
        let cwd = run_checked(&state, &sandbox, "pwd".to_string()).await?;
        format!("{}/{project}", cwd.trim_end().trim_end_matches('/'))
    };
    let key = (sandbox.id, language_id.to_string(), project.to_string());
    ensure(&state, key, root, program).await.map_err(|error| {
        if matches!(error, StartError::Stopping) {
            return Stopping::refusal();
        }
        // The hint goes in the message: it is all an SDK user sees.
        let help = miette::Diagnostic::help(&error)
            .map(|help| format!(": {help}"))
            .unwrap_or_default();
        DaemonError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("error starting LSP server: {error}{help}"),
        )
    })?;
    Ok(StatusCode::OK)
}

/// `POST /lsp/stop`: shuts the server down and waits for it to exit.
async fn stop(
    State(state): State<Arc<AppState>>,
    Path(sandbox): Path<String>,
    JsonBody(request): JsonBody<LspRequest>,
) -> Result<StatusCode, DaemonError> {
    let (language_id, project) = request.server()?;
    let sandbox = ready(&state, &sandbox).await?;
    let key = (sandbox.id, language_id.to_string(), project.to_string());
    let server = state.language_servers.take(&key).await.ok_or_else(|| {
        DaemonError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "error stopping LSP server: no {language_id} server runs for project `{project}`"
            ),
        )
    })?;
    server.stop().await;
    Ok(StatusCode::OK)
}

/// The running server a request names.
async fn running(
    state: &AppState,
    sandbox: &str,
    request: &LspRequest,
) -> Result<Arc<LanguageServer>, DaemonError> {
    let (language_id, project) = request.server()?;
    if program(language_id).is_none() {
        return Err(unsupported(language_id));
    }
    let sandbox = ready(state, sandbox).await?;
    let key = (sandbox.id, language_id.to_string(), project.to_string());
    state.language_servers.get(&key).await.ok_or_else(|| {
        DaemonError::bad_request(format!(
            "server not initialized: start the {language_id} server for project `{project}` first (`/lsp/start`)"
        ))
    })
}

/// A document's URI and its path in the sandbox. A relative path is below the project, unless
/// it starts with the (relative) project path itself: then it is relative to the working
/// directory, where the daemon resolves it and where `fs.find_files(project, ...)` answers
/// (Daytona's git-lsp example opens `find_files`' `file` as it comes).
fn document(server: &LanguageServer, project: &str, uri: &str) -> (String, String) {
    let path = uri.strip_prefix("file://").unwrap_or(uri);
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        let project = project.trim_end_matches('/');
        let below = if project.starts_with('/') || project.is_empty() {
            None
        } else {
            path.strip_prefix(project)
                .and_then(|rest| rest.strip_prefix('/'))
        };
        format!(
            "{}/{}",
            server.root.trim_end_matches('/'),
            below.unwrap_or(path)
        )
    };
    (format!("file://{path}"), path)
}

/// The running server a request names, and its document (required), resolved against the
/// server's project: URI and path.
async fn with_document(
    state: &AppState,
    sandbox: &str,
    request: &LspRequest,
) -> Result<(Arc<LanguageServer>, String, String), DaemonError> {
    let server = running(state, sandbox, request).await?;
    let (_, project) = request.server()?;
    let (uri, path) = document(&server, project, required(request.uri.as_deref(), "uri")?);
    Ok((server, uri, path))
}

/// Sends request `method`; a refusal is the request's fault (400), as the daemon answers.
async fn ask(server: &LanguageServer, method: &str, params: Value) -> Result<Value, DaemonError> {
    server
        .connection
        .request(method, params)
        .await
        .map_err(|error| refused(&error))
}

/// `POST /lsp/did-open`: sends the file's current text.
async fn did_open(
    State(state): State<Arc<AppState>>,
    Path(sandbox): Path<String>,
    JsonBody(request): JsonBody<LspRequest>,
) -> Result<StatusCode, DaemonError> {
    let (server, uri, path) = with_document(&state, &sandbox, &request).await?;
    let bytes = state
        .provider
        .download(&sandbox, &path)
        .await
        .map_err(|error| {
            DaemonError::bad_request(format!("failed to read file `{path}`: {error}"))
        })?;
    let params = json!({ "textDocument": {
        "uri": uri,
        "languageId": server.language_id,
        "version": 1,
        "text": String::from_utf8_lossy(&bytes),
    } });
    server
        .connection
        .notify("textDocument/didOpen", params)
        .await
        .map_err(|error| refused(&error))?;
    Ok(StatusCode::OK)
}

/// `POST /lsp/did-close`.
async fn did_close(
    State(state): State<Arc<AppState>>,
    Path(sandbox): Path<String>,
    JsonBody(request): JsonBody<LspRequest>,
) -> Result<StatusCode, DaemonError> {
    let (server, uri, _) = with_document(&state, &sandbox, &request).await?;
    server
        .connection
        .notify(
            "textDocument/didClose",
            json!({ "textDocument": { "uri": uri } }),
        )
        .await
        .map_err(|error| refused(&error))?;
    Ok(StatusCode::OK)
}

/// `POST /lsp/completions`: a `CompletionList`.
async fn completions(
    State(state): State<Arc<AppState>>,
    Path(sandbox): Path<String>,
    JsonBody(request): JsonBody<LspRequest>,
) -> Result<Json<Value>, DaemonError> {
    let (server, uri, _) = with_document(&state, &sandbox, &request).await?;
    let position = request
        .position
        .clone()
        .ok_or_else(|| DaemonError::bad_request("position is required"))?;
    let mut params = json!({ "textDocument": { "uri": uri }, "position": position });
    if let Some(context) = request.context.clone().filter(|context| !context.is_null()) {
        params["context"] = context;
    }
    let result = ask(&server, "textDocument/completion", params).await?;
    Ok(Json(completion_list(result)))
}

/// `GET /lsp/document-symbols?languageId=&pathToProject=&uri=`.
async fn document_symbols(
    State(state): State<Arc<AppState>>,
    Path(sandbox): Path<String>,
    Query(request): Query<LspRequest>,
) -> Result<Json<Vec<Value>>, DaemonError> {
    let (server, uri, _) = with_document(&state, &sandbox, &request).await?;
    let params = json!({ "textDocument": { "uri": uri } });
    let result = ask(&server, "textDocument/documentSymbol", params).await?;
    Ok(Json(symbols(result, Some(&uri))))
}

/// `GET /lsp/workspacesymbols?query=&languageId=&pathToProject=`.
async fn workspace_symbols(
    State(state): State<Arc<AppState>>,
    Path(sandbox): Path<String>,
    Query(request): Query<LspRequest>,
) -> Result<Json<Vec<Value>>, DaemonError> {
    let query = required(request.query.as_deref(), "query")?.to_string();
    let server = running(&state, &sandbox, &request).await?;
    let result = ask(&server, "workspace/symbol", json!({ "query": query })).await?;
    Ok(Json(symbols(result, None)))
}
