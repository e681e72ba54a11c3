//! `serve`'s certificate authorities: a CA key and certificate kept under the state root (the key
//! 0600), leaf certificates minted for the names a client connects to, and the TLS acceptors
//! that present them. Two CAs are made this way, each with a [`Profile`] of its own:
//! - the egress proxy's ([`EGRESS`]: `serve-egress-ca-key.pem`, `serve-egress-ca.pem`), which
//!   ends a sandbox's `CONNECT` tunnel for any host it connects to. Sandboxes trust it through the
//!   bundle [`Authority::sandbox_bundle`] makes (this machine's roots plus ours), which is all
//!   they learn: the key never leaves the state root, which no sandbox sees;
//! - the loopback CA (`local_tls`), limited by name constraints to this machine's loopback names.
//!
//! Nothing here verifies upstream servers; that is the forwarding client's part.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, NameConstraints,
};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::{self, pki_types};

use super::ServeError;

/// What tells one CA from another: where it is kept, its name, and the names its leaves may have.
pub(crate) struct Profile {
    /// What the CA is for, in errors ("the egress proxy's CA").
    pub what: &'static str,
    pub key_file: &'static str,
    pub cert_file: &'static str,
    pub common_name: &'static str,
    /// The names a leaf may carry (RFC 5280 name constraints); `None`: any.
    pub constraints: fn() -> Option<NameConstraints>,
    /// The application protocols its acceptors offer, most wanted first.
    pub alpn: &'static [&'static [u8]],
}

/// The egress proxy's CA: it mints a leaf for whatever host a sandbox connects to.
pub(crate) const EGRESS: Profile = Profile {
    what: "the egress proxy's CA",
    key_file: "serve-egress-ca-key.pem",
    cert_file: "serve-egress-ca.pem",
    common_name: "ralph-town serve egress CA",
    constraints: || None,
    alpn: &[b"h2", b"http/1.1"],
};

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
    alpn: &'static [&'static [u8]],
    issuer: Issuer<'static, KeyPair>,
    ca_pem: String,
    ca_der: pki_types::CertificateDer<'static>,
    leaf_key: KeyPair,
    acceptors: Mutex<HashMap<String, TlsAcceptor>>,
}

/// The CA's fixed name and uses; the issuer of every leaf is rebuilt from these and the key.
fn ca_params(profile: &Profile) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, profile.common_name);
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
    params.name_constraints = (profile.constraints)();
    params
}

impl Authority {
    /// Loads the CA of `profile` under `dir`, making it on first use; without `dir` a fresh one
    /// per run.
    pub(crate) fn load_or_create(
        dir: Option<&Path>,
        profile: &Profile,
    ) -> Result<Authority, ServeError> {
        let failed = |path: &Path, message: String| ServeError::Ca {
            what: profile.what,
            path: path.to_path_buf(),
            message,
        };
        let (key, ca_pem) = match dir {
            Some(dir) => {
                let key_path = dir.join(profile.key_file);
                let key_pem = super::secret_file::load_or_create(&key_path, || {
                    KeyPair::generate()
                        .map(|key| key.serialize_pem().into_bytes())
                        .map_err(|error| error.to_string())
                })
                .map_err(|message| failed(&key_path, message))?;
                let key = KeyPair::from_pem(&String::from_utf8_lossy(&key_pem))
                    .map_err(|error| failed(&key_path, error.to_string()))?;
                let cert_path = dir.join(profile.cert_file);
                let cert_pem = super::secret_file::load_or_create(&cert_path, || {
                    ca_params(profile)
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
                let cert = ca_params(profile)
                    .self_signed(&key)
                    .map_err(|error| failed(Path::new("-"), error.to_string()))?;
                (key, cert.pem())
            }
        };
        let ca_der = pem_to_der(&ca_pem).ok_or_else(|| {
            failed(
                &dir.map(|dir| dir.join(profile.cert_file))
                    .unwrap_or_default(),
                "not a PEM certificate".to_string(),
            )
        })?;
        let leaf_key =
            KeyPair::generate().map_err(|error| failed(Path::new("-"), error.to_string()))?;
        Ok(Authority {
            alpn: profile.alpn,
            issuer: Issuer::new(ca_params(profile), key),
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

    /// The CA certificate, DER.
    pub(crate) fn ca_der(&self) -> &pki_types::CertificateDer<'static> {
        &self.ca_der
    }

    /// What sandboxes trust: this machine's CA bundle (when it has one) followed by our CA, so
    /// that pointing `SSL_CERT_FILE` and friends at it keeps every other server trusted.
    pub(crate) fn sandbox_bundle(&self) -> Vec<u8> {
        let mut bundle = system_bundle().unwrap_or_default();
        if !bundle.is_empty() && !bundle.ends_with(b"\n") {
            bundle.push(b'\n');
        }
        bundle.extend_from_slice(self.ca_pem.as_bytes());
        bundle
    }

    /// A leaf certificate for `names` (the first is its common name), signed by this CA.
    pub(crate) fn leaf_for(
        &self,
        names: &[String],
    ) -> Result<pki_types::CertificateDer<'static>, String> {
        let mut params =
            CertificateParams::new(names.to_vec()).map_err(|error| error.to_string())?;
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().cloned().unwrap_or_default(),
        );
        params.not_before = rcgen::date_time_ymd(2024, 1, 1);
        params.not_after = rcgen::date_time_ymd(2044, 1, 1);
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let leaf = params
            .signed_by(&self.leaf_key, &self.issuer)
            .map_err(|error| error.to_string())?;
        Ok(leaf.der().clone())
    }

    /// The acceptor presenting a leaf for `host` (a name or an IP address), minted once.
    pub(crate) fn acceptor(&self, host: &str) -> Result<TlsAcceptor, String> {
        self.acceptor_for(&[host.to_string()])
    }

    /// The acceptor presenting one leaf for all of `names` (the first is its common name),
    /// minted once.
    pub(crate) fn acceptor_for(&self, names: &[String]) -> Result<TlsAcceptor, String> {
        let entry = names.join(" ");
        let mut acceptors = self
            .acceptors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(acceptor) = acceptors.get(&entry) {
            return Ok(acceptor.clone());
        }
        let leaf = self.leaf_for(names)?;
        let key = pki_types::PrivateKeyDer::Pkcs8(self.leaf_key.serialize_der().into());
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| error.to_string())?
            .with_no_client_auth()
            .with_single_cert(vec![leaf, self.ca_der.clone()], key)
            .map_err(|error| error.to_string())?;
        config.alpn_protocols = self.alpn.iter().map(|protocol| protocol.to_vec()).collect();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        acceptors.insert(entry, acceptor.clone());
        Ok(acceptor)
    }
}

/// This machine's CA bundle, from the first place distributions keep one.
pub(crate) fn system_bundle() -> Option<Vec<u8>> {
    SYSTEM_BUNDLES
        .iter()
        .find_map(|path| std::fs::read(path).ok())
}

/// The DER of the first certificate in `pem`.
fn pem_to_der(pem: &str) -> Option<pki_types::CertificateDer<'static>> {
    pem_certificates(pem).next()
}

/// The DER of every certificate in `pem` (a bundle), in order; one that does not decode is
/// left out.
pub(crate) fn pem_certificates(
    pem: &str,
) -> impl Iterator<Item = pki_types::CertificateDer<'static>> + '_ {
    use base64::Engine as _;
    pem.split("-----BEGIN CERTIFICATE-----")
        .skip(1)
        .filter_map(|block| {
            let body: String = block
                .lines()
                .take_while(|line| !line.starts_with("-----END"))
                .flat_map(str::split_whitespace)
                .collect();
            base64::engine::general_purpose::STANDARD.decode(body).ok()
        })
        .map(pki_types::CertificateDer::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ca_is_made_once_and_its_key_stays_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let first = Authority::load_or_create(Some(dir.path()), &EGRESS).unwrap();
        let again = Authority::load_or_create(Some(dir.path()), &EGRESS).unwrap();
        assert_eq!(first.ca_pem(), again.ca_pem());
        let mode = std::fs::metadata(dir.path().join(EGRESS.key_file))
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
