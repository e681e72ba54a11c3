//! Running one command in a sandbox to completion: merged output, timeout, and the process
//! group that makes a command killable as a whole (on timeout, stop or delete, even from
//! another `ralph-town` process).
//!
//! Each running command is registered as `<sandbox>/run/<pgid>`, holding the leader's start
//! time so that a stale file can never make us kill an unrelated process that reused the id.
//! This file holds no lock and reads no metadata; the provider decides what may run.

use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe::Receiver;

/// How long output may keep arriving after the command itself exited, from processes that
/// left its process group (without bubblewrap a `setsid` child can).
const STRAGGLER_GRACE: Duration = Duration::from_secs(2);

/// A started command and the group it leads.
pub(crate) struct Running {
    child: tokio::process::Child,
    output: Receiver,
    group: ProcessGroup,
}

/// What a finished command produced.
pub(crate) enum Finished {
    Exited { exit_code: i32, output: Vec<u8> },
    TimedOut,
}

/// Starts `command` in a new process group with stdin closed and stdout and stderr sharing
/// one pipe, so that their output interleaves in the order it was written.
pub(crate) fn spawn(mut command: std::process::Command, run_dir: &Path) -> io::Result<Running> {
    let (reader, writer) = io::pipe()?;
    command
        .stdin(Stdio::null())
        .stdout(writer.try_clone()?)
        .stderr(writer)
        .process_group(0);
    let mut command = tokio::process::Command::from(command);
    let child = command.spawn()?;
    // Our copies of the write end must close, or reading would never see the end.
    drop(command);
    let pgid = child
        .id()
        .ok_or_else(|| io::Error::other("the command exited before it could be tracked"))?;
    let group = ProcessGroup::register(pgid, run_dir);
    let output = Receiver::from_owned_fd(OwnedFd::from(reader))?;
    Ok(Running {
        child,
        output,
        group,
    })
}

impl Running {
    /// Waits for the command (at most `timeout`), then ends whatever is left of its group:
    /// background processes end with the command, as they do in a bubblewrap pid namespace.
    pub(crate) async fn finish(mut self, timeout: Option<Duration>) -> io::Result<Finished> {
        let mut output = Vec::new();
        let collected = collect(&mut self.child, &mut self.output, &mut output, &self.group);
        let status = match timeout {
            Some(limit) => match tokio::time::timeout(limit, collected).await {
                Ok(status) => status?,
                Err(_) => return Ok(Finished::TimedOut),
            },
            None => collected.await?,
        };
        let exit_code = status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or_default());
        Ok(Finished::Exited { exit_code, output })
    }
}

async fn collect(
    child: &mut tokio::process::Child,
    receiver: &mut Receiver,
    output: &mut Vec<u8>,
    group: &ProcessGroup,
) -> io::Result<ExitStatus> {
    let mut read = std::pin::pin!(receiver.read_to_end(output));
    tokio::select! {
        status = child.wait() => {
            let status = status?;
            group.kill();
            if let Ok(result) = tokio::time::timeout(STRAGGLER_GRACE, &mut read).await {
                result?;
            }
            Ok(status)
        }
        result = &mut read => {
            result?;
            child.wait().await
        }
    }
}

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

/// Kills a group [`register_detached`] registered, if it is still the same, and unregisters it.
pub(super) fn end_detached(pgid: u32, started: u64, run_dir: &Path) {
    if start_time(pgid) == Some(started) {
        kill_group(pgid);
    }
    let _ = fs::remove_file(run_dir.join(pgid.to_string()));
}

/// Kills every command registered in `run_dir` whose leader is still the process that
/// registered. Used by stop and delete, from whichever process runs them.
pub(crate) fn kill_registered(run_dir: &Path) {
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
            kill_group(pgid);
        }
    }
}

fn kill_group(pgid: u32) {
    let pid = i32::try_from(pgid)
        .ok()
        .and_then(rustix::process::Pid::from_raw);
    if let Some(pid) = pid {
        // ESRCH (the group is already gone) is the common, fine case.
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

/// The start time of process `pid` in clock ticks since boot (field 22 of `/proc/<pid>/stat`).
fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses; fields resume after the last `)`.
    let fields = &stat[stat.rfind(')')? + 1..];
    fields.split_whitespace().nth(19)?.parse().ok()
}

/// Whether `pid` has exited and waits to be reaped (state `Z`, field 3 of its stat).
fn is_zombie(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let fields = &stat[stat.rfind(')')? + 1..];
            fields.split_whitespace().next().map(|state| state == "Z")
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_of_this_process_is_stable_and_absent_for_a_missing_one() {
        let own = std::process::id();
        let first = start_time(own).expect("own start time");
        assert_eq!(start_time(own), Some(first));
        assert_eq!(start_time(u32::MAX), None);
    }
}
