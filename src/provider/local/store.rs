//! The on-disk state of `local` sandboxes: one directory per sandbox under
//! `<root>/sandboxes/<id>/`, holding `sandbox.json` (the metadata), `home/`, `tmp/` and `run/`;
//! volumes' files under `<root>/volumes/<volume id>/`, homes kept as snapshots under
//! `<root>/snapshots/<digest of the name>/home/` (or, for a built snapshot, the name of its
//! image layer in `.../layer`), and image layers under `<root>/layers/<hash>/` (see `layer`).
//!
//! Invariants that make two processes on one state root safe: a sandbox directory appears and
//! disappears by a single `rename` (built in `staging/`, removed through `trash/`), metadata is
//! replaced by write-then-rename, and every read-modify-write or name check runs under the
//! exclusive lock on `<root>/lock`. Readers (`get`, `list`) take no lock (`record` says why one
//! `read` of a record is enough). Everything here blocks; callers run it on tokio's blocking
//! pool. This file knows nothing about processes.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::record::{RECORD_FILE, Reader};

use crate::provider::{
    Labels, Lifecycle, Network, ProviderError, Resources, Result, Sandbox, SandboxState,
    VolumeMount,
};

/// What `local` records about a sandbox. Holds no secret: secrets only pass through exec.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Metadata {
    pub id: String,
    pub name: String,
    pub labels: Labels,
    pub env: BTreeMap<String, String>,
    pub state: SandboxState,
    pub snapshot: Option<String>,
    #[serde(with = "crate::provider::humantime_serde_compat")]
    pub created_at: SystemTime,
    pub lifecycle: Lifecycle,
    /// Recorded only; a server over this provider enforces it.
    pub ttl_minutes: Option<u32>,
    /// The vCPUs are enforced (see `cpus`), and the memory where a memory controller is
    /// writable (see `cgroup`); the disk is recorded only.
    pub resources: Resources,
    pub user: String,
    /// Volumes mounted at every command's start.
    #[serde(default)]
    pub volumes: Vec<VolumeMount>,
    /// The image layer (its hash) shown over the host's file system, for a sandbox of a built
    /// snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<String>,
    /// The image's `WORKDIR` (a sandbox path), recorded with the layer: where commands start
    /// and relative working directories resolve, the home when `None` or not a directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<String>,
    /// Host names the sandbox resolves (see [`HOSTS_FILE`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hosts: BTreeMap<String, String>,
    /// A network of its own (its init's namespace, see `network`) and what it reaches;
    /// `None`: this machine's network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
    /// How records before `network` said [`Network::Blocked`]; read, never written.
    #[serde(default, skip_serializing)]
    pub network_blocked: bool,
}

/// The `/etc/hosts` of a sandbox that resolves names of its own, in its directory.
const HOSTS_FILE: &str = "hosts";

impl Metadata {
    /// What the sandbox's own network reaches, when it has one.
    pub(crate) fn own_network(&self) -> Option<Network> {
        self.network
            .clone()
            .or(self.network_blocked.then_some(Network::Blocked))
    }

    pub(crate) fn to_sandbox(&self) -> Sandbox {
        self.clone().into_sandbox()
    }

    pub(crate) fn into_sandbox(self) -> Sandbox {
        Sandbox {
            id: self.id,
            name: self.name,
            state: self.state,
            labels: self.labels,
            env: self.env,
            snapshot: self.snapshot,
            created_at: self.created_at,
            lifecycle: self.lifecycle,
            error_reason: None,
        }
    }
}

/// One sandbox's host directories: its home (`/home/daytona` inside, and `/root` for a root
/// sandbox), its `/tmp`, and each
/// mounted volume's directory with its mount path inside.
#[derive(Debug, Clone)]
pub(crate) struct SandboxDirs {
    pub home: PathBuf,
    pub tmp: PathBuf,
    pub volumes: Vec<(PathBuf, PathBuf)>,
    pub layer: Option<super::layer::LayerMounts>,
    /// The vCPUs the sandbox was given, which its commands are confined to.
    pub cpus: Option<u32>,
    /// The sandbox's id, which names its cgroup; `None` for what is no sandbox (a build step).
    pub id: Option<String>,
    /// Where the sandbox's running commands and its init are recorded; `None` for what is no
    /// sandbox.
    pub run_dir: Option<PathBuf>,
    /// The sandbox's own `/etc/hosts`, when it resolves names of its own.
    pub hosts: Option<PathBuf>,
    /// What the sandbox's network of its own reaches; `None`: it has this machine's.
    pub network: Option<Network>,
    /// The memory (GiB) the sandbox was given, the limit of its cgroup.
    pub memory: Option<u32>,
    /// Whom its commands run as inside (a build step says for itself).
    pub user: super::identity::SandboxUser,
}

/// The state root and the layout below it. Cheap to clone into blocking tasks.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    root: PathBuf,
}

impl Store {
    /// Opens (creating as needed) the state root.
    pub(crate) fn open(root: PathBuf) -> Result<Store> {
        for directory in ["sandboxes", "staging", "trash", "volumes", "snapshots"] {
            let path = root.join(directory);
            fs::create_dir_all(&path).map_err(|error| io_error("create", &path, error))?;
        }
        // An absolute root keeps paths handed to bubblewrap and child processes unambiguous.
        let root = fs::canonicalize(&root).map_err(|error| io_error("resolve", &root, error))?;
        Ok(Store { root })
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn sandbox_dir(&self, id: &str) -> PathBuf {
        self.root.join("sandboxes").join(id)
    }

    pub(crate) fn home_dir(&self, id: &str) -> PathBuf {
        self.sandbox_dir(id).join("home")
    }

    /// The host directories a sandbox's commands work in.
    pub(crate) fn dirs(&self, metadata: &Metadata) -> SandboxDirs {
        SandboxDirs {
            home: self.home_dir(&metadata.id),
            tmp: self.sandbox_dir(&metadata.id).join("tmp"),
            volumes: metadata
                .volumes
                .iter()
                .map(|volume| (self.volume_dir(volume), PathBuf::from(&volume.mount_path)))
                .collect(),
            layer: metadata
                .layer
                .as_deref()
                .and_then(|hash| super::layer::Layers::new(&self.root).mounts(hash)),
            cpus: metadata.resources.cpu,
            id: Some(metadata.id.clone()),
            run_dir: Some(self.run_dir(&metadata.id)),
            hosts: (!metadata.hosts.is_empty())
                .then(|| self.sandbox_dir(&metadata.id).join(HOSTS_FILE)),
            network: metadata.own_network(),
            memory: metadata.resources.memory,
            user: super::identity::SandboxUser::of_record(&metadata.user),
        }
    }

    /// The host directory a volume mount shows (its subpath, if any).
    pub(crate) fn volume_dir(&self, volume: &VolumeMount) -> PathBuf {
        let root = self.root.join("volumes").join(&volume.volume_id);
        match volume
            .subpath
            .as_deref()
            .filter(|subpath| !subpath.is_empty())
        {
            Some(subpath) => root.join(subpath),
            None => root,
        }
    }

    /// Where the home kept as snapshot `name` lives (a digest: names hold `/` and `:`).
    pub(crate) fn snapshot_dir(&self, name: &str) -> PathBuf {
        use sha2::Digest as _;
        let digest = hex::encode(sha2::Sha256::digest(name.as_bytes()));
        self.root.join("snapshots").join(digest)
    }

    /// Where running commands of a sandbox are registered (one file per process group).
    pub(crate) fn run_dir(&self, id: &str) -> PathBuf {
        self.sandbox_dir(id).join("run")
    }

    /// Takes the root lock, exclusive for writers or shared for exec (which must not race a
    /// stop or delete between its state check and the registration of its process). The lock
    /// is released when the returned file is dropped; children never inherit it (close-on-exec).
    pub(crate) fn lock(&self, exclusive: bool) -> Result<File> {
        let path = self.root.join("lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|error| io_error("open", &path, error))?;
        let locked = if exclusive {
            file.lock()
        } else {
            file.lock_shared()
        };
        locked.map_err(|error| io_error("lock", &path, error))?;
        Ok(file)
    }

    /// The metadata of sandbox `id`, or `None` when there is no such directory.
    pub(crate) fn read(&self, id: &str) -> Result<Option<Metadata>> {
        if !is_id_like(id) {
            return Ok(None);
        }
        Reader::new().read(&self.sandbox_dir(id).join(RECORD_FILE))
    }

    /// Every sandbox, oldest first.
    pub(crate) fn list(&self) -> Result<Vec<Metadata>> {
        let mut sandboxes = Reader::new().read_all(&self.root.join("sandboxes"))?;
        sandboxes
            .sort_by(|left, right| (left.created_at, &left.id).cmp(&(right.created_at, &right.id)));
        Ok(sandboxes)
    }

    /// Finds a sandbox by id, then by name (Daytona's lookup order).
    pub(crate) fn resolve(&self, id_or_name: &str) -> Result<Metadata> {
        if let Some(metadata) = self.read(id_or_name)? {
            return Ok(metadata);
        }
        self.list()?
            .into_iter()
            .find(|metadata| metadata.name == id_or_name)
            .ok_or_else(|| ProviderError::not_found(format!("sandbox `{id_or_name}`")))
    }

    /// Replaces a sandbox's metadata atomically. Callers hold the exclusive lock.
    pub(crate) fn write(&self, metadata: &Metadata) -> Result<()> {
        write_metadata(&self.sandbox_dir(&metadata.id), metadata)
    }

    /// Builds a new sandbox's directories in `staging/` (its home a copy of `homes_from`,
    /// merged, the first one winning where they overlap), its home and `/tmp` owned by `owner` when given (the host id its commands run
    /// as), without the lock: copying a home may take a while. Returns the staging path.
    pub(crate) fn stage(
        &self,
        metadata: &Metadata,
        homes_from: &[PathBuf],
        owner: Option<u32>,
    ) -> Result<PathBuf> {
        let staging = self.root.join("staging").join(&metadata.id);
        let result = (|| {
            for directory in ["home", "tmp", "run"] {
                let path = staging.join(directory);
                fs::create_dir_all(&path).map_err(|error| io_error("create", &path, error))?;
            }
            let home = staging.join("home");
            for source in homes_from {
                super::copy::merge_tree(source, &home)
                    .map_err(|error| io_error("copy", source, error))?;
            }
            if let Some(id) = owner {
                for directory in ["home", "tmp"] {
                    let path = staging.join(directory);
                    super::user::ensure_owned(&path, id)
                        .map_err(|error| io_error("give away", &path, error))?;
                }
            }
            for volume in &metadata.volumes {
                let path = self.volume_dir(volume);
                let made: Vec<PathBuf> = path
                    .ancestors()
                    .take_while(|dir| dir.starts_with(self.root.join("volumes")) && !dir.exists())
                    .map(Path::to_path_buf)
                    .collect();
                fs::create_dir_all(&path).map_err(|error| io_error("create", &path, error))?;
                // Only the mounted directory itself is handed to the sandbox user when it
                // starts: the directories above a subpath made here are that user's too, so
                // that a sandbox mounting the volume's root can write beside them.
                if let Some(id) = owner {
                    for dir in made {
                        File::open(&dir)
                            .and_then(|opened| super::user::give(opened, id))
                            .map_err(|error| io_error("give away", &dir, error))?;
                    }
                }
            }
            if !metadata.hosts.is_empty() {
                let path = staging.join(HOSTS_FILE);
                let host = fs::read_to_string("/etc/hosts").unwrap_or_default();
                fs::write(&path, super::identity::hosts(&host, &metadata.hosts))
                    .map_err(|error| io_error("write", &path, error))?;
            }
            write_metadata(&staging, metadata)
        })();
        match result {
            Ok(()) => Ok(staging),
            Err(error) => {
                let _ = fs::remove_dir_all(&staging);
                Err(error)
            }
        }
    }

    /// Makes a staged sandbox appear in one rename. Callers hold the exclusive lock and have
    /// checked the name; on failure the staging directory is gone.
    pub(crate) fn publish(&self, staging: &Path, id: &str) -> Result<()> {
        let target = self.sandbox_dir(id);
        // `rename` onto an existing non-empty directory fails, so an id collision is caught.
        let result =
            fs::rename(staging, &target).map_err(|error| io_error("create", &target, error));
        if result.is_err() {
            let _ = fs::remove_dir_all(staging);
        }
        result
    }

    /// Moves a sandbox out of sight in one rename and returns where it now is. Callers hold
    /// the exclusive lock, and remove the returned directory after releasing it.
    pub(crate) fn move_to_trash(&self, id: &str) -> Result<PathBuf> {
        self.trash(&self.sandbox_dir(id), id)
    }

    /// Moves any directory under the root out of sight in one rename.
    pub(crate) fn trash(&self, source: &Path, label: &str) -> Result<PathBuf> {
        let target = self.root.join("trash").join(format!("{label}-{}", nonce()));
        fs::rename(source, &target).map_err(|error| io_error("delete", source, error))?;
        Ok(target)
    }
}

/// Removes a trashed sandbox, including directories a command made read-only (a Go module
/// cache, for instance), which `remove_dir_all` alone cannot empty for a non-root user.
pub(crate) fn remove_trashed(path: &Path) -> Result<()> {
    if fs::remove_dir_all(path).is_ok() || !path.exists() {
        return Ok(());
    }
    make_writable(path);
    fs::remove_dir_all(path).map_err(|error| io_error("remove", path, error))
}

fn make_writable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(metadata) = fs::symlink_metadata(path) else {
        return;
    };
    if !metadata.is_dir() {
        return;
    }
    let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o700));
    if let Ok(entries) = fs::read_dir(path) {
        for entry in entries.flatten() {
            make_writable(&entry.path());
        }
    }
}

/// A fresh sandbox id: 12 lowercase hex characters.
pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_string()
}

fn nonce() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_string()
}

/// Whether `text` can name a directory under `sandboxes/` or `volumes/` (and so cannot walk
/// out of it).
pub(crate) fn is_id_like(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
}

fn write_metadata(directory: &Path, metadata: &Metadata) -> Result<()> {
    let target = directory.join(RECORD_FILE);
    let text = serde_json::to_vec_pretty(metadata).map_err(|error| {
        ProviderError::transport(format!("cannot encode sandbox metadata: {error}"))
    })?;
    crate::durable::write(&target, &text, crate::durable::Existing::Replace)
        .map_err(|error| io_error("write", &target, error))
}

pub(crate) fn io_error(action: &str, path: &Path, error: io::Error) -> ProviderError {
    ProviderError::transport(format!("cannot {action} `{}`: {error}", path.display()))
}
