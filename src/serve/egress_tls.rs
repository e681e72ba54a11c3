//! The egress proxy's certificate authority: a CA key and certificate kept under the state root
//! (`serve-egress-ca-key.pem`, 0600; `serve-egress-ca.pem`), a leaf certificate minted per host
//! a sandbox connects to, and the TLS acceptor that ends a sandbox's `CONNECT` tunnel with it.
//!
//! Sandboxes trust the CA through the bundle [`Authority::sandbox_bundle`] makes (this machine's
//! roots plus ours), which is all they learn: the key never leaves the state root, which no
//! sandbox sees. Nothing here verifies upstream servers; that is the forwarding client's part.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::{self, pki_types};

use super::ServeError;

const CA_KEY_FILE: &str = "serve-egress-ca-key.pem";
const CA_CERT_FILE: &str = "serve-egress-ca.pem";

/// Where distributions keep their CA bundle, most common first.
const SYSTEM_BUNDLES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// The CA and the leaves minted so far (one key for all leaves: they live as long as serve).
/// The acceptors' `std` mutex is never held across an await: minting is synchronous.
pub(crate) struct Authority {
    issuer: Issuer<'static, KeyPair>,
    ca_pem: String,
    ca_der: pki_types::CertificateDer<'static>,
    leaf_key: KeyPair,
    acceptors: Mutex<HashMap<String, TlsAcceptor>>,
}

/// The CA's fixed name and uses; the issuer of every leaf is rebuilt from these and the key.
fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, "ralph-town serve egress CA");
    name.push(DnType::OrganizationName, "ralph-town");
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2044, 1, 1);
    params
}

impl Authority {
    /// Loads the CA under `dir`, making it on first use; without `dir` a fresh one per run.
    pub(crate) fn load_or_create(dir: Option<&Path>) -> Result<Authority, ServeError> {
        let failed = |path: &Path, message: String| ServeError::EgressCa {
            path: path.to_path_buf(),
            message,
        };
        let (key, ca_pem) = match dir {
            Some(dir) => {
                let key_path = dir.join(CA_KEY_FILE);
                let key_pem = super::secret_file::load_or_create(&key_path, || {
                    KeyPair::generate()
                        .map(|key| key.serialize_pem().into_bytes())
                        .map_err(|error| error.to_string())
                })
                .map_err(|message| failed(&key_path, message))?;
                let key = KeyPair::from_pem(&String::from_utf8_lossy(&key_pem))
                    .map_err(|error| failed(&key_path, error.to_string()))?;
                let cert_path = dir.join(CA_CERT_FILE);
                let cert_pem = super::secret_file::load_or_create(&cert_path, || {
                    ca_params()
                        .self_signed(&key)
                        .map(|cert| cert.pem().into_bytes())
                        .map_err(|error| error.to_string())
                })
                .map_err(|message| failed(&cert_path, message))?;
                (key, String::from_utf8_lossy(&cert_pem).into_owned())
            }
            None => {
                let key = KeyPair::generate()
                    .map_err(|error| failed(Path::new("-"), error.to_string()))?;
                let cert = ca_params()
                    .self_signed(&key)
                    .map_err(|error| failed(Path::new("-"), error.to_string()))?;
                (key, cert.pem())
            }
        };
        let ca_der = pem_to_der(&ca_pem).ok_or_else(|| {
            failed(
                &dir.map(|dir| dir.join(CA_CERT_FILE)).unwrap_or_default(),
                "not a PEM certificate".to_string(),
            )
        })?;
        let leaf_key =
            KeyPair::generate().map_err(|error| failed(Path::new("-"), error.to_string()))?;
        Ok(Authority {
            issuer: Issuer::new(ca_params(), key),
            ca_pem,
            ca_der,
            leaf_key,
            acceptors: Mutex::new(HashMap::new()),
        })
    }

    /// The CA certificate, PEM.
    #[cfg(test)]
    pub(crate) fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// What sandboxes trust: this machine's CA bundle (when it has one) followed by our CA, so
    /// that pointing `SSL_CERT_FILE` and friends at it keeps every other server trusted.
    pub(crate) fn sandbox_bundle(&self) -> Vec<u8> {
        let mut bundle = SYSTEM_BUNDLES
            .iter()
            .find_map(|path| std::fs::read(path).ok())
            .unwrap_or_default();
        if !bundle.is_empty() && !bundle.ends_with(b"\n") {
            bundle.push(b'\n');
        }
        bundle.extend_from_slice(self.ca_pem.as_bytes());
        bundle
    }

    /// The acceptor presenting a leaf for `host` (a name or an IP address), minted once.
    pub(crate) fn acceptor(&self, host: &str) -> Result<TlsAcceptor, String> {
        let mut acceptors = self
            .acceptors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(acceptor) = acceptors.get(host) {
            return Ok(acceptor.clone());
        }
        let mut params =
            CertificateParams::new(vec![host.to_string()]).map_err(|error| error.to_string())?;
        params
            .distinguished_name
            .push(DnType::CommonName, host.to_string());
        params.not_before = rcgen::date_time_ymd(2024, 1, 1);
        params.not_after = rcgen::date_time_ymd(2044, 1, 1);
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let leaf = params
            .signed_by(&self.leaf_key, &self.issuer)
            .map_err(|error| error.to_string())?;
        let key = pki_types::PrivateKeyDer::Pkcs8(self.leaf_key.serialize_der().into());
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| error.to_string())?
            .with_no_client_auth()
            .with_single_cert(vec![leaf.der().clone(), self.ca_der.clone()], key)
            .map_err(|error| error.to_string())?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = TlsAcceptor::from(Arc::new(config));
        acceptors.insert(host.to_string(), acceptor.clone());
        Ok(acceptor)
    }
}

/// The DER of the first certificate in `pem`.
fn pem_to_der(pem: &str) -> Option<pki_types::CertificateDer<'static>> {
    use base64::Engine as _;
    let body: String = pem
        .lines()
        .skip_while(|line| !line.starts_with("-----BEGIN CERTIFICATE"))
        .skip(1)
        .take_while(|line| !line.starts_with("-----END"))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .ok()
        .map(pki_types::CertificateDer::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ca_is_made_once_and_its_key_stays_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let first = Authority::load_or_create(Some(dir.path())).unwrap();
        let again = Authority::load_or_create(Some(dir.path())).unwrap();
        assert_eq!(first.ca_pem(), again.ca_pem());
        let mode = std::fs::metadata(dir.path().join(CA_KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(first.acceptor("api.example.com").is_ok());
        assert!(first.acceptor("127.0.0.1").is_ok());
        assert!(
            String::from_utf8(first.sandbox_bundle())
                .unwrap()
                .ends_with(first.ca_pem())
        );
    }
}
