//! Control-plane routes the pinned SDKs call for what a local server has no counterpart of, each
//! answered as honestly as Daytona's own shapes allow: `GET /config` (this server's settings),
//! the organisation's warm pools (there are none; making one is refused),
//! `POST /sandbox/{id}/network-settings` and `POST /sandbox/{id}/autopause/{minutes}`; and the
//! one region (`local`) a sandbox or snapshot may ask for.
//!
//! NOTES-style: all newer than v0.190 except the network settings. What cannot be done is a 422
//! (Daytona's answer to a pause of a sandbox class that cannot pause) with the reason, which the
//! SDKs raise as their unprocessable-entity error; nothing is recorded that is not enforced. A
//! region other than `local` is Daytona's 404 `Region not found`, as for a region the
//! organisation does not have (sandbox `target`, snapshot `regionId`: both fall back to the
//! default region when blank).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiError;
use super::sandbox::resolve;
use super::state::{AppState, DEFAULT_TARGET, now};
use super::view::{JsonBody, sandbox_dto};
use crate::daytona_api::Sandbox;

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/config", get(config))
        .route("/warm-pools", get(list_empty).post(create_warm_pool))
        .route(
            "/warm-pools/{pool}",
            axum::routing::patch(warm_pool_not_found).delete(warm_pool_not_found),
        )
        .route(
            "/sandbox/{sandbox}/network-settings",
            post(network_settings),
        )
        .route("/sandbox/{sandbox}/autopause/{minutes}", post(auto_pause))
}

/// A 422 saying what local sandboxes cannot do, and why.
fn not_possible(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message)
}

/// The region a create asked for (`target`, `regionId`): blank is the default, `local` the only
/// one there is. The SDKs raise the 404 as their not-found error.
pub(crate) fn region(requested: Option<&str>) -> Result<String, ApiError> {
    match requested.map(str::trim).filter(|region| !region.is_empty()) {
        None | Some(DEFAULT_TARGET) => Ok(DEFAULT_TARGET.to_string()),
        Some(other) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "Region not found: `{other}`; local sandboxes have one region, `{DEFAULT_TARGET}` (leave the target or region unset)"
            ),
        )),
    }
}

/// `GET /config`: this server's settings in Daytona's `DaytonaConfiguration`. Without an
/// analytics URL the SDKs read metrics from `/sandbox/{id}/telemetry/metrics`.
async fn config(State(state): State<Arc<AppState>>) -> Json<Value> {
    let settings = &state.settings;
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "oidc": {"issuer": "", "clientId": "", "audience": "", "provider": "none"},
        "linkedAccountsEnabled": false,
        "announcements": {},
        "proxyTemplateUrl": format!("{}/_preview/{{{{sandboxId}}}}/{{{{PORT}}}}", settings.base_url),
        "proxyToolboxUrl": settings.toolbox_url,
        "defaultSnapshot": super::snapshot::DEFAULT_SNAPSHOT,
        "dashboardUrl": settings.base_url,
        "maxAutoArchiveInterval": super::sandbox::MAX_AUTO_ARCHIVE_MINUTES,
        "maintananceMode": false,
        "environment": "local",
    }))
}

/// `GET /warm-pools`: the organisation has none.
async fn list_empty() -> Json<Vec<Value>> {
    Json(Vec::new())
}

/// `POST /warm-pools`.
async fn create_warm_pool() -> ApiError {
    not_possible(
        "Warm pools are not possible with local sandboxes: a local sandbox starts from this machine's own file system, with nothing to keep warm",
    )
}

async fn warm_pool_not_found(Path(id): Path<String>) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, format!("Warm pool {id} not found"))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NetworkSettings {
    pub(crate) network_block_all: Option<bool>,
    pub(crate) network_allow_list: Option<String>,
    pub(crate) domain_allow_list: Option<String>,
}

/// Refuses what local sandboxes cannot enforce: filtering the network by address or domain.
/// A sandbox has this machine's network, or (`networkBlockAll`) none but its own loopback.
pub(crate) fn refuse_network_filters(settings: &NetworkSettings) -> Result<(), ApiError> {
    let filtered = [&settings.network_allow_list, &settings.domain_allow_list]
        .into_iter()
        .flatten()
        .any(|list| !list.trim().is_empty());
    if filtered {
        return Err(not_possible(
            "Network allow lists are not possible with local sandboxes: a sandbox has this machine's network or, with networkBlockAll, none, which ralph-town serve cannot filter",
        ));
    }
    Ok(())
}

/// `POST /sandbox/{id}/network-settings`: the settings a sandbox has are accepted (and an
/// allow list cleared); blocking or opening its network is refused, since a local sandbox's
/// network is fixed when it is created (NOTES-style: Daytona changes it in place).
async fn network_settings(
    State(state): State<Arc<AppState>>,
    Path(id_or_name): Path<String>,
    JsonBody(settings): JsonBody<NetworkSettings>,
) -> Result<Json<Sandbox>, ApiError> {
    let sandbox = resolve(&state, &id_or_name).await?;
    refuse_network_filters(&settings)?;
    let blocked = state.store.sandbox(&sandbox.id).network_block_all;
    if let Some(wanted) = settings.network_block_all
        && wanted != blocked
    {
        return Err(not_possible(format!(
            "A local sandbox's network is blocked or open from its creation: create a sandbox with networkBlockAll {wanted} instead"
        )));
    }
    let record = state.store.update_sandbox(&sandbox.id, |record| {
        record.network_allow_list = None;
        record.domain_allow_list = None;
        record.updated_at = now();
    })?;
    Ok(Json(sandbox_dto(&state, &sandbox, &record, now())))
}

/// `POST /sandbox/{id}/autopause/{minutes}`: local sandboxes cannot pause (see `/pause`).
async fn auto_pause(
    State(state): State<Arc<AppState>>,
    Path((id_or_name, _minutes)): Path<(String, String)>,
) -> Result<Json<Sandbox>, ApiError> {
    resolve(&state, &id_or_name).await?;
    Err(not_possible(
        "Pausing is not supported for this sandbox: local sandboxes are containers, which Daytona pauses only as VMs",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_local_region_is_found() {
        for blank in [None, Some(""), Some(" "), Some("local")] {
            assert_eq!(region(blank).unwrap(), "local");
        }
        let error = region(Some("us")).unwrap_err();
        assert_eq!(error.status, StatusCode::NOT_FOUND);
    }

    #[test]
    fn only_allow_lists_are_refused() {
        assert!(refuse_network_filters(&NetworkSettings::default()).is_ok());
        let open = NetworkSettings {
            network_block_all: Some(false),
            network_allow_list: Some(" ".into()),
            ..NetworkSettings::default()
        };
        assert!(refuse_network_filters(&open).is_ok());
        let blocked = NetworkSettings {
            network_block_all: Some(true),
            ..NetworkSettings::default()
        };
        assert!(refuse_network_filters(&blocked).is_ok());
        let filtered = NetworkSettings {
            domain_allow_list: Some("example.com".into()),
            ..NetworkSettings::default()
        };
        let error = refuse_network_filters(&filtered).unwrap_err();
        assert_eq!(error.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
}
