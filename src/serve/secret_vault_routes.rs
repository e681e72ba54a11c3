//! The vault's routes (`/secret`, `/secret/paginated`, `/secret/{id}`) and mounting secrets into
//! a sandbox (a create's `secrets`, `PUT /sandbox/{id}/secrets`, `GET /sandbox/{id}/secrets`).
//!
//! A mounted secret reaches the sandbox as its placeholder in the named variable, beside the
//! egress proxy's address with the sandbox's own credential (`HTTP_PROXY`, `HTTPS_PROXY`, both
//! cases) and the CA bundle that makes the proxy's certificates trusted. Those variables are
//! changes of the running sandbox's environment (`Provider::set_env`), not create-time env, so
//! the sandbox record never shows the credential. No answer here carries a value.
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

use super::error::ApiError;
use super::sandbox::resolve;
use super::sandbox_list::{SortValue, keyset_page, parse_sort};
use super::secret_vault::{SecretFields, StoredSecret};
use super::state::{AppState, iso, now};
use super::view::{JsonBody, sandbox_dto};
use crate::daytona_api::Sandbox;
use crate::names::EnvName;
use crate::provider::{self, ExecRequest};
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
        let mut unset = unmounted.variables;
        if unmounted.last {
            unset.extend(egress_variables());
        }
        let started = state
            .provider
            .get(&unmounted.sandbox)
            .await
            .is_ok_and(|sandbox| sandbox.state == provider::SandboxState::Started);
        // The secret is deleted and unmounted already; a variable left behind holds only a
        // placeholder that nothing replaces.
        if started {
            let _ = set_env(&state, &unmounted.sandbox, &BTreeMap::new(), &unset).await;
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

/// The variables a sandbox with mounted secrets gets besides the placeholders.
const PROXY_VARIABLES: [&str; 4] = ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"];

/// Where the common TLS stacks read extra trusted CAs: OpenSSL and Go (`SSL_CERT_FILE`), Node
/// (`NODE_EXTRA_CA_CERTS`), Python's requests, curl and git. They are set rather than binding a
/// bundle over the system path because they work the same with and without bubblewrap and need
/// nothing of the provider's mounts; a program that reads none of them (Java's own store) does
/// not trust the proxy and fails its TLS handshake, sending nothing.
const CA_VARIABLES: [&str; 5] = [
    "SSL_CERT_FILE",
    "NODE_EXTRA_CA_CERTS",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "GIT_SSL_CAINFO",
];

/// Every variable a sandbox with secrets gets besides the placeholders.
fn egress_variables() -> impl Iterator<Item = String> {
    PROXY_VARIABLES
        .iter()
        .chain(&CA_VARIABLES)
        .map(ToString::to_string)
}

/// The bundle's name in the sandbox's home.
const BUNDLE_FILE: &str = ".ralph-town-egress-ca.pem";

/// Mounts `entries` (`{ENV_VAR: secret-name}` maps) into started sandbox `id`, replacing what it
/// mounted: every name must be a secret of the vault, or nothing changes.
pub(crate) async fn mount_secrets(
    state: &AppState,
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
    let record = state.store.sandbox(id);
    super::platform::refuse_secrets_on_own_network(!env.is_empty() && record.has_own_network())?;
    let resolved = state.vault.resolve_names(&env)?;
    let previous = state.vault.mount_of(id);
    let mut unset: Vec<String> = previous
        .iter()
        .flat_map(|mount| mount.env.keys().cloned())
        .filter(|variable| !env.contains_key(variable))
        .collect();
    if env.is_empty() {
        if previous.is_some() {
            unset.extend(egress_variables());
            set_env(state, id, &BTreeMap::new(), &unset).await?;
        }
        return state.vault.unmount(id);
    }
    let token = previous
        .map(|mount| mount.token)
        .filter(|token| !token.is_empty())
        .map_or_else(super::secret_vault::new_token, Ok)?;
    let mut set: BTreeMap<String, String> = resolved
        .into_iter()
        .map(|(variable, secret)| (variable, secret.placeholder))
        .collect();
    let proxy = state.egress.proxy_url(id, &token);
    for variable in PROXY_VARIABLES {
        set.insert(variable.to_string(), proxy.clone());
    }
    let bundle = install_bundle(state, id).await?;
    for variable in CA_VARIABLES {
        set.insert(variable.to_string(), bundle.clone());
    }
    set_env(state, id, &set, &unset).await?;
    state.vault.mount(id, env, token)
}

async fn set_env(
    state: &AppState,
    id: &str,
    set: &BTreeMap<String, String>,
    unset: &[String],
) -> Result<(), ApiError> {
    state
        .provider
        .set_env(id, set, unset)
        .await
        .map_err(|error| ApiError::from_provider(error, id))
}

/// Writes the CA bundle into the sandbox's home and answers its path as the sandbox sees it.
async fn install_bundle(state: &AppState, id: &str) -> Result<String, ApiError> {
    let home = state
        .provider
        .exec(
            id,
            &ExecRequest {
                command: "printf '%s' \"$HOME\"".to_string(),
                ..ExecRequest::default()
            },
        )
        .await
        .map_err(|error| ApiError::from_provider(error, id))?;
    let home = home.output.trim_end_matches('\n');
    if home.is_empty() || home.contains('\n') {
        return Err(ApiError::internal(
            "cannot find the sandbox's home for the egress CA bundle",
        ));
    }
    let path = format!("{home}/{BUNDLE_FILE}");
    state
        .provider
        .upload(id, &path, &state.egress.authority.sandbox_bundle())
        .await
        .map_err(|error| ApiError::from_provider(error, id))?;
    Ok(path)
}

/// Sets the mounted secrets of every started sandbox again at startup: the proxy's port is new.
pub(crate) async fn remount(state: &AppState) {
    for (id, mount) in state.vault.mounts() {
        let started = state
            .provider
            .get(&id)
            .await
            .is_ok_and(|sandbox| sandbox.state == provider::SandboxState::Started);
        if started {
            let entries = [mount.env];
            let _ = mount_secrets(state, &id, &entries).await;
        }
    }
}
