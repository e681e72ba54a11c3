//! The vault's routes (`/secret`, `/secret/paginated`, `/secret/{id}`) and mounting secrets into
//! a sandbox (a create's `secrets`, `PUT /sandbox/{id}/secrets`, `GET /sandbox/{id}/secrets`).
//!
//! A mounted secret reaches the sandbox as its placeholder in the named variable, beside the
//! egress proxy's address with the sandbox's own credential and the CA bundle that makes the
//! proxy's certificates trusted (`egress_sandbox`). Those variables are changes of the running
//! sandbox's environment (`Provider::set_env`), not create-time env, so the sandbox record never
//! shows the credential. No answer here carries a value.
//!
//! NOTES-style: the vault routes are newer than v0.190. `GET /sandbox/{id}/secrets` is how
//! Daytona's egress layer resolves placeholders, values included; serve's egress proxy is part of
//! this process and needs no route, so the route answers what is mounted without `value`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use serde::{Deserialize, Serialize};

use super::egress_sandbox::{self, set_env};
use super::error::ApiError;
use super::sandbox::{is_started, resolve};
use super::sandbox_list::{SortValue, keyset_page, parse_sort};
use super::secret_vault::{SecretFields, StoredSecret};
use super::state::{AppState, iso, now};
use super::view::{JsonBody, sandbox_dto};
use crate::daytona_api::Sandbox;
use crate::names::EnvName;
use crate::secret::Secret;

pub(crate) fn routes() -> axum::Router<Arc<AppState>> {
    axum::Router::new()
        .route("/secret", get(list_all).post(create))
        .route("/secret/paginated", get(list_paginated))
        .route("/secret/{secret}", get(one).patch(update).delete(delete))
        .route("/sandbox/{sandbox}/secrets", put(mount).get(mounted))
}

/// Daytona's `Secret`: never the value.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SecretDto {
    id: String,
    name: String,
    description: Option<String>,
    placeholder: String,
    hosts: Vec<String>,
    created_at: String,
    updated_at: String,
}

fn dto(secret: &StoredSecret) -> SecretDto {
    SecretDto {
        id: secret.id.clone(),
        name: secret.name.clone(),
        description: secret.description.clone(),
        placeholder: secret.placeholder.clone(),
        hosts: secret.hosts.clone(),
        created_at: iso(secret.created_at),
        updated_at: iso(secret.updated_at),
    }
}

#[derive(Deserialize)]
struct CreateSecret {
    name: String,
    value: String,
    description: Option<String>,
    hosts: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct UpdateSecret {
    value: Option<String>,
    description: Option<String>,
    hosts: Option<Vec<String>>,
}

/// `GET /secret`: every secret, newest first.
async fn list_all(State(state): State<Arc<AppState>>) -> Json<Vec<SecretDto>> {
    let mut secrets = state.vault.secrets();
    secrets.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
    Json(secrets.iter().map(dto).collect())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SecretPage {
    items: Vec<SecretDto>,
    total: usize,
    next_cursor: Option<String>,
}

/// `GET /secret/paginated`: cursor pages, `name` a case-insensitive part of the name, `sort`
/// `name`, `createdAt` (the default) or `updatedAt`, `order` `desc` by default.
async fn list_paginated(
    State(state): State<Arc<AppState>>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Json<SecretPage>, ApiError> {
    let sort = parse_sort(&params, &["name", "createdAt", "updatedAt"], "createdAt")?;
    let part = params
        .iter()
        .find(|(key, _)| key == "name")
        .map(|(_, name)| name.to_lowercase());
    let found: Vec<StoredSecret> = state
        .vault
        .secrets()
        .into_iter()
        .filter(|secret| {
            part.as_ref()
                .is_none_or(|part| secret.name.to_lowercase().contains(part))
        })
        .collect();
    let total = found.len();
    let (page, next_cursor) = keyset_page(found, &params, sort, |secret| {
        let value = match sort.field {
            "name" => SortValue::Text(secret.name.clone()),
            "updatedAt" => SortValue::Number(secret.updated_at),
            _ => SortValue::Number(secret.created_at),
        };
        (value, secret.id.clone())
    })?;
    Ok(Json(SecretPage {
        items: page.iter().map(dto).collect(),
        total,
        next_cursor,
    }))
}

async fn create(
    State(state): State<Arc<AppState>>,
    JsonBody(request): JsonBody<CreateSecret>,
) -> Result<(StatusCode, Json<SecretDto>), ApiError> {
    let secret = state.vault.create(
        &request.name,
        SecretFields {
            value: Some(Secret::new(request.value)),
            description: request.description,
            hosts: request.hosts,
        },
    )?;
    Ok((StatusCode::CREATED, Json(dto(&secret))))
}

async fn one(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<SecretDto>, ApiError> {
    Ok(Json(dto(&state.vault.get(&id)?)))
}

async fn update(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<UpdateSecret>,
) -> Result<Json<SecretDto>, ApiError> {
    let secret = state.vault.update(
        &id,
        SecretFields {
            value: request.value.map(Secret::new),
            description: request.description,
            hosts: request.hosts,
        },
    )?;
    Ok(Json(dto(&secret)))
}

/// `DELETE /secret/{id}`: deletes the secret and unmounts it from the sandboxes that mount it.
///
/// NOTES-style: Daytona's delete answers 204 whether or not sandboxes mount the secret (its
/// SDKs' `delete` raise only for a missing secret; the API declares no 409), and its egress
/// layer resolves a sandbox's placeholders per request from what `GET /sandbox/{id}/secrets`
/// answers, so once the secret is gone its placeholder is replaced nowhere and the sandbox no
/// longer lists it. serve does the same, and unmounts all the way: the variable is taken out of
/// the mount map (a secret made later under the same name is not mounted by it) and out of every
/// started sandbox's environment, and a sandbox left with no secret loses its proxy variables
/// and its egress credential. A stopped sandbox's environment cannot be changed: it keeps the
/// variable, whose placeholder nothing replaces any more.
async fn delete(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    for unmounted in state.vault.delete(&id)? {
        let started = is_started(&state, &unmounted.sandbox).await;
        // The secret is deleted and unmounted already; a variable left behind holds only a
        // placeholder that nothing replaces.
        if started {
            let sandbox = &unmounted.sandbox;
            let _ = set_env(&state, sandbox, &BTreeMap::new(), &unmounted.variables).await;
            // A sandbox left with none keeps the egress proxy only for its domain allow list.
            if unmounted.last {
                let _ = egress_sandbox::configure(&state, sandbox, true).await;
            }
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
struct UpdateSandboxSecrets {
    secrets: Vec<BTreeMap<String, String>>,
}

/// `PUT /sandbox/{id}/secrets`: replaces what the sandbox mounts.
async fn mount(
    State(state): State<Arc<AppState>>,
    Path(id_or_name): Path<String>,
    JsonBody(request): JsonBody<UpdateSandboxSecrets>,
) -> Result<Json<Sandbox>, ApiError> {
    let sandbox = resolve(&state, &id_or_name).await?;
    mount_secrets(&state, &sandbox.id, &request.secrets).await?;
    let record = state.store.sandbox(&sandbox.id);
    Ok(Json(sandbox_dto(&state, &sandbox, &record, now())))
}

/// Daytona's `ResolveSandboxSecrets200ResponseInner`, without the value.
#[derive(Serialize)]
struct MountedSecret {
    env: String,
    placeholder: String,
    hosts: Vec<String>,
}

/// `GET /sandbox/{id}/secrets`: what the sandbox mounts.
async fn mounted(
    State(state): State<Arc<AppState>>,
    Path(id_or_name): Path<String>,
) -> Result<Json<Vec<MountedSecret>>, ApiError> {
    let sandbox = resolve(&state, &id_or_name).await?;
    let env = state
        .vault
        .mount_of(&sandbox.id)
        .map(|mount| mount.env)
        .unwrap_or_default();
    let secrets = state.vault.secrets();
    Ok(Json(
        env.into_iter()
            .filter_map(|(variable, name)| {
                let secret = secrets.iter().find(|secret| secret.name == name)?;
                Some(MountedSecret {
                    env: variable,
                    placeholder: secret.placeholder.clone(),
                    hosts: secret.hosts.clone(),
                })
            })
            .collect(),
    ))
}

/// Mounts `entries` (`{ENV_VAR: secret-name}` maps) into started sandbox `id`, replacing what it
/// mounted: every name must be a secret of the vault, or nothing changes. The proxy variables
/// follow (`egress_sandbox`).
pub(crate) async fn mount_secrets(
    state: &Arc<AppState>,
    id: &str,
    entries: &[BTreeMap<String, String>],
) -> Result<(), ApiError> {
    let mut env = BTreeMap::new();
    for (variable, name) in entries.iter().flatten() {
        if !EnvName::is_valid(variable) {
            return Err(ApiError::bad_request(format!(
                "Invalid environment variable name `{variable}` for secret {name}"
            )));
        }
        env.insert(variable.clone(), name.clone());
    }
    let resolved = state.vault.resolve_names(&env)?;
    let previous = state.vault.mount_of(id);
    let unset: Vec<String> = previous
        .iter()
        .flat_map(|mount| mount.env.keys().cloned())
        .filter(|variable| !env.contains_key(variable))
        .collect();
    let set: BTreeMap<String, String> = resolved
        .into_iter()
        .map(|(variable, secret)| (variable, secret.placeholder))
        .collect();
    if !set.is_empty() || !unset.is_empty() {
        set_env(state, id, &set, &unset).await?;
    }
    let token = previous
        .as_ref()
        .map(|mount| mount.token.clone())
        .unwrap_or_default();
    state.vault.mount(id, env, token)?;
    egress_sandbox::configure(state, id, previous.is_some()).await
}

/// Sets the mounted secrets of every started sandbox again at startup: the proxy's port is new.
pub(crate) async fn remount(state: &Arc<AppState>) {
    for (id, mount) in state.vault.mounts() {
        if is_started(state, &id).await {
            let entries = [mount.env];
            let _ = mount_secrets(state, &id, &entries).await;
        }
    }
}
