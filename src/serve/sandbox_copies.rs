//! Sandboxes that start from another one's files: `POST /api/sandbox/{id}/fork` (a new sandbox
//! now) and `POST /api/sandbox/{id}/snapshot` (a snapshot record; sandboxes created from it
//! later start from the files as they were).
//!
//! What is copied, precisely: the source's home directory (`/home/daytona`), byte for byte,
//! with symlinks kept as links and permission bits kept, at the moment of the call, and the
//! image the source was built from (its files, `ENV` and `WORKDIR`), which is shared. Not copied:
//! running processes and their memory, `/tmp`, environment changes made after creation, and
//! the files of mounted volumes (a fork mounts the same volumes again; a snapshot mounts none).
//!
//! NOTES-style: v0.190 forks only VM sandboxes (422 `Forking is not supported for this
//! sandbox` for `container`, which local sandboxes report). A local sandbox is its home
//! directory, so a fork is exact and cheap, and the pinned SDK's `fork` has a use here; serve
//! forks, with Daytona's other guards (started source, no transition in flight, quotas).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};

use super::error::ApiError;
use super::sandbox::{check_quota, has_quota, provider_resources, resolve};
use super::sandbox_actions::begin;
use super::simulate::Usage;
use super::snapshot;
use super::state::{
    AppState, DEFAULT_TARGET, SandboxRecord, SnapshotRecord, Transition, iso, millis, now,
};
use super::view::{JsonBody, derived_state, in_transition, sandbox_dto};
use crate::daytona_api::{
    CreateSandboxSnapshot, ForkSandbox, Sandbox, SandboxDesiredState, SandboxState, SnapshotDto,
    SnapshotState,
};
use crate::provider::{self, ProviderError};

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/sandbox/{sandbox}/fork", post(fork))
        .route("/sandbox/{sandbox}/snapshot", post(create_snapshot))
}

/// The state the desired state of a settled sandbox names.
fn desired_of(shown: &SandboxState) -> SandboxDesiredState {
    if *shown == SandboxState::Started {
        SandboxDesiredState::Started
    } else {
        SandboxDesiredState::Stopped
    }
}

async fn fork(
    State(state): State<Arc<AppState>>,
    Path(id_or_name): Path<String>,
    JsonBody(request): JsonBody<ForkSandbox>,
) -> Result<Json<Sandbox>, ApiError> {
    let source = resolve(&state, &id_or_name).await?;
    let record = state.store.sandbox(&source.id);
    let now = now();
    let (shown, _) = derived_state(&source, &record, now);
    if shown != SandboxState::Started {
        return Err(ApiError::bad_request(
            "Sandbox must be in started state to fork",
        ));
    }
    if in_transition(&record, now) {
        return Err(ApiError::state_change_in_progress());
    }
    let name = request.name.filter(|name| !name.trim().is_empty());
    let resources = Usage {
        cpu: record.cpu,
        memory: record.memory,
        disk: record.disk,
    };
    let _admitted = if has_quota(&state) {
        Some(state.quota_lock.lock().await)
    } else {
        None
    };
    check_quota(&state, resources, None).await?;
    let mounts = record
        .volumes
        .iter()
        .map(|volume| provider::VolumeMount {
            volume_id: volume.volume_id.clone(),
            mount_path: volume.mount_path.clone(),
            subpath: volume.subpath.clone(),
        })
        .collect();
    let forked = state
        .provider
        .fork(
            &source.id,
            &provider::CreateSandbox {
                name: name.clone().unwrap_or_default(),
                labels: source.labels.clone(),
                env: source.env.clone(),
                snapshot: source.snapshot.clone(),
                user: Some(record.user.clone()),
                lifecycle: source.lifecycle,
                ttl_minutes: None,
                resources: provider_resources(resources),
                volumes: mounts,
                // A fork is linked to nothing, and keeps its source's network.
                hosts: Default::default(),
                network: super::platform::NetworkSettings {
                    network_block_all: Some(record.network_block_all),
                    network_allow_list: record.network_allow_list.clone(),
                    domain_allow_list: record.domain_allow_list.clone(),
                }
                .network()?
                .unwrap_or_default(),
            },
        )
        .await
        .map_err(|error| match error {
            ProviderError::Conflict { .. } => {
                ApiError::conflict("Sandbox with this name already exists")
            }
            other => ApiError::from_provider(other, &id_or_name),
        })?;
    // What decides the copy's proxy variables, recorded before they are set.
    state.store.update_sandbox(&forked.id, |stored| {
        stored.domain_allow_list = record.domain_allow_list.clone();
        stored.outbound_proxy_url = record.outbound_proxy_url.clone();
    })?;
    // The copy keeps its source's secrets, with a proxy credential of its own: the one in the
    // environment it copied names the source. Its outbound proxy is set again too: changes of
    // the environment are not copied.
    let egress = match state.vault.mount_of(&source.id) {
        Some(mount) => {
            super::secret_vault_routes::mount_secrets(&state, &forked.id, &[mount.env]).await
        }
        None if record.outbound_proxy_url.is_some() => {
            super::egress_sandbox::configure(&state, &forked.id, false).await
        }
        None => Ok(()),
    };
    if let Err(error) = egress {
        let _ = state.provider.delete(&forked.id).await;
        let _ = state.vault.unmount(&forked.id);
        return Err(error);
    }
    begin(
        &state,
        &source.id,
        SandboxState::Forking,
        SandboxDesiredState::Started,
        |_| {},
    )?;
    let created = super::state::now();
    let copy = SandboxRecord {
        ttl_minutes: None,
        ttl_from: None,
        updated_at: created,
        last_activity_at: created,
        stopped_at: None,
        transition: Some(Transition {
            state: SandboxState::Creating,
            desired: SandboxDesiredState::Started,
            until: created + millis(state.simulation.create_delay),
        }),
        archived: false,
        target: if record.target.is_empty() {
            DEFAULT_TARGET.to_string()
        } else {
            record.target.clone()
        },
        ..record
    };
    state
        .store
        .update_sandbox(&forked.id, |stored| *stored = copy.clone())?;
    // The copy runs its source's entrypoint, as a new start of the same image.
    if let Err(error) = super::entrypoint::run(&state, &forked.id).await {
        let _ = state.provider.delete(&forked.id).await;
        let _ = state.store.remove_sandbox(&forked.id);
        let _ = state.vault.unmount(&forked.id);
        return Err(ApiError::from_provider(error, &forked.id));
    }
    let mut dto = sandbox_dto(&state, &forked, &copy, created);
    dto.state = Some(SandboxState::Creating);
    Ok(Json(dto))
}

/// Snapshot names as Daytona's `IsSafeDisplayString` takes them: printable, not blank.
fn check_name(name: &str) -> Result<(), ApiError> {
    if name.trim().is_empty() || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "name must be a non-empty safe display string",
        ));
    }
    Ok(())
}

async fn create_snapshot(
    State(state): State<Arc<AppState>>,
    Path(id_or_name): Path<String>,
    JsonBody(request): JsonBody<CreateSandboxSnapshot>,
) -> Result<Json<Sandbox>, ApiError> {
    check_name(&request.name)?;
    let sandbox = resolve(&state, &id_or_name).await?;
    let record = state.store.sandbox(&sandbox.id);
    let now = now();
    let (shown, _) = derived_state(&sandbox, &record, now);
    if !matches!(shown, SandboxState::Started | SandboxState::Stopped) {
        return Err(ApiError::bad_request(
            "Sandbox must be in started or stopped state to create a snapshot",
        ));
    }
    if in_transition(&record, now) {
        return Err(ApiError::state_change_in_progress());
    }
    if request.include_memory == Some(true) {
        return Err(ApiError::bad_request(
            "includeMemory is only supported for Windows sandboxes",
        ));
    }
    let _capturing = state.capture_lock.lock().await;
    if snapshot::exists(&state, &request.name) {
        return Err(snapshot::taken(&request.name));
    }
    let mut captured = state
        .provider
        .capture_snapshot(&sandbox.id, &request.name)
        .await;
    if let Err(ProviderError::Conflict { .. }) = captured {
        // No record holds the name and no capture is under way: the files are what a run
        // killed between keeping them and recording the snapshot (or between forgetting it
        // and removing them) left, and the name is free again.
        state
            .provider
            .remove_snapshot(&request.name)
            .await
            .map_err(|error| ApiError::from_provider(error, &request.name))?;
        captured = state
            .provider
            .capture_snapshot(&sandbox.id, &request.name)
            .await;
    }
    captured.map_err(|error| match error {
        ProviderError::Conflict { .. } => snapshot::taken(&request.name),
        other => ApiError::from_provider(other, &id_or_name),
    })?;
    let created = iso(now);
    let dto = SnapshotDto {
        id: uuid::Uuid::new_v4().to_string(),
        organization_id: Some(state.store.read(|records| records.organization_id.clone())),
        general: false,
        name: request.name.clone(),
        image_name: None,
        state: SnapshotState::Active,
        size: None,
        // Its sandboxes run what the sandbox runs.
        entrypoint: record.entrypoint.clone(),
        cpu: record.cpu,
        gpu: record.gpu,
        mem: record.memory,
        disk: record.disk,
        error_reason: None,
        created_at: created.clone(),
        updated_at: created,
        last_used_at: None,
        source_sandbox_id: Some(sandbox.id.clone()),
        build_info: None,
        region_ids: Some(vec![DEFAULT_TARGET.to_string()]),
        initial_runner_id: None,
        r#ref: None,
        sandbox_class: Some("container".to_string()),
        gpu_type: None,
    };
    let inserted = snapshot::insert(
        &state,
        SnapshotRecord {
            dto,
            ready_at: now + millis(state.simulation.create_delay),
        },
    );
    if let Err(error) = inserted {
        // The name was taken meanwhile: drop the files kept for it, which are ours.
        let _ = state.provider.remove_snapshot(&request.name).await;
        return Err(error);
    }
    let record = begin(
        &state,
        &sandbox.id,
        SandboxState::Snapshotting,
        desired_of(&shown),
        |_| {},
    )?;
    Ok(Json(sandbox_dto(
        &state,
        &sandbox,
        &record,
        super::state::now(),
    )))
}
