//! `/api/sandbox/{id}/...` state changes beyond start and stop: archive, recover, pause,
//! resize and the TTL, with Daytona's guards (`sandbox.service.ts`, v0.190) and the states a
//! client sees meanwhile (`archiving`, `resizing`).
//!
//! Archiving keeps the sandbox's files where they are (Daytona moves them to object storage):
//! an archived local sandbox is a stopped one whose record says so, and a start restores it.
//! Resizing is recorded and shown (quotas count it); the `local` provider does not limit
//! resources, so there is nothing to apply.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};

use super::error::ApiError;
use super::sandbox::{check_quota, has_quota, provider_resources, resolve};
use super::sandbox_actions::begin;
use super::simulate::Usage;
use super::state::{AppState, now};
use super::view::{JsonBody, derived_state, in_transition, sandbox_dto};
use crate::daytona_api::{ResizeSandbox, Sandbox, SandboxDesiredState, SandboxState};
use crate::provider::{self, ProviderError};

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/sandbox/{sandbox}/archive", post(archive_route))
        .route("/sandbox/{sandbox}/recover", post(recover))
        .route("/sandbox/{sandbox}/pause", post(pause))
        .route("/sandbox/{sandbox}/resize", post(resize))
        .route("/sandbox/{sandbox}/ttl/{minutes}", post(set_ttl))
}

/// The sandbox and the state a client sees now.
async fn shown(
    state: &AppState,
    id_or_name: &str,
) -> Result<(provider::Sandbox, SandboxState), ApiError> {
    let sandbox = resolve(state, id_or_name).await?;
    let record = state.store.sandbox(&sandbox.id);
    let now = now();
    if in_transition(&record, now) {
        return Err(ApiError::state_change_in_progress());
    }
    let (shown, _) = derived_state(&sandbox, &record, now);
    Ok((sandbox, shown))
}

/// Archives a stopped sandbox (shared with the auto-archive timer): `archiving`, then
/// `archived`.
pub(crate) fn archive(state: &AppState, id: &str) -> Result<(), ApiError> {
    begin(
        state,
        id,
        SandboxState::Archiving,
        SandboxDesiredState::Archived,
        |record| record.archived = true,
    )
    .map(|_| ())
}

async fn archive_route(
    State(state): State<Arc<AppState>>,
    Path(id_or_name): Path<String>,
) -> Result<Json<Sandbox>, ApiError> {
    let (sandbox, shown) = shown(&state, &id_or_name).await?;
    if matches!(shown, SandboxState::Error | SandboxState::BuildFailed) {
        return Err(ApiError::bad_request("Sandbox is in an errored state"));
    }
    if shown != SandboxState::Stopped {
        return Err(ApiError::bad_request("Sandbox is not stopped"));
    }
    if sandbox.lifecycle.auto_delete == Some(0) {
        return Err(ApiError::bad_request(
            "Ephemeral sandboxes cannot be archived",
        ));
    }
    archive(&state, &sandbox.id)?;
    let record = state.store.sandbox(&sandbox.id);
    Ok(Json(sandbox_dto(&state, &sandbox, &record, now())))
}

/// `POST /recover`: only a sandbox in a recoverable error state (Daytona's `recoverable`), which
/// a local sandbox never is, so this is always Daytona's 400.
async fn recover(
    State(state): State<Arc<AppState>>,
    Path(id_or_name): Path<String>,
) -> Result<Json<Sandbox>, ApiError> {
    resolve(&state, &id_or_name).await?;
    Err(ApiError::bad_request(
        "Sandbox is not in a recoverable state",
    ))
}

/// `POST /pause`: Daytona pauses VM sandboxes only; local sandboxes are of class `container`,
/// which Daytona answers with 422.
async fn pause(
    State(state): State<Arc<AppState>>,
    Path(id_or_name): Path<String>,
) -> Result<Json<Sandbox>, ApiError> {
    let (_, shown) = shown(&state, &id_or_name).await?;
    if shown != SandboxState::Started {
        return Err(ApiError::bad_request(
            "Sandbox must be in started state to pause",
        ));
    }
    Err(ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "Pausing is not supported for this sandbox",
    ))
}

/// Daytona's checks of a resize, in its order; the new resources when they pass.
fn check_resize(request: &ResizeSandbox, started: bool, current: Usage) -> Result<Usage, ApiError> {
    for (name, value) in [
        ("cpu", request.cpu),
        ("memory", request.memory),
        ("disk", request.disk),
    ] {
        if value == Some(0) {
            return Err(ApiError::bad_request(format!(
                "{name} must not be less than 1"
            )));
        }
    }
    let unchanged =
        "No resource changes specified - sandbox is already at the desired configuration";
    if request.cpu.is_none() && request.memory.is_none() && request.disk.is_none() {
        return Err(ApiError::bad_request(unchanged));
    }
    if request.disk.is_some() && started {
        return Err(ApiError::bad_request(
            "Disk resize can only be performed on a stopped sandbox",
        ));
    }
    if started && request.cpu.is_some_and(|cpu| cpu < current.cpu) {
        return Err(ApiError::bad_request(
            "Sandbox must be in stopped state to decrease the number of CPU cores",
        ));
    }
    if started && request.memory.is_some_and(|memory| memory < current.memory) {
        return Err(ApiError::bad_request(
            "Sandbox must be in stopped state to decrease memory",
        ));
    }
    if request.disk.is_some_and(|disk| disk < current.disk) {
        return Err(ApiError::bad_request(
            "Sandbox disk size cannot be decreased",
        ));
    }
    let next = Usage {
        cpu: request.cpu.unwrap_or(current.cpu),
        memory: request.memory.unwrap_or(current.memory),
        disk: request.disk.unwrap_or(current.disk),
    };
    if next == current {
        return Err(ApiError::bad_request(unchanged));
    }
    Ok(next)
}

/// `POST /resize`: CPU and memory up while started, anything but a smaller disk while stopped;
/// `resizing` for the transition delay, then the previous state.
async fn resize(
    State(state): State<Arc<AppState>>,
    Path(id_or_name): Path<String>,
    JsonBody(request): JsonBody<ResizeSandbox>,
) -> Result<Json<Sandbox>, ApiError> {
    let (sandbox, shown) = shown(&state, &id_or_name).await?;
    let started = match shown {
        SandboxState::Started => true,
        SandboxState::Stopped => false,
        _ => {
            return Err(ApiError::bad_request(
                "Sandbox must be in started or stopped state to resize",
            ));
        }
    };
    let record = state.store.sandbox(&sandbox.id);
    let current = Usage {
        cpu: record.cpu,
        memory: record.memory,
        disk: record.disk,
    };
    let next = check_resize(&request, started, current)?;
    let _admitted = if has_quota(&state) {
        Some(state.quota_lock.lock().await)
    } else {
        None
    };
    // Running sandboxes count CPU and memory; every sandbox counts its disk.
    let request = Usage {
        cpu: if started { next.cpu } else { 0 },
        memory: if started { next.memory } else { 0 },
        disk: next.disk,
    };
    check_quota(&state, request, Some(&sandbox.id)).await?;
    // The provider applies what it can (`local`: the vCPUs of commands started from now on);
    // one that cannot resize leaves the change recorded here only.
    match state
        .provider
        .set_resources(&sandbox.id, &provider_resources(next))
        .await
    {
        Ok(_) | Err(ProviderError::Unsupported { .. }) => {}
        Err(error) => return Err(ApiError::from_provider(error, &sandbox.id)),
    }
    let desired = if started {
        SandboxDesiredState::Started
    } else {
        SandboxDesiredState::Stopped
    };
    let record = begin(
        &state,
        &sandbox.id,
        SandboxState::Resizing,
        desired,
        |record| {
            record.cpu = next.cpu;
            record.memory = next.memory;
            record.disk = next.disk;
        },
    )?;
    Ok(Json(sandbox_dto(&state, &sandbox, &record, now())))
}

/// `POST /ttl/{minutes}` (newer than v0.190; the pinned SDK's `set_ttl`): destroy the sandbox
/// so many minutes from now, whatever its state; 0 removes the TTL. Answered 201 like its
/// sibling timer routes, which lack `@HttpCode(200)` on Daytona.
async fn set_ttl(
    State(state): State<Arc<AppState>>,
    Path((id_or_name, text)): Path<(String, String)>,
) -> Result<(StatusCode, Json<Sandbox>), ApiError> {
    let minutes: i64 = text.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "Validation failed (numeric string is expected): {text}"
        ))
    })?;
    if minutes < 0 {
        return Err(ApiError::bad_request("TTL must be non-negative"));
    }
    let sandbox = resolve(&state, &id_or_name).await?;
    let now = now();
    let record = state.store.update_sandbox(&sandbox.id, |record| {
        record.ttl_minutes = u32::try_from(minutes).ok().filter(|&minutes| minutes > 0);
        record.ttl_from = Some(now);
        record.updated_at = now;
        record.last_activity_at = now;
    })?;
    Ok((
        StatusCode::CREATED,
        Json(sandbox_dto(&state, &sandbox, &record, now)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: Usage = Usage {
        cpu: 1,
        memory: 1,
        disk: 3,
    };

    fn resize(cpu: Option<u32>, memory: Option<u32>, disk: Option<u32>) -> ResizeSandbox {
        ResizeSandbox { cpu, memory, disk }
    }

    #[track_caller]
    fn refused(request: ResizeSandbox, started: bool) -> String {
        check_resize(&request, started, ONE).unwrap_err().message
    }

    #[test]
    fn resizes_follow_daytonas_rules() {
        assert!(refused(resize(None, None, Some(5)), true).contains("stopped sandbox"));
        assert!(refused(resize(None, None, Some(2)), false).contains("cannot be decreased"));
        assert!(refused(resize(Some(1), None, None), true).contains("No resource changes"));
        assert!(refused(resize(None, None, None), false).contains("No resource changes"));
        assert!(refused(resize(Some(0), None, None), false).contains("less than 1"));
        let started = check_resize(&resize(Some(2), Some(4), None), true, ONE).unwrap();
        assert_eq!(
            started,
            Usage {
                cpu: 2,
                memory: 4,
                disk: 3
            }
        );
        let stopped = check_resize(&resize(None, None, Some(5)), false, ONE).unwrap();
        assert_eq!(stopped.disk, 5);
        assert!(
            check_resize(
                &resize(None, Some(1), None),
                true,
                Usage { memory: 2, ..ONE }
            )
            .is_err()
        );
    }
}
