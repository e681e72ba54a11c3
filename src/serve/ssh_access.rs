//! SSH access tokens: `POST`/`DELETE /api/sandbox/{id}/ssh-access` and
//! `GET /api/sandbox/ssh-access/validate`.
//!
//! A token is the SSH user name at the gateway and a credential: 32 random characters from
//! `[A-Za-z0-9]`, one live token per sandbox (a new one replaces the others). Only the record
//! exists here; a gateway validates tokens with [`sandbox_for_token`]. Revoking a token (or
//! every token of a sandbox) also ends the SSH connections made with it; a replaced or expired
//! token only admits no new ones (see `revocation.rs`). Tokens are never logged.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;

use super::error::ApiError;
use super::middleware::constant_time_equal;
use super::revocation::Grant;
use super::sandbox::resolve;
use super::state::{AppState, Millis, SshAccessRecord, iso, now};
use super::view::sandbox_dto;
use crate::daytona_api::{Sandbox, SshAccessDto, SshAccessValidationDto};

const TOKEN_LENGTH: usize = 32;

/// A fresh token from the operating system's random source.
fn new_token() -> Result<String, ApiError> {
    super::api_key::random_token(TOKEN_LENGTH)
        .map_err(|error| ApiError::internal(format!("no random source: {error}")))
}

fn ssh_command(state: &AppState, token: &str) -> String {
    let settings = &state.settings;
    if settings.ssh_port == 22 {
        format!("ssh {token}@{}", settings.ssh_host)
    } else {
        format!("ssh -p {} {token}@{}", settings.ssh_port, settings.ssh_host)
    }
}

/// The sandbox id a live token opens, if any. Tokens are compared in constant time, as the
/// API key is.
pub(crate) fn sandbox_for_token(state: &AppState, token: &str, at: Millis) -> Option<String> {
    state.store.read(|records| {
        records
            .ssh_access
            .iter()
            .find(|access| {
                constant_time_equal(access.token.as_bytes(), token.as_bytes())
                    && at < access.expires_at
            })
            .map(|access| access.sandbox_id.clone())
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateQuery {
    expires_in_minutes: Option<String>,
}

pub(crate) async fn create(
    State(state): State<Arc<AppState>>,
    Path(id_or_name): Path<String>,
    Query(query): Query<CreateQuery>,
) -> Result<Json<SshAccessDto>, ApiError> {
    let minutes = match query.expires_in_minutes.as_deref() {
        None | Some("") => 60,
        Some(text) => text
            .parse::<u64>()
            .map_err(|_| ApiError::bad_request("expiresInMinutes must be a non-negative number"))?,
    };
    let sandbox = resolve(&state, &id_or_name).await?;
    let created = now();
    let record = SshAccessRecord {
        id: uuid::Uuid::new_v4().to_string(),
        sandbox_id: sandbox.id.clone(),
        token: new_token()?,
        created_at: created,
        expires_at: created.saturating_add(minutes.saturating_mul(60_000)),
    };
    let dto = SshAccessDto {
        id: record.id.clone(),
        sandbox_id: record.sandbox_id.clone(),
        token: record.token.clone(),
        expires_at: iso(record.expires_at),
        created_at: iso(created),
        updated_at: iso(created),
        ssh_command: ssh_command(&state, &record.token),
    };
    state.store.write(|records| {
        records
            .ssh_access
            .retain(|access| access.sandbox_id != sandbox.id);
        records.ssh_access.push(record);
    })?;
    Ok(Json(dto))
}

#[derive(Debug, Deserialize)]
pub(crate) struct TokenQuery {
    token: Option<String>,
}

/// Revokes one token (`?token=`), or every token of the sandbox.
pub(crate) async fn revoke(
    State(state): State<Arc<AppState>>,
    Path(id_or_name): Path<String>,
    Query(query): Query<TokenQuery>,
) -> Result<Json<Sandbox>, ApiError> {
    let sandbox = resolve(&state, &id_or_name).await?;
    let token = query.token.filter(|token| !token.is_empty());
    state.store.write(|records| {
        records.ssh_access.retain(|access| {
            access.sandbox_id != sandbox.id
                || token.as_ref().is_some_and(|token| &access.token != token)
        });
    })?;
    // Then the connections made with them end (see `revocation.rs` for why only here).
    state.revocations.revoke(|grant| match grant {
        Grant::Ssh {
            sandbox: held,
            token: held_token,
        } => *held == sandbox.id && token.as_ref().is_none_or(|token| held_token == token),
        Grant::SignedPreview { .. } => false,
    });
    let record = state.store.sandbox(&sandbox.id);
    Ok(Json(sandbox_dto(&state, &sandbox, &record, now())))
}

pub(crate) async fn validate(
    State(state): State<Arc<AppState>>,
    Query(query): Query<TokenQuery>,
) -> Json<SshAccessValidationDto> {
    let sandbox_id = query
        .token
        .and_then(|token| sandbox_for_token(&state, &token, now()));
    // NOTES-style: Daytona answers `sandboxId: null` for an unknown or expired token, but its
    // spec and the pinned SDK's model require a string, and pydantic refuses the null; an empty
    // id keeps the answer readable and still names no sandbox.
    Json(SshAccessValidationDto {
        valid: sandbox_id.is_some(),
        sandbox_id: Some(sandbox_id.unwrap_or_default()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_32_alphanumerics_and_differ() {
        let first = new_token().unwrap();
        let second = new_token().unwrap();
        assert_eq!(first.len(), TOKEN_LENGTH);
        assert!(first.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(first, second);
    }
}
