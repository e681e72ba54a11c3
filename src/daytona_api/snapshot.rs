//! Snapshot types: create, the snapshot record (`mem`, not `memory`), list pages.

use serde::{Deserialize, Serialize};

use super::sandbox::{BuildInfo, CreateBuildInfo, GpuTypes};
use super::whole_number;

/// Every snapshot state Daytona reports (`SnapshotState`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SnapshotState {
    Building,
    Pending,
    Pulling,
    Snapshotting,
    Active,
    Inactive,
    Error,
    BuildFailed,
    Removing,
    /// A state newer than these types, kept verbatim.
    #[serde(untagged)]
    Other(String),
}

impl SnapshotState {
    /// The state's wire name, as error messages quote it.
    pub(crate) fn as_str(&self) -> &str {
        match self {
            SnapshotState::Building => "building",
            SnapshotState::Pending => "pending",
            SnapshotState::Pulling => "pulling",
            SnapshotState::Snapshotting => "snapshotting",
            SnapshotState::Active => "active",
            SnapshotState::Inactive => "inactive",
            SnapshotState::Error => "error",
            SnapshotState::BuildFailed => "build_failed",
            SnapshotState::Removing => "removing",
            SnapshotState::Other(name) => name,
        }
    }
}

/// Body of `POST /snapshots`: an image to pull (`imageName`) or a Dockerfile to build
/// (`buildInfo`), never both.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateSnapshot {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_info: Option<CreateBuildInfo>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "whole_number::option_u32"
    )]
    pub cpu: Option<u32>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "whole_number::option_u32"
    )]
    pub gpu: Option<u32>,
    /// GiB. The request says `memory`; the record says `mem`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "whole_number::option_u32"
    )]
    pub memory: Option<u32>,
    /// GiB.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "whole_number::option_u32"
    )]
    pub disk: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_type: Option<GpuTypes>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_class: Option<String>,
}

/// A snapshot record (`SnapshotDto`). Nullable fields are always written (as `null`), because
/// the official SDK requires their presence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SnapshotDto {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
    /// A system snapshot every organisation can use (and none can delete).
    #[serde(default)]
    pub general: bool,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_name: Option<String>,
    pub state: SnapshotState,
    #[serde(default)]
    pub size: Option<f64>,
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    #[serde(deserialize_with = "whole_number::u32")]
    pub cpu: u32,
    #[serde(deserialize_with = "whole_number::u32")]
    pub gpu: u32,
    /// GiB.
    #[serde(deserialize_with = "whole_number::u32")]
    pub mem: u32,
    /// GiB.
    #[serde(deserialize_with = "whole_number::u32")]
    pub disk: u32,
    #[serde(default)]
    pub error_reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(default)]
    pub last_used_at: Option<String>,
    #[serde(default)]
    pub source_sandbox_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_info: Option<BuildInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_runner_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_class: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_type: Option<String>,
}

/// One page of `GET /snapshots`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PaginatedSnapshots {
    pub items: Vec<SnapshotDto>,
    pub total: u64,
    pub page: u64,
    pub total_pages: u64,
}
