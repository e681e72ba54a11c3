//! HTTPS on `serve`'s own port, for the clients that will not speak plain HTTP: the Python SDK
//! uploads build contexts (`Image.add_local_file`, `add_local_dir`) with a client that refuses
//! `http://` storage. A connection whose first byte opens a TLS handshake is ended here with a
//! leaf of `serve`'s loopback CA; any other is served as plain HTTP, as before.
//!
//! The CA (`serve-loopback-ca.pem`, its key `serve-loopback-ca-key.pem` 0600, under the state
//! root) may only vouch for this machine's loopback names (`localhost`, 127.0.0.0/8, `::1`):
//! its certificate says so in name constraints, which verifiers enforce, so trusting it lets its
//! key, should it leak, impersonate nothing but loopback servers. `serve` never trusts it on the
//! user's behalf: [`LocalTls::trusted`] only reads whether this machine's CA bundle holds it.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::Duration;

use rcgen::{CidrSubnet, GeneralSubtree, NameConstraints};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use super::ServeError;
use super::egress_tls::{Authority, Profile, pem_certificates, system_bundle};

/// The first byte of a TLS record carrying a handshake (RFC 8446, 5.1); no HTTP request line
/// starts with it.
const TLS_HANDSHAKE: u8 = 0x16;

/// How long a new connection may take to send its first byte and finish a TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// The loopback CA: its leaves name only this machine's loopback.
pub(crate) const LOOPBACK: Profile = Profile {
    what: "the loopback CA",
    key_file: "serve-loopback-ca-key.pem",
    cert_file: "serve-loopback-ca.pem",
    common_name: "ralph-town serve loopback CA",
    constraints: loopback_names,
    // The API is served over HTTP/1.1 (its WebSockets are upgrades of it).
    alpn: &[b"http/1.1"],
};

fn loopback_names() -> Option<NameConstraints> {
    let mut ipv6_mask = [0u8; 16];
    ipv6_mask.fill(0xff);
    Some(NameConstraints {
        permitted_subtrees: vec![
            GeneralSubtree::DnsName("localhost".to_string()),
            GeneralSubtree::IpAddress(CidrSubnet::V4([127, 0, 0, 0], [255, 0, 0, 0])),
            GeneralSubtree::IpAddress(CidrSubnet::V6(
                std::net::Ipv6Addr::LOCALHOST.octets(),
                ipv6_mask,
            )),
        ],
        excluded_subtrees: Vec::new(),
    })
}

/// Byte streams a connection may be served over: plain TCP or TLS over it.
pub(crate) trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// The loopback CA and the acceptor presenting its leaf.
pub(crate) struct LocalTls {
    authority: Authority,
    acceptor: TlsAcceptor,
    /// The names the leaf carries: how a client may reach this server over HTTPS.
    names: Vec<String>,
    /// Where the CA certificate is kept, to name in advice; `None` without a state root.
    ca_path: Option<PathBuf>,
}

impl LocalTls {
    /// Loads (or makes) the loopback CA under `state_dir` and mints the leaf for `listen`.
    pub(crate) fn load(state_dir: Option<&Path>, listen: SocketAddr) -> Result<Self, ServeError> {
        let authority = Authority::load_or_create(state_dir, &LOOPBACK)?;
        let mut names = vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
        ];
        let own = listen.ip();
        if own.is_loopback() && !names.contains(&own.to_string()) {
            names.push(own.to_string());
        }
        let acceptor = authority
            .acceptor_for(&names)
            .map_err(|message| ServeError::Ca {
                what: LOOPBACK.what,
                path: state_dir
                    .map(|dir| dir.join(LOOPBACK.cert_file))
                    .unwrap_or_default(),
                message,
            })?;
        Ok(LocalTls {
            authority,
            acceptor,
            names,
            ca_path: state_dir.map(|dir| dir.join(LOOPBACK.cert_file)),
        })
    }

    /// Where the CA certificate is kept (`None`: made afresh for this run only).
    pub(crate) fn ca_path(&self) -> Option<&Path> {
        self.ca_path.as_deref()
    }

    /// Whether this machine's CA bundle (the one TLS clients read when nothing in their
    /// environment points elsewhere) holds the loopback CA.
    pub(crate) fn trusted(&self) -> bool {
        system_bundle().is_some_and(|bundle| {
            pem_certificates(&String::from_utf8_lossy(&bundle))
                .any(|certificate| &certificate == self.authority.ca_der())
        })
    }

    /// `base_url` (`http://host:port`) over HTTPS, when its host is one the leaf names.
    pub(crate) fn https_url(&self, base_url: &str) -> Option<String> {
        let rest = base_url.strip_prefix("http://")?;
        let host = match rest.rsplit_once(':') {
            Some((host, port)) if port.bytes().all(|byte| byte.is_ascii_digit()) => host,
            _ => rest,
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let named = self.names.iter().any(|name| name == host)
            || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
        named.then(|| format!("https://{rest}"))
    }

    /// The connection, ended here with TLS when its first byte opens a handshake, else as it
    /// came. `None`: it closed, stalled or failed the handshake first.
    pub(crate) async fn accept(&self, stream: TcpStream) -> Option<Pin<Box<dyn Stream>>> {
        let accepted = async {
            let mut first = [0u8; 1];
            let read = stream.peek(&mut first).await.ok()?;
            if read == 1 && first[0] == TLS_HANDSHAKE {
                let tls = self.acceptor.accept(stream).await.ok()?;
                Some(Box::pin(tls) as Pin<Box<dyn Stream>>)
            } else {
                Some(Box::pin(stream) as Pin<Box<dyn Stream>>)
            }
        };
        tokio::time::timeout(HANDSHAKE_TIMEOUT, accepted)
            .await
            .ok()
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use tokio_rustls::rustls::client::danger::ServerCertVerifier as _;
    use tokio_rustls::rustls::{self, pki_types};

    /// Verifies `leaf` for `name` with only the loopback CA as root, as a client trusting it would.
    fn verify(
        tls: &LocalTls,
        leaf: &pki_types::CertificateDer<'_>,
        name: &str,
    ) -> Result<(), String> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(tls.authority.ca_der().clone()).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier =
            rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
        verifier
            .verify_server_cert(
                leaf,
                &[],
                &pki_types::ServerName::try_from(name.to_string()).unwrap(),
                &[],
                pki_types::UnixTime::now(),
            )
            .map(|_| ())
            .map_err(|error| error.to_string())
    }

    fn leaf_for(tls: &LocalTls, names: &[&str]) -> pki_types::CertificateDer<'static> {
        let names: Vec<String> = names.iter().map(ToString::to_string).collect();
        tls.authority.leaf_for(&names).unwrap()
    }

    #[test]
    fn the_loopback_ca_vouches_for_loopback_names_only() {
        let dir = tempfile::tempdir().unwrap();
        let tls = LocalTls::load(Some(dir.path()), "127.0.0.1:3000".parse().unwrap()).unwrap();
        let served = leaf_for(&tls, &["localhost", "127.0.0.1", "::1"]);
        for name in ["localhost", "127.0.0.1", "::1"] {
            verify(&tls, &served, name).unwrap();
        }
        // Its key could mint a leaf for any name; a verifier refuses every one outside loopback.
        for name in ["example.com", "10.0.2.2", "localhost.example.com"] {
            let forged = leaf_for(&tls, &[name]);
            let refused = verify(&tls, &forged, name).unwrap_err();
            assert!(
                refused.contains("NameConstraint") || refused.contains("name constraint"),
                "{name}: {refused}"
            );
        }
        let again = LocalTls::load(Some(dir.path()), "127.0.0.1:3000".parse().unwrap()).unwrap();
        assert_eq!(again.authority.ca_der(), tls.authority.ca_der());
        assert_eq!(
            tls.ca_path(),
            Some(dir.path().join(LOOPBACK.cert_file).as_path())
        );
    }

    #[test]
    fn only_a_loopback_base_url_has_an_https_twin() {
        let tls = LocalTls::load(None, "127.0.0.1:0".parse().unwrap()).unwrap();
        assert_eq!(
            tls.https_url("http://127.0.0.1:3000").as_deref(),
            Some("https://127.0.0.1:3000")
        );
        assert_eq!(
            tls.https_url("http://localhost:3000").as_deref(),
            Some("https://localhost:3000")
        );
        assert_eq!(
            tls.https_url("http://[::1]:3000").as_deref(),
            Some("https://[::1]:3000")
        );
        assert_eq!(tls.https_url("http://192.168.1.4:3000"), None);
        assert_eq!(tls.https_url("https://serve.example.com"), None);
    }
}
