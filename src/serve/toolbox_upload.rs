//! Toolbox upload routes: `POST /files/upload` (one file, multipart), `/files/bulk-upload`
//! (parts `files[i].path` and `files[i].file`) and the current SDKs' `/files/upload-v2`
//! (multipart or a raw body, answering what it wrote), all through `Provider::upload`.
//!
//! A missing parent directory is made; a path the sandbox cannot write is the daemon's error,
//! `FILE_NOT_FOUND` when part of it is missing. Contents are never logged.
//!
//! Each route reads the whole body before it looks at the sandbox or the path: an answer sent
//! with the body left unread makes the server close the connection afterwards without saying
//! so, and a client that reuses it (the TypeScript SDK does) meets its next call failing with
//! `EPIPE` or a socket hang-up instead of that call's answer.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use serde::Serialize;

use super::error::DaemonError;
use super::state::AppState;
use super::toolbox::ready;
use super::toolbox_files::{PathQuery, file_error, under, work_dir};
use crate::provider;

/// Writes `contents` at `path`, a relative one under `work_dir` (see [`work_dir`]).
async fn upload_one(
    state: &AppState,
    sandbox: &provider::Sandbox,
    work_dir: Option<&str>,
    path: &str,
    contents: &[u8],
) -> Result<(), DaemonError> {
    state
        .provider
        .upload(&sandbox.id, &under(work_dir, path), contents)
        .await
        .map_err(|error| file_error(error, path))
}

fn multipart_error(error: axum::extract::multipart::MultipartError) -> DaemonError {
    DaemonError::bad_request(format!("invalid multipart body: {}", error.body_text()))
}

/// The contents of the multipart field `file`.
async fn file_field(mut multipart: Multipart) -> Result<Bytes, DaemonError> {
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        if field.name() == Some("file") {
            return field.bytes().await.map_err(multipart_error);
        }
    }
    Err(DaemonError::bad_request(
        "the multipart field `file` is missing",
    ))
}

/// `POST /files/upload?path=`: one file in the multipart field `file`.
pub(crate) async fn upload(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(query): Query<PathQuery>,
    multipart: Multipart,
) -> Result<StatusCode, DaemonError> {
    let contents = file_field(multipart).await?;
    let path = query.path()?.to_string();
    let sandbox = ready(&state, &id).await?;
    let work_dir = work_dir(&state, &sandbox).await?;
    upload_one(&state, &sandbox, work_dir.as_deref(), &path, &contents).await?;
    Ok(StatusCode::OK)
}

/// Reply of `POST /files/upload-v2`, as the current daemon words it.
#[derive(Debug, Serialize)]
pub(crate) struct UploadedFile {
    name: String,
    path: String,
    #[serde(rename = "type")]
    kind: &'static str,
}

/// `POST /files/upload-v2?path=`: one file, in the multipart field `file` or as the raw body;
/// answers what it wrote. NOTES-style: newer than the v0.190 toolbox spec; the pinned SDKs'
/// `upload_url` signs it (`file_signing`), and their generated clients name it `upload_file`.
pub(crate) async fn upload_v2(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(query): Query<PathQuery>,
    request: Request,
) -> Result<Json<UploadedFile>, DaemonError> {
    let multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("multipart/form-data"));
    let contents = if multipart {
        let form = Multipart::from_request(request, &state)
            .await
            .map_err(|rejection| DaemonError::bad_request(rejection.body_text()))?;
        file_field(form).await?
    } else {
        Bytes::from_request(request, &state)
            .await
            .map_err(|rejection| DaemonError::bad_request(rejection.body_text()))?
    };
    let path = query.path()?.to_string();
    let sandbox = ready(&state, &id).await?;
    let work_dir = work_dir(&state, &sandbox).await?;
    upload_one(&state, &sandbox, work_dir.as_deref(), &path, &contents).await?;
    Ok(Json(UploadedFile {
        name: path.rsplit('/').next().unwrap_or(&path).to_string(),
        path,
        kind: "file",
    }))
}

/// `POST /files/bulk-upload`: parts `files[i].path` (the destination) and `files[i].file`.
pub(crate) async fn bulk_upload(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    mut multipart: Multipart,
) -> Result<StatusCode, DaemonError> {
    let mut paths: BTreeMap<String, String> = BTreeMap::new();
    let mut files: BTreeMap<String, Bytes> = BTreeMap::new();
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        let Some(name) = field.name().map(str::to_string) else {
            continue;
        };
        let Some(rest) = name.strip_prefix("files[") else {
            continue;
        };
        let Some((index, part)) = rest.split_once("].") else {
            continue;
        };
        match part {
            "path" => {
                paths.insert(
                    index.to_string(),
                    field.text().await.map_err(multipart_error)?,
                );
            }
            "file" => {
                files.insert(
                    index.to_string(),
                    field.bytes().await.map_err(multipart_error)?,
                );
            }
            _ => {}
        }
    }
    if files.is_empty() || files.keys().any(|index| !paths.contains_key(index)) {
        return Err(DaemonError::bad_request(
            "every `files[i].file` part needs a `files[i].path` part",
        ));
    }
    let sandbox = ready(&state, &id).await?;
    // As the daemon does: every file is tried, and the failures are listed one per file.
    let mut errors = Vec::new();
    let work_dir = work_dir(&state, &sandbox).await?;
    for (index, contents) in &files {
        let path = &paths[index];
        if let Err(error) = upload_one(&state, &sandbox, work_dir.as_deref(), path, contents).await
        {
            errors.push(format!("{path}: {}", error.message));
        }
    }
    if errors.is_empty() {
        return Ok(StatusCode::OK);
    }
    Err(DaemonError::bad_request(errors.join(", ")).with_errors(errors))
}
