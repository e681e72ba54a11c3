//! Toolbox git configuration routes: `GET`/`POST /git/config`, `POST /git/config/user` and
//! `POST /git/credentials`, each one real `git config` (or `git credential approve`) run inside
//! the sandbox through [`GitCommand`].
//!
//! NOTES-style: newer than the v0.190 toolbox spec. The pinned SDKs (`sandbox.git.set_config`,
//! `get_config`, `configure_user`, `dangerously_authenticate`) send these, shaped as the current
//! daemon's (`apps/daemon/pkg/toolbox/git`). The global scope is the sandbox user's own
//! (`~/.gitconfig` under the sandbox home, never the host's); the system scope is this host's
//! `/etc/gitconfig`, which sandboxes may read but not change. A stored password travels to git
//! in the environment and a shell builtin's pipe, never on a command line, and is scrubbed
//! from any error.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::error::DaemonError;
use super::git_command::{Credentials, GIT_PASSWORD, GIT_USERNAME, GitCommand, quote};
use super::state::AppState;
use super::toolbox::required;
use super::view::JsonBody;

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/{sandbox}/git/config", post(set_config).get(get_config))
        .route("/{sandbox}/git/config/user", post(configure_user))
        .route("/{sandbox}/git/credentials", post(authenticate))
}

/// `POST /git/config`; `path` is needed for the `local` scope only.
#[derive(Debug, Deserialize)]
pub(crate) struct GitSetConfigRequest {
    path: Option<String>,
    key: String,
    value: String,
    scope: Option<String>,
}

/// `GET /git/config?key=&scope=&path=`.
#[derive(Debug, Deserialize)]
pub(crate) struct ConfigQuery {
    key: Option<String>,
    path: Option<String>,
    scope: Option<String>,
}

/// Reply of `GET /git/config`: without `value` when the key is not set (the daemon's
/// `omitempty`, which the TypeScript SDK reads as `undefined`).
#[derive(Debug, Serialize)]
pub(crate) struct GitConfigResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<String>,
}

/// `POST /git/config/user`.
#[derive(Debug, Deserialize)]
pub(crate) struct GitConfigureUserRequest {
    path: Option<String>,
    name: String,
    email: String,
    scope: Option<String>,
}

/// `POST /git/credentials`. The password is a credential.
#[derive(Deserialize)]
pub(crate) struct GitAuthenticateRequest {
    username: String,
    password: String,
    host: Option<String>,
    protocol: Option<String>,
}

/// Where a setting lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Global,
    Local,
    System,
}

impl Scope {
    fn parse(scope: Option<&str>) -> Result<Scope, DaemonError> {
        match scope.unwrap_or_default() {
            "" | "global" => Ok(Scope::Global),
            "local" => Ok(Scope::Local),
            "system" => Ok(Scope::System),
            other => Err(DaemonError::bad_request(format!(
                "unsupported config scope `{other}` (supported: global, local, system)"
            ))),
        }
    }

    fn flag(self) -> &'static str {
        match self {
            Scope::Global => "--global",
            Scope::Local => "--local",
            Scope::System => "--system",
        }
    }
}

/// `section.name` or `section.subsection.name` as git accepts it, checked here so that a bad key
/// is a 400 and not git's "not set" (exit 1).
fn config_key(key: &str) -> Result<String, DaemonError> {
    let invalid = || {
        DaemonError::bad_request(format!(
            "invalid config key `{key}` (expected section.name or section.subsection.name)"
        ))
    };
    let (Some(first), Some(last)) = (key.find('.'), key.rfind('.')) else {
        return Err(invalid());
    };
    let (section, name) = (&key[..first], &key[last + 1..]);
    let subsection = if first == last {
        ""
    } else {
        &key[first + 1..last]
    };
    let section_ok = !section.is_empty()
        && section
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-');
    let name_ok = name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !section_ok || !name_ok || subsection.contains(['\n', '\0']) {
        return Err(invalid());
    }
    quote(key)
}

/// `git config <scope> <arguments>`, in the repository at `path` for the local scope.
fn config(scope: Scope, path: Option<&str>, arguments: &str) -> Result<GitCommand, DaemonError> {
    let command = GitCommand::new("git config", format!("config {} {arguments}", scope.flag()));
    match scope {
        Scope::Local => {
            let path = path
                .filter(|path| !path.is_empty())
                .ok_or_else(|| DaemonError::bad_request("path is required when scope is local"))?;
            command.in_repository(path)
        }
        Scope::Global | Scope::System => Ok(command),
    }
}

/// The command that sets `key` to `value`; the host's system file stays as it is.
fn set_command(
    scope: Option<&str>,
    path: Option<&str>,
    key: &str,
    value: &str,
) -> Result<GitCommand, DaemonError> {
    let scope = Scope::parse(scope)?;
    if scope == Scope::System {
        return Err(DaemonError::new(
            StatusCode::FORBIDDEN,
            "the system scope is this host's `/etc/gitconfig`, shared with every sandbox: a local sandbox may read it, not change it",
        ));
    }
    let arguments = format!("--replace-all -- {} {}", config_key(key)?, quote(value)?);
    config(scope, path, &arguments)
}

pub(crate) async fn set_config(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<GitSetConfigRequest>,
) -> Result<StatusCode, DaemonError> {
    let command = set_command(
        request.scope.as_deref(),
        request.path.as_deref(),
        &request.key,
        &request.value,
    )?;
    command.run_in(&state, &id).await?;
    Ok(StatusCode::OK)
}

pub(crate) async fn get_config(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(query): Query<ConfigQuery>,
) -> Result<Json<GitConfigResponse>, DaemonError> {
    let key = config_key(required(query.key.as_deref(), "key")?)?;
    let scope = Scope::parse(query.scope.as_deref())?;
    // Exit 1 is "not set"; `-z` ends the value with a NUL, so an empty value is not "not set".
    let command = config(
        scope,
        query.path.as_deref(),
        &format!("-z --get -- {key} || [ $? -eq 1 ]"),
    )?;
    let output = command.run_in(&state, &id).await?;
    Ok(Json(GitConfigResponse {
        value: output.split_once('\0').map(|(value, _)| value.to_string()),
    }))
}

/// `POST /git/config/user`: `user.name`, then `user.email`, as the daemon sets them.
pub(crate) async fn configure_user(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<GitConfigureUserRequest>,
) -> Result<StatusCode, DaemonError> {
    let (scope, path) = (request.scope.as_deref(), request.path.as_deref());
    let name = set_command(scope, path, "user.name", &request.name)?;
    let email = set_command(scope, path, "user.email", &request.email)?;
    name.run_in(&state, &id).await?;
    email.run_in(&state, &id).await?;
    Ok(StatusCode::OK)
}

/// Environment names of the credential's host and protocol (not secrets, but kept beside the
/// username and password so the record is built in one place).
const GIT_HOST: &str = "RALPH_TOWN_GIT_HOST";
const GIT_PROTOCOL: &str = "RALPH_TOWN_GIT_PROTOCOL";

/// The command of `POST /git/credentials`: the `store` helper for the sandbox user, and the
/// credential approved to it through a builtin's pipe. Only the environment holds the values.
fn authenticate_command(request: &GitAuthenticateRequest) -> Result<GitCommand, DaemonError> {
    let host = request.host.as_deref().filter(|h| !h.is_empty());
    let protocol = request.protocol.as_deref().filter(|p| !p.is_empty());
    let (host, protocol) = (host.unwrap_or("github.com"), protocol.unwrap_or("https"));
    // The credential record is line-based: a newline or NUL would add or end attributes.
    let fields = [&request.username, &request.password, host, protocol];
    if fields
        .iter()
        .any(|field| field.contains(['\n', '\r', '\0']))
    {
        return Err(DaemonError::bad_request(
            "credential fields must not contain newline or NUL characters",
        ));
    }
    let credentials = Credentials::new(Some(&request.username), Some(&request.password));
    let mut command = GitCommand::new("git credential approve", "credential approve".into())
        .with_credentials_in_environment(credentials);
    command.prelude = format!(
        "git config --global --replace-all credential.helper store && \
         printf 'protocol=%s\\nhost=%s\\nusername=%s\\npassword=%s\\n\\n' \
         \"${GIT_PROTOCOL}\" \"${GIT_HOST}\" \"${GIT_USERNAME}\" \"${GIT_PASSWORD}\" | "
    );
    command.env.insert(GIT_HOST.to_string(), host.to_string());
    command
        .env
        .insert(GIT_PROTOCOL.to_string(), protocol.to_string());
    Ok(command)
}

/// `POST /git/credentials` (the SDKs' `dangerously_authenticate`): the credential is kept in
/// plain text in the sandbox user's `~/.git-credentials`, as on Daytona, so that later git
/// calls against that host authenticate without one.
pub(crate) async fn authenticate(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<GitAuthenticateRequest>,
) -> Result<StatusCode, DaemonError> {
    authenticate_command(&request)?.run_in(&state, &id).await?;
    Ok(StatusCode::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_keys_are_checked_before_git_reads_them() {
        assert_eq!(config_key("user.name").unwrap(), "user.name");
        assert_eq!(
            config_key("remote.my fork.url").unwrap(),
            "'remote.my fork.url'"
        );
        for bad in [
            "user",
            ".name",
            "user.",
            "user.1name",
            "us er.name",
            "a.b\nc.d",
        ] {
            assert!(config_key(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_system_scope_is_never_written_and_local_needs_a_repository() {
        let error = set_command(Some("system"), None, "user.name", "x")
            .err()
            .unwrap();
        assert_eq!(error.status, StatusCode::FORBIDDEN);
        let error = set_command(Some("local"), None, "user.name", "x")
            .err()
            .unwrap();
        assert_eq!(error.status, StatusCode::BAD_REQUEST);
        assert!(set_command(Some("nearby"), None, "user.name", "x").is_err());
    }

    #[test]
    fn a_stored_password_travels_only_in_the_environment() {
        let request = GitAuthenticateRequest {
            username: "ann".into(),
            password: "sentinel-password-6f2a".into(),
            host: Some("127.0.0.1:9".into()),
            protocol: Some("http".into()),
        };
        let (script, env) = authenticate_command(&request).unwrap().script().unwrap();
        assert!(!script.contains("sentinel-password-6f2a"), "{script}");
        assert!(!script.contains("credential.helper="), "{script}");
        assert_eq!(env[GIT_PASSWORD], "sentinel-password-6f2a");
        assert_eq!(env[GIT_HOST], "127.0.0.1:9");
        let injected = GitAuthenticateRequest {
            host: Some("h\nusername=eve".into()),
            ..request
        };
        assert!(authenticate_command(&injected).is_err());
    }
}
