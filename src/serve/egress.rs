//! The egress proxy that sandboxes with mounted secrets or a domain allow list send their
//! outbound HTTP through (`HTTP_PROXY` and `HTTPS_PROXY`, with the sandbox's id and egress token
//! as the proxy credential): plain HTTP in absolute form, and `CONNECT` tunnels: TLS in one is
//! ended with a leaf of its own CA (`egress_tls`), plain HTTP in one is forwarded like plain
//! HTTP, and any other protocol is joined to the destination unread (`egress_tunnel`). On the way
//! out it replaces the placeholders of that sandbox's secrets with their values in the request
//! headers, and only for a destination host the secret allows (`egress_forward`).
//!
//! It listens on this machine's loopback, and on the own loopback of each sandbox with a network
//! of its own that needs it (`egress_network`). A sandbox's network settings and outbound proxy
//! (`egress_route`) decide which hosts it may reach and which way: never one its own network
//! would not lead to, and what it keeps open lasts only while they admit it (`egress_hold`).
//! It must not substitute in
//! bodies, URLs or answers, nor for a sandbox other than the one whose credential came with the
//! request, nor log anything of a request. Upstream TLS is verified as any client would (this
//! machine's roots plus the CAs `ServeOptions::upstream_ca` names).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use base64::Engine as _;
use hyper_util::rt::{TokioExecutor, TokioIo};

use super::ServeError;
use super::egress_forward::{forward, forwarding};
use super::egress_hold::{Changes, Held};
use super::egress_network::{Listeners, Reach};
use super::egress_outbound::Clients;
use super::egress_pinned::PinnedTls;
use super::egress_route::{Destination, Route};
use super::egress_tls::Authority;
use super::egress_tunnel::{Carried, join, sniff};
use super::state::AppState;

/// What the proxy is to the rest of serve: its address, the CA sandboxes trust, and the
/// clients that forward: HTTP/1.1 only for a sandbox that spoke HTTP/1.1 (an upgrade needs it),
/// HTTP/2 when the destination offers it for one that spoke HTTP/2.
pub(crate) struct Egress {
    address: SocketAddr,
    pub(crate) authority: Authority,
    client: reqwest::Client,
    client_h2: reqwest::Client,
    /// CAs trusted besides this machine's roots, for the clients made later.
    certificates: Vec<reqwest::Certificate>,
    /// The clients through each outbound proxy in use.
    outbound: Clients,
    /// HTTPS through an outbound proxy to a checked address.
    pub(crate) pinned: PinnedTls,
    /// The listeners in sandboxes' own networks.
    pub(crate) listeners: Listeners,
    /// Each sandbox's changes, which its open connections wait on.
    pub(crate) changes: Changes,
}

impl Egress {
    /// Binds the proxy's loopback listener (on `port` when it is free: sandboxes were given
    /// it), loads the CA and builds the forwarding client.
    pub(crate) async fn bind(
        state_dir: Option<&std::path::Path>,
        upstream_ca: Option<&std::path::Path>,
        port: Option<u16>,
    ) -> Result<(Egress, tokio::net::TcpListener), ServeError> {
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        let previous = match port {
            Some(port) => tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
                .await
                .ok(),
            None => None,
        };
        let listener = match previous {
            Some(listener) => listener,
            None => tokio::net::TcpListener::bind(loopback)
                .await
                .map_err(|source| ServeError::Bind {
                    address: loopback,
                    source,
                })?,
        };
        let address = listener.local_addr().map_err(|source| ServeError::Bind {
            address: loopback,
            source,
        })?;
        let authority = Authority::load_or_create(state_dir, &super::egress_tls::EGRESS)?;
        let (certificates, pinned) = match upstream_ca {
            Some(path) => {
                let invalid = |message: String| ServeError::Option {
                    what: "upstream CA file",
                    value: path.display().to_string(),
                    reason: message,
                };
                let pem = std::fs::read(path).map_err(|error| invalid(error.to_string()))?;
                let ders: Vec<_> =
                    super::egress_tls::pem_certificates(&String::from_utf8_lossy(&pem)).collect();
                (
                    reqwest::Certificate::from_pem_bundle(&pem)
                        .map_err(|error| invalid(error.to_string()))?,
                    PinnedTls::new(&ders).map_err(invalid)?,
                )
            }
            None => (
                Vec::new(),
                PinnedTls::new(&[]).map_err(|reason| ServeError::Option {
                    what: "egress TLS client",
                    value: String::new(),
                    reason,
                })?,
            ),
        };
        let build = |http1_only: bool| {
            builder(&certificates, http1_only)
                .no_proxy()
                .build()
                .map_err(|error| ServeError::Option {
                    what: "egress client",
                    value: String::new(),
                    reason: error.to_string(),
                })
        };
        let (client, client_h2) = (build(true)?, build(false)?);
        Ok((
            Egress {
                address,
                authority,
                client,
                client_h2,
                certificates,
                outbound: Clients::default(),
                pinned,
                listeners: Listeners::default(),
                changes: Changes::default(),
            },
            listener,
        ))
    }

    pub(crate) fn port(&self) -> u16 {
        self.address.port()
    }

    /// The proxy URL a sandbox is given, where it reaches the proxy: its id and token are the
    /// credential.
    pub(crate) fn proxy_url(&self, sandbox: &str, token: &str, reach: Reach) -> String {
        match reach {
            Reach::Loopback => format!("http://{sandbox}:{token}@{}", self.address),
            Reach::InNetwork => format!(
                "http://{sandbox}:{token}@127.0.0.1:{}",
                super::egress_network::IN_NETWORK_PORT
            ),
        }
    }

    /// The client that forwards for `route` to `host`: through its outbound proxy, or direct,
    /// to the addresses `destination` was admitted at when it names them (a client of its own,
    /// so that no second lookup of `host` decides where it connects).
    pub(crate) fn client_for(
        &self,
        route: &Route,
        http2: bool,
        host: &str,
        destination: &Destination,
    ) -> Result<reqwest::Client, String> {
        if let Some(proxy) = &route.outbound {
            return self.outbound.client(proxy, http2, |http1_only| {
                builder(&self.certificates, http1_only)
            });
        }
        match destination.addresses(0) {
            // The port of the request's URL is used with these addresses.
            Some(addresses) => builder(&self.certificates, !http2)
                .no_proxy()
                .resolve_to_addrs(host, &addresses)
                .build()
                .map_err(|error| format!("cannot make a client for `{host}`: {error}")),
            None if http2 => Ok(self.client_h2.clone()),
            None => Ok(self.client.clone()),
        }
    }
}

/// How every forwarding client starts: no redirects followed, the extra CAs trusted, HTTP/1.1
/// only when told.
fn builder(certificates: &[reqwest::Certificate], http1_only: bool) -> reqwest::ClientBuilder {
    let builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .tls_certs_merge(certificates.to_vec());
    if http1_only {
        builder.http1_only()
    } else {
        builder
    }
}

/// Accepts proxy connections until `stop` turns true, then drops the listeners in sandboxes'
/// networks too.
pub(crate) async fn run(
    state: Arc<AppState>,
    listener: tokio::net::TcpListener,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let watcher = tokio::spawn(super::egress_network::watch(state.clone(), stop.clone()));
    let stopped = async move {
        let _ = stop.wait_for(|stop| *stop).await;
    };
    let proxy = state.clone();
    serve_listener(listener, stopped, move |stream| {
        serve_connection(proxy.clone(), stream)
    })
    .await;
    let _ = watcher.await;
    state.egress.listeners.clear().await;
}

/// Accepts connections on `listener` until `stopped` completes, each served by `connection`.
pub(crate) async fn serve_listener<Served>(
    listener: tokio::net::TcpListener,
    stopped: impl Future<Output = ()>,
    connection: impl Fn(tokio::net::TcpStream) -> Served,
) where
    Served: Future<Output = ()> + Send + 'static,
{
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(stopped);
    while let Some(stream) = super::next_connection(&listener, &mut stopped, &mut connections).await
    {
        connections.spawn(connection(stream));
    }
}

/// Serves one connection to the proxy: requests in absolute form, and `CONNECT`s.
pub(crate) async fn serve_connection(state: Arc<AppState>, stream: tokio::net::TcpStream) {
    let service = hyper::service::service_fn(move |request| {
        let state = state.clone();
        async move { Ok::<_, std::convert::Infallible>(handle(state, request).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades()
        .await;
}

pub(crate) fn answer(status: StatusCode, message: &str) -> Response<Body> {
    let mut response = Response::new(Body::from(format!("{message}\n")));
    *response.status_mut() = status;
    response
}

/// The sandbox whose credential the request carries (`Proxy-Authorization: Basic id:token`).
fn sandbox_of(state: &AppState, headers: &HeaderMap) -> Option<String> {
    let encoded = headers
        .get(header::PROXY_AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let (sandbox, token) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
    state
        .vault
        .sandbox_of(sandbox, token)
        .then(|| sandbox.to_string())
}

async fn handle(state: Arc<AppState>, request: Request<hyper::body::Incoming>) -> Response<Body> {
    let Some(sandbox) = sandbox_of(&state, request.headers()) else {
        let mut response = answer(
            StatusCode::PROXY_AUTHENTICATION_REQUIRED,
            "the egress proxy needs the credential of a sandbox that mounts secrets",
        );
        response.headers_mut().insert(
            header::PROXY_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"ralph-town egress\""),
        );
        return response;
    };
    let route = Route::of(&state, &sandbox);
    if request.method() == Method::CONNECT {
        return tunnel(state, sandbox, route, request).await;
    }
    let uri = request.uri().clone();
    let (Some("http"), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return answer(
            StatusCode::BAD_REQUEST,
            "the egress proxy takes absolute http:// URLs and CONNECT",
        );
    };
    let base = format!("http://{authority}");
    forward(&state, &sandbox, &route, authority.host(), &base, request).await
}

/// Answers a `CONNECT`, then looks at what the tunnel carries (`egress_tunnel`): TLS is ended
/// with a leaf for its host and each request inside forwarded to `https://host:port`; plain HTTP
/// is forwarded to `http://host:port`; anything else is joined to `host:port` unread. The tunnel
/// lasts as long as the sandbox's settings admit its destination (`egress_hold`).
async fn tunnel(
    state: Arc<AppState>,
    sandbox: String,
    route: Route,
    request: Request<hyper::body::Incoming>,
) -> Response<Body> {
    let Some(authority) = request.uri().authority().cloned() else {
        return answer(StatusCode::BAD_REQUEST, "CONNECT needs host:port");
    };
    if authority.port_u16().is_none() {
        return answer(StatusCode::BAD_REQUEST, "CONNECT needs host:port");
    }
    let host = authority.host().trim_matches(['[', ']']).to_string();
    let destination = match route.admit(&host).await {
        Ok(destination) => destination,
        Err(refused) => return refused,
    };
    tokio::spawn(async move {
        let Ok(upgraded) = hyper::upgrade::on(request).await else {
            return;
        };
        let (carried, client) = sniff(TokioIo::new(upgraded)).await;
        let held = |at| Held {
            state: state.clone(),
            sandbox: sandbox.clone(),
            changes: route.changes.clone(),
            host: host.clone(),
            at,
        };
        let scheme = match carried {
            Carried::Opaque => {
                let port = authority.port_u16().unwrap_or(0);
                let (upstream, at) = open(&route, &destination, &authority, port).await;
                // The sandbox sees its tunnel close: the proxy already answered the CONNECT.
                if let Some(upstream) = upstream {
                    held(at).run(join(client, upstream)).await;
                }
                return;
            }
            Carried::Http => "http",
            Carried::Tls => "https",
        };
        let base = format!("{scheme}://{authority}");
        let acceptor = (carried == Carried::Tls).then(|| state.egress.authority.acceptor(&host));
        let service = forwarding(state.clone(), sandbox.clone(), host.clone(), base);
        let served = async move {
            if let Some(acceptor) = acceptor {
                // A host no leaf can name ends the tunnel: the client's handshake fails.
                let Ok(acceptor) = acceptor else {
                    return;
                };
                let Ok(tls) = acceptor.accept(client).await else {
                    return;
                };
                // The leaf offers `h2` and `http/1.1`; the builder follows what the client speaks.
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection_with_upgrades(TokioIo::new(tls), service)
                    .await;
            } else {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(client), service)
                    .with_upgrades()
                    .await;
            }
        };
        held(None).run(served).await;
    });
    Response::new(Body::empty())
}

/// The connection an opaque tunnel to `authority` is joined to, and the address it went to
/// when known: through the route's outbound proxy, told the address the destination was
/// admitted at when it was (so that it cannot look the name up again), or straight there.
async fn open(
    route: &Route,
    destination: &Destination,
    authority: &axum::http::uri::Authority,
    port: u16,
) -> (Option<tokio::net::TcpStream>, Option<std::net::IpAddr>) {
    let pinned = destination
        .addresses(port)
        .and_then(|addresses| addresses.first().copied());
    if let Some(proxy) = &route.outbound {
        let target = pinned.map_or_else(|| authority.to_string(), |address| address.to_string());
        let upstream = super::egress_outbound::connect_through(proxy, &target).await;
        return (upstream, pinned.map(|address| address.ip()));
    }
    let upstream = match destination.addresses(port) {
        Some(addresses) => tokio::net::TcpStream::connect(addresses.as_slice()).await,
        None => tokio::net::TcpStream::connect(authority.as_str()).await,
    }
    .ok();
    let at = upstream
        .as_ref()
        .and_then(|upstream| upstream.peer_addr().ok())
        .map(|address| address.ip());
    (upstream, at)
}
