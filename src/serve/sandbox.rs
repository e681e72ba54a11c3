//! `/api/sandbox`: create, get and delete, and the lookups and quota checks other routes share.
//!
//! Validation and defaults follow Daytona (NOTES sections 2 and 7); the sandbox itself is the
//! provider's. A create answers with the insert-time record (`creating`), as Daytona does, and
//! the state turns `started` when the simulated create delay has passed.

use std::sync::Arc;

use super::build;
use super::build_context::image_entrypoint;
use super::egress_outbound::OutboundProxy;
use super::entrypoint;
use super::error::ApiError;
use super::platform;
use super::sandbox_limits;
use super::sandbox_link;
use super::secret_vault_routes;
use super::simulate::Usage;
use super::snapshot;
use super::state::{AppState, BuildPhase, SandboxBuild, SandboxRecord, Transition, millis, now};
use super::view::{JsonBody, in_transition, sandbox_dto};
use super::volume;
use crate::daytona_api::{CreateSandbox, Sandbox, SandboxDesiredState, SandboxState};
use crate::provider::local::LayerState;
use crate::provider::{self, Labels, Lifecycle, Resources};
use axum::Json;
use axum::extract::{Path, State};

/// Daytona's cap on auto-archive, in minutes (30 days).
pub(crate) const MAX_AUTO_ARCHIVE_MINUTES: u32 = 43_200;

/// A sandbox by id or name, or Daytona's 404.
pub(crate) async fn resolve(
    state: &AppState,
    id_or_name: &str,
) -> Result<provider::Sandbox, ApiError> {
    state
        .provider
        .get(id_or_name)
        .await
        .map_err(|error| ApiError::from_provider(error, id_or_name))
}

/// Whether the provider has the sandbox started (a missing one is not).
pub(crate) async fn is_started(state: &AppState, id: &str) -> bool {
    state
        .provider
        .get(id)
        .await
        .is_ok_and(|sandbox| sandbox.state == provider::SandboxState::Started)
}

/// What the organisation's sandboxes hold: CPU and memory of running ones, disk of all.
pub(crate) async fn usage(state: &AppState, excluding: Option<&str>) -> Result<Usage, ApiError> {
    let sandboxes = state
        .provider
        .list(&Labels::new())
        .await
        .map_err(|error| ApiError::from_provider(error, "*"))?;
    let mut usage = Usage::default();
    for sandbox in sandboxes
        .iter()
        .filter(|s| Some(s.id.as_str()) != excluding)
    {
        let record = state.store.sandbox(&sandbox.id);
        if matches!(
            sandbox.state,
            provider::SandboxState::Started
                | provider::SandboxState::Creating
                | provider::SandboxState::Starting
        ) {
            usage.cpu += record.cpu;
            usage.memory += record.memory;
        }
        usage.disk += record.disk;
    }
    Ok(usage)
}

pub(crate) fn has_quota(state: &AppState) -> bool {
    let simulation = &state.simulation;
    simulation.quota_cpu.is_some()
        || simulation.quota_memory.is_some()
        || simulation.quota_disk.is_some()
}

/// Refuses `request` with Daytona's 400 when it breaks an organisation total.
pub(crate) async fn check_quota(
    state: &AppState,
    request: Usage,
    excluding: Option<&str>,
) -> Result<(), ApiError> {
    if !has_quota(state) {
        return Ok(());
    }
    let current = usage(state, excluding).await?;
    match state.simulation.quota_violation(current, request) {
        Some(message) => Err(ApiError::bad_request(message)),
        None => Ok(()),
    }
}

/// What a sandbox is given, in the provider's terms.
pub(crate) fn provider_resources(usage: Usage) -> Resources {
    Resources {
        cpu: Some(usage.cpu),
        memory: Some(usage.memory),
        disk: Some(usage.disk),
    }
}

/// Lifecycle timers of a create, with Daytona's defaults and checks.
fn lifecycle_of(request: &CreateSandbox) -> Result<Lifecycle, ApiError> {
    let auto_stop = request.auto_stop_interval.unwrap_or(15);
    if auto_stop < 0 {
        return Err(ApiError::bad_request(
            "Auto-stop interval must be non-negative",
        ));
    }
    let auto_archive = request.auto_archive_interval.unwrap_or(10_080);
    if auto_archive < 0 {
        return Err(ApiError::bad_request(
            "Auto-archive interval must be non-negative",
        ));
    }
    let auto_archive = match auto_archive as u32 {
        0 => MAX_AUTO_ARCHIVE_MINUTES,
        minutes => minutes.min(MAX_AUTO_ARCHIVE_MINUTES),
    };
    Ok(Lifecycle {
        auto_stop: Some(auto_stop as u32),
        auto_archive: Some(auto_archive),
        auto_delete: Some(request.auto_delete_interval.unwrap_or(-1).max(-1)),
    })
}

pub(crate) async fn create(
    State(state): State<Arc<AppState>>,
    JsonBody(request): JsonBody<CreateSandbox>,
) -> Result<Json<Sandbox>, ApiError> {
    // Unknown secret names are refused before anything is made.
    let secrets = request.secrets.clone().unwrap_or_default();
    state.vault.resolve_names(
        &secrets
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )?;
    let wanted = platform::NetworkSettings {
        network_block_all: request.network_block_all,
        network_allow_list: request.network_allow_list.clone(),
        domain_allow_list: request.domain_allow_list.clone(),
    }
    .wanted()?;
    let recorded_network = wanted.as_ref().map(platform::NetworkSettings::of);
    let network = wanted.map(|wanted| wanted.network).unwrap_or_default();
    let outbound_proxy_url = request
        .outbound_proxy_url
        .as_deref()
        .filter(|url| !url.trim().is_empty())
        .map(|url| OutboundProxy::parse(url).map(|_| url.trim().to_string()))
        .transpose()?;
    let queue_timeout =
        match request.queue_timeout {
            None => None,
            Some(minutes) => Some(u32::try_from(minutes).ok().filter(|&m| m > 0).ok_or_else(
                || ApiError::bad_request("queueTimeout must be a positive integer (minutes)"),
            )?),
        };
    let target = platform::region(request.target.as_deref())?;
    let link = sandbox_link::link(&state, &request, network != provider::Network::Open).await?;
    let named_snapshot = request
        .snapshot
        .as_deref()
        .filter(|name| !name.trim().is_empty());
    let asks_resources = [request.cpu, request.gpu, request.memory, request.disk]
        .iter()
        .any(|value| value.unwrap_or(0) > 0)
        || request.gpu_type.is_some();
    // What it runs when it starts: its Dockerfile's final `ENTRYPOINT`, or its snapshot's.
    let (snapshot_name, resources, gpu, initial, runs) = match &request.build_info {
        Some(_) if named_snapshot.is_some() => {
            return Err(ApiError::bad_request(
                "Cannot specify a snapshot when using a build info entry",
            ));
        }
        Some(build) => (
            build::snapshot_ref(&build::image_hash(
                &build.dockerfile_content,
                build.context_hashes.as_ref(),
            )),
            Usage {
                cpu: request.cpu.filter(|&cpu| cpu > 0).unwrap_or(1),
                memory: request.memory.filter(|&memory| memory > 0).unwrap_or(1),
                disk: request.disk.filter(|&disk| disk > 0).unwrap_or(3),
            },
            request.gpu.unwrap_or(0),
            SandboxState::PendingBuild,
            image_entrypoint(&build.dockerfile_content),
        ),
        None if asks_resources => {
            return Err(ApiError::bad_request(
                "Cannot specify Sandbox resources when using a snapshot",
            ));
        }
        None => {
            let snapshot = snapshot::resolve_for_sandbox(&state, named_snapshot)?;
            let resources = Usage {
                cpu: snapshot.cpu,
                memory: snapshot.mem,
                disk: snapshot.disk,
            };
            (
                snapshot.name,
                resources,
                snapshot.gpu,
                SandboxState::Creating,
                snapshot.entrypoint.and_then(entrypoint::normalized),
            )
        }
    };
    sandbox_limits::refuse_impossible(&request, gpu)?;
    let user = sandbox_limits::asked_user(&state, &request);
    let lifecycle = lifecycle_of(&request)?;
    let (volumes, mounts) =
        volume::resolve_mounts(&state, request.volumes.as_deref().unwrap_or_default())?;
    let name = request.name.clone().filter(|name| !name.trim().is_empty());
    let duplicate = || {
        ApiError::conflict(format!(
            "Sandbox with name {} already exists",
            name.as_deref().unwrap_or_default()
        ))
    };
    if let Some(name) = &name {
        let existing = state
            .provider
            .list(&Labels::new())
            .await
            .map_err(|error| ApiError::from_provider(error, name))?;
        if existing.iter().any(|sandbox| &sandbox.name == name) {
            return Err(duplicate());
        }
    }
    let _admitted = if has_quota(&state) {
        Some(state.quota_lock.lock().await)
    } else {
        None
    };
    check_quota(&state, resources, None).await?;
    // An image built before (the same Dockerfile and context) is not built again: the sandbox
    // starts from its layer at once.
    let image = request.build_info.as_ref().map(|info| SandboxBuild {
        hash: build::image_hash(&info.dockerfile_content, info.context_hashes.as_ref()),
        dockerfile: info.dockerfile_content.clone(),
        context_hashes: info.context_hashes.clone(),
        created_at: now(),
        phase: BuildPhase::Pending,
    });
    let cached = match (&image, &state.provider.image_layers()) {
        (Some(image), Some(local)) if local.layer_state(&image.hash) == LayerState::Built => local
            .link_snapshot(&snapshot_name, &image.hash)
            .await
            .is_ok(),
        _ => false,
    };
    let (image, initial) = match image {
        Some(image) if cached => (
            Some(SandboxBuild {
                phase: BuildPhase::Built,
                ..image
            }),
            SandboxState::Creating,
        ),
        other => (other, initial),
    };
    let created = state
        .provider
        .create(&provider::CreateSandbox {
            name: name.clone().unwrap_or_default(),
            labels: request.labels.clone().unwrap_or_default(),
            env: request.env.clone().unwrap_or_default(),
            snapshot: Some(snapshot_name.clone()),
            user: user.clone(),
            lifecycle,
            ttl_minutes: request.ttl_minutes,
            resources: provider_resources(resources),
            volumes: mounts,
            hosts: link
                .as_ref()
                .map(|link| link.hosts.clone())
                .unwrap_or_default(),
            network: network.clone(),
        })
        .await
        .map_err(|error| match error {
            provider::ProviderError::Conflict { .. } if name.is_some() => duplicate(),
            other => ApiError::from_provider(other, name.as_deref().unwrap_or("new sandbox")),
        })?;
    let now = now();
    let mut record = SandboxRecord {
        user: user.unwrap_or_else(|| "daytona".to_string()),
        cpu: resources.cpu,
        gpu,
        memory: resources.memory,
        disk: resources.disk,
        public: request.public.unwrap_or(false),
        network_block_all: network == provider::Network::Blocked,
        network_allow_list: recorded_network
            .as_ref()
            .and_then(|settings| settings.network_allow_list.clone()),
        domain_allow_list: recorded_network.and_then(|settings| settings.domain_allow_list),
        outbound_proxy_url: outbound_proxy_url.clone(),
        otel_endpoint_override: request.otel_endpoint_override.clone(),
        queue_timeout,
        kvm: request.kvm.unwrap_or(false),
        target,
        snapshot: Some(snapshot_name),
        ttl_minutes: request.ttl_minutes,
        updated_at: now,
        last_activity_at: now,
        transition: Some(Transition {
            state: initial.clone(),
            desired: SandboxDesiredState::Started,
            until: now + millis(state.simulation.create_delay),
        }),
        volumes,
        build: image.clone(),
        linked_sandbox_id: link.map(|link| link.owner_id),
        entrypoint: runs,
        ..SandboxRecord::default()
    };
    state
        .store
        .update_sandbox(&created.id, |stored| *stored = record.clone())?;
    // Only once the record holds the transition (a sandbox without one shows the provider's
    // `started`): the provider's word on the user wins, as it may have taken it from the
    // sandbox a snapshot was kept from.
    if let Ok(Some(decided)) = state.provider.os_user(&created.id).await
        && decided != record.user
    {
        record = state
            .store
            .update_sandbox(&created.id, |stored| stored.user = decided)?;
    }
    // The proxy variables: the egress proxy's for secrets or a domain list, else the outbound
    // proxy's.
    let egress = if !secrets.is_empty() {
        secret_vault_routes::mount_secrets(&state, &created.id, &secrets).await
    } else if record.domain_allow_list.is_some() || outbound_proxy_url.is_some() {
        super::egress_sandbox::configure(&state, &created.id, false).await
    } else {
        Ok(())
    };
    // Its entrypoint starts now, with its proxy settings, unless its image is still to be
    // built (the build runs it when it is done).
    let building = image
        .as_ref()
        .is_some_and(|image| image.phase == BuildPhase::Pending);
    let started = match egress {
        Ok(()) if !building => entrypoint::run(&state, &created.id)
            .await
            .map_err(|error| ApiError::from_provider(error, &created.id)),
        other => other,
    };
    if let Err(error) = started {
        // A sandbox without the credentials it asked for, or whose entrypoint cannot start,
        // is not left behind.
        let _ = state.provider.delete(&created.id).await;
        let _ = state.store.remove_sandbox(&created.id);
        let _ = state.vault.unmount(&created.id);
        return Err(error);
    }
    if let Some(image) = image.filter(|image| image.phase == BuildPhase::Pending) {
        build::spawn(
            &state,
            build::Job {
                target: build::Target::Sandbox(created.id.clone()),
                hash: image.hash,
                dockerfile: image.dockerfile,
                context_hashes: image.context_hashes.unwrap_or_default(),
            },
        );
    }
    // Daytona answers with the record as inserted, before the sandbox has started.
    let mut dto = sandbox_dto(&state, &created, &record, now);
    dto.state = Some(initial);
    dto.desired_state = Some(SandboxDesiredState::Started);
    Ok(Json(dto))
}

pub(crate) async fn get(
    State(state): State<Arc<AppState>>,
    Path(id_or_name): Path<String>,
) -> Result<Json<Sandbox>, ApiError> {
    let sandbox = resolve(&state, &id_or_name).await?;
    let record = state.store.sandbox(&sandbox.id);
    Ok(Json(sandbox_dto(&state, &sandbox, &record, now())))
}

pub(crate) async fn delete(
    State(state): State<Arc<AppState>>,
    Path(id_or_name): Path<String>,
) -> Result<Json<Sandbox>, ApiError> {
    let sandbox = resolve(&state, &id_or_name).await?;
    let record = state.store.sandbox(&sandbox.id);
    let now = now();
    if in_transition(&record, now) {
        return Err(ApiError::state_change_in_progress());
    }
    state
        .provider
        .delete(&sandbox.id)
        .await
        .map_err(|error| ApiError::from_provider(error, &id_or_name))?;
    state.store.remove_sandbox(&sandbox.id)?;
    state.vault.unmount(&sandbox.id)?;
    state.egress.listeners.forget(&sandbox.id).await;
    state.egress.changes.ended(&sandbox.id);
    let mut dto = sandbox_dto(&state, &sandbox, &record, now);
    dto.state = Some(SandboxState::Destroying);
    dto.desired_state = Some(SandboxDesiredState::Destroyed);
    Ok(Json(dto))
}
