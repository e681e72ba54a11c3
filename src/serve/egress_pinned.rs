//! HTTPS through an outbound proxy to the address a destination was admitted at. A forwarding
//! client tunnels HTTPS through a proxy with a `CONNECT` to the URL's host, by name, which the
//! outbound proxy would look up again; here the `CONNECT` names the checked address, and the
//! TLS inside it the host (its server name, verified as the forwarding clients verify: this
//! machine's roots and the CAs `ServeOptions::upstream_ca` names), over a connection of its own
//! for the one request.
//!
//! This file only sends; which requests come here is `egress_forward`'s choice.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderValue, Request, Response, Version, header};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, pki_types};

use super::egress_outbound::{OutboundProxy, connect_through};
use super::egress_tls::{pem_certificates, system_bundle};

/// The TLS client settings: HTTP/1.1 only, and HTTP/2 offered first, as the forwarding clients.
pub(crate) struct PinnedTls {
    http1: Arc<ClientConfig>,
    any: Arc<ClientConfig>,
}

impl PinnedTls {
    /// Trusts this machine's roots and `extra` (the upstream CAs).
    pub(crate) fn new(extra: &[pki_types::CertificateDer<'static>]) -> Result<PinnedTls, String> {
        let mut roots = RootCertStore::empty();
        if let Some(bundle) = system_bundle() {
            // A root this TLS stack cannot read is one no forwarding client trusts either.
            let (_added, _unread) = roots
                .add_parsable_certificates(pem_certificates(&String::from_utf8_lossy(&bundle)));
        }
        for certificate in extra {
            roots
                .add(certificate.clone())
                .map_err(|error| format!("cannot trust an upstream CA: {error}"))?;
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| error.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut http1 = config.clone();
        http1.alpn_protocols = vec![b"http/1.1".to_vec()];
        let mut any = config;
        any.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(PinnedTls {
            http1: Arc::new(http1),
            any: Arc::new(any),
        })
    }

    /// Sends `request` (its URI in origin form, no `Host`) to `https://{authority}` through
    /// `proxy`, tunnelled to `pinned`, with TLS for `host`; HTTP/2 when `http2` and the server
    /// agrees. A protocol switch stays possible (`hyper::upgrade::on` on the answer).
    pub(crate) async fn send(
        &self,
        proxy: &OutboundProxy,
        pinned: SocketAddr,
        host: &str,
        authority: &str,
        http2: bool,
        mut request: Request<Body>,
    ) -> Result<Response<Body>, String> {
        let failed = |what: String| {
            format!(
                "at {pinned} through the outbound proxy {}: {what}",
                proxy.address()
            )
        };
        let tunnel = connect_through(proxy, &pinned.to_string())
            .await
            .ok_or_else(|| failed("it opened no tunnel".to_string()))?;
        let name = pki_types::ServerName::try_from(host.to_string())
            .map_err(|error| failed(error.to_string()))?;
        let config = if http2 { &self.any } else { &self.http1 };
        let tls = TlsConnector::from(config.clone())
            .connect(name, tunnel)
            .await
            .map_err(|error| failed(error.to_string()))?;
        let answered = if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
            let path = request
                .uri()
                .path_and_query()
                .map_or("/", axum::http::uri::PathAndQuery::as_str);
            *request.uri_mut() = format!("https://{authority}{path}")
                .parse()
                .map_err(|error: axum::http::uri::InvalidUri| failed(error.to_string()))?;
            *request.version_mut() = Version::HTTP_2;
            let (mut sender, connection) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
                    .await
                    .map_err(|error| failed(error.to_string()))?;
            tokio::spawn(connection);
            sender.send_request(request).await
        } else {
            let value =
                HeaderValue::from_str(authority).map_err(|error| failed(error.to_string()))?;
            request.headers_mut().insert(header::HOST, value);
            *request.version_mut() = Version::HTTP_11;
            let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
                .await
                .map_err(|error| failed(error.to_string()))?;
            tokio::spawn(connection.with_upgrades());
            sender.send_request(request).await
        };
        answered
            .map(|answer| answer.map(Body::new))
            .map_err(|error| failed(error.to_string()))
    }
}
