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
//! it. Tokens are credentials: never logged.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, OnceLock};

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde::Deserialize;

use super::error::ApiError;
use super::guard::constant_time_equal;
use super::sandbox::resolve;
use super::state::{AppState, Millis, SignedPreview, now};
use super::view::derived_state;
use crate::daytona_api::{PortPreviewUrl, SandboxState, SignedPortPreviewUrl};

/// The header a private preview needs, as on Daytona.
const TOKEN_HEADER: &str = "x-daytona-preview-token";

/// The largest request body the proxy forwards.
const MAX_BODY: usize = 64 << 20;

/// Daytona's default lifetime of a signed link.
const DEFAULT_SIGNED_SECONDS: u64 = 60;

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
    axum::Router::new()
        .route("/_preview/{sandbox}/{port}", any(to_directory))
        .route("/_preview/{sandbox}/{port}/", any(proxy_root))
        .route("/_preview/{sandbox}/{port}/{*rest}", any(proxy))
        .route("/_preview-signed/{token}", any(to_directory))
        .route("/_preview-signed/{token}/", any(signed_root))
        .route("/_preview-signed/{token}/{*rest}", any(signed))
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
    let seconds = match query.expires_in_seconds {
        None => DEFAULT_SIGNED_SECONDS,
        Some(seconds) if seconds > 0 => seconds as u64,
        Some(_) => {
            return Err(ApiError::bad_request(
                "expiresInSeconds must be a positive number",
            ));
        }
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
    Ok(StatusCode::OK)
}

/// A plain-text refusal: the proxy answers browsers and HTTP clients, not SDKs.
fn refuse(status: StatusCode, message: impl Into<String>) -> Response {
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
    let given = request
        .headers()
        .get(TOKEN_HEADER)
        .map(|value| value.as_bytes().to_vec());
    let allowed = record.public
        || match (&record.preview_token, given) {
            (Some(token), Some(given)) => constant_time_equal(token.as_bytes(), &given),
            _ => false,
        };
    if !allowed {
        return refuse(
            StatusCode::UNAUTHORIZED,
            format!("a preview of a private sandbox needs its token in `{TOKEN_HEADER}`"),
        );
    }
    let prefix = format!("/_preview/{}/{port}", sandbox.id);
    forward(&state, &sandbox, port, &prefix, &rest, request).await
}

async fn forward_signed(
    state: Arc<AppState>,
    token: String,
    rest: String,
    request: Request,
) -> Response {
    let now = now();
    let found = state.store.read(|records| {
        records
            .signed_previews
            .iter()
            .find(|preview| {
                preview.expires_at > now
                    && constant_time_equal(preview.token.as_bytes(), token.as_bytes())
            })
            .map(|preview| (preview.sandbox_id.clone(), preview.port))
    });
    let Some((id, port)) = found else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "the signed preview link is unknown or has expired",
        );
    };
    let Ok(sandbox) = resolve(&state, &id).await else {
        return refuse(StatusCode::NOT_FOUND, format!("no sandbox `{id}`"));
    };
    let prefix = format!("/_preview-signed/{token}");
    forward(&state, &sandbox, port, &prefix, &rest, request).await
}

/// Forwards `request` to `port` of a started sandbox, when a process of the sandboxes listens
/// there.
async fn forward(
    state: &AppState,
    sandbox: &crate::provider::Sandbox,
    port: u16,
    prefix: &str,
    rest: &str,
    request: Request,
) -> Response {
    let now = now();
    let record = state.store.sandbox(&sandbox.id);
    let (shown, _) = derived_state(sandbox, &record, now);
    if shown != SandboxState::Started {
        let name = serde_json::to_value(&shown).unwrap_or_default();
        return refuse(
            StatusCode::CONFLICT,
            format!(
                "sandbox `{}` is not started (state: {}): its ports are not previewed",
                sandbox.id,
                name.as_str().unwrap_or("unknown")
            ),
        );
    }
    if port == 0 || state.settings.own_ports.contains(&port) {
        return refuse(
            StatusCode::FORBIDDEN,
            format!("port {port} is not a sandbox's"),
        );
    }
    let Some(local) = &state.local else {
        return refuse(StatusCode::NOT_FOUND, "previews need the local provider");
    };
    let address = match listener(port, local.sandbox_host_uid()) {
        Listener::Sandbox(address) => address,
        Listener::Other => {
            return refuse(
                StatusCode::FORBIDDEN,
                format!("port {port} is served by a process that is not a sandbox's"),
            );
        }
        Listener::None => {
            return refuse(
                StatusCode::BAD_GATEWAY,
                format!("nothing listens on port {port} in sandbox `{}`", sandbox.id),
            );
        }
    };
    state.store.touch(&sandbox.id, now);
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(body) => body,
        Err(_) => {
            return refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                "the request body is too large",
            );
        }
    };
    let host = match address {
        IpAddr::V6(v6) => format!("[{v6}]"),
        IpAddr::V4(v4) => v4.to_string(),
    };
    let query = parts
        .uri
        .query()
        .map(|query| format!("?{query}"))
        .unwrap_or_default();
    let url = format!("http://{host}:{port}/{rest}{query}");
    let mut upstream = client().request(parts.method.clone(), &url).body(body);
    upstream = upstream.headers(forwarded_headers(&parts.headers, prefix));
    match upstream.send().await {
        Ok(reply) => {
            let status = reply.status();
            let headers = response_headers(reply.headers());
            let mut response = Response::new(Body::from_stream(reply.bytes_stream()));
            *response.status_mut() = status;
            *response.headers_mut() = headers;
            response
        }
        Err(error) => refuse(
            StatusCode::BAD_GATEWAY,
            format!("port {port} did not answer: {error}"),
        ),
    }
}

fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(std::time::Duration::from_secs(5))
            .build()
            .unwrap_or_default()
    })
}

/// Headers that belong to one connection, not to the request or answer (RFC 9110 7.6.1).
fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
    )
}

fn forwarded_headers(incoming: &HeaderMap, prefix: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in incoming {
        if hop_by_hop(name)
            || name == header::HOST
            || name == header::CONTENT_LENGTH
            || name.as_str() == TOKEN_HEADER
        {
            continue;
        }
        headers.append(name.clone(), value.clone());
    }
    if let Ok(prefix) = HeaderValue::from_str(prefix) {
        headers.insert(HeaderName::from_static("x-forwarded-prefix"), prefix);
    }
    headers
}

fn response_headers(upstream: &HeaderMap) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in upstream {
        if !hop_by_hop(name) && name != header::CONTENT_LENGTH {
            headers.append(name.clone(), value.clone());
        }
    }
    headers
}

/// Who listens on a loopback port.
#[derive(Debug, PartialEq, Eq)]
enum Listener {
    /// A sandbox's process, reachable at this address.
    Sandbox(IpAddr),
    /// Some other user's.
    Other,
    None,
}

/// The listening socket a connection to `port` on loopback reaches (IPv4 loopback first, then
/// any address, then IPv6), and whether `uid` owns it.
fn listener(port: u16, uid: u32) -> Listener {
    let mut found: Vec<(u8, IpAddr, u32)> = Vec::new();
    for (file, v6) in [("/proc/net/tcp", false), ("/proc/net/tcp6", true)] {
        let Ok(table) = std::fs::read_to_string(file) else {
            continue;
        };
        found.extend(
            table
                .lines()
                .skip(1)
                .filter_map(|line| listening(line, v6, port)),
        );
    }
    found.sort_by_key(|(rank, ..)| *rank);
    match found.first() {
        None => Listener::None,
        Some((_, address, owner)) if *owner == uid => Listener::Sandbox(*address),
        Some(_) => Listener::Other,
    }
}

/// One line of `/proc/net/tcp{,6}`: a socket listening on `port` where a loopback client
/// reaches it, ranked, with the address to connect to and its owner's uid.
fn listening(line: &str, v6: bool, port: u16) -> Option<(u8, IpAddr, u32)> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let (local, state, uid) = (fields.get(1)?, fields.get(3)?, fields.get(7)?);
    if *state != "0A" {
        return None;
    }
    let (address, local_port) = local.split_once(':')?;
    if u16::from_str_radix(local_port, 16).ok()? != port {
        return None;
    }
    let uid = uid.parse().ok()?;
    let (rank, connect) = if v6 {
        match address {
            "00000000000000000000000000000000" => (2, IpAddr::V4(Ipv4Addr::LOCALHOST)),
            "00000000000000000000000001000000" => (3, IpAddr::V6(Ipv6Addr::LOCALHOST)),
            "0000000000000000FFFF00000100007F" => (0, IpAddr::V4(Ipv4Addr::LOCALHOST)),
            _ => return None,
        }
    } else {
        match address {
            "0100007F" => (0, IpAddr::V4(Ipv4Addr::LOCALHOST)),
            "00000000" => (1, IpAddr::V4(Ipv4Addr::LOCALHOST)),
            _ => return None,
        }
    };
    Some((rank, connect, uid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_sockets_are_read_from_the_kernel_table() {
        let v4 = "   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 65520        0 12345 1 0000000000000000 100 0 0 10 0";
        assert_eq!(
            listening(v4, false, 8080),
            Some((0, IpAddr::V4(Ipv4Addr::LOCALHOST), 65520))
        );
        assert_eq!(listening(v4, false, 8081), None);
        let established = v4.replace(" 0A ", " 01 ");
        assert_eq!(listening(&established, false, 8080), None);
        let any6 = "   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0";
        assert_eq!(
            listening(any6, true, 8080),
            Some((2, IpAddr::V4(Ipv4Addr::LOCALHOST), 0))
        );
    }
}
