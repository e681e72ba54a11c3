//! The toolbox (`/toolbox/{id}/...`, the in-sandbox daemon's API): command execution, the
//! environment and the home and work directories, all through `Provider::exec` (git lives in
//! `toolbox_git`, files in `toolbox_files`).
//!
//! Secrets reach a sandbox only as process environment, never an argv, a URL, a log line or a
//! file. Environment values are never logged.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::error::DaemonError;
use super::state::{AppState, now};
use super::view::{JsonBody, derived_state};
use crate::daytona_api::{
    ExecuteRequest, ExecuteResponse, SandboxState, UpdateEnvRequest, UserHomeDirResponse,
    WorkDirResponse,
};
use crate::names::EnvName;
use crate::provider::{self, ExecOutput, ExecRequest, ProviderError};

/// Command lines longer than this run from a file: one argument may hold at most 128 KiB
/// (Linux's `MAX_ARG_STRLEN`) and `sh -c` takes the command as one, while Daytona's daemon
/// feeds it to its shell on stdin, where any length goes.
const LONG_COMMAND: usize = 64 * 1024;
/// Where such commands wait for their shell, relative to the sandbox home.
const LONG_COMMAND_DIR: &str = ".daytona/exec";

/// The sandbox behind a toolbox call, which must be `started`. Counts as activity.
pub(crate) async fn ready(state: &AppState, id: &str) -> Result<provider::Sandbox, DaemonError> {
    let sandbox = state
        .provider
        .get(id)
        .await
        .map_err(|error| DaemonError::from_provider(error, &format!("sandbox {id}")))?;
    let now = now();
    let record = state.store.sandbox(&sandbox.id);
    let (shown, _) = derived_state(&sandbox, &record, now);
    if shown != SandboxState::Started {
        let name = serde_json::to_value(&shown).unwrap_or_default();
        return Err(DaemonError::new(
            StatusCode::CONFLICT,
            format!(
                "Sandbox is not started (state: {}). Please start the sandbox first.",
                name.as_str().unwrap_or("unknown")
            ),
        ));
    }
    state.store.touch(&sandbox.id, now);
    Ok(sandbox)
}

/// Runs `request` in `sandbox` (the provider applies the environment changes it keeps), a
/// command longer than [`LONG_COMMAND`] from a file.
pub(crate) async fn run(
    state: &AppState,
    sandbox: &provider::Sandbox,
    mut request: ExecRequest,
) -> Result<ExecOutput, ProviderError> {
    if request.command.len() <= LONG_COMMAND {
        return state.provider.exec(&sandbox.id, &request).await;
    }
    let file = format!("{LONG_COMMAND_DIR}/{}.sh", uuid::Uuid::new_v4().simple());
    state
        .provider
        .upload(&sandbox.id, &file, request.command.as_bytes())
        .await?;
    // The shell reads the file and removes it before it runs a line of it, so an `exit` in the
    // command leaves nothing behind; `eval` runs it as `sh -c` would have.
    request.command = format!(
        "command_file=\"$HOME\"/{file}\n\
         eval \"unset command_file\n$(command -p cat -- \"$command_file\"; command -p rm -f -- \"$command_file\")\""
    );
    let output = state.provider.exec(&sandbox.id, &request).await;
    if output.is_err() {
        // It may never have started (a missing `cwd`): then its file is still there.
        let remove = ExecRequest {
            command: format!("command -p rm -f -- \"$HOME\"/{file}"),
            ..ExecRequest::default()
        };
        let _ = state.provider.exec(&sandbox.id, &remove).await;
    }
    output
}

/// Runs a helper script in `sandbox`, `env` added to its environment: its output and exit code,
/// an error only when it could not run.
pub(crate) async fn run_script(
    state: &AppState,
    sandbox: &provider::Sandbox,
    command: String,
    env: BTreeMap<String, String>,
) -> Result<ExecOutput, DaemonError> {
    let request = ExecRequest {
        command,
        env,
        ..ExecRequest::default()
    };
    run(state, sandbox, request)
        .await
        .map_err(|error| DaemonError::from_provider(error, "sandbox"))
}

/// Runs a helper script and fails with the daemon's error unless it exits 0.
pub(crate) async fn run_checked(
    state: &AppState,
    sandbox: &provider::Sandbox,
    command: String,
) -> Result<String, DaemonError> {
    let output = run_script(state, sandbox, command, BTreeMap::new()).await?;
    if output.exit_code != 0 {
        return Err(DaemonError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            output.output.trim().to_string(),
        ));
    }
    Ok(output.output)
}

/// A value the route needs: 400 `{name} is required` when it is missing or empty.
pub(crate) fn required<'a>(value: Option<&'a str>, name: &str) -> Result<&'a str, DaemonError> {
    value
        .filter(|value| !value.is_empty())
        .ok_or_else(|| DaemonError::bad_request(format!("{name} is required")))
}

pub(crate) fn check_env_names<'a>(
    names: impl IntoIterator<Item = &'a String>,
) -> Result<(), DaemonError> {
    match names.into_iter().find(|name| !EnvName::is_valid(name)) {
        Some(name) => Err(DaemonError::bad_request(format!(
            "invalid environment variable name `{name}`"
        ))),
        None => Ok(()),
    }
}

async fn execute_in(
    state: &AppState,
    id: &str,
    request: ExecuteRequest,
) -> Result<Json<ExecuteResponse>, DaemonError> {
    if request.command.trim().is_empty() {
        return Err(DaemonError::bad_request("command is required"));
    }
    let env = request.envs.unwrap_or_default();
    check_env_names(env.keys())?;
    let sandbox = ready(state, id).await?;
    let exec = ExecRequest {
        no_ssh_fallback: false,
        command: request.command,
        cwd: request.cwd.filter(|cwd| !cwd.is_empty()),
        env,
        timeout: request
            .timeout
            .filter(|&seconds| seconds > 0)
            .map(|seconds| Duration::from_secs(u64::from(seconds))),
    };
    let reply = |exit_code: i32, result: String| {
        Json(ExecuteResponse {
            exit_code: Some(exit_code),
            result,
        })
    };
    match run(state, &sandbox, exec).await {
        // The old daemons' defect: the command ran, the exit code was lost.
        Ok(_) if state.dice.roll(state.simulation.exec_defect) => Ok(reply(-1, String::new())),
        Ok(output) => Ok(reply(output.exit_code, output.output)),
        // The process could not be started (a missing `cwd`, say): -1 and the reason.
        Err(ProviderError::Api { message, .. } | ProviderError::Transport { message }) => {
            Ok(reply(-1, message))
        }
        Err(error) => Err(DaemonError::from_provider(error, &format!("sandbox {id}"))),
    }
}

pub(crate) async fn execute(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<ExecuteRequest>,
) -> Result<Json<ExecuteResponse>, DaemonError> {
    execute_in(&state, &id, request).await
}

/// The deprecated `/api/toolbox/{id}/toolbox/process/execute`: no `envs`.
pub(crate) async fn execute_deprecated(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(mut request): JsonBody<ExecuteRequest>,
) -> Result<Json<ExecuteResponse>, DaemonError> {
    request.envs = None;
    execute_in(&state, &id, request).await
}

/// `POST /env`: `unset` first, then `set`, for every process started afterwards.
///
/// NOTES-style: newer than v0.190. The pinned SDK reads the 200 body as `Dict[str, str]`, so an
/// empty body makes `sandbox.update_env` raise although the change applied; the reply is an
/// empty JSON object. `unsetValuePrefix` (how Daytona reconciles secret placeholders) unsets,
/// besides `unset`, every variable whose value starts with it and that `set` does not name, in
/// the environment the sandbox's commands get now (the daemon's process environment there):
/// what it was created with and every change since.
pub(crate) async fn update_env(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<UpdateEnvRequest>,
) -> Result<Json<serde_json::Map<String, serde_json::Value>>, DaemonError> {
    let set = request.set.unwrap_or_default();
    let mut unset = request.unset.unwrap_or_default();
    check_env_names(set.keys().chain(unset.iter()))?;
    let sandbox = ready(&state, &id).await?;
    if let Some(prefix) = request
        .unset_value_prefix
        .filter(|prefix| !prefix.is_empty())
    {
        let current = run_checked(&state, &sandbox, "env -0".to_string()).await?;
        unset.extend(
            current
                .split('\0')
                .filter_map(|entry| entry.split_once('='))
                .filter(|(name, value)| value.starts_with(&prefix) && !set.contains_key(*name))
                .map(|(name, _)| name.to_string()),
        );
    }
    state
        .provider
        .set_env(&sandbox.id, &set, &unset)
        .await
        .map_err(|error| DaemonError::from_provider(error, &format!("sandbox {id}")))?;
    Ok(Json(serde_json::Map::new()))
}

pub(crate) async fn user_home_dir(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<UserHomeDirResponse>, DaemonError> {
    let sandbox = ready(&state, &id).await?;
    let dir = run_checked(&state, &sandbox, "printf '%s' \"$HOME\"".to_string()).await?;
    Ok(Json(UserHomeDirResponse { dir }))
}

pub(crate) async fn work_dir(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<WorkDirResponse>, DaemonError> {
    let sandbox = ready(&state, &id).await?;
    let dir = run_checked(&state, &sandbox, "pwd".to_string()).await?;
    Ok(Json(WorkDirResponse {
        dir: dir.trim_end_matches('\n').to_string(),
    }))
}
