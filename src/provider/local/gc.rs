//! Time-based cleanup of the state root: sandboxes whose `ttl` has passed (Daytona destroys
//! them itself; here whoever looks at the state root does), and what a process that died
//! mid-way left in `staging/` (a sandbox or snapshot being built) and `trash/` (one being
//! removed).
//!
//! A sandbox expires `ttl_minutes` after it was created, whatever its state, with no work-loss
//! check: that is what `ttl` promises. An unfinished entry is only stale when nothing under it
//! has changed for a while, because another live process may be copying into it right now
//! (staging runs without the root lock) or removing it; `gc` takes the grace period as a
//! parameter. Expired sandboxes are removed under the root lock, re-read there, so a sandbox
//! another process has just deleted or changed is left alone. A removed sandbox's cgroup goes
//! with it, and so does a cgroup whose sandbox is gone (a delete that died midway).

use std::fs;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::cgroup::Cgroups;
use super::store::{self, Metadata, Store};
use super::{LocalProvider, blocking, process_group};
use crate::provider::{Result, Sandbox};

/// What [`LocalProvider::collect_garbage`] removed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Garbage {
    /// Sandboxes whose `ttl` had passed.
    pub expired: Vec<Expired>,
    /// Unfinished entries a process left behind.
    pub stale: Vec<StaleEntry>,
}

/// A sandbox removed because its `ttl` passed.
#[derive(Debug, Clone, Serialize)]
pub struct Expired {
    pub sandbox: Sandbox,
    pub ttl_minutes: u32,
}

/// An entry of `staging/` or `trash/` removed as stale.
#[derive(Debug, Clone, Serialize)]
pub struct StaleEntry {
    /// Relative to the state root: `staging/<name>` or `trash/<name>`.
    pub path: PathBuf,
}

impl LocalProvider {
    /// Removes sandboxes whose `ttl` has passed whenever this provider lists (and so on every
    /// command that looks at the team), as Daytona does by itself. A server that keeps its own
    /// timers over this provider (`serve`) leaves this off.
    pub fn expiring(mut self) -> LocalProvider {
        self.expire = true;
        self
    }

    /// Removes expired sandboxes now, and the entries of `staging/` and `trash/` nothing has
    /// changed for `stale_after`.
    pub async fn collect_garbage(&self, stale_after: Duration) -> Result<Garbage> {
        let store = self.store.clone();
        blocking(move || {
            let now = SystemTime::now();
            let expired = sweep(&store, now)?
                .into_iter()
                .map(|metadata| Expired {
                    ttl_minutes: metadata.ttl_minutes.unwrap_or_default(),
                    sandbox: metadata.to_sandbox(),
                })
                .collect();
            let stale = remove_stale(&store, &["staging", "trash"], now, Some(stale_after))?;
            remove_orphan_cgroups(&store)?;
            Ok(Garbage { expired, stale })
        })
        .await
    }
}

impl LocalProvider {
    /// Finishes the deletes a killed process left midway, at once: a sandbox in `trash/` is
    /// gone whatever its age (the rename was its delete), so its registered processes are
    /// ended and its files removed; then the cgroups of sandboxes that no longer exist go, with
    /// their processes. Unlike [`LocalProvider::collect_garbage`] it leaves `staging/` alone,
    /// where another live process may be building a sandbox right now. Returns what it removed.
    pub async fn finish_interrupted_deletes(&self) -> Result<Vec<StaleEntry>> {
        let store = self.store.clone();
        blocking(move || {
            let removed = remove_stale(&store, &["trash"], SystemTime::now(), None)?;
            remove_orphan_cgroups(&store)?;
            Ok(removed)
        })
        .await
    }
}

/// Whether `metadata`'s `ttl` has passed at `now`.
pub(crate) fn is_expired(metadata: &Metadata, now: SystemTime) -> bool {
    metadata.ttl_minutes.is_some_and(|minutes| {
        minutes > 0
            && now
                .duration_since(metadata.created_at)
                .is_ok_and(|age| age >= Duration::from_secs(u64::from(minutes) * 60))
    })
}

/// Removes every sandbox whose `ttl` has passed at `now`; returns what it removed.
pub(crate) fn sweep(store: &Store, now: SystemTime) -> Result<Vec<Metadata>> {
    Ok(expire(store, store.list()?, now)?.removed)
}

/// What [`expire`] made of a listing.
pub(crate) struct Expiry {
    /// The sandboxes that live on, in the listing's order.
    pub live: Vec<Metadata>,
    /// The sandboxes removed because their `ttl` had passed.
    pub removed: Vec<Metadata>,
}

/// Removes the sandboxes of `listed` whose `ttl` has passed at `now`, so that one reading of
/// the store serves both the sweep and the listing.
pub(crate) fn expire(store: &Store, listed: Vec<Metadata>, now: SystemTime) -> Result<Expiry> {
    let mut expiry = Expiry {
        live: Vec::with_capacity(listed.len()),
        removed: Vec::new(),
    };
    for candidate in listed {
        if !is_expired(&candidate, now) {
            expiry.live.push(candidate);
            continue;
        }
        let trashed = {
            let _lock = store.lock(true)?;
            // Another process may have deleted it (or this is a new sandbox on a reused id).
            match store.read(&candidate.id)? {
                Some(current) if is_expired(&current, now) => store.move_to_trash(&current.id)?,
                Some(current) => {
                    expiry.live.push(current);
                    continue;
                }
                None => continue,
            }
        };
        process_group::kill_registered(&trashed.join("run"));
        Cgroups::new(store.root()).remove(&candidate.id);
        store::remove_trashed(&trashed)?;
        expiry.removed.push(candidate);
    }
    Ok(expiry)
}

/// Removes the cgroups (and kills the processes) of sandboxes that no longer exist. Under the
/// root lock, so that no command of a sandbox is starting (and making its cgroup) meanwhile.
fn remove_orphan_cgroups(store: &Store) -> Result<()> {
    let cgroups = Cgroups::new(store.root());
    let _lock = store.lock(true)?;
    for id in cgroups.ids() {
        if store.read(&id)?.is_none() {
            cgroups.remove(&id);
        }
    }
    Ok(())
}

/// Removes the entries of `directories` (`staging` and `trash`, under the root) nothing has
/// touched for `stale_after`, or every one when it is `None`.
fn remove_stale(
    store: &Store,
    directories: &[&str],
    now: SystemTime,
    stale_after: Option<Duration>,
) -> Result<Vec<StaleEntry>> {
    let mut removed = Vec::new();
    for &directory in directories {
        let parent = store.root().join(directory);
        let entries = match fs::read_dir(&parent) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => return Err(store::io_error("read", &parent, error)),
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if stale_after.is_some_and(|after| !is_stale(&path, now, after)) {
                continue;
            }
            let label = format!("gc-{}", entry.file_name().to_string_lossy());
            // Out of `staging/` first, in one rename: a slow process that comes back to it
            // then fails to publish instead of publishing half a sandbox.
            let target = match directory {
                "staging" => match store.trash(&path, &label) {
                    Ok(target) => target,
                    Err(_) if !path.exists() => continue,
                    Err(error) => return Err(error),
                },
                _ => path.clone(),
            };
            process_group::kill_registered(&target.join("run"));
            store::remove_trashed(&target)?;
            removed.push(StaleEntry {
                path: Path::new(directory).join(entry.file_name()),
            });
        }
    }
    Ok(removed)
}

/// Whether nothing under `path` (nor `path` itself, renamed there) changed in `stale_after`.
fn is_stale(path: &Path, now: SystemTime, stale_after: Duration) -> bool {
    let Some(cutoff) = now.checked_sub(stale_after) else {
        return false;
    };
    // A rename (into `trash/`) changes the moved entry's ctime, not its mtime.
    let renamed = fs::symlink_metadata(path)
        .map(|metadata| timestamp(metadata.ctime(), metadata.ctime_nsec()))
        .unwrap_or(now);
    renamed <= cutoff && newest_change(path).is_none_or(|newest| newest <= cutoff)
}

/// The latest modification time of `path` and everything under it (links not followed).
fn newest_change(path: &Path) -> Option<SystemTime> {
    let metadata = fs::symlink_metadata(path).ok()?;
    let mut newest = metadata.modified().ok();
    if metadata.is_dir() {
        for entry in fs::read_dir(path).into_iter().flatten().flatten() {
            newest = newest.max(newest_change(&entry.path()));
        }
    }
    newest
}

fn timestamp(seconds: i64, nanoseconds: i64) -> SystemTime {
    let seconds = u64::try_from(seconds).unwrap_or(0);
    let nanoseconds = u32::try_from(nanoseconds).unwrap_or(0);
    UNIX_EPOCH + Duration::new(seconds, nanoseconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(created_ago: Duration, ttl_minutes: Option<u32>, now: SystemTime) -> Metadata {
        Metadata {
            id: "abc".to_string(),
            name: "abc".to_string(),
            labels: Default::default(),
            env: Default::default(),
            state: crate::provider::SandboxState::Stopped,
            snapshot: None,
            created_at: now - created_ago,
            lifecycle: Default::default(),
            ttl_minutes,
            resources: Default::default(),
            user: "daytona".to_string(),
            volumes: Vec::new(),
            layer: None,
            workdir: None,
            hosts: Default::default(),
            network: None,
            network_blocked: false,
        }
    }

    #[test]
    fn a_sandbox_expires_once_its_ttl_has_passed_whatever_its_state() {
        let now = SystemTime::now();
        let minute = Duration::from_secs(60);
        assert!(is_expired(&metadata(61 * minute, Some(60), now), now));
        assert!(is_expired(&metadata(60 * minute, Some(60), now), now));
        assert!(!is_expired(&metadata(59 * minute, Some(60), now), now));
        assert!(!is_expired(&metadata(600 * minute, None, now), now));
        assert!(!is_expired(&metadata(600 * minute, Some(0), now), now));
    }

    #[test]
    fn an_entry_is_stale_only_when_nothing_under_it_changed_for_the_grace_period() {
        let root = tempfile::tempdir().unwrap();
        let entry = root.path().join("abc");
        fs::create_dir_all(entry.join("home/deep")).unwrap();
        fs::write(entry.join("home/deep/file"), "x").unwrap();
        let later = SystemTime::now() + Duration::from_secs(3600);
        assert!(is_stale(&entry, later, Duration::from_secs(60)));
        assert!(!is_stale(&entry, later, Duration::from_secs(7200)));
        assert!(!is_stale(
            &entry,
            SystemTime::now(),
            Duration::from_secs(60)
        ));
        // A file written deep inside is the entry's latest change.
        let old = SystemTime::now() - Duration::from_secs(7200);
        let recent = SystemTime::now() - Duration::from_secs(10);
        for path in [entry.clone(), entry.join("home"), entry.join("home/deep")] {
            fs::File::open(&path).unwrap().set_modified(old).unwrap();
        }
        let file = fs::File::options()
            .append(true)
            .open(entry.join("home/deep/file"));
        file.unwrap().set_modified(recent).unwrap();
        assert_eq!(newest_change(&entry), Some(recent));
    }
}
