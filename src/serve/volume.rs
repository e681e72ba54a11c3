//! `/api/volumes`: named shared storage with Daytona's states, and the mounts a sandbox create
//! asks for.
//!
//! A volume's record lives here; its files are the provider's (`local`: a directory under the
//! state root, bound at the mount path). States follow `volume.service.ts` (v0.190): a new
//! volume is `pending_create`, then `ready` after the simulated create delay; a delete marks
//! it `pending_delete`, drops its files, and it reads `deleted` after the transition delay.
//! Mount paths and subpaths are checked with Daytona's rules before the provider sees them.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::error::ApiError;
use super::state::{AppState, Millis, VolumeRecord, iso, millis, now};
use super::view::JsonBody;
use crate::daytona_api::{CreateVolume, SandboxVolume, VolumeDto, VolumeState};
use crate::provider::{self, Labels};

/// Daytona's default per-organisation volume quota.
const VOLUME_QUOTA: usize = 100;

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/volumes", get(list).post(create))
        .route("/volumes/{volume}", get(get_by_id).delete(delete))
        .route("/volumes/by-name/{name}", get(get_by_name))
}

/// A record as a client sees it at `now`.
fn render(record: &VolumeRecord, now: Millis) -> VolumeDto {
    let mut dto = record.dto.clone();
    dto.state = match record.gone_at {
        Some(gone) if now < gone => VolumeState::PendingDelete,
        Some(_) => VolumeState::Deleted,
        None if now < record.ready_at => VolumeState::PendingCreate,
        None => dto.state,
    };
    dto
}

fn all(state: &AppState, now: Millis) -> Vec<VolumeDto> {
    state.store.read(|records| {
        records
            .volumes
            .iter()
            .map(|record| render(record, now))
            .collect()
    })
}

fn live(volume: &VolumeDto) -> bool {
    volume.state != VolumeState::Deleted
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListQuery {
    include_deleted: Option<String>,
}

/// Most recently used first (never used last), then newest first, as Daytona orders them.
pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    Query(query): Query<ListQuery>,
) -> Json<Vec<VolumeDto>> {
    let include_deleted = query.include_deleted.as_deref() == Some("true");
    let mut volumes: Vec<VolumeDto> = all(&state, now())
        .into_iter()
        .filter(|volume| include_deleted || live(volume))
        .collect();
    volumes.sort_by(|a, b| {
        let used = |volume: &VolumeDto| volume.last_used_at.clone();
        match (used(a), used(b)) {
            (Some(a_used), Some(b_used)) => b_used.cmp(&a_used),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        }
        .then_with(|| b.created_at.cmp(&a.created_at))
    });
    Json(volumes)
}

pub(crate) async fn create(
    State(state): State<Arc<AppState>>,
    JsonBody(request): JsonBody<CreateVolume>,
) -> Result<Json<VolumeDto>, ApiError> {
    if request.name.chars().any(char::is_control) {
        return Err(ApiError::bad_request("name must be a safe display string"));
    }
    let now = now();
    let id = uuid::Uuid::new_v4().to_string();
    let name = if request.name.is_empty() {
        id.clone()
    } else {
        request.name.clone()
    };
    let record = VolumeRecord {
        dto: VolumeDto {
            id,
            name: name.clone(),
            organization_id: state.store.read(|records| records.organization_id.clone()),
            state: VolumeState::Ready,
            created_at: iso(now),
            updated_at: iso(now),
            last_used_at: None,
            error_reason: None,
        },
        ready_at: now + millis(state.simulation.create_delay),
        gone_at: None,
    };
    // Checked under the records lock, so two concurrent creates cannot share a name.
    let refused = state.store.write(|records| {
        let existing: Vec<VolumeDto> = records
            .volumes
            .iter()
            .map(|record| render(record, now))
            .filter(live)
            .collect();
        if existing.iter().any(|volume| volume.name == name) {
            return Some(format!("Volume with name {name} already exists"));
        }
        if existing.len() >= VOLUME_QUOTA {
            return Some(format!(
                "Volume quota exceeded. Maximum allowed: {VOLUME_QUOTA}"
            ));
        }
        records.volumes.push(record.clone());
        None
    })?;
    if let Some(message) = refused {
        return Err(ApiError::bad_request(message));
    }
    // Daytona answers with the record as inserted.
    let mut dto = record.dto;
    dto.state = VolumeState::PendingCreate;
    Ok(Json(dto))
}

pub(crate) async fn get_by_id(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<VolumeDto>, ApiError> {
    all(&state, now())
        .into_iter()
        .find(|volume| volume.id == id)
        .map(Json)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!("Volume with ID {id} not found"),
            )
        })
}

pub(crate) async fn get_by_name(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<VolumeDto>, ApiError> {
    all(&state, now())
        .into_iter()
        .find(|volume| volume.name == name && live(volume))
        .map(Json)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!("Volume with name {name} not found"),
            )
        })
}

/// `DELETE /volumes/{id}`: only a `ready` (or `error`) volume no live sandbox mounts.
pub(crate) async fn delete(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let now = now();
    let volume = all(&state, now)
        .into_iter()
        .find(|volume| volume.id == id)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!("Volume with ID {id} not found"),
            )
        })?;
    if !matches!(volume.state, VolumeState::Ready | VolumeState::Error) {
        return Err(ApiError::bad_request(
            "Volume must be in 'ready' or 'error' state in order to be deleted",
        ));
    }
    let sandboxes = state
        .provider
        .list(&Labels::new())
        .await
        .map_err(|error| ApiError::from_provider(error, "*"))?;
    let user = sandboxes.iter().find(|sandbox| {
        state
            .store
            .sandbox(&sandbox.id)
            .volumes
            .iter()
            .any(|mount| mount.volume_id == id)
    });
    if let Some(user) = user {
        return Err(ApiError::conflict(format!(
            "Volume cannot be deleted because it is in use by one or more sandboxes (e.g. {})",
            user.name
        )));
    }
    let gone_at = now + millis(state.simulation.transition_delay);
    state.store.write(|records| {
        if let Some(record) = records
            .volumes
            .iter_mut()
            .find(|record| record.dto.id == id)
        {
            record.gone_at = Some(gone_at);
            record.dto.updated_at = iso(now);
        }
    })?;
    state
        .provider
        .remove_volume(&id)
        .await
        .map_err(|error| ApiError::from_provider(error, &id))?;
    Ok(StatusCode::OK)
}

/// Daytona's `validateMountPaths`: every problem, joined.
fn mount_path_problems(volumes: &[SandboxVolume]) -> Vec<String> {
    let system = [
        "/proc", "/sys", "/dev", "/boot", "/etc", "/bin", "/sbin", "/lib", "/lib64",
    ];
    let mut problems = Vec::new();
    for volume in volumes {
        let path = volume.mount_path.as_str();
        let problem = if !path.starts_with('/') {
            Some("must be absolute")
        } else if path == "/" || path == "//" {
            Some("cannot mount to the root directory")
        } else if path.contains("/../")
            || path.contains("/./")
            || path.ends_with("/..")
            || path.ends_with("/.")
        {
            Some("cannot contain relative path components")
        } else if path[1..].contains("//") {
            Some("cannot contain consecutive slashes")
        } else if system
            .iter()
            .any(|dir| path == *dir || path.starts_with(&format!("{dir}/")))
        {
            Some("cannot mount to system directory")
        } else {
            None
        };
        if let Some(problem) = problem {
            problems.push(format!("Invalid mount path {path} ({problem})"));
        }
    }
    problems
}

/// Daytona's `validateSubpaths`: S3-style prefixes.
fn subpath_problems(volumes: &[SandboxVolume]) -> Vec<String> {
    let mut problems = Vec::new();
    for subpath in volumes
        .iter()
        .filter_map(|volume| volume.subpath.as_deref())
        .filter(|subpath| !subpath.is_empty())
    {
        let problem = if subpath.starts_with('/') {
            Some("S3 key prefixes cannot start with /")
        } else if subpath.contains("..") {
            Some("cannot contain .. for security")
        } else if subpath.contains("//") {
            Some("cannot contain consecutive slashes")
        } else {
            None
        };
        if let Some(problem) = problem {
            problems.push(format!("Invalid subpath \"{subpath}\" ({problem})"));
        }
    }
    problems
}

/// The mounts of a sandbox create: each volume named by id or name, `ready`, resolved to its
/// id (what the record keeps) and to the provider's mount. Marks the volumes used.
pub(crate) fn resolve_mounts(
    state: &AppState,
    requested: &[SandboxVolume],
) -> Result<(Vec<SandboxVolume>, Vec<provider::VolumeMount>), ApiError> {
    if requested.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let problems = mount_path_problems(requested);
    if !problems.is_empty() {
        return Err(ApiError::bad_request(problems.join(", ")));
    }
    let problems = subpath_problems(requested);
    if !problems.is_empty() {
        return Err(ApiError::bad_request(problems.join(", ")));
    }
    let now = now();
    let volumes: Vec<VolumeDto> = all(state, now).into_iter().filter(live).collect();
    let mut resolved = Vec::new();
    for mount in requested {
        let by_id = volumes
            .iter()
            .find(|volume| volume.id.eq_ignore_ascii_case(&mount.volume_id));
        let by_name = volumes.iter().find(|volume| volume.name == mount.volume_id);
        if let (Some(id), Some(name)) = (by_id, by_name)
            && id.id != name.id
        {
            return Err(ApiError::bad_request(format!(
                "Volume reference '{}' matches one volume's ID and another volume's name; rename the volume to remove the ambiguity",
                mount.volume_id
            )));
        }
        let volume = by_id.or(by_name).ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!("Volume '{}' not found", mount.volume_id),
            )
        })?;
        if volume.state != VolumeState::Ready {
            return Err(ApiError::bad_request(format!(
                "Volume '{}' is not in a ready state. Current state: {}",
                volume.name,
                volume.state.as_str()
            )));
        }
        resolved.push(SandboxVolume {
            volume_id: volume.id.clone(),
            mount_path: mount.mount_path.clone(),
            subpath: mount.subpath.clone().filter(|subpath| !subpath.is_empty()),
        });
    }
    state.store.write(|records| {
        for record in &mut records.volumes {
            if resolved
                .iter()
                .any(|mount| mount.volume_id == record.dto.id)
            {
                record.dto.last_used_at = Some(iso(now));
            }
        }
    })?;
    let mounts = resolved
        .iter()
        .map(|mount| provider::VolumeMount {
            volume_id: mount.volume_id.clone(),
            mount_path: mount.mount_path.clone(),
            subpath: mount.subpath.clone(),
        })
        .collect();
    Ok((resolved, mounts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(path: &str, subpath: Option<&str>) -> SandboxVolume {
        SandboxVolume {
            volume_id: "v".into(),
            mount_path: path.into(),
            subpath: subpath.map(str::to_string),
        }
    }

    #[test]
    fn mount_paths_follow_daytonas_rules() {
        let problems = mount_path_problems(&[
            mount("/home/daytona/data", None),
            mount("data", None),
            mount("/", None),
            mount("/a/../b", None),
            mount("/a//b", None),
            mount("/etc/x", None),
        ]);
        assert_eq!(
            problems,
            [
                "Invalid mount path data (must be absolute)",
                "Invalid mount path / (cannot mount to the root directory)",
                "Invalid mount path /a/../b (cannot contain relative path components)",
                "Invalid mount path /a//b (cannot contain consecutive slashes)",
                "Invalid mount path /etc/x (cannot mount to system directory)",
            ]
        );
        let problems = subpath_problems(&[
            mount("/m", Some("users/ann")),
            mount("/m", Some("/abs")),
            mount("/m", Some("a/../b")),
        ]);
        assert_eq!(problems.len(), 2, "{problems:?}");
    }
}
