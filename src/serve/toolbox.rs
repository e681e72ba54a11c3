//! The toolbox (`/toolbox/{id}/...`, the in-sandbox daemon's API): command execution, the
//! environment, `git clone` and the home and work directories, all through `Provider::exec`.
//!
//! Secrets reach a sandbox only as process environment: a clone's password travels in the
//! environment of the `git` process and a credential helper reads it from there, so it is never
//! in an argv, a URL, a log line or a file. Environment values are never logged.

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
    ExecuteRequest, ExecuteResponse, GitCloneRequest, SandboxState, UpdateEnvRequest,
    UserHomeDirResponse, WorkDirResponse,
};
use crate::names::EnvName;
use crate::provider::{self, ExecOutput, ExecRequest, ProviderError};

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

/// Runs `request` in `sandbox`, with the environment changes a provider without `set_env`
/// could not keep itself (per-request values win over them).
pub(crate) async fn run(
    state: &AppState,
    sandbox: &provider::Sandbox,
    mut request: ExecRequest,
) -> Result<ExecOutput, ProviderError> {
    let record = state.store.sandbox(&sandbox.id);
    if !record.env_unset.is_empty() {
        let names: Vec<&str> = record.env_unset.iter().map(String::as_str).collect();
        request.command = format!(
            "unset -v {} 2>/dev/null\n{}",
            names.join(" "),
            request.command
        );
    }
    for (name, value) in record.env_set {
        request.env.entry(name).or_insert(value);
    }
    state.provider.exec(&sandbox.id, &request).await
}

/// Runs a helper script and fails with the daemon's error unless it exits 0.
pub(crate) async fn run_checked(
    state: &AppState,
    sandbox: &provider::Sandbox,
    command: String,
) -> Result<String, DaemonError> {
    let request = ExecRequest {
        command,
        ..ExecRequest::default()
    };
    let output = run(state, sandbox, request)
        .await
        .map_err(|error| DaemonError::from_provider(error, "sandbox"))?;
    if output.exit_code != 0 {
        return Err(DaemonError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            output.output.trim().to_string(),
        ));
    }
    Ok(output.output)
}

fn check_env_names<'a>(names: impl IntoIterator<Item = &'a String>) -> Result<(), DaemonError> {
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
pub(crate) async fn update_env(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<UpdateEnvRequest>,
) -> Result<StatusCode, DaemonError> {
    let set = request.set.unwrap_or_default();
    let unset = request.unset.unwrap_or_default();
    check_env_names(set.keys().chain(unset.iter()))?;
    let sandbox = ready(&state, &id).await?;
    match state.provider.set_env(&sandbox.id, &set, &unset).await {
        Ok(()) => {}
        Err(ProviderError::Unsupported { .. }) => {
            state
                .store
                .update_sandbox(&sandbox.id, |record| {
                    for name in &unset {
                        record.env_set.remove(name);
                        record.env_unset.insert(name.clone());
                    }
                    for (name, value) in &set {
                        record.env_unset.remove(name);
                        record.env_set.insert(name.clone(), value.clone());
                    }
                })
                .map_err(|error| DaemonError::new(error.status, error.message))?;
        }
        Err(error) => return Err(DaemonError::from_provider(error, &format!("sandbox {id}"))),
    }
    Ok(StatusCode::OK)
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

/// Environment names the clone's credential helper reads.
const GIT_USERNAME: &str = "RALPH_TOWN_GIT_USERNAME";
const GIT_PASSWORD: &str = "RALPH_TOWN_GIT_PASSWORD";

fn quote(text: &str) -> Result<String, DaemonError> {
    shlex::try_quote(text)
        .map(|quoted| quoted.into_owned())
        .map_err(|_| DaemonError::bad_request("values must not contain NUL bytes"))
}

/// The shell command and environment of a clone. Only the environment holds the password.
fn clone_command(
    request: &GitCloneRequest,
) -> Result<(String, BTreeMap<String, String>), DaemonError> {
    if request.url.trim().is_empty() || request.path.trim().is_empty() {
        return Err(DaemonError::bad_request("url and path are required"));
    }
    for value in [&request.branch, &request.commit_id].into_iter().flatten() {
        if value.starts_with('-') {
            return Err(DaemonError::bad_request(format!(
                "`{value}` is not a branch or commit"
            )));
        }
    }
    let mut env = BTreeMap::from([("GIT_TERMINAL_PROMPT".to_string(), "0".to_string())]);
    let mut command = String::from("git");
    if request.insecure_skip_tls == Some(true) {
        command.push_str(" -c http.sslVerify=false");
    }
    if let (Some(username), Some(password)) = (&request.username, &request.password) {
        env.insert(GIT_USERNAME.to_string(), username.clone());
        env.insert(GIT_PASSWORD.to_string(), password.clone());
        // The helper is shell code naming the variables, never their values; the empty helper
        // first drops any helper configured in the sandbox.
        let helper = format!(
            "!f() {{ test \"$1\" = get || return 0; printf 'username=%s\\npassword=%s\\n' \"${GIT_USERNAME}\" \"${GIT_PASSWORD}\"; }}; f"
        );
        command.push_str(&format!(
            " -c credential.helper= -c {}",
            quote(&format!("credential.helper={helper}"))?
        ));
    }
    command.push_str(" clone");
    if let Some(branch) = &request.branch {
        command.push_str(&format!(" --branch {}", quote(branch)?));
    }
    if let Some(depth) = request.depth.filter(|&depth| depth > 0) {
        command.push_str(&format!(" --depth {depth}"));
    }
    command.push_str(&format!(
        " -- {} {}",
        quote(&request.url)?,
        quote(&request.path)?
    ));
    if let Some(commit) = &request.commit_id {
        command.push_str(&format!(
            " && git -C {} checkout --quiet {}",
            quote(&request.path)?,
            quote(commit)?
        ));
    }
    Ok((command, env))
}

pub(crate) async fn git_clone(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<GitCloneRequest>,
) -> Result<StatusCode, DaemonError> {
    let (command, env) = clone_command(&request)?;
    let sandbox = ready(&state, &id).await?;
    let output = run(
        &state,
        &sandbox,
        ExecRequest {
            command,
            env,
            ..ExecRequest::default()
        },
    )
    .await
    .map_err(|error| DaemonError::from_provider(error, &format!("sandbox {id}")))?;
    if output.exit_code == 0 {
        return Ok(StatusCode::OK);
    }
    let message = output.output.trim().to_string();
    let status = if message.contains("Authentication failed")
        || message.contains("could not read Username")
    {
        StatusCode::UNAUTHORIZED
    } else if message.contains("not found") || message.contains("does not exist") {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::BAD_REQUEST
    };
    Err(DaemonError::new(status, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clone_passwords_travel_only_in_the_environment() {
        let request = GitCloneRequest {
            url: "https://example.com/team/repo.git".into(),
            path: "work/repo".into(),
            branch: Some("feature/x".into()),
            commit_id: Some("abc123".into()),
            username: Some("user".into()),
            password: Some("sentinel-password-4711".into()),
            ..GitCloneRequest::default()
        };
        let (command, env) = clone_command(&request).unwrap();
        assert!(!command.contains("sentinel-password-4711"));
        assert_eq!(env[GIT_PASSWORD], "sentinel-password-4711");
        assert!(command.contains("credential.helper="));
        assert!(command.contains("--branch feature/x"));
        assert!(command.contains("checkout --quiet abc123"));
    }

    #[test]
    fn clone_refuses_option_like_refs() {
        let request = GitCloneRequest {
            url: "u".into(),
            path: "p".into(),
            branch: Some("--upload-pack=x".into()),
            ..GitCloneRequest::default()
        };
        assert!(clone_command(&request).is_err());
    }
}
