//! The preview proxy's forwarding: a connection to a port the sandbox's own processes listen on
//! (who listens is read in [`super::preview_listener`]), the request and answer passed through
//! without the headers of one connection or the preview token, and protocol switches
//! (WebSockets: a dev server's hot reload) passed through once both sides agree.
//!
//! It forwards only while the sandbox is started (port 22222 too, which is the web terminal of
//! [`super::web_terminal`], not forwarded), only to a port whose listening socket belongs
//! to the sandboxes' host user and, where the provider can tell (under bubblewrap), is held by
//! a process of that very sandbox, and then only once a process of that sandbox has accepted
//! the connection made (what was checked before connecting may have changed since), never to
//! this server's own ports. A sandbox's server that does not accept is waited for a while, by
//! a bounded number of requests at once ([`super::preview_waits`]). Tokens are never logged.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;

use super::preview::{TOKEN_HEADER, refuse};
use super::preview_cookies;
use super::preview_listener::{accepted, nothing_listens, shared_port};
use super::preview_waits::MOST_WAITING;
use super::revocation::{Watch, revoked};
use super::state::{AppState, now};
use super::tcp_table::Source;
use super::view::derived_state;
use super::web_terminal;
use crate::daytona_api::SandboxState;

/// The largest request body the proxy forwards.
const MAX_BODY: usize = 64 << 20;

/// How long a connection to a sandbox's port may take.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Forwards `request` to `port` of a started sandbox, when a process of the sandboxes listens
/// there; port 22222 is the web terminal, served here as Daytona's daemon serves it.
pub(crate) async fn forward(
    state: &Arc<AppState>,
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
    if port == web_terminal::PORT {
        state.store.touch(&sandbox.id, now);
        return web_terminal::serve(state, sandbox, rest, request).await;
    }
    // This server's own ports: on this machine, and on a sandbox's own loopback (where its
    // egress proxy listens for it).
    let in_network = [
        super::egress_network::IN_NETWORK_PORT,
        super::egress_transparent::WEB_PORTS.http,
        super::egress_transparent::WEB_PORTS.https,
    ];
    if port == 0 || state.settings.own_ports.contains(&port) || in_network.contains(&port) {
        return refuse(
            StatusCode::FORBIDDEN,
            format!("port {port} is not a sandbox's"),
        );
    }
    let (address, stream) = match connect(state, sandbox, port).await {
        Ok(connected) => connected,
        Err(refused) => return *refused,
    };
    state.store.touch(&sandbox.id, now);
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        return refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the request body is too large",
        );
    };
    let query = parts
        .uri
        .query()
        .map(|query| format!("?{query}"))
        .unwrap_or_default();
    let mut headers = forwarded_headers(&parts.headers, prefix);
    // The server is reached on its loopback, and named so.
    let host = match address {
        IpAddr::V6(v6) => format!("[{v6}]:{port}"),
        IpAddr::V4(v4) => format!("{v4}:{port}"),
    };
    if let Ok(host) = HeaderValue::from_str(&host) {
        headers.insert(header::HOST, host);
    }
    let protocol = upgrade_protocol(&parts.headers);
    if let Some(protocol) = &protocol {
        // The two hop-by-hop headers a protocol switch needs on the next hop too.
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, protocol.clone());
    }
    let mut upstream = axum::http::Request::new(Body::from(body));
    *upstream.method_mut() = parts.method.clone();
    *upstream.headers_mut() = headers;
    match format!("/{rest}{query}").parse() {
        Ok(uri) => *upstream.uri_mut() = uri,
        Err(_) => return refuse(StatusCode::BAD_REQUEST, "the path is not a valid URI"),
    }
    let reply = match send(stream, upstream).await {
        Ok(reply) => reply,
        Err(error) => {
            return refuse(
                StatusCode::BAD_GATEWAY,
                format!("port {port} did not answer: {error}"),
            );
        }
    };
    if protocol.is_some() && reply.status() == StatusCode::SWITCHING_PROTOCOLS {
        return switch_protocols(parts, reply, prefix);
    }
    let (upstream_parts, upstream_body) = reply.into_parts();
    let mut response = Response::new(Body::new(upstream_body));
    *response.status_mut() = upstream_parts.status;
    *response.headers_mut() = response_headers(&upstream_parts.headers, prefix);
    response
}

/// A connection to `port` of a started sandbox, and the loopback address it was made to, or
/// the refusal to answer with. A sandbox with a network of its own listens on its own
/// loopback: the provider connects inside it; the ports of one that shares this machine's
/// network are this machine's, and must be a sandbox's.
async fn connect(
    state: &AppState,
    sandbox: &crate::provider::Sandbox,
    port: u16,
) -> Result<(IpAddr, tokio::net::TcpStream), Box<Response>> {
    let refused = |status, message| Box::new(refuse(status, message));
    let Some(local) = &state.provider.image_layers() else {
        return Err(refused(
            StatusCode::NOT_FOUND,
            "previews need the local provider".to_string(),
        ));
    };
    let (address, stream) = match state.provider.connect_port(&sandbox.id, port).await {
        Ok(Some(inside)) => (
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            inside
                .set_nonblocking(true)
                .and_then(|()| tokio::net::TcpStream::from_std(inside)),
        ),
        Ok(None) => {
            let tables = Source::pick(state.simulation.sock_diag);
            let uid = local.sandbox_host_uid();
            let (address, sockets) = shared_port(tables, port, uid, &sandbox.id)
                .map_err(|(status, message)| refused(status, message))?;
            // Every sandbox on this machine's network has the same host user: the sockets must
            // be this sandbox's processes', or one sandbox's link would open another's port (a
            // private one's through a public one's link). All of them: with `SO_REUSEPORT`,
            // sockets of several sandboxes (one user) listen on one port and the kernel hands
            // each connection to any of them. Checked before connecting too, though the
            // connection's own socket is what counts (below): a port another sandbox serves, or
            // shares, is refused every time, and is never connected to.
            let told = owned(state, sandbox, port, &sockets).await?;
            // Held until the connection is accepted (or refused): a place among the sandbox's
            // connections not accepted yet.
            let Some(_waiting) = state.accept_waits.enter(&sandbox.id) else {
                return Err(Box::new(not_accepting(state, sandbox, port)));
            };
            let connecting = tokio::net::TcpStream::connect((address, port));
            let connected = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
                .await
                .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()));
            if told && let Ok(stream) = &connected {
                // The listeners may have changed since they were checked (one closed and
                // another sandbox's took the port, or joined it): the process that accepted
                // this very connection must be the sandbox's before it gets the request.
                let ends = stream
                    .local_addr()
                    .and_then(|own| Ok((own, stream.peer_addr()?)));
                let (own, server) = ends.map_err(|error| {
                    refused(StatusCode::BAD_GATEWAY, format!("port {port}: {error}"))
                })?;
                let most = state.simulation.preview_accept_wait;
                let socket = accepted(tables, most, own, server, &sandbox.id)
                    .await
                    .map_err(|(status, message)| refused(status, message))?;
                owned(state, sandbox, port, &[socket]).await?;
            }
            (address, connected)
        }
        Err(crate::provider::ProviderError::NotFound { .. }) => {
            return Err(refused(
                StatusCode::BAD_GATEWAY,
                nothing_listens(port, &sandbox.id),
            ));
        }
        Err(error) => return Err(refused(StatusCode::BAD_GATEWAY, error.to_string())),
    };
    let stream = stream.map_err(|error| {
        refused(
            StatusCode::BAD_GATEWAY,
            format!("port {port} did not answer: {error}"),
        )
    })?;
    Ok((address, stream))
}

/// The 503 for a request to `port` of `sandbox` while [`MOST_WAITING`] connections of the
/// proxy wait there already for its server to accept them.
fn not_accepting(state: &AppState, sandbox: &crate::provider::Sandbox, port: u16) -> Response {
    let mut response = refuse(
        StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "the server on port {port} of sandbox `{}` is not accepting connections \
             ({MOST_WAITING} are waiting for it already): try again later",
            sandbox.id
        ),
    );
    // A place is free at the latest once the oldest wait ends.
    let wait = state.simulation.preview_accept_wait.as_secs().max(1);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(wait));
    response
}

/// Whether the provider could tell that processes of `sandbox` hold every socket of `sockets`
/// (on `port`): `true` when they do, `false` when it cannot tell (sandboxes not apart), and the
/// refusal when they do not.
async fn owned(
    state: &AppState,
    sandbox: &crate::provider::Sandbox,
    port: u16,
    sockets: &[u64],
) -> Result<bool, Box<Response>> {
    match state.provider.holds_sockets(&sandbox.id, sockets).await {
        Ok(Some(true)) => Ok(true),
        Ok(None) => Ok(false),
        Ok(Some(false)) => Err(Box::new(refuse(
            StatusCode::FORBIDDEN,
            format!(
                "port {port} is served by a process that is not sandbox `{}`'s",
                sandbox.id
            ),
        ))),
        Err(error) => Err(Box::new(refuse(StatusCode::BAD_GATEWAY, error.to_string()))),
    }
}

/// Sends `request` over `stream`, a connection of its own, and returns the answer; the
/// connection is driven (and may switch protocols) until the answer's body and any upgrade
/// are done with it.
async fn send(
    stream: tokio::net::TcpStream,
    request: axum::http::Request<Body>,
) -> Result<axum::http::Response<hyper::body::Incoming>, hyper::Error> {
    let _ = stream.set_nodelay(true);
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(connection.with_upgrades());
    sender.send_request(request).await
}

/// The protocol a request asks to switch to (`Connection: upgrade` with `Upgrade: websocket`,
/// as a dev server's hot reload does), if any. The egress proxy asks it too.
pub(super) fn upgrade_protocol(headers: &HeaderMap) -> Option<HeaderValue> {
    let asks = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    asks.then(|| headers.get(header::UPGRADE).cloned())
        .flatten()
}

/// The port agreed to switch: its 101 goes back with the handshake's headers as they came
/// (`Upgrade`, `Connection`, `Sec-WebSocket-Accept`) but cookies, kept under `prefix` as on any
/// answer (browsers keep a handshake's cookies too), and once both sides have switched the
/// bytes are copied both ways until either closes, or the signed link the request came through
/// is expired early (its [`Watch`] in the request's extensions). The copy outlives the request,
/// as the connection does.
fn switch_protocols(
    mut client_side: axum::http::request::Parts,
    mut reply: axum::http::Response<hyper::body::Incoming>,
    prefix: &str,
) -> Response {
    let client_upgrade = client_side.extensions.remove::<hyper::upgrade::OnUpgrade>();
    let watch = client_side.extensions.remove::<Watch>();
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    for (name, value) in reply.headers() {
        if name == header::SET_COOKIE {
            let scoped = preview_cookies::scoped(value, prefix);
            response.headers_mut().append(name.clone(), scoped);
        } else if name != header::CONTENT_LENGTH && name != header::TRANSFER_ENCODING {
            response.headers_mut().append(name.clone(), value.clone());
        }
    }
    let Some(client_upgrade) = client_upgrade else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "this connection cannot switch protocols",
        );
    };
    let upstream_upgrade = hyper::upgrade::on(&mut reply);
    tokio::spawn(async move {
        let (Ok(upstream), Ok(client)) = (upstream_upgrade.await, client_upgrade.await) else {
            return;
        };
        let (mut client, mut upstream) = (
            hyper_util::rt::TokioIo::new(client),
            hyper_util::rt::TokioIo::new(upstream),
        );
        tokio::select! {
            _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
            // Both connections drop: each side sees its connection end.
            () = revoked(watch.as_ref()) => {}
        }
    });
    response
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
    // None on a preview's own origin, where its paths are its own.
    if let Ok(prefix) = HeaderValue::from_str(prefix)
        && !prefix.is_empty()
    {
        headers.insert(HeaderName::from_static("x-forwarded-prefix"), prefix);
    }
    headers
}

/// On the path-based links every preview shares this server's origin (Daytona gives each one
/// an origin of its own, as [`super::preview_origin`] does for browsers), so a preview may not
/// widen a service worker's scope beyond its own prefix: a worker over the
/// whole origin would see every other preview and web terminal link opened in that browser,
/// tokens included.
const SERVICE_WORKER_ALLOWED: &str = "service-worker-allowed";

/// The answer's headers for the browser: without those of one connection, the length (the body
/// is streamed) and [`SERVICE_WORKER_ALLOWED`], with cookies kept under `prefix`.
fn response_headers(upstream: &HeaderMap, prefix: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in upstream {
        if name == header::SET_COOKIE {
            headers.append(name.clone(), preview_cookies::scoped(value, prefix));
        } else if !hop_by_hop(name)
            && name != header::CONTENT_LENGTH
            && name.as_str() != SERVICE_WORKER_ALLOWED
        {
            headers.append(name.clone(), value.clone());
        }
    }
    headers
}
