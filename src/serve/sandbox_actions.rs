//! `/api/sandbox/{id}/...` actions: start, stop, labels, lifecycle timers, public, activity and
//! the toolbox URL, with Daytona's state guards (409 while a transition runs, 400 from the
//! wrong state, a no-op start of a started sandbox).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{MethodRouter, post};

use super::error::ApiError;
use super::sandbox::{MAX_AUTO_ARCHIVE_MINUTES, check_quota, has_quota, resolve};
use super::simulate::Usage;
use super::state::{AppState, SandboxRecord, Transition, millis, now};
use super::view::{JsonBody, in_transition, sandbox_dto};
use crate::daytona_api::{
    Sandbox, SandboxDesiredState, SandboxLabels, SandboxState, ToolboxProxyUrl,
};
use crate::provider::{self, Lifecycle};

/// Records a transition shown for the simulated transition delay, and the activity.
pub(crate) fn begin(
    state: &AppState,
    id: &str,
    shown: SandboxState,
    desired: SandboxDesiredState,
    change: impl FnOnce(&mut SandboxRecord),
) -> Result<SandboxRecord, ApiError> {
    let now = now();
    let until = now + millis(state.simulation.transition_delay);
    state.store.update_sandbox(id, |record| {
        record.transition = Some(Transition {
            state: shown,
            desired,
            until,
        });
        record.updated_at = now;
        record.last_activity_at = now;
        change(record);
    })
}

/// The sandbox and its record, unless a state change is still running (Daytona's 409).
async fn settled(
    state: &AppState,
    id_or_name: &str,
) -> Result<(provider::Sandbox, SandboxRecord), ApiError> {
    let sandbox = resolve(state, id_or_name).await?;
    let record = state.store.sandbox(&sandbox.id);
    if in_transition(&record, now()) {
        return Err(ApiError::state_change_in_progress());
    }
    Ok((sandbox, record))
}

pub(crate) async fn start(
    State(state): State<Arc<AppState>>,
    Path(id_or_name): Path<String>,
) -> Result<Json<Sandbox>, ApiError> {
    let (sandbox, record) = settled(&state, &id_or_name).await?;
    // A sandbox whose image did not build has nothing to start.
    if matches!(
        record.build.as_ref().map(|build| &build.phase),
        Some(super::state::BuildPhase::Failed(_))
    ) {
        return Err(ApiError::bad_request("Sandbox is in an errored state"));
    }
    match sandbox.state {
        provider::SandboxState::Started => {
            let record = state.store.update_sandbox(&sandbox.id, |record| {
                record.last_activity_at = now();
            })?;
            return Ok(Json(sandbox_dto(&state, &sandbox, &record, now())));
        }
        provider::SandboxState::Error | provider::SandboxState::BuildFailed => {
            return Err(ApiError::bad_request("Sandbox is in an errored state"));
        }
        provider::SandboxState::Stopped | provider::SandboxState::Archived => {}
        _ => return Err(ApiError::bad_request("Sandbox is not in valid state")),
    }
    // Disk is already counted: a stopped sandbox keeps its disk.
    let request = Usage {
        cpu: record.cpu,
        memory: record.memory,
        disk: 0,
    };
    let _admitted = if has_quota(&state) {
        Some(state.quota_lock.lock().await)
    } else {
        None
    };
    check_quota(&state, request, Some(&sandbox.id)).await?;
    let started = state
        .provider
        .start(&sandbox.id)
        .await
        .map_err(|error| ApiError::from_provider(error, &id_or_name))?;
    // Its network is new: the egress proxy's listener in it too.
    super::egress_sandbox::restarted(&state, &sandbox.id).await;
    if let Err(error) = super::entrypoint::run(&state, &sandbox.id).await {
        // Not left started without what its image runs, as a Daytona container ends when its
        // daemon cannot start the entrypoint.
        let _ = state.provider.stop(&sandbox.id).await;
        return Err(ApiError::from_provider(error, &id_or_name));
    }
    // Daytona restores an archived sandbox (`restoring`); here its files never left.
    let shown = if record.archived {
        SandboxState::Restoring
    } else {
        SandboxState::Starting
    };
    let record = begin(
        &state,
        &sandbox.id,
        shown,
        SandboxDesiredState::Started,
        |record| {
            record.stopped_at = None;
            record.archived = false;
        },
    )?;
    Ok(Json(sandbox_dto(&state, &started, &record, now())))
}

/// Stops `sandbox`, or deletes it when its auto-delete interval is 0 (ephemeral), as Daytona
/// does. Shared with the lifecycle timers.
pub(crate) async fn stop_or_delete(
    state: &AppState,
    sandbox: &provider::Sandbox,
) -> Result<Sandbox, ApiError> {
    let id = sandbox.id.as_str();
    if sandbox.lifecycle.auto_delete == Some(0) {
        let record = state.store.sandbox(id);
        state
            .provider
            .delete(id)
            .await
            .map_err(|error| ApiError::from_provider(error, id))?;
        state.store.remove_sandbox(id)?;
        state.egress.changes.ended(id);
        let mut dto = sandbox_dto(state, sandbox, &record, now());
        dto.state = Some(SandboxState::Destroying);
        dto.desired_state = Some(SandboxDesiredState::Destroyed);
        return Ok(dto);
    }
    let stopped = state
        .provider
        .stop(id)
        .await
        .map_err(|error| ApiError::from_provider(error, id))?;
    state.egress.changes.ended(id);
    let stopped_at = now();
    let record = begin(
        state,
        id,
        SandboxState::Stopping,
        SandboxDesiredState::Stopped,
        |record| record.stopped_at = Some(stopped_at),
    )?;
    Ok(sandbox_dto(state, &stopped, &record, now()))
}

pub(crate) async fn stop(
    State(state): State<Arc<AppState>>,
    Path(id_or_name): Path<String>,
) -> Result<Json<Sandbox>, ApiError> {
    let (sandbox, _) = settled(&state, &id_or_name).await?;
    if sandbox.state != provider::SandboxState::Started {
        return Err(ApiError::bad_request("Sandbox is not in a stoppable state"));
    }
    stop_or_delete(&state, &sandbox).await.map(Json)
}

/// Marks activity on a sandbox (resets its auto-stop timer) and answers with its record.
fn touched(state: &AppState, sandbox: &provider::Sandbox) -> Result<Sandbox, ApiError> {
    let now = now();
    let record = state.store.update_sandbox(&sandbox.id, |record| {
        record.updated_at = now;
        record.last_activity_at = now;
    })?;
    Ok(sandbox_dto(state, sandbox, &record, now))
}

/// `PUT /sandbox/{id}/labels` replaces every label and answers with the full record.
pub(crate) async fn set_labels(
    State(state): State<Arc<AppState>>,
    Path(id_or_name): Path<String>,
    JsonBody(body): JsonBody<SandboxLabels>,
) -> Result<Json<Sandbox>, ApiError> {
    let sandbox = resolve(&state, &id_or_name).await?;
    let sandbox = state
        .provider
        .set_labels(&sandbox.id, &body.labels)
        .await
        .map_err(|error| ApiError::from_provider(error, &id_or_name))?;
    touched(&state, &sandbox).map(Json)
}

fn minutes(text: &str) -> Result<i64, ApiError> {
    text.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "Validation failed (numeric string is expected): {text}"
        ))
    })
}

async fn set_lifecycle(
    state: &AppState,
    id_or_name: &str,
    lifecycle: Lifecycle,
) -> Result<(StatusCode, Json<Sandbox>), ApiError> {
    let sandbox = resolve(state, id_or_name).await?;
    let sandbox = state
        .provider
        .set_lifecycle(&sandbox.id, &lifecycle)
        .await
        .map_err(|error| ApiError::from_provider(error, id_or_name))?;
    // These routes lack `@HttpCode(200)` on Daytona, so they answer 201.
    Ok((StatusCode::CREATED, Json(touched(state, &sandbox)?)))
}

/// A lifecycle timer route (`/autostop`, `/autoarchive`, `/autodelete` and their minutes).
#[derive(Debug, Clone, Copy)]
pub(crate) enum AutoTimer {
    Stop,
    Archive,
    Delete,
}

impl AutoTimer {
    /// The lifecycle change `minutes` asks for, with Daytona's checks and bounds.
    fn lifecycle(self, minutes: i64) -> Result<Lifecycle, ApiError> {
        let non_negative = |what: &str| {
            if minutes < 0 {
                Err(ApiError::bad_request(format!(
                    "{what} interval must be non-negative"
                )))
            } else {
                Ok(())
            }
        };
        let mut lifecycle = Lifecycle::default();
        match self {
            AutoTimer::Stop => {
                non_negative("Auto-stop")?;
                lifecycle.auto_stop = Some(minutes.min(i64::from(u32::MAX)) as u32);
            }
            AutoTimer::Archive => {
                non_negative("Auto-archive")?;
                lifecycle.auto_archive = Some(match minutes {
                    0 => MAX_AUTO_ARCHIVE_MINUTES,
                    minutes => minutes.min(i64::from(MAX_AUTO_ARCHIVE_MINUTES)) as u32,
                });
            }
            // Negative disables; 0 deletes on stop.
            AutoTimer::Delete => {
                lifecycle.auto_delete = Some(minutes.clamp(-1, i64::from(i32::MAX)) as i32);
            }
        }
        Ok(lifecycle)
    }

    /// The route's handler: `POST /sandbox/{id}/<timer>/{minutes}`.
    pub(crate) fn route(self) -> MethodRouter<Arc<AppState>> {
        post(
            move |State(state): State<Arc<AppState>>,
                  Path((id_or_name, text)): Path<(String, String)>| async move {
                let lifecycle = self.lifecycle(minutes(&text)?)?;
                set_lifecycle(&state, &id_or_name, lifecycle).await
            },
        )
    }
}

pub(crate) async fn set_public(
    State(state): State<Arc<AppState>>,
    Path((id_or_name, text)): Path<(String, String)>,
) -> Result<(StatusCode, Json<Sandbox>), ApiError> {
    let public = match text.as_str() {
        "true" => true,
        "false" => false,
        _ => {
            return Err(ApiError::bad_request(
                "Validation failed (boolean string is expected)",
            ));
        }
    };
    let sandbox = resolve(&state, &id_or_name).await?;
    state
        .store
        .update_sandbox(&sandbox.id, |record| record.public = public)?;
    Ok((StatusCode::CREATED, Json(touched(&state, &sandbox)?)))
}

pub(crate) async fn last_activity(
    State(state): State<Arc<AppState>>,
    Path(id_or_name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let sandbox = resolve(&state, &id_or_name).await?;
    touched(&state, &sandbox)?;
    Ok(StatusCode::CREATED)
}

pub(crate) async fn toolbox_proxy_url(
    State(state): State<Arc<AppState>>,
    Path(id_or_name): Path<String>,
) -> Result<Json<ToolboxProxyUrl>, ApiError> {
    resolve(&state, &id_or_name).await?;
    Ok(Json(ToolboxProxyUrl {
        url: state.settings.toolbox_url.clone(),
    }))
}
