//! Bodies of the sandbox actions beyond start and stop (resize, fork, snapshot) and the
//! toolbox's resource sample (`GET /system/metrics`).

use serde::{Deserialize, Serialize};

use super::whole_number;

/// Body of `POST /sandbox/{id}/resize`: only the fields to change. GiB for memory and disk.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub(crate) struct ResizeSandbox {
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
    pub memory: Option<u32>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "whole_number::option_u32"
    )]
    pub disk: Option<u32>,
}

/// Body of `POST /sandbox/{id}/fork`; without a name the fork is named after its id.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub(crate) struct ForkSandbox {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Body of `POST /sandbox/{id}/snapshot`. Memory snapshots are for VM sandboxes only.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateSandboxSnapshot {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_memory: Option<bool>,
}

/// `GET {toolbox}/system/metrics`: one resource sample. Bytes for memory and disk; newer than
/// the v0.190 toolbox spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SystemMetrics {
    pub cpu_count: u32,
    pub cpu_used_pct: f64,
    pub mem_total: u64,
    pub mem_used: u64,
    pub mem_cache: u64,
    pub disk_total: u64,
    pub disk_used: u64,
    pub disk_free: u64,
    /// RFC 3339.
    pub timestamp: String,
    pub timestamp_unix: u64,
}
