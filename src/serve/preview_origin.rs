//! Each preview on an origin of its own in a browser, as on Daytona (whose previews are
//! `https://{port}-{id}.proxy...`): `http://{port}-{id}.localhost[:this server's port]`.
//! Browsers resolve `*.localhost` to loopback themselves, so a browser on this machine reaches
//! this server there, and pages of two previews share no `localStorage`, caches or cookies,
//! and cannot script each other.
//!
//! A request whose `Host` is such a name is that preview's, its path as it came (nothing here
//! reaches `/api` or the toolbox). A browser's top-level navigation to a path-based preview or
//! signed link (`/_preview/...`), when this server is reached by a loopback name, is redirected
//! to the same path there, with a one-time code ([`super::preview_passes`]) that the own
//! origin exchanges for a host-only, `HttpOnly`, `SameSite=Lax` cookie before redirecting to the
//! clean URL; the cookie admits the browser there while the link (or the preview token) it was
//! opened with does. A public sandbox's preview needs no code. The token and the link never
//! appear in a URL of the own origin.
//!
//! The web terminal (port 22222) has no own origin: its page stays at its link. Cookies ignore
//! ports, so a browser sends the cookie of `22222-{id}.localhost` to any port of that host, and
//! a sandbox on this machine's network can listen on one and lead the browser there; such a
//! cookie would open the shell. An app's cookie opens that app, which such a sandbox reaches
//! over the shared loopback anyway, unless the app's sandbox has a network of its own.
//!
//! Clients that are not browsers send no `Sec-Fetch-*` headers: they are never redirected and
//! keep the path-based links the API returns (their HTTP clients do not resolve `*.localhost`).
//! Neither is a browser that reached this server by another name (another machine's browser
//! has no loopback of ours): its previews share this server's origin, with the cookie path
//! rewriting of [`super::preview_cookies`].
//!
//! NOTES-style: Daytona's proxy (apps/proxy/pkg/proxy/auth.go) takes the preview token in a
//! `DAYTONA_SANDBOX_AUTH_KEY` query parameter, or a signed link's token in the name, and sets a
//! cookie `daytona-sandbox-auth-{id}` for an hour; here no token is ever put in a URL.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};

use super::preview::{forward_linked, live_link, refuse, token_admits};
use super::preview_passes::{
    COOKIE, Credential, Pass, Refusal, TOKEN_PASS_MILLIS, cookies, strip_cookie,
};
use super::preview_proxy::forward;
use super::sandbox::resolve;
use super::state::{AppState, now};
use super::web_terminal;

/// The query parameter of a redirect to a preview's own origin that holds its one-time code.
const CODE_PARAM: &str = "ralph_preview_code";

const SUFFIX: &str = ".localhost";

/// Serves a request whose `Host` is a preview's own origin as that preview; passes any other on.
pub(crate) async fn dispatch(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    match host(request.headers(), request.uri()).and_then(|host| preview_of(&host)) {
        Some((_, web_terminal::PORT)) => refuse(
            StatusCode::NOT_FOUND,
            "the web terminal has no origin of its own: open its link",
        ),
        Some((id, port)) => own_origin(state, id, port, request).await,
        None => next.run(request).await,
    }
}

/// A browser's top-level navigation to a path-based preview of (`sandbox`, `port`), already
/// admitted with `credential` (none: a public sandbox's preview): the redirect to the same
/// path on the preview's own origin, with a code for the credential. `None` when the request
/// stays where it is.
pub(crate) fn redirect(
    state: &AppState,
    request: &Request,
    sandbox: &str,
    port: u16,
    credential: Option<Credential>,
) -> Option<Response> {
    // The web terminal stays at its link: a cookie that opened a shell would be sent to every
    // port of its own origin's host, and a sandbox on this machine's network may listen on one.
    if request.method() != Method::GET
        || !navigation(request.headers())
        || port == web_terminal::PORT
    {
        return None;
    }
    let reached = host(request.headers(), request.uri())?;
    let origin = origin_of(&state.settings.base_url, &reached, sandbox, port)?;
    let uri = request.uri();
    // The path under the link, as it came (not decoded): `/_preview/{id}/{port}` or
    // `/_preview-signed/{token}`.
    let segments = if uri.path().starts_with("/_preview-signed/") {
        2
    } else {
        3
    };
    let rest = uri.path().splitn(segments + 2, '/').nth(segments + 1)?;
    let mut location = format!("{origin}/{rest}");
    let mut query: Vec<String> = uri.query().map(without_code).unwrap_or_default();
    if let Some(credential) = credential {
        let expires_at = match &credential {
            Credential::Signed(token) => live_link(state, token)?.expires_at,
            Credential::Token(_) => now().saturating_add(TOKEN_PASS_MILLIS),
        };
        let pass = Pass {
            sandbox: sandbox.to_string(),
            port,
            credential,
            expires_at,
        };
        match state.passes.code(pass) {
            Ok(code) => query.push(format!("{CODE_PARAM}={code}")),
            Err(error) => return Some(refuse(StatusCode::INTERNAL_SERVER_ERROR, error)),
        }
    }
    if !query.is_empty() {
        location = format!("{location}?{}", query.join("&"));
    }
    Some((StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response())
}

/// A request on the own origin of (`id`, `port`): a code is exchanged for the cookie; anything
/// else goes to the preview when the cookie, the preview token or a public sandbox admits it.
async fn own_origin(state: Arc<AppState>, id: String, port: u16, mut request: Request) -> Response {
    // Ids only: a name may later be another sandbox's, which must not inherit this origin.
    let sandbox = match resolve(&state, &id).await {
        Ok(sandbox) if sandbox.id == id => sandbox,
        _ => return refuse(StatusCode::NOT_FOUND, format!("no sandbox `{id}`")),
    };
    let query = request.uri().query().unwrap_or_default();
    let code = query
        .split('&')
        .find_map(|pair| pair.strip_prefix(CODE_PARAM)?.strip_prefix('='));
    if let Some(code) = code {
        return exchange(&state, &sandbox.id, port, code, request.uri());
    }
    let admitted = cookies(request.headers())
        .into_iter()
        .find_map(|value| state.passes.admitted(&state, &value, &sandbox.id, port));
    // The cookie is this server's credential, not the app's.
    strip_cookie(request.headers_mut());
    let rest = request.uri().path().trim_start_matches('/').to_string();
    match admitted.map(|pass| pass.credential) {
        Some(Credential::Signed(token)) => {
            forward_linked(&state, &sandbox, port, token, "", &rest, request).await
        }
        Some(Credential::Token(_)) => forward(&state, &sandbox, port, "", &rest, request).await,
        None => {
            let record = state.store.sandbox(&sandbox.id);
            match token_admits(&record, request.headers(), port) {
                Ok(_) => forward(&state, &sandbox, port, "", &rest, request).await,
                Err(_) => refuse(
                    StatusCode::UNAUTHORIZED,
                    "this preview needs its link opened in this browser (or its token in `x-daytona-preview-token`)",
                ),
            }
        }
    }
}

/// Exchanges `code` for the cookie of (`sandbox`, `port`), and sends the browser on to the URL
/// without the code.
fn exchange(
    state: &AppState,
    sandbox: &str,
    port: u16,
    code: &str,
    uri: &axum::http::Uri,
) -> Response {
    let pass = match state.passes.redeem(code, sandbox, port) {
        Ok(pass) => pass,
        Err(Refusal::Unknown) => {
            return refuse(
                StatusCode::UNAUTHORIZED,
                "the preview's code is unknown, used or expired: open the preview link again",
            );
        }
        Err(Refusal::Elsewhere) => {
            return refuse(
                StatusCode::FORBIDDEN,
                "the preview's code was given for another preview",
            );
        }
    };
    let seconds = pass.expires_at.saturating_sub(now()).div_ceil(1000);
    let value = state.passes.cookie(&pass);
    // Host-only (no `Domain`): no other preview's origin ever receives it.
    let cookie = format!("{COOKIE}={value}; Path=/; Max-Age={seconds}; HttpOnly; SameSite=Lax");
    let query = uri.query().map(without_code).unwrap_or_default();
    let path = same_origin(uri.path());
    let location = if query.is_empty() {
        path
    } else {
        format!("{path}?{}", query.join("&"))
    };
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, cookie),
            (header::LOCATION, location),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
    )
        .into_response()
}

/// `path` as a `Location` that stays on this origin: one that begins `//` (or `/\\`, which
/// browsers read alike) would name another host (`//evil.example/`), so it gets a `/.` before
/// it, a segment browsers drop, which leaves the app the path it was asked for.
fn same_origin(path: &str) -> String {
    if path.starts_with("//") || path.starts_with("/\\") {
        format!("/.{path}")
    } else {
        path.to_string()
    }
}

/// What only a browser sends, and only for the page of a tab or window (not a frame, a fetch
/// or a WebSocket).
fn navigation(headers: &HeaderMap) -> bool {
    let is = |name: &str, wanted: &str| {
        headers
            .get(name)
            .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(wanted.as_bytes()))
    };
    is("sec-fetch-mode", "navigate") && is("sec-fetch-dest", "document")
}

/// The authority a request was sent to.
fn host(headers: &HeaderMap, uri: &axum::http::Uri) -> Option<String> {
    let host = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok());
    host.map(str::to_string).or_else(|| {
        uri.authority()
            .map(|authority| authority.as_str().to_string())
    })
}

/// The host and the port of an authority (`name:port`, `[v6]:port`).
fn split_port(authority: &str) -> (&str, Option<&str>) {
    let after_host = match authority.strip_prefix('[') {
        Some(v6) => v6.find(']').map(|end| end + 2),
        None => authority.find(':'),
    };
    match after_host {
        Some(at) if authority.as_bytes().get(at) == Some(&b':') => {
            (&authority[..at], Some(&authority[at + 1..]))
        }
        _ => (authority, None),
    }
}

fn loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|address| address.is_loopback())
}

/// The preview (sandbox id, port) a `Host` names: `{port}-{id}.localhost[:port]`.
fn preview_of(host: &str) -> Option<(String, u16)> {
    let (name, _) = split_port(host);
    let name = name.to_ascii_lowercase();
    let label = name.strip_suffix(SUFFIX)?;
    let (port, id) = label.split_once('-')?;
    if port.is_empty() || !port.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let port = port.parse::<u16>().ok().filter(|port| *port > 0)?;
    (!id.is_empty() && !id.contains('.')).then(|| (id.to_string(), port))
}

/// The own origin of (`sandbox`, `port`) for a browser that reached this server at `reached`:
/// only over plain HTTP (no certificate names `*.localhost`) and by a loopback name, which this
/// server's URL must be too (one behind a public name may be reached by a proxy on loopback).
fn origin_of(base_url: &str, reached: &str, sandbox: &str, port: u16) -> Option<String> {
    let base = base_url.strip_prefix("http://")?;
    let (base_host, _) = split_port(base.split('/').next().unwrap_or_default());
    let (host, host_port) = split_port(reached);
    // A port of digits only: the rest of a `Host` (`localhost:1@evil.example`) would name
    // another host in the `Location`.
    let digits = |port: &str| !port.is_empty() && port.bytes().all(|byte| byte.is_ascii_digit());
    if !loopback(base_host) || !loopback(host) || !host_port.is_none_or(digits) {
        return None;
    }
    let host_port = host_port.map(|port| format!(":{port}")).unwrap_or_default();
    Some(format!("http://{port}-{sandbox}{SUFFIX}{host_port}"))
}

/// A query's pairs but the code.
fn without_code(query: &str) -> Vec<String> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty() && pair.split('=').next() != Some(CODE_PARAM))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_preview_host_names_a_port_and_an_id() {
        let id = "0b1e2c3d-aaaa-bbbb-cccc-123456789abc";
        let wanted = Some((id.to_string(), 3000));
        assert_eq!(preview_of(&format!("3000-{id}.localhost:8080")), wanted);
        assert_eq!(preview_of(&format!("3000-{id}.LOCALHOST")), wanted);
        assert_eq!(preview_of(&format!("3000-{id}.example.com")), None);
        assert_eq!(preview_of(&format!("a.3000-{id}.localhost")), None);
        assert_eq!(preview_of(&format!("+3000-{id}.localhost")), None);
        assert_eq!(preview_of(&format!("0-{id}.localhost")), None);
        assert_eq!(preview_of("localhost:8080"), None);
        assert_eq!(preview_of("3000-.localhost"), None);
    }

    #[test]
    fn only_a_server_reached_by_a_loopback_name_gives_own_origins() {
        let own = |base: &str, reached: &str| origin_of(base, reached, "id", 3000);
        let wanted = Some("http://3000-id.localhost:8080".to_string());
        assert_eq!(own("http://127.0.0.1:8080", "127.0.0.1:8080"), wanted);
        assert_eq!(own("http://localhost:8080", "localhost:8080"), wanted);
        assert_eq!(own("http://[::1]:8080", "[::1]:8080"), wanted);
        assert_eq!(own("http://localhost:8080", "devbox:8080"), None);
        // Only a port follows the name: nothing that would name another host.
        assert_eq!(
            own("http://localhost:8080", "localhost:1@evil.example"),
            None
        );
        assert_eq!(own("http://localhost:8080", "localhost:8080/x"), None);
        assert_eq!(own("http://localhost:8080", "localhost:"), None);
        assert_eq!(own("https://serve.example.com", "127.0.0.1:8080"), None);
        assert_eq!(own("http://serve.example.com", "127.0.0.1:8080"), None);
        assert_eq!(own("https://localhost:8443", "localhost:8443"), None);
        assert_eq!(
            own("http://localhost", "localhost"),
            Some("http://3000-id.localhost".to_string())
        );
    }

    #[test]
    fn a_location_after_the_code_stays_on_its_origin() {
        assert_eq!(same_origin("/x/y"), "/x/y");
        assert_eq!(same_origin("//evil.example/x"), "/.//evil.example/x");
        assert_eq!(same_origin("/\\evil.example"), "/./\\evil.example");
    }

    #[test]
    fn the_code_leaves_the_query_and_nothing_else_does() {
        assert_eq!(without_code("a=1&ralph_preview_code=x&b"), ["a=1", "b"]);
        assert!(without_code("ralph_preview_code=x").is_empty());
    }
}
