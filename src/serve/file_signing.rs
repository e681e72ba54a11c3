//! Signed file URLs (the SDKs' `sandbox.download_url` and `upload_url`): each sandbox's signing
//! key (`GET /api/sandbox/{id}/signing-key`, `POST .../signing-key/rotate`) and the check of a
//! toolbox request that carries a signature instead of the API key.
//!
//! NOTES-style: newer than v0.190; shaped after the current API and proxy
//! (`apps/proxy/pkg/proxy/file_url_auth.go`, `signed_request_auth.go`). The SDK signs
//! `v1:files:{GET|POST}:{path}:{expires}` with HMAC-SHA256 under the sandbox's key and sends
//! `?path=&expires=&signature=v1_<base64url>` to `/files/download` (GET, HEAD) or
//! `/files/upload-v2` (POST); `expires` 0 never expires. Where Daytona stores a random key per
//! sandbox, `serve` derives it, with HMAC-SHA256, from one secret of its own kept at
//! `<state root>/serve-file-signing-secret` (0600; in memory without a state root) and a
//! rotation count in the sandbox's record: rotating makes a new key and voids every earlier
//! URL, and the key survives restarts, as Daytona's does. A signed URL never holds the API key.
//! Keys and signatures are credentials: never logged; compared in constant time.

use std::path::Path;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{Method, StatusCode, Uri};
use axum::routing::{get, post};
use base64::Engine as _;
use hmac::{Hmac, KeyInit as _, Mac as _};
use serde::Deserialize;
use sha2::Sha256;

use super::ServeError;
use super::error::{ApiError, DaemonError};
use super::middleware::constant_time_equal;
use super::sandbox::resolve;
use super::secret_file;
use super::state::AppState;

/// The secret's file name under the state root.
pub(crate) const SECRET_FILE: &str = "serve-file-signing-secret";

/// The prefix of every signature the SDKs make.
const SIGNATURE_PREFIX: &str = "v1_";

/// The one secret every sandbox's signing key comes from. A credential: never printed.
pub(crate) struct SigningSecret(Vec<u8>);

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret(<redacted>)")
    }
}

impl SigningSecret {
    /// The secret in `dir`, made there if missing; a fresh one when `dir` is `None`.
    pub(crate) fn load_or_create(dir: Option<&Path>) -> Result<SigningSecret, ServeError> {
        let path = dir.map(|dir| dir.join(SECRET_FILE));
        let failed = |message: String| ServeError::SigningSecret {
            path: path.clone().unwrap_or_default(),
            message,
        };
        let make = || secret_file::random_bytes(32).map(|bytes| hex::encode(bytes).into_bytes());
        let bytes = match &path {
            Some(path) => secret_file::load_or_create(path, make),
            None => make(),
        }
        .map_err(failed)?;
        if bytes.len() < 32 {
            return Err(failed("it is shorter than 32 bytes".to_string()));
        }
        Ok(SigningSecret(bytes))
    }

    /// A key of its own for `purpose`, derived from the secret: what it signs survives
    /// restarts as the secret does, and tells nothing of the sandboxes' keys.
    pub(crate) fn derive(&self, purpose: &str) -> Vec<u8> {
        hmac(&self.0, format!("ralph-town:{purpose}:v1").as_bytes())
    }

    /// The signing key of sandbox `id` after `rotations` rotations.
    fn sandbox_key(&self, id: &str, rotations: u32) -> String {
        let label = format!("ralph-town:file-url-signing-key:v1:{id}:{rotations}");
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hmac(&self.0, label.as_bytes()))
    }
}

pub(crate) fn hmac(key: &[u8], message: &[u8]) -> Vec<u8> {
    // HMAC takes a key of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// The signature the SDKs compute for `canonical` under `key`.
fn signature(key: &str, canonical: &str) -> String {
    let digest = hmac(key.as_bytes(), canonical.as_bytes());
    format!(
        "{SIGNATURE_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
    )
}

/// The control-plane routes (behind the API key).
pub(crate) fn api_routes() -> axum::Router<Arc<AppState>> {
    axum::Router::new()
        .route("/sandbox/{sandbox}/signing-key", get(signing_key))
        .route("/sandbox/{sandbox}/signing-key/rotate", post(rotate))
}

/// `GET /sandbox/{id}/signing-key`: the key as a JSON string, which both SDKs read.
async fn signing_key(
    State(state): State<Arc<AppState>>,
    UrlPath(id_or_name): UrlPath<String>,
) -> Result<Json<String>, ApiError> {
    let sandbox = resolve(&state, &id_or_name).await?;
    let rotations = state.store.sandbox(&sandbox.id).signing_rotations;
    Ok(Json(state.signing.sandbox_key(&sandbox.id, rotations)))
}

/// `POST /sandbox/{id}/signing-key/rotate`: a new key; every URL signed before is void.
async fn rotate(
    State(state): State<Arc<AppState>>,
    UrlPath(id_or_name): UrlPath<String>,
) -> Result<Json<String>, ApiError> {
    let sandbox = resolve(&state, &id_or_name).await?;
    let record = state.store.update_sandbox(&sandbox.id, |record| {
        record.signing_rotations = record.signing_rotations.wrapping_add(1);
    })?;
    Ok(Json(
        state
            .signing
            .sandbox_key(&sandbox.id, record.signing_rotations),
    ))
}

/// The operation a signed file URL names, when `route` (a toolbox route template) and `method`
/// are one the SDKs sign and the query carries a signature: `GET` for a download (also asked
/// with HEAD), `POST` for an upload. Such a request is checked by its signature, not by the key.
pub(crate) fn signed_operation(method: &Method, route: &str, uri: &Uri) -> Option<&'static str> {
    let operation =
        if route.ends_with("/files/download") && matches!(*method, Method::GET | Method::HEAD) {
            "GET"
        } else if route.ends_with("/files/upload-v2") && method == Method::POST {
            "POST"
        } else {
            return None;
        };
    let query = Query::<SignedQuery>::try_from_uri(uri).ok()?;
    query.signature.as_deref().filter(|s| !s.is_empty())?;
    Some(operation)
}

#[derive(Debug, Deserialize)]
pub(crate) struct SignedQuery {
    path: Option<String>,
    expires: Option<String>,
    signature: Option<String>,
}

/// Checks a signed file URL for sandbox `id`: its path, its expiry (`now` in Unix seconds), and
/// its signature under the sandbox's current key. Every refusal but a missing path is a 401.
pub(crate) fn verify(
    state: &AppState,
    id: &str,
    operation: &str,
    uri: &Uri,
    now: u64,
) -> Result<(), DaemonError> {
    let unauthorized = |message: &str| DaemonError::new(StatusCode::UNAUTHORIZED, message);
    let Query(query) =
        Query::<SignedQuery>::try_from_uri(uri).map_err(|_| unauthorized("invalid query"))?;
    let path = query
        .path
        .filter(|path| !path.is_empty())
        .ok_or_else(|| DaemonError::bad_request("path query parameter is required"))?;
    let expires: u64 = match query.expires.as_deref() {
        None | Some("") => return Err(unauthorized("expires query parameter is required")),
        Some(text) => text
            .parse()
            .map_err(|_| unauthorized("invalid expires query parameter"))?,
    };
    if expires != 0 && now > expires {
        return Err(unauthorized("signature is expired"));
    }
    let given = query.signature.unwrap_or_default();
    if !given.starts_with(SIGNATURE_PREFIX) {
        return Err(unauthorized("unsupported signature scheme"));
    }
    let rotations = state.store.sandbox(id).signing_rotations;
    let key = state.signing.sandbox_key(id, rotations);
    let expected = signature(&key, &format!("v1:files:{operation}:{path}:{expires}"));
    if !constant_time_equal(expected.as_bytes(), given.as_bytes()) {
        return Err(unauthorized("invalid signature"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_the_sdks_test_vector() {
        // What the pinned Python and TypeScript SDKs compute for these inputs.
        assert_eq!(
            signature("k", "v1:files:GET:/home/daytona/a.txt:0"),
            "v1_KBSliBZuG6zeZCV6-G-JQhbp6mFMvKLu5Xn0pw65Ezc"
        );
    }

    #[test]
    fn keys_differ_per_sandbox_and_rotation_and_never_print() {
        let secret = SigningSecret::load_or_create(None).unwrap();
        let key = secret.sandbox_key("a", 0);
        assert_ne!(key, secret.sandbox_key("b", 0));
        assert_ne!(key, secret.sandbox_key("a", 1));
        assert_eq!(key, secret.sandbox_key("a", 0));
        assert_eq!(format!("{secret:?}"), "SigningSecret(<redacted>)");
        let other = SigningSecret::load_or_create(None).unwrap();
        assert_ne!(key, other.sandbox_key("a", 0));
    }

    #[test]
    fn only_signed_downloads_and_uploads_skip_the_key() {
        let uri: Uri = "/toolbox/x/files/download?path=a&expires=0&signature=v1_x"
            .parse()
            .unwrap();
        let route = "/toolbox/{sandbox}/files/download";
        assert_eq!(signed_operation(&Method::GET, route, &uri), Some("GET"));
        assert_eq!(signed_operation(&Method::HEAD, route, &uri), Some("GET"));
        assert_eq!(signed_operation(&Method::DELETE, route, &uri), None);
        let upload = "/toolbox/{sandbox}/files/upload-v2";
        assert_eq!(signed_operation(&Method::POST, upload, &uri), Some("POST"));
        assert_eq!(
            signed_operation(&Method::GET, "/toolbox/{sandbox}/files", &uri),
            None
        );
        let unsigned: Uri = "/toolbox/x/files/download?path=a".parse().unwrap();
        assert_eq!(signed_operation(&Method::GET, route, &unsigned), None);
    }
}
