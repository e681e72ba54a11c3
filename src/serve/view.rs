//! How a provider sandbox plus its record looks on the wire: the `Sandbox` and `SandboxListItem`
//! DTOs, the derived state (`creating`, `starting`, `stopping`) and the JSON body extractor.
//!
//! Pure conversions; no I/O except reading the records.

use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use super::state::{AppState, BuildPhase, Millis, SandboxRecord, iso, millis, to_millis};
use crate::daytona_api::{Sandbox, SandboxDesiredState, SandboxListItem, SandboxState};
use crate::provider;

/// A JSON body whose rejection is a plain 400 with the parser's text, which the route's middleware
/// renders as an API or daemon error. Unknown fields are ignored, as Daytona does.
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|error| {
                (
                    StatusCode::BAD_REQUEST,
                    format!("invalid JSON body: {error}"),
                )
                    .into_response()
            })
    }
}

/// The provider's state in Daytona's words.
pub(crate) fn wire_state(state: &provider::SandboxState) -> SandboxState {
    serde_json::from_value(serde_json::Value::String(state.as_str().to_string()))
        .unwrap_or_else(|_| SandboxState::Other(state.as_str().to_string()))
}

/// The state a settled sandbox wants to be in.
fn desired_of(state: &SandboxState) -> Option<SandboxDesiredState> {
    match state {
        SandboxState::Started | SandboxState::Creating | SandboxState::Starting => {
            Some(SandboxDesiredState::Started)
        }
        SandboxState::Stopped | SandboxState::Stopping => Some(SandboxDesiredState::Stopped),
        SandboxState::Destroyed | SandboxState::Destroying => Some(SandboxDesiredState::Destroyed),
        SandboxState::Archived | SandboxState::Archiving => Some(SandboxDesiredState::Archived),
        _ => None,
    }
}

/// What a client sees at `now`: a transition in effect shows its own state, otherwise the
/// provider's state does.
pub(crate) fn derived_state(
    sandbox: &provider::Sandbox,
    record: &SandboxRecord,
    now: Millis,
) -> (SandboxState, Option<SandboxDesiredState>) {
    let build = record.build.as_ref().map(|build| &build.phase);
    match record.transition_at(now) {
        Some(transition) => (transition.state.clone(), Some(transition.desired.clone())),
        None if build == Some(&BuildPhase::Pending) => (
            SandboxState::PendingBuild,
            Some(SandboxDesiredState::Started),
        ),
        None if build == Some(&BuildPhase::Building) => (
            SandboxState::BuildingSnapshot,
            Some(SandboxDesiredState::Started),
        ),
        None if matches!(build, Some(BuildPhase::Failed(_))) => (
            SandboxState::BuildFailed,
            Some(SandboxDesiredState::Started),
        ),
        // An archived sandbox is a stopped one whose record says so.
        None if record.archived && sandbox.state == provider::SandboxState::Stopped => {
            (SandboxState::Archived, Some(SandboxDesiredState::Archived))
        }
        None => {
            let state = wire_state(&sandbox.state);
            let desired = desired_of(&state);
            (state, desired)
        }
    }
}

/// Whether a transition is still running at `now` (the cue for 409).
pub(crate) fn in_transition(record: &SandboxRecord, now: Millis) -> bool {
    record.transition_at(now).is_some()
}

/// The `Sandbox` record of `sandbox` at `now`.
pub(crate) fn sandbox_dto(
    state: &AppState,
    sandbox: &provider::Sandbox,
    record: &SandboxRecord,
    now: Millis,
) -> Sandbox {
    let (wire, desired) = derived_state(sandbox, record, now);
    let created = to_millis(sandbox.created_at);
    let lifecycle = &sandbox.lifecycle;
    Sandbox {
        id: sandbox.id.clone(),
        organization_id: state.store.read(|records| records.organization_id.clone()),
        name: sandbox.name.clone(),
        user: record.user.clone(),
        env: sandbox.env.clone(),
        labels: sandbox.labels.clone(),
        public: record.public,
        network_block_all: record.network_block_all,
        kvm: record.kvm,
        target: record.target.clone(),
        cpu: record.cpu,
        gpu: record.gpu,
        memory: record.memory,
        disk: record.disk,
        toolbox_proxy_url: state.settings.toolbox_url.clone(),
        snapshot: record.snapshot.clone().or_else(|| sandbox.snapshot.clone()),
        state: Some(wire),
        desired_state: desired,
        error_reason: match record.build.as_ref().map(|build| &build.phase) {
            Some(BuildPhase::Failed(reason)) => Some(reason.clone()),
            _ => sandbox.error_reason.clone(),
        },
        recoverable: None,
        backup_state: Some("None".to_string()),
        backup_created_at: None,
        auto_stop_interval: Some(lifecycle.auto_stop.map_or(0, |minutes| minutes as i32)),
        auto_archive_interval: lifecycle.auto_archive.map(|minutes| minutes as i32),
        auto_delete_interval: Some(lifecycle.auto_delete.unwrap_or(-1)),
        auto_destroy_at: record.ttl_minutes.map(|minutes| {
            let minute = millis(state.simulation.minute);
            iso(record.ttl_from.unwrap_or(created) + Millis::from(minutes) * minute)
        }),
        volumes: Some(record.volumes.clone()),
        build_info: record
            .build
            .as_ref()
            .map(|build| crate::daytona_api::BuildInfo {
                dockerfile_content: Some(build.dockerfile.clone()),
                context_hashes: build.context_hashes.clone(),
                created_at: iso(build.created_at),
                updated_at: iso(record.updated_at.max(build.created_at)),
                snapshot_ref: super::build::snapshot_ref(&build.hash),
            }),
        created_at: Some(iso(created)),
        updated_at: Some(iso(record.updated_at.max(created))),
        last_activity_at: Some(iso(record.last_activity_at.max(created))),
        sandbox_class: Some("container".to_string()),
        daemon_version: None,
        runner_id: None,
        linked_sandbox_id: record.linked_sandbox_id.clone(),
        network_allow_list: record.network_allow_list.clone(),
        domain_allow_list: record.domain_allow_list.clone(),
        outbound_proxy_url: record.outbound_proxy_url.clone(),
        otel_endpoint_override: record.otel_endpoint_override.clone(),
        queue_timeout: record.queue_timeout,
        gpu_type: None,
    }
}

/// The slimmer list item of `sandbox` at `now`.
pub(crate) fn list_item(
    state: &AppState,
    sandbox: &provider::Sandbox,
    record: &SandboxRecord,
    now: Millis,
) -> SandboxListItem {
    let full = sandbox_dto(state, sandbox, record, now);
    SandboxListItem {
        id: full.id,
        organization_id: full.organization_id,
        name: full.name,
        user: full.user,
        labels: full.labels,
        public: full.public,
        network_block_all: full.network_block_all,
        target: full.target,
        cpu: full.cpu,
        gpu: full.gpu,
        memory: full.memory,
        disk: full.disk,
        toolbox_proxy_url: full.toolbox_proxy_url,
        snapshot: full.snapshot,
        state: full.state,
        desired_state: full.desired_state,
        error_reason: full.error_reason,
        recoverable: full.recoverable,
        auto_stop_interval: full.auto_stop_interval,
        auto_archive_interval: full.auto_archive_interval,
        auto_delete_interval: full.auto_delete_interval,
        auto_destroy_at: full.auto_destroy_at,
        created_at: full.created_at,
        updated_at: full.updated_at,
        last_activity_at: full.last_activity_at,
        sandbox_class: full.sandbox_class,
        runner_id: full.runner_id,
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::serve::state::Transition;

    fn sandbox(state: provider::SandboxState) -> provider::Sandbox {
        provider::Sandbox {
            id: "id".into(),
            name: "name".into(),
            state,
            labels: Default::default(),
            env: Default::default(),
            snapshot: None,
            created_at: SystemTime::now(),
            lifecycle: Default::default(),
            error_reason: None,
        }
    }

    #[test]
    fn a_transition_shows_until_it_ends() {
        let record = SandboxRecord {
            transition: Some(Transition {
                state: SandboxState::Stopping,
                desired: SandboxDesiredState::Stopped,
                until: 1_000,
            }),
            ..SandboxRecord::default()
        };
        let stopped = sandbox(provider::SandboxState::Stopped);
        assert_eq!(
            derived_state(&stopped, &record, 999),
            (SandboxState::Stopping, Some(SandboxDesiredState::Stopped))
        );
        assert!(in_transition(&record, 999));
        assert_eq!(
            derived_state(&stopped, &record, 1_000),
            (SandboxState::Stopped, Some(SandboxDesiredState::Stopped))
        );
        assert!(!in_transition(&record, 1_000));
    }

    #[test]
    fn provider_states_keep_their_names() {
        let state = provider::SandboxState::Other("pulling_snapshot".into());
        assert_eq!(wire_state(&state), SandboxState::PullingSnapshot);
        assert_eq!(
            wire_state(&provider::SandboxState::BuildFailed),
            SandboxState::BuildFailed
        );
    }
}
