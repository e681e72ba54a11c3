//! A sandbox as the provider seam speaks of it: what to create, what a backend reports, its
//! state, and what it uses.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::{Labels, Lifecycle, Network, Resources, humantime_serde_compat};

/// The lifecycle state of a sandbox, as Daytona names them (`local` uses the same names).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SandboxState {
    Creating,
    Starting,
    Started,
    Stopping,
    Stopped,
    Archived,
    Destroying,
    Destroyed,
    Error,
    BuildFailed,
    PendingBuild,
    /// Any other state a backend reports (e.g. Daytona's `pulling_snapshot`), kept verbatim.
    #[serde(untagged)]
    Other(String),
}

impl SandboxState {
    /// The state's wire name (`started`, `build_failed`, ...).
    pub fn as_str(&self) -> &str {
        match self {
            SandboxState::Creating => "creating",
            SandboxState::Starting => "starting",
            SandboxState::Started => "started",
            SandboxState::Stopping => "stopping",
            SandboxState::Stopped => "stopped",
            SandboxState::Archived => "archived",
            SandboxState::Destroying => "destroying",
            SandboxState::Destroyed => "destroyed",
            SandboxState::Error => "error",
            SandboxState::BuildFailed => "build_failed",
            SandboxState::PendingBuild => "pending_build",
            SandboxState::Other(name) => name,
        }
    }

    /// Parses a wire name; unknown names are kept as [`SandboxState::Other`].
    pub fn parse(name: &str) -> SandboxState {
        match name {
            "creating" => SandboxState::Creating,
            "starting" => SandboxState::Starting,
            "started" => SandboxState::Started,
            "stopping" => SandboxState::Stopping,
            "stopped" => SandboxState::Stopped,
            "archived" => SandboxState::Archived,
            "destroying" => SandboxState::Destroying,
            "destroyed" => SandboxState::Destroyed,
            "error" => SandboxState::Error,
            "build_failed" => SandboxState::BuildFailed,
            "pending_build" => SandboxState::PendingBuild,
            other => SandboxState::Other(other.to_string()),
        }
    }

    /// A state the sandbox will not leave by itself: it needs a recreate.
    pub fn is_failed(&self) -> bool {
        matches!(self, SandboxState::Error | SandboxState::BuildFailed)
    }
}

impl std::fmt::Display for SandboxState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A shared volume mounted into a sandbox (Daytona's `SandboxVolume`, resolved to the id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeMount {
    /// The volume's id: backends keep its files under it.
    pub volume_id: String,
    /// Absolute path inside the sandbox.
    pub mount_path: String,
    /// A directory within the volume to mount instead of its root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subpath: Option<String>,
}

/// What a sandbox's processes use, measured from outside the sandbox (see
/// [`Provider::usage`](super::Provider::usage)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResourceUsage {
    /// Memory in use, bytes, without the file cache the kernel may drop.
    pub memory_used: u64,
    /// File cache charged to the sandbox, bytes.
    pub memory_cache: u64,
    /// CPU time of every process that has run in the sandbox (a counter: two readings over a
    /// window give the CPU used in it).
    pub cpu_time: Duration,
}

/// What to create. Holds no secret: secrets reach a sandbox only through
/// [`ExecRequest::env`](super::ExecRequest::env).
#[derive(Debug, Clone, Default)]
pub struct CreateSandbox {
    /// Display name; unique among live sandboxes of the backend.
    pub name: String,
    pub labels: Labels,
    /// Plain configuration environment, visible through the backend's API.
    pub env: BTreeMap<String, String>,
    /// Snapshot name; `None` takes the backend's default.
    pub snapshot: Option<String>,
    /// OS user; `None` takes the backend's default (`daytona`).
    pub user: Option<String>,
    pub lifecycle: Lifecycle,
    /// Destroy this many minutes after creation, whatever the state (Daytona `ttlMinutes`).
    pub ttl_minutes: Option<u32>,
    pub resources: Resources,
    /// Volumes to mount; each one's files outlive the sandbox.
    pub volumes: Vec<VolumeMount>,
    /// Host names the sandbox resolves, to addresses (a linked sandbox's owner, by its name).
    /// Backends that resolve such names themselves ignore them.
    pub hosts: BTreeMap<String, String>,
    /// What the sandbox's network reaches (Daytona's `networkBlockAll`, `networkAllowList`).
    pub network: Network,
}

/// A sandbox as a backend reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sandbox {
    pub id: String,
    pub name: String,
    pub state: SandboxState,
    pub labels: Labels,
    /// Plain environment given at creation (and changed since, where the backend supports it).
    pub env: BTreeMap<String, String>,
    pub snapshot: Option<String>,
    #[serde(with = "humantime_serde_compat")]
    pub created_at: SystemTime,
    pub lifecycle: Lifecycle,
    /// Why the sandbox is in an error state, when the backend says.
    pub error_reason: Option<String>,
}
