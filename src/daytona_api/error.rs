//! Error bodies: the control plane's (NestJS filter) and the toolbox daemon's.

use serde::{Deserialize, Serialize};

/// Every `/api` error: `{path, timestamp, statusCode, error, message}`. `message` is one string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiErrorBody {
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

/// Every toolbox error: `{statusCode, message, code, timestamp, path, method}`, where `code` is
/// e.g. `NOT_FOUND` or `REQUEST_TIMEOUT`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DaemonErrorBody {
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
}
