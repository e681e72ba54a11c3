//! Error bodies: the control plane's (NestJS filter) and the toolbox daemon's.

use serde::{Deserialize, Serialize};

/// Every `/api` error: `{path, timestamp, statusCode, error, message}`. `message` is one string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ApiErrorBody {
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub timestamp: String,
    pub status_code: u16,
    /// The status text, e.g. `Not Found`.
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub message: String,
}

/// Every toolbox error: `{statusCode, message, code, timestamp, path, method, source}`, where
/// `code` is a generic one (`NOT_FOUND`, `REQUEST_TIMEOUT`) or a domain one (`FILE_NOT_FOUND`,
/// `GIT_REPO_NOT_FOUND`), and `source` is `DAYTONA_DAEMON`: the current SDKs pick their precise
/// error class by `(source, code)`, falling back to the status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DaemonErrorBody {
    pub status_code: u16,
    #[serde(default)]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default)]
    pub timestamp: String,
    #[serde(default)]
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Newer than v0.190: which service wrote the error (`DAYTONA_DAEMON` here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// A bulk upload's failures, one per file (`{path}: {reason}`), as the daemon lists them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<String>>,
}
