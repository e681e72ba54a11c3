//! Toolbox git routes that shape a repository rather than its history: `POST /git/init`,
//! `/git/reset`, `/git/restore` and the remotes (`GET`/`POST /git/remotes`), each one real `git`
//! run inside the sandbox through [`GitCommand`], with the daemon's error codes.
//!
//! NOTES-style: newer than the v0.190 toolbox spec. The pinned SDKs (`sandbox.git.init`,
//! `reset`, `restore`, `remote_add`, `remotes`, `remote_get`) send these; the shapes and
//! statuses follow the current daemon (`apps/daemon/pkg/toolbox/git`: 201 for init and a new
//! remote, 200 otherwise). Every value reaches the shell quoted; a remote's password is never
//! shown back.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::error::DaemonError;
use super::git_command::{GitCommand, not_an_option, quote, quote_path};
use super::state::AppState;
use super::toolbox::required;
use super::toolbox_git::PathQuery;
use super::view::JsonBody;

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/{sandbox}/git/init", post(init))
        .route("/{sandbox}/git/reset", post(reset))
        .route("/{sandbox}/git/restore", post(restore))
        .route("/{sandbox}/git/remotes", post(add_remote).get(remotes))
}

/// `POST /git/init`.
#[derive(Debug, Deserialize)]
pub(crate) struct GitInitRequest {
    path: String,
    #[serde(default)]
    bare: bool,
    initial_branch: Option<String>,
}

/// `POST /git/reset`: `mode` is one of soft, mixed (the default), hard, merge or keep.
#[derive(Debug, Deserialize)]
pub(crate) struct GitResetRequest {
    path: String,
    mode: Option<String>,
    target: Option<String>,
    #[serde(default)]
    files: Vec<String>,
}

/// `POST /git/restore`: the working tree unless `staged` or `worktree` says otherwise.
#[derive(Debug, Deserialize)]
pub(crate) struct GitRestoreRequest {
    path: String,
    files: Vec<String>,
    staged: Option<bool>,
    worktree: Option<bool>,
    source: Option<String>,
}

/// `POST /git/remotes`.
#[derive(Debug, Deserialize)]
pub(crate) struct GitAddRemoteRequest {
    path: String,
    name: String,
    url: String,
    #[serde(default)]
    fetch: bool,
    #[serde(default)]
    overwrite: bool,
}

#[derive(Debug, Serialize)]
pub(crate) struct GitRemote {
    name: String,
    url: String,
}

/// Reply of `GET /git/remotes`.
#[derive(Debug, Serialize)]
pub(crate) struct ListRemotesResponse {
    remotes: Vec<GitRemote>,
}

/// Paths after `--`, each quoted.
fn pathspecs(files: &[String]) -> Result<String, DaemonError> {
    let quoted = files
        .iter()
        .map(|file| quote(file))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(format!(" -- {}", quoted.join(" ")))
}

/// `POST /git/init`: a new repository (bare, or on a named first branch); an existing one is a
/// conflict, as go-git's `PlainInit` says, not git's silent reinitialisation.
pub(crate) async fn init(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<GitInitRequest>,
) -> Result<StatusCode, DaemonError> {
    let path = quote_path(required(Some(&request.path), "path")?)?;
    let mut arguments = String::from("init --quiet");
    if request.bare {
        arguments.push_str(" --bare");
    }
    if let Some(branch) = request.initial_branch.as_deref().filter(|b| !b.is_empty()) {
        let branch = quote(not_an_option("initial branch", branch)?)?;
        arguments.push_str(&format!(" --initial-branch={branch}"));
    }
    arguments.push_str(&format!(" -- {path}"));
    let mut command = GitCommand::new("git init", arguments);
    command.prelude = format!(
        "{{ [ -e {path}/.git ] || [ -f {path}/HEAD ]; }} && \
         {{ echo 'repository already exists'; exit 128; }}; "
    );
    command.run_in(&state, &id).await?;
    Ok(StatusCode::CREATED)
}

/// `POST /git/reset`: HEAD (and, by mode, the index and worktree) to `target`, or only the
/// given paths' index entries.
pub(crate) async fn reset(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<GitResetRequest>,
) -> Result<StatusCode, DaemonError> {
    let mode = match request.mode.as_deref().unwrap_or_default() {
        "" | "mixed" => "",
        mode @ ("soft" | "hard" | "merge" | "keep") => mode,
        other => {
            return Err(DaemonError::bad_request(format!(
                "unsupported reset mode `{other}` (supported: soft, mixed, hard, merge, keep)"
            )));
        }
    };
    let mut arguments = String::from("reset --quiet");
    if !mode.is_empty() {
        arguments.push_str(&format!(" --{mode}"));
    }
    if let Some(target) = request.target.as_deref().filter(|t| !t.is_empty()) {
        arguments.push_str(&format!(" {}", quote(not_an_option("revision", target)?)?));
    }
    if !request.files.is_empty() {
        arguments.push_str(&pathspecs(&request.files)?);
    }
    let mut command = GitCommand::new("git reset", arguments).in_repository(&request.path)?;
    command.options.push_str(" -c core.hooksPath=/dev/null");
    command.run_in(&state, &id).await?;
    Ok(StatusCode::OK)
}

/// `POST /git/restore`: as `git restore`, the working tree by default.
pub(crate) async fn restore(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<GitRestoreRequest>,
) -> Result<StatusCode, DaemonError> {
    if request.files.is_empty() {
        return Err(DaemonError::bad_request("at least one path is required"));
    }
    // The daemon's reading: naming one side alone restores only that side.
    let (staged, worktree) = match (request.staged, request.worktree) {
        (None, None) => (false, true),
        (staged, worktree) => (staged.unwrap_or(false), worktree.unwrap_or(false)),
    };
    if !staged && !worktree {
        return Err(DaemonError::bad_request(
            "at least one of staged or worktree must be true",
        ));
    }
    let mut arguments = String::from("restore");
    if let Some(source) = request.source.as_deref().filter(|s| !s.is_empty()) {
        arguments.push_str(&format!(
            " --source={}",
            quote(not_an_option("revision", source)?)?
        ));
    }
    if staged {
        arguments.push_str(" --staged");
    }
    if worktree {
        arguments.push_str(" --worktree");
    }
    arguments.push_str(&pathspecs(&request.files)?);
    GitCommand::new("git restore", arguments)
        .in_repository(&request.path)?
        .run_in(&state, &id)
        .await?;
    Ok(StatusCode::OK)
}

/// `POST /git/remotes`: adds (or, with `overwrite`, replaces) a remote, then fetches from it
/// when asked.
pub(crate) async fn add_remote(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<GitAddRemoteRequest>,
) -> Result<StatusCode, DaemonError> {
    let name = quote(not_an_option("remote name", &request.name)?)?;
    let url = quote(required(Some(&request.url), "url")?)?;
    let mut arguments = format!("remote add -- {name} {url}");
    if request.fetch {
        arguments.push_str(&format!(" && git -C \"$repo\" fetch --quiet -- {name}"));
    }
    let mut command = GitCommand::new("git remote", arguments).in_repository(&request.path)?;
    if request.overwrite {
        command.prelude = format!(
            "if git -C \"$repo\" remote get-url -- {name} >/dev/null 2>&1; then \
             git -C \"$repo\" remote remove -- {name} || exit; fi; "
        );
    }
    command.run_in(&state, &id).await?;
    Ok(StatusCode::CREATED)
}

/// `GET /git/remotes?path=`: each remote's first URL, without a password it may hold.
pub(crate) async fn remotes(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(query): Query<PathQuery>,
) -> Result<Json<ListRemotesResponse>, DaemonError> {
    let path = query.path()?;
    // `--get-regexp` exits 1 when nothing matches: a repository without remotes.
    let command = GitCommand::new(
        "git remote",
        "config --local -z --get-regexp '^remote\\..*\\.url$' || [ $? -eq 1 ]".to_string(),
    )
    .in_repository(path)?;
    let output = command.run_in(&state, &id).await?;
    Ok(Json(ListRemotesResponse {
        remotes: parse_remotes(&output),
    }))
}

/// `git config -z --get-regexp` records (`remote.<name>.url\n<url>\0`), the first URL of each
/// remote, sorted by name.
fn parse_remotes(output: &str) -> Vec<GitRemote> {
    let mut remotes: Vec<GitRemote> = Vec::new();
    for record in output.split('\0').filter(|record| !record.is_empty()) {
        let (key, url) = record.split_once('\n').unwrap_or((record, ""));
        let Some(name) = key
            .strip_prefix("remote.")
            .and_then(|rest| rest.strip_suffix(".url"))
        else {
            continue;
        };
        if remotes.iter().all(|remote| remote.name != name) {
            remotes.push(GitRemote {
                name: name.to_string(),
                url: without_password(url),
            });
        }
    }
    remotes.sort_by(|a, b| a.name.cmp(&b.name));
    remotes
}

/// `scheme://user:password@host/...` as `scheme://user@host/...`; anything else unchanged.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let Some((user_info, host)) = authority.rsplit_once('@') else {
        return url.to_string();
    };
    match user_info.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}@{host}{path}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_listings_keep_the_first_url_and_drop_passwords() {
        let output = "remote.origin.url\nhttps://ann:hunter2@example.com/a.git\0\
                      remote.my.fork.url\n/srv/fork.git\0\
                      remote.origin.url\nhttps://example.com/second.git\0";
        let remotes = parse_remotes(output);
        let shown: Vec<_> = remotes
            .iter()
            .map(|r| (r.name.as_str(), r.url.as_str()))
            .collect();
        assert_eq!(
            shown,
            [
                ("my.fork", "/srv/fork.git"),
                ("origin", "https://ann@example.com/a.git")
            ]
        );
    }

    #[test]
    fn only_a_password_in_the_authority_is_removed() {
        assert_eq!(without_password("https://x@h/p:q@r"), "https://x@h/p:q@r");
        assert_eq!(
            without_password("git@github.com:o/r.git"),
            "git@github.com:o/r.git"
        );
        assert_eq!(without_password("ssh://a:b@h:22/r"), "ssh://a@h:22/r");
    }
}
