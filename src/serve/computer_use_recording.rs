//! Screen recordings of a sandbox's display (`/computeruse/recordings...`): `ffmpeg`'s
//! `x11grab` (package `ffmpeg`) records the display to an MP4 in `~/.daytona/recordings`, as
//! Daytona's daemon does, as the async command of a process session
//! (`daytona-computeruse-rec-<id>`), so that stopping or deleting the sandbox ends it.
//!
//! Stop sends `q` on ffmpeg's standard input (Daytona's graceful stop) and waits for it to
//! finish the file; the MP4 is fragmented (`frag_keyframe+empty_moov`) so that a recording cut
//! short by a sandbox stop still plays. Each recording has a record beside it (`<id>.json`:
//! Daytona's `Recording`), written from here through the provider; a record that says
//! `recording` while its session runs no command reads as `failed`. This file must not start
//! or stop the display.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::computer_use::{DIR, SESSION_PREFIX, display_ready, run_in_session};
use super::error::DaemonError;
use super::state::AppState;
use super::toolbox::{ready, run_script};
use super::view::JsonBody;
use crate::provider;

/// The recordings, relative to the sandbox user's home (Daytona's `~/.daytona/recordings`).
const RECORDINGS: &str = ".daytona/recordings";
/// How long a stop waits for ffmpeg to finish its file.
const STOP_WAIT: Duration = Duration::from_secs(15);
/// The exit code of the start script when ffmpeg is missing.
const NO_FFMPEG_EXIT: i32 = 91;

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/{sandbox}/computeruse/recordings", get(list))
        .route("/{sandbox}/computeruse/recordings/start", post(start))
        .route("/{sandbox}/computeruse/recordings/stop", post(stop))
        .route(
            "/{sandbox}/computeruse/recordings/{id}",
            get(fetch).delete(delete),
        )
        .route(
            "/{sandbox}/computeruse/recordings/{id}/download",
            get(download),
        )
}

/// Daytona's `Recording`, also the record kept beside the file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Recording {
    id: String,
    file_name: String,
    file_path: String,
    start_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_time: Option<String>,
    status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    size_bytes: Option<u64>,
    /// The ffmpeg command in the recording's session.
    #[serde(skip_serializing)]
    command_id: String,
}

fn session(id: &str) -> String {
    format!("{SESSION_PREFIX}rec-{id}")
}

fn not_found() -> DaemonError {
    DaemonError::not_found("recording not found")
}

fn failed(error: provider::ProviderError) -> DaemonError {
    DaemonError::from_provider(error, "recording")
}

/// Daytona's rule for labels, which become part of the file name.
fn check_label(label: &str) -> Result<(), DaemonError> {
    let valid = !label.trim().is_empty()
        && label.len() <= 100
        && !label.starts_with('.')
        && label.chars().all(|character| {
            character.is_ascii_alphanumeric() || matches!(character, '.' | ' ' | '_' | '-')
        });
    if valid {
        return Ok(());
    }
    Err(DaemonError::bad_request(
        "invalid label: must be 1-100 characters, cannot start with dot, cannot contain path separators (/ or \\), and can only contain letters, numbers, spaces, dots, underscores, and hyphens",
    ))
}

async fn save(
    state: &AppState,
    sandbox: &provider::Sandbox,
    recording: &Recording,
) -> Result<(), DaemonError> {
    // The command id stays in the record, which the wire form leaves out.
    let mut record = serde_json::to_value(recording).unwrap_or_default();
    record["commandId"] = serde_json::Value::String(recording.command_id.clone());
    let mut text = serde_json::to_vec(&record).unwrap_or_default();
    text.push(b'\n');
    state
        .provider
        .upload(
            &sandbox.id,
            &format!("{RECORDINGS}/{}.json", recording.id),
            &text,
        )
        .await
        .map_err(failed)
}

/// Every recording of the sandbox, a dead `recording` read as `failed`.
async fn all(state: &AppState, sandbox: &provider::Sandbox) -> Result<Vec<Recording>, DaemonError> {
    let output = run_script(
        state,
        sandbox,
        format!("cat ~/{RECORDINGS}/*.json 2>/dev/null; true"),
        BTreeMap::new(),
    )
    .await?;
    let mut recordings = Vec::new();
    for line in output.output.lines() {
        // The records are the sandbox's files: one that could name another path is skipped.
        let Ok(mut recording) = serde_json::from_str::<Recording>(line) else {
            continue;
        };
        if uuid::Uuid::parse_str(&recording.id).is_err()
            || !recording.file_name.ends_with(".mp4")
            || recording.file_name.contains('/')
            || recording.file_name.starts_with('.')
        {
            continue;
        }
        if recording.status == "recording" && !running(state, &sandbox.id, &recording).await {
            recording.status = "failed".to_string();
        }
        recordings.push(recording);
    }
    recordings.sort_by(|left, right| left.start_time.cmp(&right.start_time));
    Ok(recordings)
}

async fn running(state: &AppState, sandbox: &str, recording: &Recording) -> bool {
    state
        .provider
        .session_command(sandbox, &session(&recording.id), &recording.command_id)
        .await
        .is_ok_and(|command| command.exit_code.is_none())
}

async fn one(
    state: &AppState,
    sandbox: &provider::Sandbox,
    id: &str,
) -> Result<Recording, DaemonError> {
    all(state, sandbox)
        .await?
        .into_iter()
        .find(|recording| recording.id == id)
        .ok_or_else(not_found)
}

/// `StartRecordingRequest`.
#[derive(Debug, Default, Deserialize)]
struct Start {
    label: Option<String>,
}

async fn start(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Recording>), DaemonError> {
    // As Daytona: a body that does not parse starts a recording without a label.
    let label = serde_json::from_slice::<Start>(&body)
        .unwrap_or_default()
        .label
        .filter(|label| !label.is_empty());
    if let Some(label) = &label {
        check_label(label)?;
    }
    let sandbox = display_ready(&state, &id).await?;
    let prepare = format!(
        "command -v ffmpeg >/dev/null || exit {NO_FFMPEG_EXIT}\nmkdir -p ~/{RECORDINGS} && printf '%s' \"$HOME\""
    );
    let output = run_script(&state, &sandbox, prepare, BTreeMap::new()).await?;
    match output.exit_code {
        0 => {}
        // Daytona answers 400 here, unlike the display's missing programs.
        NO_FFMPEG_EXIT => {
            return Err(DaemonError::bad_request(
                "FFmpeg must be installed and available in PATH to use screen recording: install the `ffmpeg` package (apt-get install ffmpeg)",
            ));
        }
        _ => return Err(DaemonError::bad_request(output.output.trim().to_string())),
    }
    let home = output.output;
    let recording_id = uuid::Uuid::new_v4().to_string();
    let now = SystemTime::now();
    let stamp = timestamp(now);
    let file_name = format!(
        "{recording_id}_{}_{stamp}.mp4",
        label.as_deref().unwrap_or("session")
    );
    let ffmpeg = format!(
        "cd ~/{RECORDINGS} && ffmpeg -f x11grab -framerate 30 -i \":$(cat ~/{DIR}/display)\" -c:v libx264 -preset ultrafast -pix_fmt yuv420p -movflags frag_keyframe+empty_moov -y {} >{recording_id}.log 2>&1",
        shlex::try_quote(&file_name).unwrap_or_default()
    );
    let command_id = run_in_session(&state, &sandbox, &session(&recording_id), ffmpeg).await?;
    let recording = Recording {
        id: recording_id,
        file_path: format!("{home}/{RECORDINGS}/{file_name}"),
        file_name,
        start_time: humantime::format_rfc3339_millis(now).to_string(),
        end_time: None,
        status: "recording".to_string(),
        duration_seconds: None,
        size_bytes: None,
        command_id,
    };
    save(&state, &sandbox, &recording).await?;
    Ok((StatusCode::CREATED, Json(recording)))
}

/// Daytona's `20060102_150405` stamp of `time`, in UTC.
fn timestamp(time: SystemTime) -> String {
    let text = humantime::format_rfc3339_seconds(time).to_string();
    // `2026-11-30T14:20:42Z` -> `20261130_142042`
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    format!("{}_{}", &digits[..8], &digits[8..14])
}

/// Ends an active recording: `q` for ffmpeg, then the session once ffmpeg is done (or the wait
/// is over); the record gets its end, duration and size.
async fn finish(
    state: &AppState,
    sandbox: &provider::Sandbox,
    mut recording: Recording,
) -> Result<Recording, DaemonError> {
    let provider = &state.provider;
    let session = session(&recording.id);
    let _ = provider
        .send_session_input(&sandbox.id, &session, &recording.command_id, "q")
        .await;
    let deadline = tokio::time::Instant::now() + STOP_WAIT;
    while running(state, &sandbox.id, &recording).await && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = provider.delete_session(&sandbox.id, &session).await;
    let now = SystemTime::now();
    let started = humantime::parse_rfc3339_weak(&recording.start_time).unwrap_or(now);
    let size = run_script(
        state,
        sandbox,
        format!(
            "stat -c %s ~/{RECORDINGS}/{}",
            shlex::try_quote(&recording.file_name).unwrap_or_default()
        ),
        BTreeMap::new(),
    )
    .await?;
    recording.size_bytes = size.output.trim().parse().ok();
    recording.end_time = Some(humantime::format_rfc3339_millis(now).to_string());
    recording.duration_seconds = Some(
        now.duration_since(started)
            .unwrap_or_default()
            .as_secs_f64(),
    );
    recording.status = "completed".to_string();
    save(state, sandbox, &recording).await?;
    Ok(recording)
}

/// Stops every active recording of the sandbox (the display is about to stop).
pub(super) async fn stop_all(state: &AppState, sandbox: &provider::Sandbox) {
    let Ok(recordings) = all(state, sandbox).await else {
        return;
    };
    for recording in recordings {
        if recording.status == "recording" {
            let _ = finish(state, sandbox, recording).await;
        }
    }
}

/// `StopRecordingRequest`.
#[derive(Debug, Deserialize)]
struct Stop {
    id: Option<String>,
}

async fn stop(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<Stop>,
) -> Result<Json<Recording>, DaemonError> {
    let recording_id = request
        .id
        .filter(|id| !id.is_empty())
        .ok_or_else(|| DaemonError::bad_request("id is required"))?;
    let sandbox = ready(&state, &id).await?;
    let recording = one(&state, &sandbox, &recording_id).await?;
    // Daytona knows only active recordings here.
    if recording.status != "recording" {
        return Err(not_found());
    }
    Ok(Json(finish(&state, &sandbox, recording).await?))
}

async fn list(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, DaemonError> {
    let sandbox = ready(&state, &id).await?;
    let recordings = all(&state, &sandbox).await?;
    Ok(Json(serde_json::json!({ "recordings": recordings })))
}

async fn fetch(
    State(state): State<Arc<AppState>>,
    Path((id, recording)): Path<(String, String)>,
) -> Result<Json<Recording>, DaemonError> {
    let sandbox = ready(&state, &id).await?;
    Ok(Json(one(&state, &sandbox, &recording).await?))
}

async fn delete(
    State(state): State<Arc<AppState>>,
    Path((id, recording)): Path<(String, String)>,
) -> Result<StatusCode, DaemonError> {
    let sandbox = ready(&state, &id).await?;
    let recording = one(&state, &sandbox, &recording).await?;
    if recording.status == "recording" {
        return Err(DaemonError::bad_request(
            "cannot delete an active recording, stop it first",
        ));
    }
    let _ = state
        .provider
        .delete_session(&sandbox.id, &session(&recording.id))
        .await;
    let remove = format!(
        "cd ~/{RECORDINGS} && rm -f -- {} {id}.json {id}.log",
        shlex::try_quote(&recording.file_name).unwrap_or_default(),
        id = recording.id
    );
    run_script(&state, &sandbox, remove, BTreeMap::new()).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn download(
    State(state): State<Arc<AppState>>,
    Path((id, recording)): Path<(String, String)>,
) -> Result<Response, DaemonError> {
    let sandbox = ready(&state, &id).await?;
    let recording = one(&state, &sandbox, &recording).await?;
    let contents = state
        .provider
        .download(
            &sandbox.id,
            &format!("{RECORDINGS}/{}", recording.file_name),
        )
        .await
        .map_err(|_| DaemonError::not_found("file not found"))?;
    let disposition = format!("attachment; filename=\"{}\"", recording.file_name);
    // The spec's type; the daemon serves the file with its own (`video/mp4`).
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        contents,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_carry_daytonas_timestamp() {
        let time = humantime::parse_rfc3339("2026-11-30T14:20:42Z").unwrap();
        assert_eq!(timestamp(time), "20261130_142042");
    }

    #[test]
    fn labels_follow_daytonas_rule() {
        assert!(check_label("demo run_1.v2-final").is_ok());
        for label in ["", " ", ".hidden", "a/b", "a\\b", "$(id)", &"x".repeat(101)] {
            assert!(check_label(label).is_err(), "{label:?}");
        }
    }
}
