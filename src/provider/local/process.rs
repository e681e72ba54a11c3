//! Running one command in a sandbox to completion: merged output, timeout, and the process
//! group that makes a command killable as a whole (on timeout, stop or delete, even from
//! another `ralph-town` process).
//!
//! Each running command is registered as `<sandbox>/run/<pgid>`, holding the leader's start
//! time so that a stale file can never make us kill an unrelated process that reused the id.
//! This file holds no lock and reads no metadata; the provider decides what may run.
//!
//! An exec'd command runs under `keeper.sh`, which reports its exit code on a pipe of its own
//! the moment it ends and then keeps its place while what it started in the background lives
//! (`python3 -m http.server > log 2>&1 &`, as Daytona's SDKs start servers): the answer comes
//! when the command ends, and the background stays registered, so stop and delete end it. A
//! timeout or a cancelled exec ends the background with the command, as Daytona's daemon kills
//! the command's process group then.

use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe::Receiver;

/// How long output may keep arriving after the command itself exited, from processes it left
/// running that still hold its output (`sleep 9 & echo done`).
const STRAGGLER_GRACE: Duration = Duration::from_secs(2);

/// The script every exec'd command runs under; see this file's header.
const KEEPER: &str = include_str!("keeper.sh");

/// The descriptor on which the keeper reports the command's exit code.
const STATUS_FD: i32 = 3;

/// What the keeper waits for before it ends: every other process of the sandbox's pid
/// namespace (under bubblewrap, where the namespace ends with the keeper), or of its process
/// group (without, where nothing else would end the group).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Background {
    Namespace,
    Group,
}

/// The program of an exec'd `command`: the keeper, run by `shell`, told what its background is.
pub(crate) fn kept<'a>(shell: &'a str, command: &'a str, background: Background) -> [&'a str; 6] {
    let scope = match background {
        Background::Namespace => "namespace",
        Background::Group => "group",
    };
    [shell, "-c", KEEPER, "keeper", scope, command]
}

/// A started command and the group it leads.
pub(crate) struct Running {
    child: tokio::process::Child,
    output: Receiver,
    status: Receiver,
    group: ProcessGroup,
}

/// What a finished command produced.
pub(crate) enum Finished {
    Exited { exit_code: i32, output: Vec<u8> },
    TimedOut,
}

/// Starts `command` (a [`kept`] program) in a new process group with stdin closed, stdout and
/// stderr sharing one pipe, so that their output interleaves in the order it was written, and
/// the keeper's status pipe on [`STATUS_FD`].
pub(crate) fn spawn(mut command: std::process::Command, run_dir: &Path) -> io::Result<Running> {
    let (reader, writer) = io::pipe()?;
    let (status_reader, status_writer) = io::pipe()?;
    let raw = status_writer.as_raw_fd();
    // SAFETY: only async-signal-safe calls (dup2, fcntl) between fork and exec.
    unsafe {
        command.pre_exec(move || {
            // dup2 onto itself would keep close-on-exec set, so clear it instead.
            let done = if raw == STATUS_FD {
                libc::fcntl(raw, libc::F_SETFD, 0)
            } else {
                libc::dup2(raw, STATUS_FD)
            };
            if done < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command
        .stdin(Stdio::null())
        .stdout(writer.try_clone()?)
        .stderr(writer)
        .process_group(0);
    let mut command = tokio::process::Command::from(command);
    let child = command.spawn()?;
    // Our copies of the write ends must close, or reading would never see the end.
    drop(command);
    drop(status_writer);
    let pgid = child
        .id()
        .ok_or_else(|| io::Error::other("the command exited before it could be tracked"))?;
    let group = ProcessGroup::register(pgid, run_dir);
    let output = Receiver::from_owned_fd(OwnedFd::from(reader))?;
    let status = Receiver::from_owned_fd(OwnedFd::from(status_reader))?;
    Ok(Running {
        child,
        output,
        status,
        group,
    })
}

impl Running {
    /// Waits for the command (at most `timeout`) and its output. What it left running stays
    /// registered and is reaped in the background; a timeout, or dropping this future, ends
    /// the whole group.
    pub(crate) async fn finish(mut self, timeout: Option<Duration>) -> io::Result<Finished> {
        let mut output = Vec::new();
        let collected = collect(
            &mut self.child,
            &mut self.output,
            &mut self.status,
            &mut output,
        );
        let exit_code = match timeout {
            Some(limit) => match tokio::time::timeout(limit, collected).await {
                Ok(code) => code?,
                Err(_) => return Ok(Finished::TimedOut),
            },
            None => collected.await?,
        };
        self.keep_background();
        Ok(Finished::Exited { exit_code, output })
    }

    /// Leaves what the command started running, registered for stop and delete, and reaps
    /// the keeper when it ends (a process that exits first leaves that to bubblewrap's
    /// `--die-with-parent`, or to whoever inherits the group).
    fn keep_background(self) {
        let Running {
            mut child, group, ..
        } = self;
        if matches!(child.try_wait(), Ok(Some(_))) {
            // Nothing left: the keeper ends only once its background has.
            return;
        }
        let file = group.detach();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = child.wait().await;
                if let Some(file) = file {
                    let _ = fs::remove_file(file);
                }
            });
        }
    }
}

/// Reads output until the keeper reports the exit code, then what is left of the output
/// (at most [`STRAGGLER_GRACE`] more while the background holds it). A keeper that never
/// reports (killed) gives its own exit status instead.
async fn collect(
    child: &mut tokio::process::Child,
    output_pipe: &mut Receiver,
    status_pipe: &mut Receiver,
    output: &mut Vec<u8>,
) -> io::Result<i32> {
    let mut read = std::pin::pin!(output_pipe.read_to_end(output));
    let mut report = String::new();
    let mut reported = std::pin::pin!(status_pipe.read_to_string(&mut report));
    let mut output_done = false;
    tokio::select! {
        result = &mut reported => { result?; }
        result = &mut read => {
            result?;
            output_done = true;
            reported.await?;
        }
    }
    if !output_done && let Ok(result) = tokio::time::timeout(STRAGGLER_GRACE, &mut read).await {
        result?;
    }
    match report.trim().parse::<i32>() {
        Ok(code) => Ok(code),
        Err(_) => child.wait().await.map(exit_code),
    }
}

/// An exit status as a shell reports it: the code, or 128 + the signal that ended it.
fn exit_code(status: ExitStatus) -> i32 {
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or_default())
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

    /// Lets the group outlive this value: nothing kills it, and its registration stays for
    /// stop and delete. Returns the registration, for whoever sees the group end.
    fn detach(mut self) -> Option<PathBuf> {
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
