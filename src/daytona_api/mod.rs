//! Daytona wire types (serde), shared by the `daytona` provider and `serve`.
//!
//! Each type is named and shaped as in Daytona's API (`shared/daytona/openapi.yaml`, updated by
//! `NOTES.md` sections 9 and 10): camelCase on the control plane, the toolbox's own casing where it
//! differs. Response types tolerate unknown fields so that a newer server does not break an older
//! client; optional fields are skipped when absent so that an older server is not sent fields it
//! does not know. Nothing here performs I/O or knows about providers.

mod chart;
mod error;
mod files;
mod git;
mod lifecycle;
mod preview;
mod sandbox;
mod session;
mod snapshot;
mod toolbox;
mod volume;

pub(crate) use chart::{Chart, CodeRunArtifacts};
pub(crate) use error::{ApiErrorBody, DaemonErrorBody};
pub(crate) use files::{Match, ReplaceRequest, ReplaceResult, SearchFilesResponse};
pub(crate) use git::{
    FileStatus, GitAddRequest, GitBranchRequest, GitCheckoutRequest, GitCommitInfo,
    GitCommitRequest, GitCommitResponse, GitFileState, GitRemoteRequest, GitStatus,
    ListBranchResponse,
};
pub(crate) use lifecycle::{CreateSandboxSnapshot, ForkSandbox, ResizeSandbox, SystemMetrics};
pub(crate) use preview::{PortPreviewUrl, SignedPortPreviewUrl, Url};
pub(crate) use sandbox::{
    BuildInfo, CreateBuildInfo, CreateSandbox, ListSandboxesResponse, PaginatedSandboxes, Sandbox,
    SandboxDesiredState, SandboxLabels, SandboxListItem, SandboxState, SandboxVolume, SshAccessDto,
    SshAccessValidationDto, ToolboxProxyUrl,
};
pub(crate) use session::{
    CodeRunRequest, CodeRunResponse, CreateContextRequest, CreateSessionRequest,
    InterpreterContext, InterpreterExecuteRequest, ListContextsResponse, SessionCommandDto,
    SessionCommandLogsResponse, SessionDto, SessionExecuteRequest, SessionExecuteResponse,
    SessionSendInputRequest,
};
pub(crate) use snapshot::{CreateSnapshot, PaginatedSnapshots, SnapshotDto, SnapshotState};
pub(crate) use toolbox::{
    ExecuteRequest, ExecuteResponse, FileInfo, FilesDownloadRequest, GitCloneRequest,
    UpdateEnvRequest, UserHomeDirResponse, WorkDirResponse,
};
pub(crate) use volume::{CreateVolume, VolumeDto, VolumeState};

/// Serde glue for numbers that Daytona documents as integers but may send as floats
/// (`"cpu": 2.0`): they are read leniently and always written as integers, which the official
/// Python SDK insists on.
pub(crate) mod whole_number {
    use serde::{Deserialize, Deserializer, de::Error as _};

    fn to_i64<E: serde::de::Error>(number: serde_json::Number) -> Result<i64, E> {
        if let Some(value) = number.as_i64() {
            return Ok(value);
        }
        match number.as_f64() {
            Some(value) if value.is_finite() && value.abs() < 9.0e15 => Ok(value.round() as i64),
            _ => Err(E::custom(format!("`{number}` is not a whole number"))),
        }
    }

    pub(crate) fn u32<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
        let value = to_i64(serde_json::Number::deserialize(deserializer)?)?;
        u32::try_from(value).map_err(|_| D::Error::custom(format!("`{value}` is out of range")))
    }

    pub(crate) fn option_i32<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<i32>, D::Error> {
        match Option::<serde_json::Number>::deserialize(deserializer)? {
            None => Ok(None),
            Some(number) => {
                let value = to_i64(number)?;
                i32::try_from(value)
                    .map(Some)
                    .map_err(|_| D::Error::custom(format!("`{value}` is out of range")))
            }
        }
    }

    pub(crate) fn option_u32<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<u32>, D::Error> {
        match option_i32(deserializer)? {
            None => Ok(None),
            Some(value) => u32::try_from(value)
                .map(Some)
                .map_err(|_| D::Error::custom(format!("`{value}` must not be negative"))),
        }
    }
}

#[cfg(test)]
mod tests;
