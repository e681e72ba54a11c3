//! `/api/snapshots`: named snapshot records with Daytona's states and resources.
//!
//! An image name is recorded, not pulled: such a snapshot is a name, resources and a state
//! (`pending` for the simulated create delay, then `active`), and the provider receives its name
//! on sandbox create. A Dockerfile (`buildInfo`) is built (`build.rs`): `pending`, `building`,
//! then `active` or `build_failed`. Three general snapshots always exist (`daytona-small` is the
//! default), as on Daytona Cloud.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;

use super::build;
use super::build_context::image_entrypoint;
use super::entrypoint;
use super::error::ApiError;
use super::sandbox_list::NumberedPage;
use super::state::{AppState, Millis, SnapshotRecord, iso, millis, now};
use super::view::JsonBody;
use crate::daytona_api::{CreateSnapshot, PaginatedSnapshots, SnapshotDto, SnapshotState};

/// The snapshot a sandbox create without one gets.
pub(crate) const DEFAULT_SNAPSHOT: &str = "daytona-small";

/// Daytona Cloud's pre-built snapshots: name, id, cpu, memory, disk.
const GENERAL: [(&str, &str, u32, u32, u32); 3] = [
    (
        "daytona-small",
        "00000000-0000-4000-8000-000000000001",
        1,
        1,
        3,
    ),
    (
        "daytona-medium",
        "00000000-0000-4000-8000-000000000002",
        2,
        4,
        8,
    ),
    (
        "daytona-large",
        "00000000-0000-4000-8000-000000000003",
        4,
        8,
        10,
    ),
];

fn general_snapshots() -> Vec<SnapshotDto> {
    GENERAL
        .iter()
        .map(|&(name, id, cpu, mem, disk)| SnapshotDto {
            id: id.to_string(),
            organization_id: None,
            general: true,
            name: name.to_string(),
            image_name: Some("daytonaio/sandbox:0.5.0-slim".to_string()),
            state: SnapshotState::Active,
            size: None,
            entrypoint: None,
            cpu,
            gpu: 0,
            mem,
            disk,
            error_reason: None,
            created_at: iso(0),
            updated_at: iso(0),
            last_used_at: None,
            source_sandbox_id: None,
            build_info: None,
            region_ids: None,
            initial_runner_id: None,
            r#ref: None,
            sandbox_class: Some("container".to_string()),
            gpu_type: None,
        })
        .collect()
}

/// A record as a client sees it at `now`: `pending` until it is ready.
fn render(record: &SnapshotRecord, now: Millis) -> SnapshotDto {
    let mut dto = record.dto.clone();
    if now < record.ready_at {
        dto.state = SnapshotState::Pending;
    }
    dto
}

/// Every snapshot at `now`, general ones first.
fn all(state: &AppState, now: Millis) -> Vec<SnapshotDto> {
    let mut snapshots = general_snapshots();
    state.store.read(|records| {
        snapshots.extend(records.snapshots.iter().map(|record| render(record, now)));
    });
    snapshots
}

fn find(state: &AppState, id_or_name: &str, now: Millis) -> Option<SnapshotDto> {
    let snapshots = all(state, now);
    let by_id = snapshots.iter().find(|snapshot| snapshot.id == id_or_name);
    by_id
        .or_else(|| {
            snapshots
                .iter()
                .find(|snapshot| snapshot.name == id_or_name)
        })
        .cloned()
}

fn not_found(id_or_name: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("Snapshot {id_or_name} not found"),
    )
}

/// The snapshot a sandbox create names (or the default), which must be active.
pub(crate) fn resolve_for_sandbox(
    state: &AppState,
    id_or_name: Option<&str>,
) -> Result<SnapshotDto, ApiError> {
    let id_or_name = id_or_name
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .unwrap_or(DEFAULT_SNAPSHOT);
    let snapshot = find(state, id_or_name, now()).ok_or_else(|| {
        ApiError::bad_request(format!(
            "Snapshot {id_or_name} not found. Did you add it through the Daytona Dashboard?"
        ))
    })?;
    if snapshot.state != SnapshotState::Active {
        return Err(ApiError::bad_request(format!(
            "Snapshot {id_or_name} is {}",
            snapshot.state.as_str()
        )));
    }
    Ok(snapshot)
}

fn validate(request: &CreateSnapshot) -> Result<(), ApiError> {
    let name_ok = !request.name.is_empty()
        && request
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '-' | '_' | '/'));
    if !name_ok {
        return Err(ApiError::bad_request(
            "Invalid snapshot name. Only letters, digits, dots, colons, slashes, underscores and dashes are allowed",
        ));
    }
    match (&request.build_info, &request.image_name) {
        (Some(_), Some(_)) => Err(ApiError::bad_request(
            "Cannot specify an image name when using a build info entry",
        )),
        (Some(_), None) if request.entrypoint.is_some() => Err(ApiError::bad_request(
            "Cannot specify an entrypoint when using a build info entry",
        )),
        (Some(_), None) => Ok(()),
        (None, None) => Err(ApiError::bad_request(
            "Must specify either an image name or a build info entry",
        )),
        (None, Some(image)) => {
            let last = image.rsplit('/').next().unwrap_or(image);
            if !last.contains(':') && !image.contains('@') {
                Err(ApiError::bad_request(format!(
                    "Image name must include a tag or digest (e.g. `{image}:1.0`)"
                )))
            } else if last.ends_with(":latest") {
                Err(ApiError::bad_request(
                    "Images with the tag `latest` are not allowed: pin a version",
                ))
            } else {
                Ok(())
            }
        }
    }
}

pub(crate) async fn create(
    State(state): State<Arc<AppState>>,
    JsonBody(request): JsonBody<CreateSnapshot>,
) -> Result<Json<SnapshotDto>, ApiError> {
    validate(&request)?;
    let region = super::platform::region(request.region_id.as_deref())?;
    let now = now();
    let created = now;
    let hash = request
        .build_info
        .as_ref()
        .map(|info| build::image_hash(&info.dockerfile_content, info.context_hashes.as_ref()));
    let dto = SnapshotDto {
        id: uuid::Uuid::new_v4().to_string(),
        organization_id: Some(state.store.read(|records| records.organization_id.clone())),
        general: false,
        name: request.name.clone(),
        image_name: request.image_name.clone(),
        // A Dockerfile is built first (`build.rs`); an image name is recorded as it is.
        state: if hash.is_some() {
            SnapshotState::Pending
        } else {
            SnapshotState::Active
        },
        size: None,
        // Set when it is made, as on Daytona: the one asked for, or the Dockerfile's.
        entrypoint: match &request.build_info {
            Some(build) => image_entrypoint(&build.dockerfile_content),
            None => request.entrypoint.clone().and_then(entrypoint::normalized),
        },
        cpu: request.cpu.filter(|&cpu| cpu > 0).unwrap_or(1),
        gpu: request.gpu.unwrap_or(0),
        mem: request.memory.filter(|&memory| memory > 0).unwrap_or(1),
        disk: request.disk.filter(|&disk| disk > 0).unwrap_or(3),
        error_reason: None,
        created_at: iso(created),
        updated_at: iso(created),
        last_used_at: None,
        source_sandbox_id: None,
        build_info: request
            .build_info
            .as_ref()
            .map(|build| crate::daytona_api::BuildInfo {
                dockerfile_content: Some(build.dockerfile_content.clone()),
                context_hashes: build.context_hashes.clone(),
                created_at: iso(created),
                updated_at: iso(created),
                snapshot_ref: hash.as_deref().map(build::snapshot_ref).unwrap_or_default(),
            }),
        region_ids: Some(vec![region]),
        initial_runner_id: None,
        r#ref: None,
        sandbox_class: Some("container".to_string()),
        gpu_type: None,
    };
    let record = SnapshotRecord {
        dto,
        ready_at: now + millis(state.simulation.create_delay),
    };
    let shown = render(&record, now);
    let job = record
        .dto
        .build_info
        .as_ref()
        .zip(hash)
        .map(|(info, hash)| build::Job {
            target: build::Target::Snapshot(record.dto.id.clone()),
            hash,
            dockerfile: info.dockerfile_content.clone().unwrap_or_default(),
            context_hashes: info.context_hashes.clone().unwrap_or_default(),
        });
    insert(&state, record)?;
    if let Some(job) = job {
        build::spawn(&state, job);
    }
    Ok(Json(shown))
}

/// Adds a snapshot record, or Daytona's 409 when the name is taken. Checked under the records
/// lock, so two concurrent creates cannot both succeed.
pub(crate) fn insert(state: &AppState, record: SnapshotRecord) -> Result<(), ApiError> {
    let name = record.dto.name.clone();
    let general = GENERAL.iter().any(|&(general, ..)| general == name);
    let inserted = !general
        && state.store.write(|records| {
            let duplicate = records
                .snapshots
                .iter()
                .any(|existing| existing.dto.name == name);
            if !duplicate {
                records.snapshots.push(record);
            }
            !duplicate
        })?;
    if !inserted {
        return Err(taken(&name));
    }
    Ok(())
}

/// Daytona's 409 for a snapshot name in use.
pub(crate) fn taken(name: &str) -> ApiError {
    ApiError::conflict(format!(
        "Snapshot with name \"{name}\" already exists for this organization"
    ))
}

/// Whether a snapshot of that name exists (general ones included).
pub(crate) fn exists(state: &AppState, name: &str) -> bool {
    all(state, now())
        .iter()
        .any(|snapshot| snapshot.name == name)
}

pub(crate) async fn get(
    State(state): State<Arc<AppState>>,
    Path(id_or_name): Path<String>,
) -> Result<Json<SnapshotDto>, ApiError> {
    find(&state, &id_or_name, now())
        .map(Json)
        .ok_or_else(|| not_found(&id_or_name))
}

/// `GET /snapshots?page=&limit=&name=`: numbered pages; `name` is a partial match.
pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Json<PaginatedSnapshots>, ApiError> {
    let page = NumberedPage::parse(&params)?;
    let mut snapshots = all(&state, now());
    let name = params.iter().find(|(key, _)| key == "name");
    if let Some((_, name)) = name.filter(|(_, name)| !name.is_empty()) {
        let name = name.to_lowercase();
        snapshots.retain(|snapshot| snapshot.name.to_lowercase().contains(&name));
    }
    let paged = page.of(snapshots);
    Ok(Json(PaginatedSnapshots {
        items: paged.items,
        total: paged.total,
        page: paged.page,
        total_pages: paged.total_pages,
    }))
}

/// `DELETE /snapshots/{id}` takes a UUID only, as Daytona's `ParseUUIDPipe` does.
pub(crate) async fn delete(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if uuid::Uuid::parse_str(&id).is_err() {
        return Err(ApiError::bad_request(
            "Validation failed (uuid is expected)",
        ));
    }
    if GENERAL.iter().any(|&(_, general, ..)| general == id) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "Cannot delete a general snapshot",
        ));
    }
    let removed = state.store.write(|records| {
        let index = records
            .snapshots
            .iter()
            .position(|record| record.dto.id == id)?;
        Some(records.snapshots.remove(index))
    })?;
    let Some(removed) = removed else {
        return Err(not_found(&id));
    };
    // A snapshot made from a sandbox keeps that sandbox's files in the provider; a built one
    // names its layer there (the layer itself stays, as the cache of its image).
    if removed.dto.source_sandbox_id.is_some() || removed.dto.build_info.is_some() {
        state
            .provider
            .remove_snapshot(&removed.dto.name)
            .await
            .map_err(|error| ApiError::from_provider(error, &removed.dto.name))?;
    }
    Ok(StatusCode::OK)
}

/// Sets the stored state of a snapshot this server made, returning it as shown at `now`.
fn set_state(
    state: &AppState,
    id_or_name: &str,
    change: impl FnOnce(&SnapshotDto) -> Result<SnapshotState, ApiError>,
) -> Result<SnapshotDto, ApiError> {
    let now = now();
    let shown = find(state, id_or_name, now).ok_or_else(|| not_found(id_or_name))?;
    if shown.general {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "Cannot change a general snapshot",
        ));
    }
    let next = change(&shown)?;
    state.store.write(|records| {
        let record = records
            .snapshots
            .iter_mut()
            .find(|record| record.dto.id == shown.id)
            .ok_or_else(|| not_found(id_or_name))?;
        record.dto.state = next;
        record.dto.updated_at = iso(now);
        Ok(render(record, now))
    })?
}

pub(crate) async fn activate(
    State(state): State<Arc<AppState>>,
    Path(id_or_name): Path<String>,
) -> Result<Json<SnapshotDto>, ApiError> {
    set_state(&state, &id_or_name, |shown| match shown.state {
        SnapshotState::Active => Err(ApiError::bad_request(format!(
            "Snapshot {} is already active",
            shown.name
        ))),
        SnapshotState::Inactive => Ok(SnapshotState::Active),
        ref other => Err(ApiError::bad_request(format!(
            "Snapshot {} is {} and cannot be activated",
            shown.name,
            other.as_str()
        ))),
    })
    .map(Json)
}

pub(crate) async fn deactivate(
    State(state): State<Arc<AppState>>,
    Path(id_or_name): Path<String>,
) -> Result<StatusCode, ApiError> {
    set_state(&state, &id_or_name, |_| Ok(SnapshotState::Inactive))?;
    Ok(StatusCode::NO_CONTENT)
}
