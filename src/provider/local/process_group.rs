//! Process groups registered as running in a sandbox, and ending them.
//!
//! Each running command is registered as `<sandbox>/run/<pgid>`, holding the leader's start
//! time so that a stale file can never make us kill an unrelated process that reused the id.
//! Stop and delete kill every registered group whose leader is still the one that registered,
//! from whichever process runs them. This file holds no lock and reads no metadata.

use std::fs;
use std::path::{Path, PathBuf};

use super::procfs::{descendants, is_zombie, start_time};

/// A registered process group. Dropping it kills what is left of the group and unregisters
/// it, so a cancelled or timed-out exec leaves nothing running.
pub(super) struct ProcessGroup {
    pgid: u32,
    file: Option<PathBuf>,
}

impl ProcessGroup {
    pub(super) fn register(pgid: u32, run_dir: &Path) -> ProcessGroup {
        let file = run_dir.join(pgid.to_string());
        // Without a start time the group cannot be told apart from a later one with the same
        // id, so it is not registered (it still ends with its command).
        let file = start_time(pgid)
            .and_then(|started| fs::write(&file, started.to_string()).ok())
            .map(|()| file);
        ProcessGroup { pgid, file }
    }

    fn kill(&self) {
        kill_group(self.pgid);
    }

    /// Lets the group outlive this value: nothing kills it, and its registration stays for
    /// stop and delete. Returns the registration, for whoever sees the group end.
    pub(super) fn detach(mut self) -> Option<PathBuf> {
        let file = self.file.take();
        std::mem::forget(self);
        file
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
        if let Some(file) = &self.file {
            // The sandbox may be gone already (deleted while the command ran).
            let _ = fs::remove_file(file);
        }
    }
}

/// Registers a process group that must outlive the process registering it (a session's
/// shell): nothing kills it on drop, but stop and delete find it like any other. Returns the
/// leader's start time, which [`is_running`] and [`end_detached`] need.
pub(super) fn register_detached(pgid: u32, run_dir: &Path) -> Option<u64> {
    let started = start_time(pgid)?;
    fs::write(run_dir.join(pgid.to_string()), started.to_string()).ok()?;
    Some(started)
}

/// Whether group leader `pgid` is still the process that started at `started`, and alive.
pub(super) fn is_running(pgid: u32, started: u64) -> bool {
    start_time(pgid) == Some(started) && !is_zombie(pgid)
}

/// Kills a group [`register_detached`] registered, if it is still the same, with every
/// descendant of its leader, and unregisters it.
pub(super) fn end_detached(pgid: u32, started: u64, run_dir: &Path) {
    if start_time(pgid) == Some(started) {
        kill_tree(pgid);
    }
    let _ = fs::remove_file(run_dir.join(pgid.to_string()));
}

/// Kills the sandbox's init (and so everything in its namespaces) and every command
/// registered in `run_dir` whose leader is still the process that registered. Used by stop
/// and delete, from whichever process runs them.
pub(crate) fn kill_registered(run_dir: &Path) {
    super::init::end(run_dir);
    let Ok(entries) = fs::read_dir(run_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Some(pgid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<u32>().ok())
        else {
            continue;
        };
        let recorded = fs::read_to_string(entry.path())
            .ok()
            .and_then(|text| text.trim().parse::<u64>().ok());
        if recorded.is_some() && recorded == start_time(pgid) {
            kill_tree(pgid);
        }
    }
}

/// Kills group `leader` and every descendant of its leader, whatever their group: a program
/// that made a group of its own (an X server does) still ends with the session that ran it.
fn kill_tree(leader: u32) {
    let descendants = descendants(leader);
    kill_group(leader);
    for pid in descendants {
        kill_process(pid);
    }
}

/// Kills process `pid`.
pub(super) fn kill_process(pid: u32) {
    if let Some(pid) = as_pid(pid) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
    }
}

fn kill_group(pgid: u32) {
    if let Some(pid) = as_pid(pgid) {
        // ESRCH (the group is already gone) is the common, fine case.
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

fn as_pid(id: u32) -> Option<rustix::process::Pid> {
    i32::try_from(id)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
}
