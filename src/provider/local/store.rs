//! The on-disk state of `local` sandboxes: one directory per sandbox under
//! `<root>/sandboxes/<id>/`, holding `sandbox.json` (the metadata), `home/`, `tmp/` and `run/`.
//!
//! Invariants that make two processes on one state root safe: a sandbox directory appears and
//! disappears by a single `rename` (built in `staging/`, removed through `trash/`), metadata is
//! replaced by write-then-rename, and every read-modify-write or name check runs under the
//! exclusive lock on `<root>/lock`. Readers (`get`, `list`) take no lock. Everything here blocks;
//! callers run it on tokio's blocking pool. This file knows nothing about processes.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::provider::{Labels, Lifecycle, ProviderError, Resources, Result, Sandbox, SandboxState};

const METADATA_FILE: &str = "sandbox.json";

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
    /// Recorded only; `local` does not limit resources.
    pub resources: Resources,
    pub user: String,
}

impl Metadata {
    pub(crate) fn to_sandbox(&self) -> Sandbox {
        Sandbox {
            id: self.id.clone(),
            name: self.name.clone(),
            state: self.state.clone(),
            labels: self.labels.clone(),
            env: self.env.clone(),
            snapshot: self.snapshot.clone(),
            created_at: self.created_at,
            lifecycle: self.lifecycle,
            error_reason: None,
        }
    }
}

/// One sandbox's host directories: its home (`/home/daytona` inside) and its `/tmp`.
#[derive(Debug, Clone)]
pub(crate) struct SandboxDirs {
    pub home: PathBuf,
    pub tmp: PathBuf,
}

/// The state root and the layout below it. Cheap to clone into blocking tasks.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    root: PathBuf,
}

impl Store {
    /// Opens (creating as needed) the state root.
    pub(crate) fn open(root: PathBuf) -> Result<Store> {
        for directory in ["sandboxes", "staging", "trash"] {
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
    pub(crate) fn dirs(&self, id: &str) -> SandboxDirs {
        SandboxDirs {
            home: self.home_dir(id),
            tmp: self.sandbox_dir(id).join("tmp"),
        }
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
        read_metadata(&self.sandbox_dir(id).join(METADATA_FILE))
    }

    /// Every sandbox, oldest first.
    pub(crate) fn list(&self) -> Result<Vec<Metadata>> {
        let directory = self.root.join("sandboxes");
        let entries =
            fs::read_dir(&directory).map_err(|error| io_error("read", &directory, error))?;
        let mut sandboxes = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|error| io_error("read", &directory, error))?;
            // A sandbox deleted while we read is simply absent.
            if let Some(metadata) = read_metadata(&entry.path().join(METADATA_FILE))? {
                sandboxes.push(metadata);
            }
        }
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

    /// Makes a new sandbox appear in one rename, its home and `/tmp` owned by `owner` when
    /// given (the host id its commands run as). Callers hold the exclusive lock and have
    /// checked the name.
    pub(crate) fn create(&self, metadata: &Metadata, owner: Option<u32>) -> Result<()> {
        let staging = self.root.join("staging").join(&metadata.id);
        let result = (|| {
            for directory in ["home", "tmp", "run"] {
                let path = staging.join(directory);
                fs::create_dir_all(&path).map_err(|error| io_error("create", &path, error))?;
                if let Some(id) = owner.filter(|_| directory != "run") {
                    std::os::unix::fs::chown(&path, Some(id), Some(id))
                        .map_err(|error| io_error("give away", &path, error))?;
                }
            }
            write_metadata(&staging, metadata)?;
            let target = self.sandbox_dir(&metadata.id);
            // `rename` onto an existing non-empty directory fails, so an id collision is caught.
            fs::rename(&staging, &target).map_err(|error| io_error("create", &target, error))
        })();
        if result.is_err() {
            let _ = fs::remove_dir_all(&staging);
        }
        result
    }

    /// Moves a sandbox out of sight in one rename and returns where it now is. Callers hold
    /// the exclusive lock, and remove the returned directory after releasing it.
    pub(crate) fn move_to_trash(&self, id: &str) -> Result<PathBuf> {
        let source = self.sandbox_dir(id);
        let target = self.root.join("trash").join(format!("{id}-{}", nonce()));
        fs::rename(&source, &target).map_err(|error| io_error("delete", &source, error))?;
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

/// Whether `text` can name a directory under `sandboxes/` (and so cannot walk out of it).
fn is_id_like(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
}

fn read_metadata(path: &Path) -> Result<Option<Metadata>> {
    let text = match fs::read(path) {
        Ok(text) => text,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(io_error("read", path, error)),
    };
    serde_json::from_slice(&text).map(Some).map_err(|error| {
        ProviderError::transport(format!("cannot parse `{}`: {error}", path.display()))
    })
}

fn write_metadata(directory: &Path, metadata: &Metadata) -> Result<()> {
    let temporary = directory.join(format!("{METADATA_FILE}.{}", nonce()));
    let target = directory.join(METADATA_FILE);
    let text = serde_json::to_vec_pretty(metadata).map_err(|error| {
        ProviderError::transport(format!("cannot encode sandbox metadata: {error}"))
    })?;
    let result = File::create(&temporary)
        .and_then(|mut file| file.write_all(&text))
        .and_then(|()| fs::rename(&temporary, &target));
    if let Err(error) = result {
        let _ = fs::remove_file(&temporary);
        return Err(io_error("write", &target, error));
    }
    Ok(())
}

pub(crate) fn io_error(action: &str, path: &Path, error: io::Error) -> ProviderError {
    ProviderError::transport(format!("cannot {action} `{}`: {error}", path.display()))
}
