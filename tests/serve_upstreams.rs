//! The loopback upstreams the egress proxy's tests send to: plain HTTP, and HTTPS with a
//! certificate of a test CA (for serve's `--upstream-ca`), HTTP/1.1 or HTTP/2 as the client
//! speaks. Each records the headers every path received, so a test can tell whether a value or
//! a placeholder arrived; `/ws` and `/wss` echo WebSocket text, `/trailers` ends its answer with
//! a trailer as gRPC does. They must never reach beyond 127.0.0.1.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, Request};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio_rustls::rustls;
use tower::ServiceExt as _;

/// Headers each upstream path received, by path.
pub(crate) type Seen = Arc<Mutex<BTreeMap<String, HeaderMap>>>;

fn recorder(seen: Seen) -> axum::Router {
    let mut router = axum::Router::new();
    for socket in ["/ws", "/wss"] {
        let upgraded = seen.clone();
        router = router.route(
            socket,
            axum::routing::get(move |upgrade: WebSocketUpgrade, headers: HeaderMap| {
                upgraded.lock().unwrap().insert(socket.to_string(), headers);
                async move { upgrade.on_upgrade(echo) }
            }),
        );
    }
    router = router.route(
        "/trailers",
        axum::routing::get(|| async { Body::new(WithTrailers { sent: 0 }) }),
    );
    router.fallback(move |request: Request<Body>| {
        let seen = seen.clone();
        async move {
            seen.lock()
                .unwrap()
                .insert(request.uri().path().to_string(), request.headers().clone());
            "ok"
        }
    })
}

/// A body of `ok` and a trailer (`grpc-status: 0`), as a gRPC answer ends.
struct WithTrailers {
    sent: u8,
}

impl hyper::body::Body for WithTrailers {
    type Data = axum::body::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        self.sent += 1;
        std::task::Poll::Ready(match self.sent {
            1 => Some(Ok(hyper::body::Frame::data(
                axum::body::Bytes::from_static(b"ok"),
            ))),
            2 => {
                let mut trailers = HeaderMap::new();
                trailers.insert("grpc-status", "0".parse().unwrap());
                Some(Ok(hyper::body::Frame::trailers(trailers)))
            }
            _ => None,
        })
    }
}

/// Answers each text message of a WebSocket with `echo <text>`.
async fn echo(mut socket: WebSocket) {
    while let Some(Ok(message)) = socket.recv().await {
        if let Message::Text(text) = message {
            let reply = Message::text(format!("echo {}", text.as_str()));
            if socket.send(reply).await.is_err() {
                return;
            }
        }
    }
}

/// A plain HTTP upstream on loopback.
pub(crate) async fn http_upstream(seen: Seen) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, recorder(seen)).await });
    port
}

/// An HTTPS upstream on loopback whose certificate (for `localhost` and `127.0.0.1`) is signed
/// by a CA of the test's, written to `ca_file` for serve's `--upstream-ca`.
pub(crate) async fn https_upstream(seen: Seen, ca_file: &Path) -> u16 {
    https_upstream_offering(seen, ca_file, &[]).await
}

/// [`https_upstream`] offering the ALPN protocols `alpn` (none: no ALPN), serving HTTP/1.1 or
/// HTTP/2 as the client speaks.
pub(crate) async fn https_upstream_offering(seen: Seen, ca_file: &Path, alpn: &[&str]) -> u16 {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::default();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "upstream test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    std::fs::write(ca_file, ca_cert.pem()).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![leaf.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .unwrap();
    config.alpn_protocols = alpn.iter().map(|name| name.as_bytes().to_vec()).collect();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let router = recorder(seen);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (acceptor, router) = (acceptor.clone(), router.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let service =
                    hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                        router.clone().oneshot(request.map(Body::new))
                    });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection_with_upgrades(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    port
}

pub(crate) fn header(seen: &Seen, path: &str, name: &str) -> String {
    let seen = seen.lock().unwrap();
    let headers = seen
        .get(path)
        .unwrap_or_else(|| panic!("the upstream never saw {path}"));
    headers
        .get(name)
        .map(|value| value.to_str().unwrap().to_string())
        .unwrap_or_default()
}
