//! What happens to every request before and after its handler: counting, simulated latency,
//! faults and throttling, bearer authentication, and error bodies in Daytona's shapes.
//!
//! Handlers never see an unauthenticated request: the API key, or, for a signed file URL's
//! download or upload, its signature (`file_signing`); the one route without this layer is the
//! health check, which says nothing but `ok`. This file must not log headers or queries: the
//! bearer token and a signature are credentials.

use std::sync::Arc;

use axum::extract::{MatchedPath, OriginalUri, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, DaemonError, render};
use super::file_signing;
use super::simulate::{Throttler, Verdict};
use super::state::{self, AppState};

/// Whether simulated faults may hit this path: never the stats route (for tests) nor the
/// health check (harnesses wait on it).
pub(crate) fn is_faultable(path: &str) -> bool {
    (path.starts_with("/api/") && path != "/api/health") || path.starts_with("/toolbox/")
}

/// The throttler a control-plane route counts against, as Daytona tags them; the deprecated
/// toolbox routes count against none.
fn throttler(method: &Method, route: &str) -> Option<Throttler> {
    let lifecycle = ["/start", "/stop", "/recover", "/archive"];
    if route.starts_with("/api/toolbox/") {
        None
    } else if method == Method::POST && route == "/api/sandbox" {
        Some(Throttler::SandboxCreate)
    } else if (method == Method::POST && lifecycle.iter().any(|action| route.ends_with(action)))
        || (method == Method::DELETE && route == "/api/sandbox/{sandbox}")
    {
        Some(Throttler::SandboxLifecycle)
    } else {
        Some(Throttler::Authenticated)
    }
}

pub(crate) enum Denied {
    Missing,
    Invalid,
}

/// The bearer token must be the key, compared in constant time. Only without a key (`bind`
/// allows that only when told to accept any token) does any token pass.
pub(crate) fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<(), Denied> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|token| !token.is_empty())
        .ok_or(Denied::Missing)?;
    match &state.settings.api_key {
        Some(key) if !constant_time_equal(key.as_bytes(), token.as_bytes()) => Err(Denied::Invalid),
        _ => Ok(()),
    }
}

pub(crate) fn constant_time_equal(left: &[u8], right: &[u8]) -> bool {
    left.len() == right.len()
        && left
            .iter()
            .zip(right)
            .fold(0u8, |difference, (a, b)| difference | (a ^ b))
            == 0
}

fn rate_limit_headers(headers: &mut HeaderMap, verdict: &Verdict) {
    let name = verdict.throttler.name();
    let mut set = |prefix: &str, value: u64| {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(format!("{prefix}-{name}")),
            HeaderValue::try_from(value.to_string()),
        ) {
            headers.insert(name, value);
        }
    };
    set("x-ratelimit-limit", u64::from(verdict.limit));
    set("x-ratelimit-remaining", u64::from(verdict.remaining));
    set("x-ratelimit-reset", verdict.reset_seconds);
    if !verdict.allowed {
        set("retry-after", verdict.reset_seconds.max(1));
    }
}

/// Latency, then a possible injected 5xx (`Err`), then a possible stall.
async fn simulate(state: &AppState) -> Result<(), ()> {
    let simulation = &state.simulation;
    if !simulation.latency.is_zero() {
        tokio::time::sleep(simulation.latency).await;
    }
    if state.dice.roll(simulation.error_rate) {
        return Err(());
    }
    if state.dice.roll(simulation.stall_rate) {
        tokio::time::sleep(simulation.stall).await;
    }
    Ok(())
}

/// What the middleware of every route does around its own checks: the request counted under
/// its route, `handle`'s answer, an error answer rendered in the body of its side (the daemon's,
/// quoting the daemon's own path, when `daemon`), and the status counted.
async fn counted(
    state: &AppState,
    matched: &MatchedPath,
    request: Request,
    daemon: bool,
    handle: impl AsyncFnOnce(Request) -> Response,
) -> Response {
    let method = request.method().clone();
    let path = original_path(&request);
    let path = if daemon { daemon_path(&path) } else { path };
    let route = format!("{method} {}", matched.as_str());
    state.stats.request(&route);
    let response = handle(request).await;
    let response = if response.status().is_client_error() || response.status().is_server_error() {
        render(response, &path, &method, daemon).await
    } else {
        response
    };
    state.stats.status(&route, response.status().as_u16());
    response
}

/// The middleware of every `/api` route.
pub(crate) async fn api(
    State(state): State<Arc<AppState>>,
    matched: MatchedPath,
    request: Request,
    next: Next,
) -> Response {
    counted(
        &state,
        &matched,
        request,
        false,
        async |request: Request| {
            if authenticate(&state, request.headers()).is_err() {
                return ApiError::new(StatusCode::UNAUTHORIZED, "Unauthorized").into_response();
            }
            let method = request.method();
            let verdict = throttler(method, matched.as_str()).and_then(|t| state.throttlers.hit(t));
            if let Some(verdict) = verdict.filter(|verdict| !verdict.allowed) {
                let mut error = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "ThrottlerException: Too Many Requests",
                );
                rate_limit_headers(&mut error.headers, &verdict);
                return error.into_response();
            }
            if simulate(&state).await.is_err() {
                return ApiError::internal("An unexpected error occurred.").into_response();
            }
            let mut response = next.run(request).await;
            if let Some(verdict) = verdict {
                rate_limit_headers(response.headers_mut(), &verdict);
            }
            response
        },
    )
    .await
}

/// Whether a toolbox request may go on: a signed file URL by its signature, anything else by
/// the API key.
fn toolbox_access(state: &AppState, route: &str, request: &Request) -> Result<(), DaemonError> {
    let uri = request.uri();
    if let Some(operation) = file_signing::signed_operation(request.method(), route, uri) {
        let id = sandbox_of(&original_path(request));
        let now = state::now() / 1000;
        return file_signing::verify(state, &id, operation, uri, now);
    }
    authenticate(state, request.headers()).map_err(|denied| {
        let message = match denied {
            Denied::Missing => "missing authentication: no bearer token",
            Denied::Invalid => "authentication failed: invalid API key",
        };
        DaemonError::new(StatusCode::UNAUTHORIZED, message)
    })
}

/// The middleware of every `/toolbox/{sandbox}/...` route. Daemon error bodies quote the daemon's
/// own path (`/process/execute`), without the proxy prefix.
pub(crate) async fn toolbox(
    State(state): State<Arc<AppState>>,
    matched: MatchedPath,
    request: Request,
    next: Next,
) -> Response {
    counted(&state, &matched, request, true, async |request: Request| {
        if let Err(denied) = toolbox_access(&state, matched.as_str(), &request) {
            return denied.into_response();
        }
        if simulate(&state).await.is_err() {
            return DaemonError::new(StatusCode::BAD_GATEWAY, "bad gateway").into_response();
        }
        next.run(request).await
    })
    .await
}

/// The guard of `/_ralph/stats`: the key, and answers in the API's shape.
pub(crate) async fn internal(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    if authenticate(&state, request.headers()).is_ok() {
        return next.run(request).await;
    }
    let (method, path) = (request.method().clone(), original_path(&request));
    let response = ApiError::new(StatusCode::UNAUTHORIZED, "Unauthorized").into_response();
    render(response, &path, &method, false).await
}

/// `GET /api/health`, Daytona's liveness check: no key needed, nothing to learn from it.
pub(crate) async fn health() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

/// The path as the client sent it (a nested router sees it without its prefix).
fn original_path(request: &Request) -> String {
    request
        .extensions()
        .get::<OriginalUri>()
        .map(|original| original.path().to_string())
        .unwrap_or_else(|| request.uri().path().to_string())
}

/// `/toolbox/{id}/process/execute` -> (`{id}`, `/process/execute`).
fn split_toolbox_path(path: &str) -> (&str, &str) {
    let rest = path.strip_prefix("/toolbox/").unwrap_or(path);
    match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, "/"),
    }
}

/// `/toolbox/{id}/process/execute` -> `/process/execute`.
fn daemon_path(path: &str) -> String {
    split_toolbox_path(path).1.to_string()
}

/// `/toolbox/{id}/process/execute` -> `{id}`.
fn sandbox_of(path: &str) -> String {
    split_toolbox_path(path).0.to_string()
}

/// Unknown `/api` paths, as NestJS words them.
pub(crate) async fn api_not_found(
    State(state): State<Arc<AppState>>,
    request: Request,
) -> Response {
    state.stats.request("unmatched");
    let (method, path) = (request.method().clone(), original_path(&request));
    let response =
        ApiError::new(StatusCode::NOT_FOUND, format!("Cannot {method} {path}")).into_response();
    render(response, &path, &method, false).await
}

/// Unknown toolbox paths.
pub(crate) async fn toolbox_not_found(
    State(state): State<Arc<AppState>>,
    request: Request,
) -> Response {
    state.stats.request("unmatched");
    let (method, path) = (request.method().clone(), original_path(&request));
    let response = DaemonError::not_found(format!(
        "{method} {} is not a toolbox route",
        daemon_path(&path)
    ))
    .into_response();
    render(response, &daemon_path(&path), &method, true).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_count_against_daytona_throttlers() {
        let case = |method: Method, route: &str| throttler(&method, route);
        assert_eq!(
            case(Method::POST, "/api/sandbox"),
            Some(Throttler::SandboxCreate)
        );
        assert_eq!(
            case(Method::GET, "/api/sandbox"),
            Some(Throttler::Authenticated)
        );
        assert_eq!(
            case(Method::POST, "/api/sandbox/{sandbox}/stop"),
            Some(Throttler::SandboxLifecycle)
        );
        assert_eq!(
            case(Method::DELETE, "/api/sandbox/{sandbox}"),
            Some(Throttler::SandboxLifecycle)
        );
        assert_eq!(
            case(Method::DELETE, "/api/sandbox/{sandbox}/ssh-access"),
            Some(Throttler::Authenticated)
        );
        assert_eq!(
            case(
                Method::POST,
                "/api/toolbox/{sandbox}/toolbox/process/execute"
            ),
            None
        );
    }

    #[test]
    fn the_health_check_and_the_stats_are_never_faulty() {
        assert!(!is_faultable("/api/health"));
        assert!(!is_faultable("/_ralph/stats"));
        assert!(is_faultable("/api/healthz"));
        assert!(is_faultable("/api/sandbox"));
        assert!(is_faultable("/toolbox/abc/process/execute"));
    }

    #[test]
    fn daemon_paths_drop_the_proxy_prefix() {
        assert_eq!(
            daemon_path("/toolbox/abc/process/execute"),
            "/process/execute"
        );
        assert_eq!(daemon_path("/toolbox/abc"), "/");
    }

    #[test]
    fn keys_compare_whole() {
        assert!(constant_time_equal(b"dtn_abc", b"dtn_abc"));
        assert!(!constant_time_equal(b"dtn_abc", b"dtn_ab"));
        assert!(!constant_time_equal(b"dtn_abc", b"dtn_abd"));
    }
}
