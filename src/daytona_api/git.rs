//! Toolbox git types (`/git/...` beyond clone). The daemon mixes casings: camelCase in status
//! replies, snake_case `allow_empty` and `set_upstream` in requests.

use serde::{Deserialize, Serialize};

/// `POST /git/add`: paths relative to the repository (`.` stages everything).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub(crate) struct GitAddRequest {
    pub path: String,
    pub files: Vec<String>,
}

/// `POST` and `DELETE /git/branches`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub(crate) struct GitBranchRequest {
    pub path: String,
    pub name: String,
}

/// `POST /git/checkout`: a branch, or else a commit.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub(crate) struct GitCheckoutRequest {
    pub path: String,
    pub branch: String,
}

/// `POST /git/commit`. The author is also the committer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub(crate) struct GitCommitRequest {
    pub path: String,
    pub message: String,
    pub author: String,
    pub email: String,
    #[serde(default)]
    pub allow_empty: bool,
}

/// Reply of `POST /git/commit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct GitCommitResponse {
    pub hash: String,
}

/// One entry of `GET /git/history`, newest first; `timestamp` is RFC 3339.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct GitCommitInfo {
    pub hash: String,
    pub author: String,
    pub email: String,
    pub message: String,
    pub timestamp: String,
}

/// `POST /git/push` and `/git/pull` (`GitRepoRequest` in v0.190; the current daemon adds
/// `branch`, `remote` and, for push, `set_upstream`). The password is a credential.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub(crate) struct GitRemoteRequest {
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_upstream: Option<bool>,
}

/// Never prints the password.
impl std::fmt::Debug for GitRemoteRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitRemoteRequest")
            .field("path", &self.path)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("branch", &self.branch)
            .field("remote", &self.remote)
            .field("set_upstream", &self.set_upstream)
            .finish()
    }
}

/// A file's state in the index or the worktree, in go-git's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum GitFileState {
    Unmodified,
    Untracked,
    Modified,
    Added,
    Deleted,
    Renamed,
    Copied,
    #[serde(rename = "Updated but unmerged")]
    UpdatedButUnmerged,
}

/// One changed path of `GET /git/status`; `extra` is the old name of a rename, else empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FileStatus {
    pub name: String,
    pub extra: String,
    pub staging: GitFileState,
    pub worktree: GitFileState,
}

/// `GET /git/status`. `detached` and `upstream` are newer than v0.190.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GitStatus {
    pub current_branch: String,
    pub file_status: Vec<FileStatus>,
    pub ahead: u32,
    pub behind: u32,
    pub branch_published: bool,
    #[serde(default)]
    pub detached: bool,
    #[serde(default)]
    pub upstream: String,
}

/// `GET /git/branches`: local branch names; `current` is newer than v0.190.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ListBranchResponse {
    pub branches: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
}
