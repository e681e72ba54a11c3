//! Toolbox routes that change files in place: `POST /files/replace` (a literal text in many
//! files), `POST /files/move` and `POST /files/permissions`.
//!
//! Replace reads and writes through `Provider::download`/`upload` (the bytes never pass a
//! shell); move and permissions run `mv`, `chmod` and `chown` through `Provider::exec` with
//! every path shell-quoted. Semantics follow the v0.190 daemon (`fs/replace_in_files.go`,
//! `fs/move_file.go`, `fs/set_file_permissions.go`); a missing path is 404 `FILE_NOT_FOUND`,
//! which the current SDKs expect where v0.190 sent a bare 404.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;

use super::error::DaemonError;
use super::state::AppState;
use super::toolbox::{ready, required, run_script};
use super::toolbox_files::{
    MISSING, SANDBOX_USER, WRONG_KIND, quote, quote_path, script, under, work_dir,
};
use super::view::JsonBody;
use crate::daytona_api::{ReplaceRequest, ReplaceResult};
use crate::provider::ProviderError;

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/{sandbox}/files/replace", post(replace))
        .route("/{sandbox}/files/move", post(move_file))
        .route("/{sandbox}/files/permissions", post(set_permissions))
}

/// `haystack` with every `pattern` replaced by `value`, byte for byte (Go's
/// `strings.ReplaceAll` on the file's bytes).
fn replace_all(haystack: &[u8], pattern: &[u8], value: &[u8]) -> Vec<u8> {
    let mut replaced = Vec::with_capacity(haystack.len());
    let mut rest = haystack;
    while let Some(at) = rest
        .windows(pattern.len())
        .position(|window| window == pattern)
    {
        replaced.extend_from_slice(&rest[..at]);
        replaced.extend_from_slice(value);
        rest = &rest[at + pattern.len()..];
    }
    replaced.extend_from_slice(rest);
    replaced
}

/// Go's `err.Error()` wording for a file the sandbox cannot read or write.
fn file_failure(operation: &str, path: &str, error: ProviderError) -> String {
    match error {
        ProviderError::NotFound { .. } => {
            format!("{operation} {path}: no such file or directory")
        }
        other => format!("{operation} {path}: {other}"),
    }
}

/// One result per file, in request order; a file that cannot be read or written is a failed
/// result, not a failed request.
pub(crate) async fn replace(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<ReplaceRequest>,
) -> Result<Json<Vec<ReplaceResult>>, DaemonError> {
    if request.pattern.is_empty() {
        return Err(DaemonError::bad_request("pattern is required"));
    }
    let sandbox = ready(&state, &id).await?;
    let mut results = Vec::with_capacity(request.files.len());
    let work_dir = work_dir(&state, &sandbox).await?;
    for file in &request.files {
        let inside = under(work_dir.as_deref(), file);
        let outcome = match state.provider.download(&sandbox.id, &inside).await {
            Err(error) => Err(file_failure("open", file, error)),
            Ok(contents) => {
                let replaced = replace_all(
                    &contents,
                    request.pattern.as_bytes(),
                    request.new_value.as_bytes(),
                );
                state
                    .provider
                    .upload(&sandbox.id, &inside, &replaced)
                    .await
                    .map_err(|error| file_failure("write", file, error))
            }
        };
        results.push(ReplaceResult {
            file: file.clone(),
            success: outcome.is_ok(),
            error: outcome.err(),
        });
    }
    Ok(Json(results))
}

#[derive(Debug, Deserialize)]
pub(crate) struct MoveQuery {
    source: Option<String>,
    destination: Option<String>,
}

/// Exit codes of the move script: the destination exists, its directory does not.
const EXISTS: i32 = 23;
const MISSING_PARENT: i32 = 24;

/// `POST /files/move?source=&destination=`: a rename, or a copy and delete across file
/// systems (`mv` does both). The destination must not exist and its parent must.
pub(crate) async fn move_file(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(query): Query<MoveQuery>,
) -> Result<StatusCode, DaemonError> {
    let (Some(source), Some(destination)) = (
        query.source.as_deref().filter(|path| !path.is_empty()),
        query.destination.as_deref().filter(|path| !path.is_empty()),
    ) else {
        return Err(DaemonError::bad_request(
            "source and destination paths are required",
        ));
    };
    let sandbox = ready(&state, &id).await?;
    let command = format!(
        "src={}; dst={}; [ -e \"$src\" ] || [ -L \"$src\" ] || exit {MISSING}; \
         [ -d \"$(dirname -- \"$dst\")\" ] || exit {MISSING_PARENT}; \
         if [ -e \"$dst\" ] || [ -L \"$dst\" ]; then exit {EXISTS}; fi; \
         mv -- \"$src\" \"$dst\" 2>&1",
        quote_path(source)?,
        quote_path(destination)?
    );
    let output = run_script(&state, &sandbox, command, BTreeMap::new()).await?;
    match output.exit_code {
        0 => Ok(StatusCode::OK),
        MISSING => Err(DaemonError::file_not_found(source)),
        MISSING_PARENT => Err(DaemonError::file_not_found(destination)),
        EXISTS => Err(DaemonError::new(
            StatusCode::CONFLICT,
            "destination already exists",
        )),
        _ => Err(DaemonError::bad_request(format!(
            "failed to move file: {}",
            output.output.trim()
        ))),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct PermissionsQuery {
    path: Option<String>,
    owner: Option<String>,
    group: Option<String>,
    mode: Option<String>,
}

/// `POST /files/permissions?path=&mode=&owner=&group=`: mode first, then ownership; each
/// part only when given.
pub(crate) async fn set_permissions(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(query): Query<PermissionsQuery>,
) -> Result<StatusCode, DaemonError> {
    let path = required(query.path.as_deref(), "path")?;
    let given = |value: &Option<String>| value.clone().filter(|value| !value.is_empty());
    let (mode, owner, group) = (given(&query.mode), given(&query.owner), given(&query.group));
    let mut steps = Vec::new();
    if let Some(mode) = &mode {
        let valid = (1..=4).contains(&mode.len()) && mode.chars().all(|c| ('0'..='7').contains(&c));
        if !valid {
            return Err(DaemonError::bad_request("invalid mode format"));
        }
        steps.push(format!(
            "chmod {mode} -- \"$p\" 2>&1 || {{ echo 'failed to change mode'; exit {WRONG_KIND}; }}"
        ));
    }
    if owner.is_some() || group.is_some() {
        // A root sandbox maps only root into its user namespace: it has no `daytona` to give a
        // file to, and `id -u` there would quietly give it to root.
        let root = state.store.sandbox(&id).user == "root";
        for (value, what) in [(&owner, "user"), (&group, "group")] {
            if value.as_deref().is_some_and(|value| value.starts_with('-')) {
                return Err(DaemonError::bad_request(format!("{what} not found")));
            }
            if root && value.as_deref() == Some(SANDBOX_USER) {
                return Err(DaemonError::bad_request(format!(
                    "{what} not found: a root sandbox's only {what} is root"
                )));
            }
        }
        let owner = match owner.as_deref() {
            Some(owner) => sandbox_id(owner, "-u")?,
            None => String::new(),
        };
        let group = match group.as_deref() {
            Some(group) => format!(":{}", sandbox_id(group, "-g")?),
            None => String::new(),
        };
        steps.push(format!(
            "chown {owner}{group} -- \"$p\" 2>&1 || {{ echo 'failed to change ownership'; exit {WRONG_KIND}; }}"
        ));
    }
    let sandbox = ready(&state, &id).await?;
    let command = format!(
        "p={}; [ -e \"$p\" ] || exit {MISSING}; {}",
        quote_path(path)?,
        if steps.is_empty() {
            "true".to_string()
        } else {
            steps.join("; ")
        }
    );
    script(&state, &sandbox, path, command).await?;
    Ok(StatusCode::OK)
}

/// A user or group for `chown`, quoted: Daytona's sandbox user `daytona` is the id sandbox
/// commands run as (`id -u`/`id -g`, `flag`), which the host's user database, the one a local
/// sandbox sees, does not name `daytona`.
fn sandbox_id(name: &str, flag: &str) -> Result<String, DaemonError> {
    if name == SANDBOX_USER {
        return Ok(format!("\"$(id {flag})\""));
    }
    quote(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replacement_is_literal_and_bytewise() {
        assert_eq!(replace_all(b"a.b a.b", b"a.b", b"x"), b"x x");
        assert_eq!(replace_all(b"aaa", b"aa", b"b"), b"ba");
        assert_eq!(replace_all(b"\xffkeep", b"keep", b"k"), b"\xffk");
        assert_eq!(replace_all(b"none", b"zz", b"y"), b"none");
    }
}
