//! Build logs: `GET /sandbox/{id}/build-logs-url` and `/snapshots/{id}/build-logs-url` answer
//! `{url}`, and that URL (Daytona's own `/build-logs` routes) gives the log as plain text.
//!
//! The SDKs read it as the runner serves it (`?follow=true`, the same bearer header): a body
//! that grows as the build writes and ends when the build has ended, so a client's loop stops
//! by itself. Without `follow` the body is the log so far. When `serve` stops, a followed body
//! is cut at once (the connection closes before the body's end, which a client reads as an
//! error, not as the build's end): the build is cut by the stop too, and the next `serve`
//! begins it again (`build::resume`). Both pinned SDKs take a cut body for the end of the logs
//! and then learn the build's state by asking for it, which a stopped `serve` refuses. The log
//! holds no secret: a build gets nothing of the host's environment, and its own `ENV` values
//! are configuration.

use std::io::SeekFrom;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};

use super::build::hash_of_ref;
use super::error::ApiError;
use super::sandbox::resolve;
use super::state::AppState;
use crate::daytona_api::{SnapshotState, Url};
use crate::provider::local::LayerState;

/// How often a followed log is looked at again.
const POLL: Duration = Duration::from_millis(150);
/// Why a followed log is cut when `serve` stops (the client sees the body end unfinished).
const CUT: &str = "serve stops: the build is cut, and the next serve begins it again";

pub(crate) fn routes() -> axum::Router<Arc<AppState>> {
    axum::Router::new()
        .route("/sandbox/{sandbox}/build-logs-url", get(sandbox_url))
        .route("/sandbox/{sandbox}/build-logs", get(sandbox_logs))
        .route("/snapshots/{snapshot}/build-logs-url", get(snapshot_url))
        .route("/snapshots/{snapshot}/build-logs", get(snapshot_logs))
}

#[derive(Debug, Deserialize)]
pub(crate) struct LogsQuery {
    follow: Option<bool>,
}

/// Whose build a log stream follows.
#[derive(Debug, Clone)]
enum Waiting {
    Sandbox(String),
    Snapshot(String),
}

impl Waiting {
    /// Whether the build the stream follows has not ended yet.
    fn waits(&self, state: &AppState) -> bool {
        match self {
            Waiting::Sandbox(id) => state.store.sandbox(id).building(),
            Waiting::Snapshot(id) => state.store.read(|records| {
                records.snapshots.iter().any(|record| {
                    &record.dto.id == id
                        && matches!(
                            record.dto.state,
                            SnapshotState::Pending | SnapshotState::Building
                        )
                })
            }),
        }
    }
}

/// The sandbox's image hash, or Daytona's 404 for a sandbox without a build.
async fn sandbox_build(state: &AppState, id_or_name: &str) -> Result<(String, String), ApiError> {
    let sandbox = resolve(state, id_or_name).await?;
    let record = state.store.sandbox(&sandbox.id);
    match record.build {
        Some(build) => Ok((sandbox.id, build.hash)),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("Sandbox {id_or_name} has no build info"),
        )),
    }
}

fn snapshot_build(state: &AppState, id_or_name: &str) -> Result<(String, String), ApiError> {
    let found = state.store.read(|records| {
        records
            .snapshots
            .iter()
            .find(|record| record.dto.id == id_or_name)
            .or_else(|| {
                records
                    .snapshots
                    .iter()
                    .find(|record| record.dto.name == id_or_name)
            })
            .map(|record| (record.dto.id.clone(), record.dto.build_info.clone()))
    });
    let Some((id, info)) = found else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("Snapshot {id_or_name} not found"),
        ));
    };
    info.and_then(|info| hash_of_ref(&info.snapshot_ref).map(str::to_string))
        .map(|hash| (id, hash))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!("Snapshot {id_or_name} has no build info"),
            )
        })
}

async fn sandbox_url(
    State(state): State<Arc<AppState>>,
    Path(id_or_name): Path<String>,
) -> Result<Json<Url>, ApiError> {
    let (id, _) = sandbox_build(&state, &id_or_name).await?;
    Ok(Json(Url {
        url: format!("{}/api/sandbox/{id}/build-logs", state.settings.base_url),
    }))
}

async fn snapshot_url(
    State(state): State<Arc<AppState>>,
    Path(id_or_name): Path<String>,
) -> Result<Json<Url>, ApiError> {
    let (id, _) = snapshot_build(&state, &id_or_name)?;
    Ok(Json(Url {
        url: format!("{}/api/snapshots/{id}/build-logs", state.settings.base_url),
    }))
}

async fn sandbox_logs(
    State(state): State<Arc<AppState>>,
    Path(id_or_name): Path<String>,
    Query(query): Query<LogsQuery>,
) -> Result<Response, ApiError> {
    let (id, hash) = sandbox_build(&state, &id_or_name).await?;
    stream(
        state,
        hash,
        Waiting::Sandbox(id),
        query.follow.unwrap_or(false),
    )
}

async fn snapshot_logs(
    State(state): State<Arc<AppState>>,
    Path(id_or_name): Path<String>,
    Query(query): Query<LogsQuery>,
) -> Result<Response, ApiError> {
    let (id, hash) = snapshot_build(&state, &id_or_name)?;
    stream(
        state,
        hash,
        Waiting::Snapshot(id),
        query.follow.unwrap_or(false),
    )
}

/// Where a stream stands between two chunks.
struct Cursor {
    state: Arc<AppState>,
    hash: String,
    waiting: Waiting,
    offset: u64,
    /// The build ended: what is left of the file is the last to send.
    ended: bool,
}

fn stream(
    state: Arc<AppState>,
    hash: String,
    waiting: Waiting,
    follow: bool,
) -> Result<Response, ApiError> {
    if state.provider.image_layers().is_none() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "build logs need the local provider",
        ));
    }
    let cursor = Cursor {
        state,
        hash,
        waiting,
        offset: 0,
        ended: !follow,
    };
    let chunks = futures::stream::unfold(cursor, |mut cursor| async move {
        loop {
            if let Some(chunk) = cursor.read().await {
                return Some((Ok::<Bytes, std::io::Error>(chunk), cursor));
            }
            if cursor.ended {
                return None;
            }
            let local = cursor.state.provider.image_layers()?;
            let building = local.layer_state(&cursor.hash) == LayerState::Building;
            if !building && !cursor.waiting.waits(&cursor.state) {
                // The build's end goes out as an event before the stream ends (see
                // `Events::published`); then one more read, for what was written just before.
                cursor.state.events.published(&cursor.state.store).await;
                cursor.ended = true;
                continue;
            }
            if cursor.state.stopping.begun() {
                // What was written is sent (the read above); the body is then cut, not
                // ended: the build is cut by the stop too, and is not over.
                cursor.ended = true;
                return Some((Err(std::io::Error::other(CUT)), cursor));
            }
            tokio::select! {
                () = tokio::time::sleep(POLL) => {}
                () = cursor.state.stopping.begins() => {}
            }
        }
    });
    Ok((
        [(header::CONTENT_TYPE, "application/octet-stream")],
        Body::from_stream(chunks),
    )
        .into_response())
}

impl Cursor {
    /// What the log gained since the last read, if anything.
    async fn read(&mut self) -> Option<Bytes> {
        let path = self.state.provider.image_layers()?.layer_log(&self.hash)?;
        let mut file = tokio::fs::File::open(&path).await.ok()?;
        file.seek(SeekFrom::Start(self.offset)).await.ok()?;
        let mut buffer = vec![0; 64 * 1024];
        let read = file.read(&mut buffer).await.ok()?;
        if read == 0 {
            return None;
        }
        buffer.truncate(read);
        self.offset += read as u64;
        Some(Bytes::from(buffer))
    }
}
