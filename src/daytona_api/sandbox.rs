//! Control-plane sandbox types: create, the sandbox record, list pages, labels, SSH access.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::whole_number;

/// Every sandbox state Daytona reports (`SandboxState` in the spec).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SandboxState {
    Creating,
    Restoring,
    Destroyed,
    Destroying,
    Started,
    Stopped,
    Starting,
    Stopping,
    Error,
    BuildFailed,
    PendingBuild,
    BuildingSnapshot,
    Unknown,
    PullingSnapshot,
    Archived,
    Archiving,
    Resizing,
    Snapshotting,
    Forking,
    Pausing,
    Paused,
    Resuming,
    /// A state newer than these types, kept verbatim.
    #[serde(untagged)]
    Other(String),
}

/// The state a sandbox is moving to (`SandboxDesiredState`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SandboxDesiredState {
    Destroyed,
    Started,
    Stopped,
    Resized,
    Archived,
    Paused,
    /// A desired state newer than these types, kept verbatim.
    #[serde(untagged)]
    Other(String),
}

/// A volume mount (`SandboxVolume`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SandboxVolume {
    /// Volume id or name (resolved to the id on create).
    pub volume_id: String,
    pub mount_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subpath: Option<String>,
}

/// A declarative image build request (`CreateBuildInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateBuildInfo {
    pub dockerfile_content: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_hashes: Option<Vec<String>>,
}

/// A declarative image build as the server reports it (`BuildInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BuildInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dockerfile_content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_hashes: Option<Vec<String>>,
    #[serde(default)]
    pub created_at: String,
    #[serde(default)]
    pub updated_at: String,
    #[serde(default)]
    pub snapshot_ref: String,
}

/// `gpuType` on create: one value or a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum GpuTypes {
    One(String),
    Many(Vec<String>),
}

/// Body of `POST /sandbox`. Every field is optional; a server ignores fields it does not know.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateSandbox {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Snapshot name or id; omitted takes the server's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_info: Option<CreateBuildInfo>,
    /// OS user; the server's default is `daytona`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_block_all: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_allow_list: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_allow_list: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Resources apply only with `buildInfo`; with a snapshot they come from the snapshot.
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
    /// GiB.
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
    /// Minutes; 0 = never. Server default 15.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "whole_number::option_i32"
    )]
    pub auto_stop_interval: Option<i32>,
    /// Minutes; 0 = the maximum. Server default 10080.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "whole_number::option_i32"
    )]
    pub auto_archive_interval: Option<i32>,
    /// Minutes; negative = never, 0 = delete on stop. Server default -1.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "whole_number::option_i32"
    )]
    pub auto_delete_interval: Option<i32>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "whole_number::option_i32"
    )]
    pub auto_pause_interval: Option<i32>,
    /// Wall-clock minutes after creation at which the sandbox is destroyed, whatever its state.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "whole_number::option_u32"
    )]
    pub ttl_minutes: Option<u32>,
    /// Organisation secrets to mount: each map is `{ENV_VAR: secret-name}`; no value travels here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<Vec<BTreeMap<String, String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kvm: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spot: Option<bool>,
    /// An `http://` or `https://` proxy the sandbox's web traffic goes through; may hold a
    /// credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound_proxy_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otel_endpoint_override: Option<String>,
    /// Minutes to wait for a runner; a positive whole number.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "whole_number::option_i32"
    )]
    pub queue_timeout: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<Vec<SandboxVolume>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linked_sandbox: Option<String>,
}

/// The full sandbox record (`Sandbox`). The first block of fields is what the official Python
/// SDK requires; timestamps are ISO 8601 strings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Sandbox {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    pub user: String,
    pub env: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub public: bool,
    pub network_block_all: bool,
    /// Newer than v0.190; a server that predates it omits it.
    #[serde(default)]
    pub kvm: bool,
    /// Region id.
    pub target: String,
    #[serde(deserialize_with = "whole_number::u32")]
    pub cpu: u32,
    #[serde(deserialize_with = "whole_number::u32")]
    pub gpu: u32,
    /// GiB.
    #[serde(deserialize_with = "whole_number::u32")]
    pub memory: u32,
    /// GiB.
    #[serde(deserialize_with = "whole_number::u32")]
    pub disk: u32,
    /// Base URL of the toolbox; a sandbox's toolbox is at `{toolboxProxyUrl}/{id}`.
    pub toolbox_proxy_url: String,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<SandboxState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_state: Option<SandboxDesiredState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recoverable: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_created_at: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "whole_number::option_i32"
    )]
    pub auto_stop_interval: Option<i32>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "whole_number::option_i32"
    )]
    pub auto_archive_interval: Option<i32>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "whole_number::option_i32"
    )]
    pub auto_delete_interval: Option<i32>,
    /// When a `ttlMinutes` sandbox will be destroyed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_destroy_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<Vec<SandboxVolume>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_info: Option<BuildInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_activity_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_class: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daemon_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linked_sandbox_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_allow_list: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_allow_list: Option<String>,
    /// Single-sandbox reads only, never list items, as on Daytona.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound_proxy_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otel_endpoint_override: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "whole_number::option_u32"
    )]
    pub queue_timeout: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_type: Option<String>,
}

/// One item of `GET /sandbox` (`SandboxListItem`): no env, volumes or build info.
/// `networkBlockAll` is in the spec's optional set but the Python SDK requires it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SandboxListItem {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    pub user: String,
    pub labels: BTreeMap<String, String>,
    pub public: bool,
    #[serde(default)]
    pub network_block_all: bool,
    pub target: String,
    #[serde(deserialize_with = "whole_number::u32")]
    pub cpu: u32,
    #[serde(deserialize_with = "whole_number::u32")]
    pub gpu: u32,
    #[serde(deserialize_with = "whole_number::u32")]
    pub memory: u32,
    #[serde(deserialize_with = "whole_number::u32")]
    pub disk: u32,
    pub toolbox_proxy_url: String,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<SandboxState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_state: Option<SandboxDesiredState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recoverable: Option<bool>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "whole_number::option_i32"
    )]
    pub auto_stop_interval: Option<i32>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "whole_number::option_i32"
    )]
    pub auto_archive_interval: Option<i32>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "whole_number::option_i32"
    )]
    pub auto_delete_interval: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_destroy_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_activity_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_class: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner_id: Option<String>,
}

/// One page of `GET /sandbox`; `nextCursor: null` marks the last page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListSandboxesResponse {
    pub items: Vec<SandboxListItem>,
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// One page of the deprecated `GET /sandbox/paginated`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PaginatedSandboxes {
    pub items: Vec<Sandbox>,
    pub total: u64,
    pub page: u64,
    pub total_pages: u64,
}

/// Body of `PUT /sandbox/{id}/labels` (which replaces every label).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub(crate) struct SandboxLabels {
    pub labels: BTreeMap<String, String>,
}

/// `GET /sandbox/{id}/toolbox-proxy-url`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ToolboxProxyUrl {
    pub url: String,
}

/// `POST /sandbox/{id}/ssh-access`: the token is the SSH user name, and a credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SshAccessDto {
    pub id: String,
    pub sandbox_id: String,
    pub token: String,
    pub expires_at: String,
    pub created_at: String,
    pub updated_at: String,
    /// `ssh TOKEN@HOST`, or `ssh -p PORT TOKEN@HOST` off port 22.
    pub ssh_command: String,
}

/// `GET /sandbox/ssh-access/validate?token=`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SshAccessValidationDto {
    pub valid: bool,
    /// `null` when the token is unknown or expired.
    #[serde(default)]
    pub sandbox_id: Option<String>,
}
