//! Volume types (`/volumes`): shared storage that sandboxes mount at a path.

use serde::{Deserialize, Serialize};

/// Every volume state Daytona reports (`VolumeState`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum VolumeState {
    Creating,
    Ready,
    PendingCreate,
    PendingDelete,
    Deleting,
    Deleted,
    Error,
    /// A state newer than these types, kept verbatim.
    #[serde(untagged)]
    Other(String),
}

impl VolumeState {
    /// The state's wire name, as error messages quote it.
    pub(crate) fn as_str(&self) -> &str {
        match self {
            VolumeState::Creating => "creating",
            VolumeState::Ready => "ready",
            VolumeState::PendingCreate => "pending_create",
            VolumeState::PendingDelete => "pending_delete",
            VolumeState::Deleting => "deleting",
            VolumeState::Deleted => "deleted",
            VolumeState::Error => "error",
            VolumeState::Other(name) => name,
        }
    }
}

/// Body of `POST /volumes`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub(crate) struct CreateVolume {
    pub name: String,
}

/// A volume record (`VolumeDto`). `errorReason` is always written (as `null`), because the
/// official SDK requires its presence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct VolumeDto {
    pub id: String,
    pub name: String,
    pub organization_id: String,
    pub state: VolumeState,
    pub created_at: String,
    pub updated_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<String>,
    #[serde(default)]
    pub error_reason: Option<String>,
}
