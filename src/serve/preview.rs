//! Preview links: `GET /api/sandbox/{id}/ports/{port}/preview-url` (and the signed variant with
//! its expiry) and the reverse proxy behind them, `/_preview/{id}/{port}/...` and
//! `/_preview-signed/{token}/...` on this server's own listener.
//!
//! Sandboxes share the host's network, so a sandbox's port is a host loopback port. The proxy
//! forwards only to a port whose listening socket belongs to the sandboxes' own host user (as
//! root, uid 65520, which owns nothing else), never to this server's own ports, and only while
//! the sandbox is started; a private sandbox's previews need its preview token
//! (`x-daytona-preview-token`) or a signed link. The proxy takes no API key and grants nothing
//! but the preview: the token header is not forwarded, and no `/api` or toolbox route is behind
//! it. Expiring a signed link early ends what is open through it: WebSockets, and answers
//! still streaming. A browser opening a link is moved to the preview's own origin
//! ([`super::preview_origin`]). Tokens are credentials: never logged.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, any, get, post};
use futures::StreamExt as _;
use serde::Deserialize;

use super::error::ApiError;
use super::middleware::constant_time_equal;
use super::preview_origin;
use super::preview_passes::Credential;
use super::preview_proxy::forward;
use super::revocation::{Grant, Watch};
use super::sandbox::resolve;
use super::state::{AppState, Millis, SandboxRecord, SignedPreview, now};
use crate::daytona_api::{PortPreviewUrl, SignedPortPreviewUrl};
use crate::provider::Sandbox;

/// The header a private preview needs, as on Daytona.
pub(crate) const TOKEN_HEADER: &str = "x-daytona-preview-token";

/// Daytona's default lifetime of a signed link.
const DEFAULT_SIGNED_SECONDS: u64 = 60;
const MAX_SIGNED_SECONDS: u64 = 24 * 60 * 60;

/// The control-plane routes (behind the API key).
pub(crate) fn api_routes() -> axum::Router<Arc<AppState>> {
    axum::Router::new()
        .route(
            "/sandbox/{sandbox}/ports/{port}/preview-url",
            get(preview_url),
        )
        .route(
            "/sandbox/{sandbox}/ports/{port}/signed-preview-url",
            get(signed_preview_url),
        )
        .route(
            "/sandbox/{sandbox}/ports/{port}/signed-preview-url/{token}/expire",
            post(expire),
        )
}

/// The proxy's routes (no API key: the preview token or the signed link is the credential).
pub(crate) fn proxy_routes() -> axum::Router<Arc<AppState>> {
    let private = preview_under("/_preview/{sandbox}/{port}", any(proxy_root), any(proxy));
    let signed = preview_under("/_preview-signed/{token}", any(signed_root), any(signed));
    private.merge(signed)
}

/// A preview's routes under `prefix`: the bare prefix redirects into the directory, whose root
/// goes to `root` and whatever lies below to `rest`.
fn preview_under(
    prefix: &str,
    root: MethodRouter<Arc<AppState>>,
    rest: MethodRouter<Arc<AppState>>,
) -> axum::Router<Arc<AppState>> {
    axum::Router::new()
        .route(prefix, any(to_directory))
        .route(&format!("{prefix}/"), root)
        .route(&format!("{prefix}/{{*rest}}"), rest)
}

fn parse_port(text: &str) -> Result<u16, ApiError> {
    text.parse::<u16>()
        .ok()
        .filter(|port| *port > 0)
        .ok_or_else(|| ApiError::bad_request(format!("Invalid port {text}")))
}

fn new_token() -> Result<String, ApiError> {
    super::api_key::random_token(32)
        .map_err(|error| ApiError::internal(format!("no random source: {error}")))
}

async fn preview_url(
    State(state): State<Arc<AppState>>,
    Path((id_or_name, port)): Path<(String, String)>,
) -> Result<Json<PortPreviewUrl>, ApiError> {
    let port = parse_port(&port)?;
    let sandbox = resolve(&state, &id_or_name).await?;
    let fresh = new_token()?;
    let record = state.store.update_sandbox(&sandbox.id, |record| {
        record.preview_token.get_or_insert(fresh);
    })?;
    Ok(Json(PortPreviewUrl {
        url: format!("{}/_preview/{}/{port}", state.settings.base_url, sandbox.id),
        sandbox_id: sandbox.id,
        token: record.preview_token.unwrap_or_default(),
    }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SignedQuery {
    expires_in_seconds: Option<i64>,
}

async fn signed_preview_url(
    State(state): State<Arc<AppState>>,
    Path((id_or_name, port)): Path<(String, String)>,
    Query(query): Query<SignedQuery>,
) -> Result<Json<SignedPortPreviewUrl>, ApiError> {
    let port = parse_port(&port)?;
    // NOTES-style: Daytona takes 1 second to 24 hours, and answers anything else with this 400.
    let seconds = match query.expires_in_seconds {
        None => DEFAULT_SIGNED_SECONDS,
        Some(seconds) => u64::try_from(seconds)
            .ok()
            .filter(|seconds| (1..=MAX_SIGNED_SECONDS).contains(seconds))
            .ok_or_else(|| {
                ApiError::bad_request("expiresInSeconds must be between 1 second and 24 hours")
            })?,
    };
    let sandbox = resolve(&state, &id_or_name).await?;
    let token = new_token()?.to_lowercase();
    let now = now();
    let preview = SignedPreview {
        token: token.clone(),
        sandbox_id: sandbox.id.clone(),
        port,
        expires_at: now.saturating_add(seconds.saturating_mul(1000) as Millis),
    };
    state.store.write(|records| {
        records.signed_previews.retain(|old| old.expires_at > now);
        records.signed_previews.push(preview);
    })?;
    Ok(Json(SignedPortPreviewUrl {
        url: format!("{}/_preview-signed/{token}", state.settings.base_url),
        sandbox_id: sandbox.id,
        port,
        token,
    }))
}

async fn expire(
    State(state): State<Arc<AppState>>,
    Path((id_or_name, port, token)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    let port = parse_port(&port)?;
    let sandbox = resolve(&state, &id_or_name).await?;
    state.store.write(|records| {
        records.signed_previews.retain(|preview| {
            !(preview.sandbox_id == sandbox.id && preview.port == port && preview.token == token)
        });
    })?;
    // Expired early, the link also ends the WebSockets opened through it (web terminals
    // included); one that reaches its expiry does not (see `revocation.rs`).
    let expired = Grant::SignedPreview {
        sandbox: sandbox.id,
        port,
        token,
    };
    state.revocations.revoke(|grant| *grant == expired);
    Ok(StatusCode::OK)
}

/// A plain-text refusal: the proxy answers browsers and HTTP clients, not SDKs.
pub(crate) fn refuse(status: StatusCode, message: impl Into<String>) -> Response {
    (status, message.into()).into_response()
}

/// `/_preview/{id}/{port}` to `/_preview/{id}/{port}/`, so that relative links resolve inside
/// the preview.
async fn to_directory(request: Request) -> Response {
    let uri = request.uri();
    let location = match uri.query() {
        Some(query) => format!("{}/?{query}", uri.path()),
        None => format!("{}/", uri.path()),
    };
    (
        StatusCode::PERMANENT_REDIRECT,
        [(header::LOCATION, location)],
    )
        .into_response()
}

async fn proxy_root(
    State(state): State<Arc<AppState>>,
    Path((sandbox, port)): Path<(String, String)>,
    request: Request,
) -> Response {
    forward_private(state, sandbox, port, String::new(), request).await
}

async fn proxy(
    State(state): State<Arc<AppState>>,
    Path((sandbox, port, rest)): Path<(String, String, String)>,
    request: Request,
) -> Response {
    forward_private(state, sandbox, port, rest, request).await
}

async fn signed_root(
    State(state): State<Arc<AppState>>,
    Path(token): Path<String>,
    request: Request,
) -> Response {
    forward_signed(state, token, String::new(), request).await
}

async fn signed(
    State(state): State<Arc<AppState>>,
    Path((token, rest)): Path<(String, String)>,
    request: Request,
) -> Response {
    forward_signed(state, token, rest, request).await
}

async fn forward_private(
    state: Arc<AppState>,
    id: String,
    port: String,
    rest: String,
    request: Request,
) -> Response {
    let Ok(port) = port.parse::<u16>() else {
        return refuse(StatusCode::BAD_REQUEST, "invalid port");
    };
    let Ok(sandbox) = resolve(&state, &id).await else {
        return refuse(StatusCode::NOT_FOUND, format!("no sandbox `{id}`"));
    };
    let record = state.store.sandbox(&sandbox.id);
    let tokened = match token_admits(&record, request.headers(), port) {
        Ok(tokened) => tokened,
        Err(refused) => return *refused,
    };
    let credential = tokened.then(|| Credential::Token(record.preview_token.unwrap_or_default()));
    if let Some(moved) = preview_origin::redirect(&state, &request, &sandbox.id, port, credential) {
        return moved;
    }
    let prefix = format!("/_preview/{}/{port}", sandbox.id);
    forward(&state, &sandbox, port, &prefix, &rest, request).await
}

/// Whether a request for `port` of the sandbox of `record` may pass without a signed link:
/// `true` when it carries the preview token, `false` when it needs none (a public sandbox's
/// preview), else the refusal.
pub(super) fn token_admits(
    record: &SandboxRecord,
    headers: &HeaderMap,
    port: u16,
) -> Result<bool, Box<Response>> {
    let given = headers.get(TOKEN_HEADER).map(HeaderValue::as_bytes);
    let tokened = match (&record.preview_token, given) {
        (Some(token), Some(given)) => constant_time_equal(token.as_bytes(), given),
        _ => false,
    };
    // The web terminal is a shell: like Daytona's reserved ports, it needs the token (or a
    // signed link) even when the sandbox is public.
    let terminal = port == super::web_terminal::PORT;
    if !tokened && (terminal || !record.public) {
        let what = if terminal {
            "the web terminal (port 22222), public sandbox or not,"
        } else {
            "a preview of a private sandbox"
        };
        return Err(Box::new(refuse(
            StatusCode::UNAUTHORIZED,
            format!("{what} needs its token in `{TOKEN_HEADER}` (or a signed link)"),
        )));
    }
    Ok(tokened)
}

async fn forward_signed(
    state: Arc<AppState>,
    token: String,
    rest: String,
    request: Request,
) -> Response {
    let Some((id, port)) = signed_target(&state, &token) else {
        return unknown_link();
    };
    let Ok(sandbox) = resolve(&state, &id).await else {
        return refuse(StatusCode::NOT_FOUND, format!("no sandbox `{id}`"));
    };
    let credential = Some(Credential::Signed(token.clone()));
    if let Some(moved) = preview_origin::redirect(&state, &request, &sandbox.id, port, credential) {
        return moved;
    }
    let prefix = format!("/_preview-signed/{token}");
    forward_linked(&state, &sandbox, port, token, &prefix, &rest, request).await
}

fn unknown_link() -> Response {
    refuse(
        StatusCode::UNAUTHORIZED,
        "the signed preview link is unknown or has expired",
    )
}

/// Forwards `request` to `port` of `sandbox` through the signed link `token`: what opens (a
/// WebSocket) holds the link, so that expiring it early ends that too.
pub(super) async fn forward_linked(
    state: &Arc<AppState>,
    sandbox: &Sandbox,
    port: u16,
    token: String,
    prefix: &str,
    rest: &str,
    mut request: Request,
) -> Response {
    let id = sandbox.id.clone();
    let live = || signed_target(state, &token) == Some((id.clone(), port));
    let grant = Grant::SignedPreview {
        sandbox: sandbox.id.clone(),
        port,
        token: token.clone(),
    };
    let Some(watch) = state.revocations.hold(grant, live) else {
        return unknown_link();
    };
    request.extensions_mut().insert(watch.clone());
    let response = forward(state, sandbox, port, prefix, rest, request).await;
    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        // The switched connection holds the watch itself.
        return response;
    }
    cut_when_revoked(response, watch)
}

/// `response` with a body that fails, ending the connection, once `watch`'s link is expired
/// early: a streamed answer (server-sent events, a long download) stops with the link.
fn cut_when_revoked(response: Response, watch: Watch) -> Response {
    let (parts, body) = response.into_parts();
    let chunks = futures::stream::unfold(Some((body.into_data_stream(), watch)), |open| async {
        let (mut body, watch) = open?;
        tokio::select! {
            chunk = body.next() => chunk.map(|chunk| (chunk, Some((body, watch)))),
            () = watch.revoked() => {
                let expired = axum::Error::new("the signed preview link was expired");
                Some((Err(expired), None))
            }
        }
    });
    Response::from_parts(parts, Body::from_stream(chunks))
}

/// The sandbox and port a live signed link `token` opens.
pub(super) fn signed_target(state: &AppState, token: &str) -> Option<(String, u16)> {
    live_link(state, token).map(|preview| (preview.sandbox_id, preview.port))
}

/// The signed link `token`, while it lives.
pub(super) fn live_link(state: &AppState, token: &str) -> Option<SignedPreview> {
    let now = now();
    state.store.read(|records| {
        records
            .signed_previews
            .iter()
            .find(|preview| {
                preview.expires_at > now
                    && constant_time_equal(preview.token.as_bytes(), token.as_bytes())
            })
            .cloned()
    })
}
