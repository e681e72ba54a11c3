//! Toolbox file types beyond listing and transfer: content search, name search and replace.

use serde::{Deserialize, Serialize};

/// One line of `GET /files/find` (a content search): `line` counts from 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Match {
    pub file: String,
    pub line: u64,
    pub content: String,
}

/// `GET /files/search`: the paths whose names match a glob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SearchFilesResponse {
    pub files: Vec<String>,
}

/// `POST /files/replace`: `pattern` is literal text, replaced everywhere in each file.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReplaceRequest {
    pub files: Vec<String>,
    pub pattern: String,
    pub new_value: String,
}

/// One file's outcome of `POST /files/replace`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ReplaceResult {
    pub file: String,
    pub success: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
