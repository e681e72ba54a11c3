//! The egress proxy for web traffic that a sandbox's network redirects to it (a sandbox with a
//! domain allow list: its TCP 80 and 443 to anywhere but its loopback go to
//! [`WEB_PORTS`] on its loopback), so that a program that ignores the proxy variables is
//! filtered too instead of failing to connect. Such a connection speaks to the destination, not
//! to a proxy: the host is the request's `Host` (port 80) or the TLS ClientHello's server name
//! (port 443, ended with a leaf of the proxy's CA for that name), and the sandbox is the one
//! whose network the listener is in, since nothing else can connect there.
//!
//! From there it goes as a proxied request does: the domain list decides (a 403 naming host and
//! list), then `egress_forward` substitutes and forwards. This file reads nothing of a request
//! but its host.

use std::sync::Arc;

use axum::http::{Request, StatusCode, header};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

use super::egress::answer;
use super::egress_forward::{forward, forwarding};
use super::egress_hold::Held;
use super::egress_route::Route;
use super::state::AppState;
use crate::provider::WebPorts;

/// Where a sandbox's network sends its web traffic on its own loopback: beside the proxy's own
/// port, `egress_network::IN_NETWORK_PORT`.
pub(crate) const WEB_PORTS: WebPorts = WebPorts {
    http: 24_682,
    https: 24_683,
};

/// Serves one redirected plain HTTP connection of `sandbox` (a 403 when the sandbox has no
/// domain allow list, whose web traffic is not redirected: such a connection came straight to
/// the port, without the proxy's credential).
pub(crate) async fn serve_http(state: Arc<AppState>, sandbox: String, stream: TcpStream) {
    let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
        let (state, sandbox) = (state.clone(), sandbox.clone());
        async move {
            let authority = request
                .headers()
                .get(header::HOST)
                .and_then(|host| host.to_str().ok())
                .and_then(|host| host.parse::<axum::http::uri::Authority>().ok());
            let Some(authority) = authority else {
                return Ok::<_, std::convert::Infallible>(answer(
                    StatusCode::BAD_REQUEST,
                    "a request redirected to the egress proxy needs a Host header",
                ));
            };
            let host = authority.host().trim_matches(['[', ']']).to_string();
            let route = Route::of(&state, &sandbox);
            if !route.redirected() {
                return Ok(answer(
                    StatusCode::FORBIDDEN,
                    "this sandbox's web traffic is not redirected to the egress proxy: use its proxy variables",
                ));
            }
            let base = format!("http://{authority}");
            Ok(forward(&state, &sandbox, &route, &host, &base, request).await)
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades()
        .await;
}

/// Serves one redirected TLS connection of `sandbox`: the ClientHello's server name is the
/// host; one without a name, or one no leaf can name, ends the connection. So does one of a
/// sandbox without a domain allow list, whose web traffic is not redirected.
pub(crate) async fn serve_tls(state: Arc<AppState>, sandbox: String, stream: TcpStream) {
    let route = Route::of(&state, &sandbox);
    if !route.redirected() {
        return;
    }
    let acceptor = tokio_rustls::LazyConfigAcceptor::new(
        tokio_rustls::rustls::server::Acceptor::default(),
        stream,
    );
    let Ok(start) = acceptor.await else {
        return;
    };
    let Some(host) = start.client_hello().server_name().map(str::to_string) else {
        return;
    };
    let Ok(leaf) = state.egress.authority.acceptor(&host) else {
        return;
    };
    let Ok(tls) = start.into_stream(leaf.config().clone()).await else {
        return;
    };
    let base = format!("https://{host}");
    let held = Held {
        state: state.clone(),
        sandbox: sandbox.clone(),
        changes: route.changes,
        host: host.clone(),
        at: None,
    };
    let service = forwarding(state, sandbox, host, base);
    // Kept open no longer than the sandbox's settings admit its server name.
    held.run(
        hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
            .serve_connection_with_upgrades(TokioIo::new(tls), service),
    )
    .await;
}
