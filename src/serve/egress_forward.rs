//! How the egress proxy (`egress`) sends one request of a sandbox on: its connection's own
//! headers dropped, the sandbox's allowed placeholders replaced by their values in the request
//! headers (never in the URL, body or answer), through the client its route chooses, and the
//! answer streamed back, trailers and protocol switches (WebSockets) included.
//!
//! It must not log anything of a request, nor substitute for a sandbox other than the one whose
//! credential came with the request.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use std::net::SocketAddr;

use axum::http::uri::Authority;
use axum::http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;

use super::egress::answer;
use super::egress_hold::Held;
use super::egress_outbound::OutboundProxy;
use super::egress_route::{Destination, Route};
use super::state::AppState;

/// Headers that belong to one connection, never forwarded (RFC 9110 7.6.1), and the proxy's own.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "proxy-connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authorization",
    "proxy-authenticate",
];

/// What serves the requests of one connection of `sandbox` to `host`: each forwarded to `base`
/// (`scheme://host:port`), unless the sandbox's route refuses `host`. The route is read again
/// for each request, so that a connection kept open does not outlive a change of the
/// sandbox's network settings.
pub(crate) fn forwarding(
    state: Arc<AppState>,
    sandbox: String,
    host: String,
    base: String,
) -> impl hyper::service::Service<
    Request<hyper::body::Incoming>,
    Response = Response<Body>,
    Error = Infallible,
    Future: Send + 'static,
> + Clone
+ Send
+ 'static {
    hyper::service::service_fn(move |request| {
        let (state, sandbox, host, base) =
            (state.clone(), sandbox.clone(), host.clone(), base.clone());
        async move {
            let route = Route::of(&state, &sandbox);
            Ok(forward(&state, &sandbox, &route, &host, &base, request).await)
        }
    })
}

/// Sends `request` to `base` (`scheme://host:port`) with the sandbox's allowed placeholders
/// replaced in its headers, and streams the answer back while the sandbox's settings admit
/// `host` (`egress_hold`); or answers the route's 403 for `host`, sending nothing.
pub(crate) async fn forward(
    state: &Arc<AppState>,
    sandbox: &str,
    route: &Route,
    host: &str,
    base: &str,
    mut request: Request<hyper::body::Incoming>,
) -> Response<Body> {
    let destination = match route.admit(host).await {
        Ok(destination) => destination,
        Err(refused) => return refused,
    };
    // A protocol switch (a WebSocket): the upgrade headers go on, and once the destination
    // agrees, the two connections are joined. Only the request's headers are substituted.
    let switch = super::preview_proxy::upgrade_protocol(request.headers());
    let client_side = switch.is_some().then(|| hyper::upgrade::on(&mut request));
    let (parts, body) = request.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", axum::http::uri::PathAndQuery::as_str);
    let mut headers = parts.headers;
    // gRPC over HTTP/2 needs `te: trailers` on, the one `te` HTTP/2 allows (RFC 9113 8.2.2).
    let http2 = parts.version == axum::http::Version::HTTP_2;
    let trailers = headers
        .get(header::TE)
        .filter(|te| http2 && *te == "trailers")
        .cloned();
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    if let Some(te) = trailers {
        headers.insert(header::TE, te);
    }
    // The client sets `Host` from the URL: the destination is where the proxy connects.
    headers.remove(header::HOST);
    substitute(&mut headers, &state.vault.substitutions(sandbox, host));
    if let Some(protocol) = &switch {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, protocol.clone());
    }
    let outgoing = Outgoing {
        method: parts.method,
        path,
        headers,
        body,
        http2,
    };
    let mut upstream = match send(state, route, &destination, host, base, outgoing).await {
        Ok(upstream) => upstream,
        // The error names the URL the sandbox asked for, which holds no value (only headers do).
        Err(error) => {
            return answer(
                StatusCode::BAD_GATEWAY,
                &format!("the egress proxy could not reach `{host}`: {error}"),
            );
        }
    };
    let mut response = Response::new(Body::empty());
    *response.status_mut() = upstream.status();
    let mut headers = upstream.headers().clone();
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    // What keeps the answer, or the joined connections, to the sandbox's settings.
    let held = Held {
        state: state.clone(),
        sandbox: sandbox.to_string(),
        changes: route.changes.clone(),
        host: host.to_string(),
        at: None,
    };
    if let (Some(protocol), Some(client_side)) = (switch, client_side)
        && upstream.status() == StatusCode::SWITCHING_PROTOCOLS
    {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, protocol);
        *response.headers_mut() = headers;
        let upstream_side = hyper::upgrade::on(&mut upstream);
        tokio::spawn(async move {
            let (Ok(upstream), Ok(client)) = (upstream_side.await, client_side.await) else {
                return;
            };
            let (mut upstream, mut client) = (TokioIo::new(upstream), TokioIo::new(client));
            held.run(tokio::io::copy_bidirectional(&mut client, &mut upstream))
                .await;
        });
        return response;
    }
    *response.headers_mut() = headers;
    // Frames again, so that the answer's trailers (a gRPC status) reach the sandbox.
    *response.body_mut() = held.body(upstream.into_body());
    response
}

/// A request on its way to the destination: what of it is sent, its headers already
/// substituted.
struct Outgoing<'a> {
    method: Method,
    path: &'a str,
    headers: HeaderMap,
    body: hyper::body::Incoming,
    /// The sandbox spoke HTTP/2: the destination may too.
    http2: bool,
}

/// Sends `outgoing` to `base` (`scheme://host:port`) by the route's way. Through an outbound
/// proxy, a destination admitted at checked addresses is sent to the first of them, so that the
/// outbound proxy cannot look the name up again (the destination still learns the name): plain
/// HTTP with the address as the URL's authority and the name as `Host`, HTTPS by a `CONNECT` to
/// the address (`egress_pinned`; through an `https://` outbound proxy it goes by name).
async fn send(
    state: &AppState,
    route: &Route,
    destination: &Destination,
    host: &str,
    base: &str,
    mut outgoing: Outgoing<'_>,
) -> Result<Response<Body>, String> {
    let mut url = format!("{base}{}", outgoing.path);
    if let Some((proxy, pinned, authority)) = pinned_through_outbound(route, destination, base) {
        if base.starts_with("http://") {
            url = format!("http://{pinned}{}", outgoing.path);
            let name =
                HeaderValue::from_str(authority.as_str()).map_err(|error| error.to_string())?;
            outgoing.headers.insert(header::HOST, name);
        } else if proxy.tunnels_plainly() {
            let mut request = Request::new(Body::new(outgoing.body));
            *request.method_mut() = outgoing.method;
            *request.uri_mut() = outgoing
                .path
                .parse()
                .map_err(|error: axum::http::uri::InvalidUri| error.to_string())?;
            *request.headers_mut() = outgoing.headers;
            return state
                .egress
                .pinned
                .send(
                    proxy,
                    pinned,
                    host,
                    authority.as_str(),
                    outgoing.http2,
                    request,
                )
                .await;
        }
    }
    let client = state
        .egress
        .client_for(route, outgoing.http2, host, destination)?;
    // The body goes as frames, trailers included.
    client
        .request(outgoing.method, url)
        .headers(outgoing.headers)
        .body(reqwest::Body::wrap(outgoing.body))
        .send()
        .await
        .map(|answer| Response::from(answer).map(Body::new))
        .map_err(|error| error.to_string())
}

/// For a request to `base` (`scheme://host:port`) that goes through the route's outbound proxy
/// and was admitted at checked addresses: the proxy, the first of them with the port, and
/// `base`'s authority.
fn pinned_through_outbound<'a>(
    route: &'a Route,
    destination: &Destination,
    base: &str,
) -> Option<(&'a OutboundProxy, SocketAddr, Authority)> {
    let proxy = route.outbound.as_ref()?;
    let (scheme, authority) = base.split_once("://")?;
    let authority = authority.parse::<Authority>().ok()?;
    let port = authority
        .port_u16()
        .unwrap_or(if scheme == "https" { 443 } else { 80 });
    let pinned = *destination.addresses(port)?.first()?;
    Some((proxy, pinned, authority))
}

/// Replaces each placeholder by its value in every header value that holds it.
fn substitute(headers: &mut HeaderMap, substitutions: &[super::secret_vault::Substitution]) {
    if substitutions.is_empty() {
        return;
    }
    for value in headers.values_mut() {
        let Ok(text) = value.to_str() else { continue };
        let mut replaced = text.to_string();
        for substitution in substitutions {
            replaced = replaced.replace(&substitution.placeholder, substitution.value.expose());
        }
        if replaced != text
            && let Ok(mut new) = HeaderValue::from_str(&replaced)
        {
            new.set_sensitive(true);
            *value = new;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    #[test]
    fn placeholders_are_replaced_in_header_values_only_where_they_occur() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_static("Bearer PH1"));
        headers.insert("x-other", HeaderValue::from_static("PH2"));
        let substitutions = [super::super::secret_vault::Substitution {
            placeholder: "PH1".into(),
            value: Secret::new("real".into()),
        }];
        substitute(&mut headers, &substitutions);
        assert_eq!(headers["authorization"], "Bearer real");
        assert!(headers["authorization"].is_sensitive());
        assert_eq!(headers["x-other"], "PH2");
    }
}
