//! Toolbox (in-sandbox daemon) types. The daemon has its own casing: `exitCode` and `isDir`,
//! but snake_case `commit_id` and `insecure_skip_tls` in a clone request.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::whole_number;

/// Body of `POST {toolbox}/process/execute`. The command is written to the user's shell.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub(crate) struct ExecuteRequest {
    pub command: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Extra environment for this one process; keys match `^[A-Za-z_][A-Za-z0-9_]*$`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envs: Option<BTreeMap<String, String>>,
    /// Seconds; absent or 0 waits forever. On expiry the daemon answers 408.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "whole_number::option_u32"
    )]
    pub timeout: Option<u32>,
}

/// Reply of `process/execute`: stdout and stderr merged in `result`. Old daemons sent `code`
/// instead of `exitCode`; -1 means the process could not be started (or waited for).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ExecuteResponse {
    #[serde(default, alias = "code", skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default)]
    pub result: String,
}

/// One entry of `GET {toolbox}/files` and the reply of `files/info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FileInfo {
    pub name: String,
    /// Full path of the entry; the Python SDK reads it although the v0.190 spec lacks it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub is_dir: bool,
    #[serde(default)]
    pub size: u64,
    /// Go's `FileMode` string, e.g. `-rw-r--r--` or `drwxr-xr-x`.
    #[serde(default)]
    pub mode: String,
    /// Octal permission bits, e.g. `0644`.
    #[serde(default)]
    pub permissions: String,
    #[serde(default)]
    pub owner: String,
    #[serde(default)]
    pub group: String,
    /// RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_at: Option<String>,
    /// Deprecated Go `time.String()` form; still required by the SDK.
    #[serde(default)]
    pub mod_time: String,
}

/// Body of `POST {toolbox}/files/bulk-download`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FilesDownloadRequest {
    pub paths: Vec<String>,
}

/// Body of `POST {toolbox}/git/clone`. Basic auth is used only when both `username` and
/// `password` are set; the password is a credential.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub(crate) struct GitCloneRequest {
    pub url: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure_skip_tls: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// Never prints the password.
impl std::fmt::Debug for GitCloneRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitCloneRequest")
            .field("url", &self.url)
            .field("path", &self.path)
            .field("branch", &self.branch)
            .field("commit_id", &self.commit_id)
            .field("depth", &self.depth)
            .field("insecure_skip_tls", &self.insecure_skip_tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Body of `POST {toolbox}/env`: `unset` is applied first, then `set`; processes started later
/// inherit the result. Values may be secrets.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UpdateEnvRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unset: Option<Vec<String>>,
    /// Also unsets every variable whose value starts with this and that `set` does not name
    /// (newer than v0.190: how Daytona reconciles secret placeholders).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unset_value_prefix: Option<String>,
}

/// Never prints the values.
impl std::fmt::Debug for UpdateEnvRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpdateEnvRequest")
            .field(
                "set",
                &self.set.as_ref().map(|set| set.keys().collect::<Vec<_>>()),
            )
            .field("unset", &self.unset)
            .field(
                "unset_value_prefix",
                &self.unset_value_prefix.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// `GET {toolbox}/user-home-dir`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct UserHomeDirResponse {
    pub dir: String,
}

/// `GET {toolbox}/work-dir`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct WorkDirResponse {
    pub dir: String,
}
