//! Build contexts: `GET /api/object-storage/push-access` and the small part of S3 the SDKs use to
//! upload the files an `Image` copies (`add_local_file`, `add_local_dir`, a Dockerfile's `COPY`),
//! served under `/_objects/{bucket}/...` on this server's own listener.
//!
//! The SDKs upload each context as `<organization>/<hash>/context.tar` and send the hashes with
//! the build (`build.rs` unpacks them). Requests carry the session token of a push access
//! (`x-amz-security-token`), which is what is checked: the request signature is not (the
//! signing key would be the secret this server made up itself). Objects live under
//! `<state root>/serve-objects/`, keys limited to plain names under this organisation. Nothing
//! here logs a token.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde::Serialize;
use sha2::Digest as _;

use super::error::ApiError;
use super::middleware::constant_time_equal;
use super::state::{AppState, Millis, StorageToken, now};

/// The bucket Daytona's SDKs default to.
const BUCKET: &str = "daytona-volume-builds";
const REGION: &str = "us-east-1";
/// How long a push access lasts.
const ACCESS_MILLIS: Millis = 60 * 60 * 1000;

/// `StorageAccessDto`; `region` is newer than the v0.190 spec (the pinned SDKs require it).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct StorageAccess {
    access_key: String,
    secret: String,
    session_token: String,
    storage_url: String,
    organization_id: String,
    bucket: String,
    region: String,
}

pub(crate) fn api_routes() -> axum::Router<Arc<AppState>> {
    axum::Router::new().route("/object-storage/push-access", get(push_access))
}

/// The storage itself (no API key: the push access's session token is the credential).
pub(crate) fn storage_routes() -> axum::Router<Arc<AppState>> {
    axum::Router::new()
        .route("/_objects/{bucket}", any(bucket))
        // Path-style S3 clients list a bucket with a trailing slash.
        .route("/_objects/{bucket}/", any(bucket))
        .route("/_objects/{bucket}/{*key}", any(object))
}

fn random(length: usize) -> Result<String, ApiError> {
    super::api_key::random_token(length)
        .map_err(|error| ApiError::internal(format!("no random source: {error}")))
}

async fn push_access(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<StorageAccess>, ApiError> {
    let storage_url = storage_url(&state, &headers)?;
    let token = random(48)?;
    let now = now();
    state.store.write(|records| {
        records.storage_tokens.retain(|old| old.expires_at > now);
        records.storage_tokens.push(StorageToken {
            token: token.clone(),
            expires_at: now + ACCESS_MILLIS,
        });
    })?;
    Ok(Json(StorageAccess {
        access_key: format!("SERVE{}", random(15)?.to_uppercase()),
        secret: random(40)?,
        session_token: token,
        storage_url,
        organization_id: state.store.read(|records| records.organization_id.clone()),
        bucket: BUCKET.to_string(),
        region: REGION.to_string(),
    }))
}

/// Where the client is to upload: this server's own storage, over HTTPS for the Python SDK.
///
/// Its uploader (obstore, built with the environment cleared) refuses plain-HTTP storage with a
/// bare `builder error`, after this answer, and trusts only this machine's CA bundle. So the
/// Python SDK is sent to the HTTPS twin of this server's URL when that bundle holds the loopback
/// CA, and otherwise told why not, and what to do, before it tries. The TypeScript SDK's client
/// takes plain HTTP (and would not read the machine's bundle): it keeps the URL it was given.
fn storage_url(state: &AppState, headers: &HeaderMap) -> Result<String, ApiError> {
    let base_url = &state.settings.base_url;
    let python_sdk = headers
        .get("x-daytona-source")
        .is_some_and(|source| source == "sdk-python");
    if !python_sdk || !base_url.starts_with("http://") {
        return Ok(format!("{base_url}/_objects"));
    }
    let tls = &state.local_tls;
    let https = tls.https_url(base_url);
    if https.is_some() && tls.trusted() {
        return Ok(format!("{}/_objects", https.unwrap_or_default()));
    }
    let trust = match (https, tls.ca_path()) {
        (Some(_), Some(ca)) => format!(
            "trust this server's loopback CA `{}` to let it use this server's HTTPS (on Debian and Ubuntu: copy it to `/usr/local/share/ca-certificates/ralph-town-serve.crt` and run `update-ca-certificates`), ",
            ca.display()
        ),
        _ => String::new(),
    };
    Err(ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        format!(
            "Build contexts cannot be uploaded here by the Python SDK: its uploader refuses the plain-HTTP storage of `{base_url}`; \
             {trust}put the server behind HTTPS (`--public-url`), build with the TypeScript SDK (`addLocalFile`, `addLocalDir`), \
             or upload the files once the sandbox runs (`fs.upload_file`)"
        ),
    ))
}

/// An S3 error: XML with its code, and nothing for `HEAD`.
fn s3_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    );
    (status, [(header::CONTENT_TYPE, "application/xml")], body).into_response()
}

fn xml(body: String) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/xml")],
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{body}"),
    )
        .into_response()
}

/// The objects directory when the request may use it, else the S3 refusal.
fn authorized(
    state: &AppState,
    headers: &HeaderMap,
    bucket: &str,
) -> Result<PathBuf, Box<Response>> {
    let token = headers
        .get("x-amz-security-token")
        .map(|value| value.as_bytes().to_vec())
        .unwrap_or_default();
    let now = now();
    let known = state.store.read(|records| {
        records.storage_tokens.iter().any(|access| {
            access.expires_at > now && constant_time_equal(access.token.as_bytes(), &token)
        })
    });
    if !known {
        return Err(Box::new(s3_error(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "a push access session token is required",
        )));
    }
    if bucket != BUCKET {
        return Err(Box::new(s3_error(
            StatusCode::NOT_FOUND,
            "NoSuchBucket",
            "the bucket does not exist",
        )));
    }
    state.settings.objects_dir.clone().ok_or_else(|| {
        Box::new(s3_error(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            "this server keeps no state directory for objects",
        ))
    })
}

/// A key made of plain names, under this organisation.
fn valid_key(state: &AppState, key: &str) -> bool {
    let organization = state.store.read(|records| records.organization_id.clone());
    let plain = key.split('/').all(|part| {
        !part.is_empty()
            && part != "."
            && part != ".."
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    });
    plain && key.split('/').next() == Some(organization.as_str())
}

fn etag(bytes: &[u8]) -> String {
    format!("\"{}\"", &hex::encode(sha2::Sha256::digest(bytes))[..32])
}

/// The body as sent, or decoded from AWS's chunked upload encoding.
fn payload(headers: &HeaderMap, body: Bytes) -> Option<Vec<u8>> {
    let chunked = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.contains("aws-chunked"))
        || headers
            .get("x-amz-content-sha256")
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("STREAMING-"));
    if !chunked {
        return Some(body.to_vec());
    }
    let mut out = Vec::new();
    let mut rest = &body[..];
    loop {
        let end = rest.windows(2).position(|pair| pair == b"\r\n")?;
        let line = std::str::from_utf8(&rest[..end]).ok()?;
        let size = usize::from_str_radix(line.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

/// Writes `bytes` at `path` in one rename.
fn store(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let temporary = path.with_extension(format!("part-{}", uuid::Uuid::new_v4().simple()));
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, path)
}

fn failed(error: std::io::Error) -> Response {
    s3_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalError",
        &error.to_string(),
    )
}

/// `ListObjectsV2` (`GET /{bucket}?list-type=2&prefix=...`): the TypeScript SDK's "already
/// uploaded?" check.
async fn bucket(
    State(state): State<Arc<AppState>>,
    UrlPath(bucket): UrlPath<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let root = match authorized(&state, &headers, &bucket) {
        Ok(root) => root,
        Err(refusal) => return *refusal,
    };
    let prefix = query.get("prefix").cloned().unwrap_or_default();
    let limit: usize = query
        .get("max-keys")
        .and_then(|value| value.parse().ok())
        .unwrap_or(1000);
    let mut found = Vec::new();
    let mut pending = vec![root.clone()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(relative) = path.strip_prefix(&root) else {
                continue;
            };
            let key = relative.to_string_lossy().into_owned();
            if key.starts_with(".uploads") {
                continue;
            }
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => pending.push(path),
                Ok(kind)
                    if kind.is_file() && key.starts_with(&prefix) && !key.contains(".part-") =>
                {
                    let size = entry.metadata().map(|found| found.len()).unwrap_or(0);
                    found.push((key, size));
                }
                _ => {}
            }
        }
    }
    found.sort();
    found.truncate(limit);
    let contents: String = found
        .iter()
        .map(|(key, size)| {
            format!(
                "<Contents><Key>{key}</Key><Size>{size}</Size><ETag>\"0\"</ETag><StorageClass>STANDARD</StorageClass></Contents>"
            )
        })
        .collect();
    xml(format!(
        "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>{bucket}</Name><Prefix>{prefix}</Prefix><KeyCount>{}</KeyCount><MaxKeys>{limit}</MaxKeys><IsTruncated>false</IsTruncated>{contents}</ListBucketResult>",
        found.len()
    ))
}

/// One object: `HEAD`, `GET`, `PUT` (whole, or a part of a multipart upload), `POST` (start or
/// complete a multipart upload), `DELETE` (abort one).
async fn object(
    State(state): State<Arc<AppState>>,
    UrlPath((bucket, key)): UrlPath<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let root = match authorized(&state, &headers, &bucket) {
        Ok(root) => root,
        Err(refusal) => return *refusal,
    };
    if !valid_key(&state, &key) {
        return s3_error(StatusCode::BAD_REQUEST, "InvalidArgument", "invalid key");
    }
    let path = root.join(&key);
    let upload = query
        .get("uploadId")
        .filter(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric()))
        .map(|id| root.join(".uploads").join(id));
    match (method, upload) {
        (Method::HEAD | Method::GET, _) => match std::fs::read(&path) {
            Ok(bytes) => {
                let tag = etag(&bytes);
                let length = bytes.len();
                let mut response = Response::new(Body::from(bytes));
                let headers = response.headers_mut();
                headers.insert(header::CONTENT_LENGTH, length.into());
                if let Ok(tag) = tag.parse() {
                    headers.insert(header::ETAG, tag);
                }
                response
            }
            Err(_) => s3_error(StatusCode::NOT_FOUND, "NoSuchKey", "no such key"),
        },
        (Method::PUT, upload) => {
            let Some(bytes) = payload(&headers, body) else {
                return s3_error(
                    StatusCode::BAD_REQUEST,
                    "InvalidRequest",
                    "bad chunked body",
                );
            };
            let target = match (
                upload,
                query.get("partNumber").and_then(|n| n.parse::<u32>().ok()),
            ) {
                (Some(upload), Some(part)) if upload.is_dir() => upload.join(format!("{part:05}")),
                (Some(_), _) => {
                    return s3_error(StatusCode::NOT_FOUND, "NoSuchUpload", "no such upload");
                }
                (None, _) => path,
            };
            match store(&target, &bytes) {
                Ok(()) => (StatusCode::OK, [(header::ETAG, etag(&bytes))]).into_response(),
                Err(error) => failed(error),
            }
        }
        (Method::POST, None) if query.contains_key("uploads") => {
            let id = uuid::Uuid::new_v4().simple().to_string();
            if let Err(error) = std::fs::create_dir_all(root.join(".uploads").join(&id)) {
                return failed(error);
            }
            xml(format!(
                "<InitiateMultipartUploadResult><Bucket>{bucket}</Bucket><Key>{key}</Key><UploadId>{id}</UploadId></InitiateMultipartUploadResult>"
            ))
        }
        (Method::POST, Some(upload)) => {
            let Ok(entries) = std::fs::read_dir(&upload) else {
                return s3_error(StatusCode::NOT_FOUND, "NoSuchUpload", "no such upload");
            };
            let mut parts: Vec<PathBuf> = entries.flatten().map(|entry| entry.path()).collect();
            parts.sort();
            let mut whole = Vec::new();
            for part in parts {
                match std::fs::read(&part) {
                    Ok(bytes) => whole.extend(bytes),
                    Err(error) => return failed(error),
                }
            }
            if let Err(error) = store(&path, &whole) {
                return failed(error);
            }
            let _ = std::fs::remove_dir_all(&upload);
            xml(format!(
                "<CompleteMultipartUploadResult><Bucket>{bucket}</Bucket><Key>{key}</Key><ETag>{}</ETag></CompleteMultipartUploadResult>",
                etag(&whole)
            ))
        }
        (Method::DELETE, Some(upload)) => {
            let _ = std::fs::remove_dir_all(&upload);
            StatusCode::NO_CONTENT.into_response()
        }
        _ => s3_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "not supported here",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_chunked_bodies_decode() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_ENCODING, "aws-chunked".parse().unwrap());
        let body = Bytes::from_static(
            b"5;chunk-signature=abc\r\nhello\r\n3\r\n th\r\n0\r\nx-amz-checksum-crc32:AAAA\r\n\r\n",
        );
        assert_eq!(payload(&headers, body).unwrap(), b"hello th");
        let plain = Bytes::from_static(b"5\r\nhello");
        assert_eq!(
            payload(&HeaderMap::new(), plain.clone()).unwrap(),
            plain.to_vec()
        );
    }
}
