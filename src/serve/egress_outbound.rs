//! Outbound proxies (Daytona's `outboundProxyUrl`): an `http://` or `https://` proxy, maybe
//! with a credential, that a sandbox's web traffic goes through. Without the egress proxy the
//! sandbox is simply given it as its proxy variables; with it, the egress proxy chains to it:
//! plain HTTP in absolute form and HTTPS by `CONNECT`, through clients made here once per URL,
//! and opaque tunnels (and HTTPS to a checked address, `egress_pinned`) by a `CONNECT` of their
//! own, which may name an address rather than a host.
//!
//! The URL's credential is a secret: no error, log or answer made here holds the URL, only the
//! proxy's host and port. This file does not decide which sandbox goes through which proxy.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::error::ApiError;

/// A checked outbound proxy URL.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct OutboundProxy(reqwest::Url);

impl std::fmt::Debug for OutboundProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OutboundProxy({})", self.address())
    }
}

impl OutboundProxy {
    /// Reads a create's `outboundProxyUrl`: a 400 naming the field, never the value (it may
    /// hold a credential).
    pub(crate) fn parse(text: &str) -> Result<OutboundProxy, ApiError> {
        let invalid = |reason: &str| {
            ApiError::bad_request(format!(
                "Invalid outboundProxyUrl: {reason}; expected http://[user:password@]host:port or https://…"
            ))
        };
        let url = reqwest::Url::parse(text.trim()).map_err(|error| invalid(&error.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("the scheme is neither http nor https"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid("it names no host"));
        }
        if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("a proxy URL has no path, query or fragment"));
        }
        Ok(OutboundProxy(url))
    }

    /// The URL, credential included: only for a sandbox's proxy variables and the vault file.
    pub(crate) fn expose(&self) -> &str {
        self.0.as_str()
    }

    /// Whether tunnels through it are opened here: an `http://` proxy, spoken to in plain text
    /// (an `https://` one would need TLS to it first).
    pub(crate) fn tunnels_plainly(&self) -> bool {
        self.0.scheme() == "http"
    }

    /// `host:port`, which holds no credential.
    pub(crate) fn address(&self) -> String {
        format!(
            "{}:{}",
            self.0.host_str().unwrap_or_default(),
            self.0.port_or_known_default().unwrap_or(80)
        )
    }

    /// `Proxy-Authorization`'s value for the URL's credential, if it has one.
    fn authorization(&self) -> Option<String> {
        if self.0.username().is_empty() && self.0.password().is_none() {
            return None;
        }
        let decode = |part: &str| percent_encoding::percent_decode_str(part).collect::<Vec<u8>>();
        let mut pair = decode(self.0.username());
        pair.push(b':');
        pair.extend(decode(self.0.password().unwrap_or_default()));
        Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        ))
    }
}

/// The forwarding clients of each outbound proxy in use (HTTP/1.1 only, and HTTP/2 allowed),
/// made at first need with `build`.
#[derive(Default)]
pub(crate) struct Clients {
    made: Mutex<HashMap<String, (reqwest::Client, reqwest::Client)>>,
}

impl Clients {
    /// The client through `proxy`, HTTP/2 allowed when `http2`. `build` makes a client builder
    /// as the direct clients are made (HTTP/1.1 only when told).
    pub(crate) fn client(
        &self,
        proxy: &OutboundProxy,
        http2: bool,
        build: impl Fn(bool) -> reqwest::ClientBuilder,
    ) -> Result<reqwest::Client, String> {
        let mut made = self
            .made
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((http1, any)) = made.get(proxy.expose()) {
            return Ok(if http2 { any.clone() } else { http1.clone() });
        }
        let through = |http1_only: bool| {
            let chained = reqwest::Proxy::all(proxy.expose())
                .map_err(|_| format!("cannot use the outbound proxy {}", proxy.address()))?;
            build(http1_only)
                .proxy(chained)
                .build()
                .map_err(|_| format!("cannot use the outbound proxy {}", proxy.address()))
        };
        let pair = (through(true)?, through(false)?);
        made.insert(proxy.expose().to_string(), pair.clone());
        Ok(if http2 { pair.1 } else { pair.0 })
    }
}

/// A connection to `destination` (`host:port`) through `proxy`, opened with a `CONNECT`; `None`
/// when it cannot be had. An `https://` proxy is not spoken to here (its TLS would be needed):
/// the tunnel closes, as one to an unreachable destination does.
pub(crate) async fn connect_through(
    proxy: &OutboundProxy,
    destination: &str,
) -> Option<tokio::net::TcpStream> {
    if !proxy.tunnels_plainly() {
        return None;
    }
    let mut upstream = tokio::net::TcpStream::connect(proxy.address()).await.ok()?;
    let mut request = format!("CONNECT {destination} HTTP/1.1\r\nHost: {destination}\r\n");
    if let Some(authorization) = proxy.authorization() {
        request.push_str(&format!("Proxy-Authorization: {authorization}\r\n"));
    }
    request.push_str("\r\n");
    upstream.write_all(request.as_bytes()).await.ok()?;
    tunnel_opened(&mut upstream).await.then_some(upstream)
}

/// Reads the proxy's answer to a `CONNECT` up to its blank line: whether it is a 2xx.
async fn tunnel_opened(upstream: &mut tokio::net::TcpStream) -> bool {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        // Byte by byte: what follows the blank line belongs to the tunnel.
        let Ok(byte) = upstream.read_u8().await else {
            return false;
        };
        head.push(byte);
        if head.len() > 16 * 1024 {
            return false;
        }
    }
    let status = head.split(|&byte| byte == b' ').nth(1).unwrap_or_default();
    status.first() == Some(&b'2')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_url_is_a_400_naming_the_field_and_never_the_credential() {
        for bad in [
            "ftp://user:SENTINEL@proxy:21",
            "http://user:SENTINEL@",
            "user:SENTINEL@proxy:3128",
            "http://user:SENTINEL@proxy:3128/path",
            "http://user:SENTINEL@proxy:notaport",
        ] {
            let error = OutboundProxy::parse(bad).unwrap_err();
            assert_eq!(error.status, axum::http::StatusCode::BAD_REQUEST, "{bad}");
            assert!(
                error.message.contains("outboundProxyUrl"),
                "{}",
                error.message
            );
            assert!(!error.message.contains("SENTINEL"), "{}", error.message);
        }
        let proxy = OutboundProxy::parse("https://us%40er:SENTINEL@proxy.test").unwrap();
        assert_eq!(proxy.address(), "proxy.test:443");
        assert!(!format!("{proxy:?}").contains("SENTINEL"));
        let pair = base64::engine::general_purpose::STANDARD.encode("us@er:SENTINEL");
        assert_eq!(proxy.authorization(), Some(format!("Basic {pair}")));
        let plain = OutboundProxy::parse("http://127.0.0.1:3128/").unwrap();
        assert_eq!(plain.authorization(), None);
    }
}
