//! Toolbox process types: sessions (`/process/session...`), `process/code-run` and interpreter
//! contexts (`/process/interpreter/...`). Field names
//! follow the pinned Python SDK's generated client (0.226.1), which is newer than the v0.190 spec:
//! an exec answer carries `stdout` and `stderr` besides `output`, and code-run exists.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::whole_number;

/// Body of `POST {toolbox}/process/session`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateSessionRequest {
    pub session_id: String,
}

/// Body of `POST {toolbox}/process/session/{id}/exec`. `async` is the older name of
/// `runAsync`; the daemon honours either.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SessionExecuteRequest {
    pub command: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_async: Option<bool>,
    #[serde(default, rename = "async", skip_serializing_if = "Option::is_none")]
    pub legacy_async: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppress_input_echo: Option<bool>,
}

/// Reply of a session exec: 200 with the outcome, or 202 with only `cmdId` for an async one.
/// Which of `output`, `stdout` and `stderr` come, and in what form, depends on the client's SDK
/// version (see `serve`'s session routes).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SessionExecuteResponse {
    pub cmd_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
}

/// A command of a session (`Command` in the spec); no `exitCode` while it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SessionCommandDto {
    pub id: String,
    pub command: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
}

/// A session with its commands (`Session` in the spec).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SessionDto {
    pub session_id: String,
    #[serde(default)]
    pub commands: Vec<SessionCommandDto>,
}

/// JSON reply of `.../command/{id}/logs` for SDKs from 0.167 on. `output` is the log as the
/// daemon stores it: each run of lines behind its stream marker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SessionCommandLogsResponse {
    pub output: String,
    pub stdout: String,
    pub stderr: String,
}

/// Body of `POST .../command/{id}/input`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SessionSendInputRequest {
    pub data: String,
}

/// Body of `POST {toolbox}/process/code-run` (the SDK's `process.code_run`).
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub(crate) struct CodeRunRequest {
    pub code: String,
    /// `python`, `javascript` or `typescript`.
    pub language: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argv: Option<Vec<String>>,
    /// Values may be secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envs: Option<BTreeMap<String, String>>,
    /// Seconds; absent or 0 waits forever.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "whole_number::option_u32"
    )]
    pub timeout: Option<u32>,
}

/// Never prints the environment's values.
impl std::fmt::Debug for CodeRunRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodeRunRequest")
            .field("language", &self.language)
            .field("argv", &self.argv)
            .field(
                "envs",
                &self
                    .envs
                    .as_ref()
                    .map(|envs| envs.keys().collect::<Vec<_>>()),
            )
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Reply of `process/code-run`: output merged as in `process/execute`; `artifacts` carries
/// the matplotlib charts the run showed, when it showed any.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CodeRunResponse {
    pub exit_code: i32,
    pub result: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifacts: Option<super::CodeRunArtifacts>,
}

/// Body of `POST {toolbox}/process/interpreter/context`; only `python` exists.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub(crate) struct CreateContextRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

/// A stateful interpreter context (`InterpreterContext` in the SDK).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InterpreterContext {
    pub id: String,
    pub cwd: String,
    /// RFC 3339.
    pub created_at: String,
    pub active: bool,
    pub language: String,
}

/// Reply of `GET {toolbox}/process/interpreter/context` (the default context is not listed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ListContextsResponse {
    pub contexts: Vec<InterpreterContext>,
}

/// The first WebSocket message of `{toolbox}/process/interpreter/execute`.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InterpreterExecuteRequest {
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_id: Option<String>,
    /// Seconds; 0 or absent waits forever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    /// Values may be secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envs: Option<BTreeMap<String, String>>,
}

/// Never prints the environment's values.
impl std::fmt::Debug for InterpreterExecuteRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InterpreterExecuteRequest")
            .field("context_id", &self.context_id)
            .field("timeout", &self.timeout)
            .field(
                "envs",
                &self
                    .envs
                    .as_ref()
                    .map(|envs| envs.keys().collect::<Vec<_>>()),
            )
            .finish_non_exhaustive()
    }
}
