//! Toolbox git routes (`/toolbox/{id}/git/...`): clone, status, branches, add, commit,
//! checkout, history, pull and push, each one real `git` run inside the sandbox through
//! `Provider::exec` (so under bubblewrap for local sandboxes), via [`GitCommand`].
//!
//! Replies follow the daemon (v0.190 `apps/daemon/pkg/toolbox/git` and `pkg/git`, go-git
//! semantics), with the newer fields the pinned SDK reads. This file parses git's porcelain
//! output; it never builds a command line by hand from unquoted input.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::error::DaemonError;
use super::git_command::{Credentials, GitCommand, not_an_option, quote, quote_path};
use super::git_status::parse_status;
use super::state::AppState;
use super::toolbox::required;
use super::view::JsonBody;
use crate::daytona_api::{
    GitAddRequest, GitBranchRequest, GitCheckoutRequest, GitCloneRequest, GitCommitInfo,
    GitCommitRequest, GitCommitResponse, GitRemoteRequest, GitStatus, ListBranchResponse,
};

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/{sandbox}/git/clone", post(clone))
        .route("/{sandbox}/git/status", get(status))
        .route(
            "/{sandbox}/git/branches",
            get(branches).post(create_branch).delete(delete_branch),
        )
        .route("/{sandbox}/git/add", post(add))
        .route("/{sandbox}/git/commit", post(commit))
        .route("/{sandbox}/git/checkout", post(checkout))
        .route("/{sandbox}/git/history", get(history))
        .route("/{sandbox}/git/pull", post(pull))
        .route("/{sandbox}/git/push", post(push))
}

#[derive(Debug, Deserialize)]
pub(crate) struct PathQuery {
    path: Option<String>,
}

impl PathQuery {
    pub(crate) fn path(&self) -> Result<&str, DaemonError> {
        required(self.path.as_deref(), "path")
    }
}

/// The shell command of a clone. Only its environment holds the password.
fn clone_command(request: &GitCloneRequest) -> Result<GitCommand, DaemonError> {
    if request.url.trim().is_empty() || request.path.trim().is_empty() {
        return Err(DaemonError::bad_request("url and path are required"));
    }
    let mut arguments = String::from("clone");
    if let Some(branch) = &request.branch {
        arguments.push_str(&format!(
            " --branch {}",
            quote(not_an_option("branch", branch)?)?
        ));
    }
    if let Some(depth) = request.depth.filter(|&depth| depth > 0) {
        arguments.push_str(&format!(" --depth {depth}"));
    }
    arguments.push_str(&format!(
        " -- {} {}",
        quote(&request.url)?,
        quote_path(&request.path)?
    ));
    if let Some(commit) = &request.commit_id {
        arguments.push_str(&format!(
            " && git -C {} checkout --quiet {} --",
            quote_path(&request.path)?,
            quote(not_an_option("commit", commit)?)?
        ));
    }
    let mut command = GitCommand::new("git clone", arguments).with_credentials(Credentials::new(
        request.username.as_deref(),
        request.password.as_deref(),
    ));
    if request.insecure_skip_tls == Some(true) {
        command.options.push_str(" -c http.sslVerify=false");
    }
    Ok(command)
}

pub(crate) async fn clone(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<GitCloneRequest>,
) -> Result<StatusCode, DaemonError> {
    clone_command(&request)?.run_in(&state, &id).await?;
    Ok(StatusCode::OK)
}

pub(crate) async fn status(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(query): Query<PathQuery>,
) -> Result<Json<GitStatus>, DaemonError> {
    let command = GitCommand::new(
        "git status",
        "status --porcelain=v2 --branch -z --untracked-files=all".to_string(),
    )
    .in_repository(query.path()?)?;
    let output = command.run_in(&state, &id).await?;
    Ok(Json(parse_status(&output)))
}

pub(crate) async fn branches(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(query): Query<PathQuery>,
) -> Result<Json<ListBranchResponse>, DaemonError> {
    let command = GitCommand::new(
        "git branch",
        "for-each-ref --format='%(HEAD)%(refname:short)' refs/heads/".to_string(),
    )
    .in_repository(query.path()?)?;
    let output = command.run_in(&state, &id).await?;
    let mut branches = Vec::new();
    let mut current = None;
    for line in output.lines().filter(|line| !line.is_empty()) {
        let (head, name) = line.split_at(1);
        if head == "*" {
            current = Some(name.to_string());
        }
        branches.push(name.to_string());
    }
    Ok(Json(ListBranchResponse { branches, current }))
}

/// A branch name git accepts, checked by git itself before anything changes.
fn branch_name(name: &str) -> Result<String, DaemonError> {
    quote(not_an_option("branch name", name)?)
}

/// `POST /git/branches` creates the branch and checks it out, as go-git's checkout with
/// `Create` does in the daemon; 201.
pub(crate) async fn create_branch(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<GitBranchRequest>,
) -> Result<StatusCode, DaemonError> {
    let name = branch_name(&request.name)?;
    let command = GitCommand::new(
        "git branch",
        format!("check-ref-format --branch {name} >/dev/null && git -C \"$repo\" switch --quiet --create {name}"),
    )
    .in_repository(&request.path)?;
    command.run_in(&state, &id).await?;
    Ok(StatusCode::CREATED)
}

/// `DELETE /git/branches` removes the branch whether merged or not (go-git removes the
/// reference); 204.
pub(crate) async fn delete_branch(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<GitBranchRequest>,
) -> Result<StatusCode, DaemonError> {
    let name = branch_name(&request.name)?;
    let command = GitCommand::new("git branch", format!("branch --delete --force {name}"))
        .in_repository(&request.path)?;
    command.run_in(&state, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn add(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<GitAddRequest>,
) -> Result<StatusCode, DaemonError> {
    if request.files.is_empty() {
        return Err(DaemonError::bad_request("files is required"));
    }
    let files = request
        .files
        .iter()
        .map(|file| quote(file))
        .collect::<Result<Vec<_>, _>>()?;
    let command = GitCommand::new("git add", format!("add -- {}", files.join(" ")))
        .in_repository(&request.path)?;
    command.run_in(&state, &id).await?;
    Ok(StatusCode::OK)
}

/// `POST /git/commit`: the staged changes, authored and committed by the request's identity,
/// without hooks or signing (go-git runs neither).
pub(crate) async fn commit(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<GitCommitRequest>,
) -> Result<Json<GitCommitResponse>, DaemonError> {
    if request.message.is_empty() || request.author.is_empty() || request.email.is_empty() {
        return Err(DaemonError::bad_request(
            "message, author and email are required",
        ));
    }
    let allow_empty = if request.allow_empty {
        " --allow-empty"
    } else {
        ""
    };
    let mut command = GitCommand::new(
        "git commit",
        format!(
            "commit --quiet --no-verify{allow_empty} -m {} && git -C \"$repo\" rev-parse HEAD",
            quote(&request.message)?
        ),
    )
    .in_repository(&request.path)?;
    command.options.push_str(" -c commit.gpgsign=false");
    for (name, value) in [
        ("GIT_AUTHOR_NAME", &request.author),
        ("GIT_AUTHOR_EMAIL", &request.email),
        ("GIT_COMMITTER_NAME", &request.author),
        ("GIT_COMMITTER_EMAIL", &request.email),
    ] {
        command.env.insert(name.to_string(), value.clone());
    }
    let output = command.run_in(&state, &id).await?;
    let hash = output.lines().last().unwrap_or_default().trim().to_string();
    Ok(Json(GitCommitResponse { hash }))
}

/// `POST /git/checkout`: a branch (a remote one is tracked), else a commit.
pub(crate) async fn checkout(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<GitCheckoutRequest>,
) -> Result<StatusCode, DaemonError> {
    let target = quote(not_an_option("branch or commit", &request.branch)?)?;
    let command = GitCommand::new("git checkout", format!("checkout --quiet {target} --"))
        .in_repository(&request.path)?;
    command.run_in(&state, &id).await?;
    Ok(StatusCode::OK)
}

/// Field and record separators of the history format: unit and record separator bytes.
const FIELD: char = '\u{1f}';

pub(crate) async fn history(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(query): Query<PathQuery>,
) -> Result<Json<Vec<GitCommitInfo>>, DaemonError> {
    let command = GitCommand::new(
        "git log",
        "log -z --format='%H%x1f%an%x1f%ae%x1f%aI%x1f%B'".to_string(),
    )
    .in_repository(query.path()?)?;
    let output = command.run_in(&state, &id).await?;
    let commits = output
        .split('\0')
        .filter(|record| !record.trim().is_empty())
        .filter_map(|record| {
            let fields: Vec<&str> = record.splitn(5, FIELD).collect();
            let [hash, author, email, timestamp, message] = fields[..] else {
                return None;
            };
            Some(GitCommitInfo {
                hash: hash.trim_start_matches('\n').to_string(),
                author: author.to_string(),
                email: email.to_string(),
                message: message.to_string(),
                timestamp: timestamp.to_string(),
            })
        })
        .collect();
    Ok(Json(commits))
}

/// The remote of a push or pull: `origin` unless the request names one.
fn remote_of(request: &GitRemoteRequest) -> Result<String, DaemonError> {
    quote(not_an_option(
        "remote",
        request.remote.as_deref().unwrap_or("origin"),
    )?)
}

/// `POST /git/pull`: fast-forward only, without hooks, as the daemon does.
pub(crate) async fn pull(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<GitRemoteRequest>,
) -> Result<StatusCode, DaemonError> {
    let mut arguments = format!(
        "pull --quiet --ff-only --no-rebase {}",
        remote_of(&request)?
    );
    if let Some(branch) = &request.branch {
        arguments.push_str(&format!(" {}", branch_name(branch)?));
    }
    let mut command = GitCommand::new("git pull", arguments)
        .in_repository(&request.path)?
        .with_credentials(Credentials::new(
            request.username.as_deref(),
            request.password.as_deref(),
        ));
    command.options.push_str(" -c core.hooksPath=/dev/null");
    command.run_in(&state, &id).await?;
    Ok(StatusCode::OK)
}

/// `POST /git/push`: the current branch (or the named one) to the same name on the remote.
pub(crate) async fn push(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<GitRemoteRequest>,
) -> Result<StatusCode, DaemonError> {
    let branch = match &request.branch {
        Some(branch) => format!("refs/heads/{}", not_an_option("branch", branch)?),
        // The current branch: a detached HEAD has none, which git reports as a missing branch.
        None => String::new(),
    };
    let reference = if branch.is_empty() {
        "\"$(git -C \"$repo\" symbolic-ref HEAD 2>/dev/null || echo 'fatal: you are not currently on a branch' >&2)\"".to_string()
    } else {
        quote(&branch)?
    };
    let upstream = if request.set_upstream == Some(true) {
        " --set-upstream"
    } else {
        ""
    };
    let arguments = format!(
        "push --quiet{upstream} {} \"$ref:$ref\"",
        remote_of(&request)?
    );
    let mut command = GitCommand::new("git push", arguments)
        .in_repository(&request.path)?
        .with_credentials(Credentials::new(
            request.username.as_deref(),
            request.password.as_deref(),
        ));
    command.options.push_str(" -c core.hooksPath=/dev/null");
    command.prelude = format!("ref={reference}; [ -n \"$ref\" ] || exit 128; ");
    command.run_in(&state, &id).await?;
    Ok(StatusCode::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clone_refuses_option_like_refs_and_keeps_passwords_off_the_command() {
        let request = GitCloneRequest {
            url: "u".into(),
            path: "p".into(),
            branch: Some("--upload-pack=x".into()),
            ..GitCloneRequest::default()
        };
        assert!(clone_command(&request).is_err());
        let request = GitCloneRequest {
            url: "https://example.com/team/repo.git".into(),
            path: "work/repo".into(),
            branch: Some("feature/x".into()),
            commit_id: Some("abc123".into()),
            username: Some("user".into()),
            password: Some("sentinel-password-4711".into()),
            ..GitCloneRequest::default()
        };
        let (script, env) = clone_command(&request).unwrap().script().unwrap();
        assert!(!script.contains("sentinel-password-4711"));
        assert!(env.values().any(|value| value == "sentinel-password-4711"));
        assert!(script.contains("--branch feature/x"));
        assert!(script.contains("checkout --quiet abc123"));
    }
}
