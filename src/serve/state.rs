//! What `serve` keeps beside the provider: Daytona-only sandbox fields, snapshots, SSH tokens,
//! request counters, and the file they persist in (`<state root>/serve.json`).
//!
//! The provider owns sandboxes; a record here only adds what the provider has no field for
//! (resources, user, transitions, timers). A record without a sandbox is stale and ignored. The
//! records file holds SSH tokens and environment values, so it is written 0600 and never logged.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::ServeError;
use super::error::ApiError;
use super::events::Events;
use super::file_signing::SigningSecret;
use super::lsp::LanguageServers;
use super::metrics_history::History;
use super::pty::Terminals;
use super::simulate::{Dice, Simulation, Throttlers};
use crate::daytona_api::{
    SandboxDesiredState, SandboxState, SandboxVolume, SnapshotDto, VolumeDto,
};
use crate::provider::Provider;

/// Everything a handler needs.
pub(crate) struct AppState {
    pub(crate) provider: Arc<dyn Provider>,
    pub(crate) settings: Settings,
    pub(crate) simulation: Simulation,
    pub(crate) dice: Dice,
    pub(crate) throttlers: Throttlers,
    pub(crate) stats: Stats,
    pub(crate) store: Store,
    /// Whether the server has begun to stop.
    pub(crate) stopping: super::stopping::Stopping,
    /// Held from a quota check until the sandbox it admitted is recorded, so that concurrent
    /// creates and starts cannot together overshoot a quota.
    pub(crate) quota_lock: tokio::sync::Mutex<()>,
    /// Held by a snapshot from a sandbox from its name check until it is recorded, so that
    /// files kept under a name no record holds are known to be a killed run's leftovers.
    pub(crate) capture_lock: tokio::sync::Mutex<()>,
    /// The toolbox's PTY sessions.
    pub(crate) terminals: Terminals,
    /// The web terminals of port 22222's previews, one per WebSocket.
    pub(crate) web_terminals: Terminals,
    /// What open SSH connections and signed-link WebSockets hold, for revocations to end.
    pub(crate) revocations: super::revocation::Revocations,
    /// The codes and cookies that let browsers into previews on their own origins.
    pub(crate) passes: super::preview_passes::Passes,
    /// The preview proxy's connections to sandboxes' ports not accepted yet.
    pub(crate) accept_waits: super::preview_waits::AcceptWaits,
    /// The toolbox's language servers.
    pub(crate) language_servers: LanguageServers,
    /// Who starts each sandbox's default interpreter context.
    pub(crate) interpreter_starts: super::interpreter::DefaultStarts,
    /// The events socket.
    pub(crate) events: Events,
    /// What every sandbox's key for signed file URLs derives from.
    pub(crate) signing: SigningSecret,
    /// The sampled resource history (journaled under the state root).
    pub(crate) history: History,
    /// The organisation's secrets and what each sandbox mounts.
    pub(crate) vault: super::secret_vault::Vault,
    /// The proxy that puts secret values into sandboxes' outbound requests.
    pub(crate) egress: super::egress::Egress,
    /// HTTPS on this server's own port, with the loopback CA.
    pub(crate) local_tls: super::local_tls::LocalTls,
}

/// Addresses and the pinned key, fixed once the listener is bound.
pub(crate) struct Settings {
    /// When set, the only bearer token accepted. A credential: never printed.
    pub(crate) api_key: Option<String>,
    /// `http://host:port/toolbox`: what sandbox records carry as `toolboxProxyUrl`.
    pub(crate) toolbox_url: String,
    /// Host and port written into `sshCommand`.
    pub(crate) ssh_host: String,
    pub(crate) ssh_port: u16,
    /// `http://host:port`: where preview links and build logs point.
    pub(crate) base_url: String,
    /// Ports of this server (API, SSH gateway): never a preview's.
    pub(crate) own_ports: Vec<u16>,
    /// Where uploaded build contexts are kept (`<state dir>/serve-objects`); `None` keeps none.
    pub(crate) objects_dir: Option<PathBuf>,
}

/// Milliseconds since the Unix epoch: how records store time.
pub(crate) type Millis = u64;

pub(crate) fn now() -> Millis {
    to_millis(SystemTime::now())
}

pub(crate) fn to_millis(time: SystemTime) -> Millis {
    time.duration_since(UNIX_EPOCH).map_or(0, millis)
}

/// A duration in milliseconds, saturating (a duration of 584 million years is not a bug to hide).
pub(crate) fn millis(duration: Duration) -> Millis {
    Millis::try_from(duration.as_millis()).unwrap_or(Millis::MAX)
}

/// RFC 3339 with milliseconds, as Daytona writes timestamps.
pub(crate) fn iso(millis: Millis) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(millis)).to_string()
}

/// A state a sandbox shows for a while before the provider's own state shows through.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Transition {
    pub(crate) state: SandboxState,
    pub(crate) desired: SandboxDesiredState,
    pub(crate) until: Millis,
}

/// Daytona fields of one sandbox that the provider does not keep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct SandboxRecord {
    pub(crate) user: String,
    pub(crate) cpu: u32,
    pub(crate) gpu: u32,
    pub(crate) memory: u32,
    pub(crate) disk: u32,
    pub(crate) public: bool,
    pub(crate) network_block_all: bool,
    pub(crate) network_allow_list: Option<String>,
    pub(crate) domain_allow_list: Option<String>,
    pub(crate) kvm: bool,
    pub(crate) target: String,
    pub(crate) snapshot: Option<String>,
    pub(crate) ttl_minutes: Option<u32>,
    /// When the TTL started counting: creation, unless `set_ttl` restarted it.
    pub(crate) ttl_from: Option<Millis>,
    pub(crate) updated_at: Millis,
    pub(crate) last_activity_at: Millis,
    /// When the sandbox was last seen to stop: the auto-delete timer counts from here.
    pub(crate) stopped_at: Option<Millis>,
    pub(crate) transition: Option<Transition>,
    /// Volumes as the create request named them, resolved to ids.
    pub(crate) volumes: Vec<SandboxVolume>,
    /// Archived: the provider keeps the sandbox stopped; a start restores it.
    pub(crate) archived: bool,
    /// The image build of a sandbox created from `buildInfo`.
    pub(crate) build: Option<SandboxBuild>,
    /// The token its private preview links need (`x-daytona-preview-token`): a credential,
    /// made at the first preview link.
    pub(crate) preview_token: Option<String>,
    /// How often its key for signed file URLs was rotated (the key derives from this count).
    pub(crate) signing_rotations: u32,
    /// The sandbox this one is linked to (`linkedSandbox` on create), see `sandbox_link`.
    pub(crate) linked_sandbox_id: Option<String>,
    /// `outboundProxyUrl` on create: a URL that may hold a credential (see `egress_outbound`).
    pub(crate) outbound_proxy_url: Option<String>,
    /// `otelEndpointOverride` on create, recorded: a local sandbox emits no OTel data.
    pub(crate) otel_endpoint_override: Option<String>,
    /// `queueTimeout` on create, recorded: a local sandbox is never queued for a runner.
    pub(crate) queue_timeout: Option<u32>,
    /// What it runs each time it starts (its image's entrypoint), see `entrypoint`.
    pub(crate) entrypoint: Option<Vec<String>>,
}

impl SandboxRecord {
    /// Whether the sandbox was made with, or given, a network of its own.
    pub(crate) fn has_own_network(&self) -> bool {
        self.network_block_all
            || self.network_allow_list.is_some()
            || self.domain_allow_list.is_some()
    }
}

/// The image build a sandbox was created from, and where it stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SandboxBuild {
    /// The image hash (`snapshotRef` is `daytona-<hash>:daytona`).
    pub(crate) hash: String,
    pub(crate) dockerfile: String,
    pub(crate) context_hashes: Option<Vec<String>>,
    pub(crate) created_at: Millis,
    pub(crate) phase: BuildPhase,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum BuildPhase {
    /// Waiting for the build to start (`pending_build`).
    Pending,
    /// Building (`building_snapshot`).
    Building,
    Built,
    /// `build_failed`, with the reason.
    Failed(String),
}

impl SandboxRecord {
    /// Whether the sandbox still waits for its image.
    pub(crate) fn building(&self) -> bool {
        self.build
            .as_ref()
            .is_some_and(|build| matches!(build.phase, BuildPhase::Pending | BuildPhase::Building))
    }
}

/// A push access to the build-context storage: its session token (a credential) and expiry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StorageToken {
    pub(crate) token: String,
    pub(crate) expires_at: Millis,
}

/// A signed preview link: whoever holds the token reaches that sandbox port until it expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SignedPreview {
    pub(crate) token: String,
    pub(crate) sandbox_id: String,
    pub(crate) port: u16,
    pub(crate) expires_at: Millis,
}

impl Default for SandboxRecord {
    fn default() -> Self {
        SandboxRecord {
            user: "daytona".to_string(),
            cpu: 1,
            gpu: 0,
            memory: 1,
            disk: 3,
            public: false,
            network_block_all: false,
            network_allow_list: None,
            domain_allow_list: None,
            kvm: false,
            target: DEFAULT_TARGET.to_string(),
            snapshot: None,
            ttl_minutes: None,
            ttl_from: None,
            updated_at: 0,
            last_activity_at: 0,
            stopped_at: None,
            transition: None,
            volumes: Vec::new(),
            archived: false,
            build: None,
            preview_token: None,
            signing_rotations: 0,
            linked_sandbox_id: None,
            outbound_proxy_url: None,
            otel_endpoint_override: None,
            queue_timeout: None,
            entrypoint: None,
        }
    }
}

impl SandboxRecord {
    /// The transition in effect at `now`, if any.
    pub(crate) fn transition_at(&self, now: Millis) -> Option<&Transition> {
        self.transition.as_ref().filter(|t| now < t.until)
    }
}

/// The region id sandboxes report.
pub(crate) const DEFAULT_TARGET: &str = "local";

/// A snapshot this server made; `ready_at` is when `pending` gives way to the stored state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SnapshotRecord {
    pub(crate) dto: SnapshotDto,
    pub(crate) ready_at: Millis,
}

/// A volume this server made; `ready_at` is when `pending_create` gives way to `ready`, and
/// `gone_at`, once deleted, when `pending_delete` gives way to `deleted`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct VolumeRecord {
    pub(crate) dto: VolumeDto,
    pub(crate) ready_at: Millis,
    #[serde(default)]
    pub(crate) gone_at: Option<Millis>,
}

/// One SSH token. The token is a credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SshAccessRecord {
    pub(crate) id: String,
    pub(crate) sandbox_id: String,
    pub(crate) token: String,
    pub(crate) created_at: Millis,
    pub(crate) expires_at: Millis,
}

/// The persisted part of the server's state.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Records {
    pub(crate) organization_id: String,
    pub(crate) sandboxes: BTreeMap<String, SandboxRecord>,
    pub(crate) snapshots: Vec<SnapshotRecord>,
    pub(crate) ssh_access: Vec<SshAccessRecord>,
    pub(crate) volumes: Vec<VolumeRecord>,
    pub(crate) signed_previews: Vec<SignedPreview>,
    pub(crate) storage_tokens: Vec<StorageToken>,
}

/// The records behind a lock, saved after every change.
pub(crate) struct Store {
    path: Option<PathBuf>,
    records: Mutex<Records>,
    /// Poked after every write: every state change serve makes writes the records, so the
    /// events socket looks again when this fires.
    changed: tokio::sync::Notify,
}

/// The records file's name under the state root.
pub(crate) const RECORDS_FILE: &str = "serve.json";

impl Store {
    /// Loads `<dir>/serve.json` (a missing file is an empty store); `None` keeps records in
    /// memory only.
    pub(crate) fn open(dir: Option<&Path>) -> Result<Store, ServeError> {
        let path = dir.map(|dir| dir.join(RECORDS_FILE));
        let mut records: Records = load_json(path.as_deref())?;
        if records.organization_id.is_empty() {
            records.organization_id = uuid::Uuid::new_v4().to_string();
        }
        Ok(Store {
            path,
            records: Mutex::new(records),
            changed: tokio::sync::Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Records> {
        self.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reads the records. The lock is never held across an await.
    pub(crate) fn read<R>(&self, read: impl FnOnce(&Records) -> R) -> R {
        read(&self.lock())
    }

    /// Changes the records and saves them before the lock is released, so saves never reorder.
    pub(crate) fn write<R>(&self, change: impl FnOnce(&mut Records) -> R) -> Result<R, ApiError> {
        let mut records = self.lock();
        let result = change(&mut records);
        self.changed.notify_one();
        if let Some(path) = &self.path {
            save(path, &records).map_err(|error| {
                ApiError::internal(format!("cannot save `{}`: {error}", path.display()))
            })?;
        }
        Ok(result)
    }

    /// Completes after the next write (at once when one happened since the last call).
    pub(crate) async fn changed(&self) {
        self.changed.notified().await;
    }

    /// Wakes whoever waits in [`Store::changed`] as a write would.
    pub(crate) fn poke(&self) {
        self.changed.notify_one();
    }

    /// The record of sandbox `id`, or the defaults for a sandbox made outside this server.
    pub(crate) fn sandbox(&self, id: &str) -> SandboxRecord {
        self.read(|records| records.sandboxes.get(id).cloned())
            .unwrap_or_default()
    }

    /// Changes (creating if needed) the record of sandbox `id`.
    pub(crate) fn update_sandbox(
        &self,
        id: &str,
        change: impl FnOnce(&mut SandboxRecord),
    ) -> Result<SandboxRecord, ApiError> {
        self.write(|records| {
            let record = records.sandboxes.entry(id.to_string()).or_default();
            change(record);
            record.clone()
        })
    }

    /// Records activity on sandbox `id` without saving: activity is approximate across restarts,
    /// and saving on every toolbox call would cost a file write each.
    pub(crate) fn touch(&self, id: &str, at: Millis) {
        let mut records = self.lock();
        let record = records.sandboxes.entry(id.to_string()).or_default();
        record.last_activity_at = record.last_activity_at.max(at);
    }

    /// Forgets sandbox `id`, its SSH tokens and its signed preview links.
    pub(crate) fn remove_sandbox(&self, id: &str) -> Result<(), ApiError> {
        self.write(|records| {
            records.sandboxes.remove(id);
            records.ssh_access.retain(|access| access.sandbox_id != id);
            records
                .signed_previews
                .retain(|preview| preview.sandbox_id != id);
        })
    }
}

/// The JSON file at `path`, or the default when there is none (or no path: kept in memory). A
/// parse error names a position in the file, never its text.
pub(crate) fn load_json<T: serde::de::DeserializeOwned + Default>(
    path: Option<&Path>,
) -> Result<T, ServeError> {
    let Some(path) = path else {
        return Ok(T::default());
    };
    let failed = |message: String| ServeError::State {
        path: path.to_path_buf(),
        message,
    };
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|error| failed(error.to_string())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(error) => Err(failed(error.to_string())),
    }
}

fn save(path: &Path, records: &Records) -> std::io::Result<()> {
    let bytes = serde_json::to_vec_pretty(records).map_err(std::io::Error::other)?;
    crate::durable::write(path, &bytes, crate::durable::Existing::Replace)
}

/// Requests per route (`METHOD /path/{template}`) and per status, for tests and benchmarks.
#[derive(Debug, Default)]
pub(crate) struct Stats(Mutex<BTreeMap<String, RouteStats>>);

#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct RouteStats {
    pub(crate) requests: u64,
    pub(crate) statuses: BTreeMap<u16, u64>,
}

impl Stats {
    pub(crate) fn request(&self, route: &str) {
        let mut routes = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        routes.entry(route.to_string()).or_default().requests += 1;
    }

    pub(crate) fn status(&self, route: &str, status: u16) {
        let mut routes = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *routes
            .entry(route.to_string())
            .or_default()
            .statuses
            .entry(status)
            .or_default() += 1;
    }

    /// `{"total": N, "routes": {"POST /api/sandbox": {"requests": 1, "statuses": {"200": 1}}}}`.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        let routes = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let total: u64 = routes.values().map(|route| route.requests).sum();
        serde_json::json!({ "total": total, "routes": &*routes })
    }

    pub(crate) fn reset(&self) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }
}
