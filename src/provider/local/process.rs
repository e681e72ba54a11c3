//! Running one command in a sandbox to completion: merged output, timeout, and the process
//! group that makes a command killable as a whole (on timeout, stop or delete, even from
//! another `ralph-town` process).
//!
//! Each running command is registered as `<sandbox>/run/<pgid>`, holding the leader's start
//! time so that a stale file can never make us kill an unrelated process that reused the id.
//! This file holds no lock and reads no metadata; the provider decides what may run.
//!
//! An exec'd command runs under `keeper.sh`, which reports its exit code on a pipe of its own
//! the moment it ends, so the answer comes then even while what it started in the background
//! (`python3 -m http.server > log 2>&1 &`, as Daytona's SDKs start servers) holds its output.
//! The background lives on: under bubblewrap in the sandbox's namespaces, which its init holds
//! until stop or delete ends it (see `init`); without, in the command's process group, which
//! the keeper holds and keeps registered, so stop and delete end it. A timeout or a cancelled
//! exec ends the background with the command, as Daytona's daemon kills the command's process
//! group then.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use rustix::fs::{Gid, Uid};
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe::Receiver;

/// How long output may keep arriving after the command itself exited, from processes it left
/// running that still hold its output (`sleep 9 & echo done`).
const STRAGGLER_GRACE: Duration = Duration::from_secs(2);

/// The script every exec'd command runs under; see this file's header.
const KEEPER: &str = include_str!("keeper.sh");

/// The descriptor on which the keeper reports the command's exit code.
const STATUS_FD: i32 = 3;

/// The descriptor the keeper's script is read from: passed as a file, not as an argument, so
/// that `ps` in the sandbox shows the command rather than the script.
const SCRIPT_FD: i32 = 5;

/// What holds a command's background once the command has ended: the sandbox's init (under
/// bubblewrap), or the keeper itself, which waits for every other process of its process group
/// (without, where nothing else would hold or end them).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Background {
    Sandbox,
    Group,
}

/// The program of an exec'd `command`: the keeper, run by `shell`, told what its background is.
pub(crate) fn kept<'a>(shell: &'a str, command: &'a str, background: Background) -> [&'a str; 6] {
    let scope = match background {
        Background::Sandbox => "sandbox",
        Background::Group => "group",
    };
    [shell, "-c", ". /dev/fd/5", "keeper", scope, command]
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
/// stderr sharing one pipe, so that their output interleaves in the order it was written, the
/// keeper's status pipe on [`STATUS_FD`] and its script on [`SCRIPT_FD`]. The keeper runs as
/// host id `owner` when given (a sandbox user that is not this process's).
pub(crate) fn spawn(
    mut command: std::process::Command,
    run_dir: &Path,
    owner: Option<u32>,
) -> io::Result<Running> {
    let (reader, writer) = io::pipe()?;
    let (status_reader, status_writer) = io::pipe()?;
    let (script_reader, mut script_writer) = io::pipe()?;
    // About a kilobyte: the pipe holds it all before anyone reads.
    script_writer.write_all(KEEPER.as_bytes())?;
    drop(script_writer);
    // The keeper opens the script by its path, which checks the pipe's owner.
    if let Some(owner) = owner {
        let id = (Uid::from_raw(owner), Gid::from_raw(owner));
        rustix::fs::fchown(&script_reader, Some(id.0), Some(id.1))?;
    }
    pass_descriptors(
        &mut command,
        [
            (status_writer.as_raw_fd(), STATUS_FD),
            (script_reader.as_raw_fd(), SCRIPT_FD),
        ],
    );
    command
        .stdin(Stdio::null())
        .stdout(writer.try_clone()?)
        .stderr(writer)
        .process_group(0);
    let mut command = tokio::process::Command::from(command);
    let child = command.spawn()?;
    // Our copies of the write ends must close, or reading would never see the end.
    drop(command);
    drop((status_writer, script_reader));
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

/// Marks every descriptor above stderr close-on-exec in `command`'s child, so that nothing
/// this process inherited from its own caller (a CI runner's pipe) reaches a sandbox, or is
/// held open by an init long after. Register it before [`pass_descriptors`], whose
/// descriptors then survive. Kernels before 5.11 lack the call and pass what they pass.
pub(super) fn close_inherited(command: &mut std::process::Command) {
    // SAFETY: one system call with integer arguments between fork and exec.
    unsafe {
        command.pre_exec(|| {
            libc::syscall(
                libc::SYS_close_range,
                3_u32,
                u32::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            );
            Ok(())
        });
    }
}

/// Gives `command`'s program each `(descriptor, number)` pair's descriptor (this process's,
/// close-on-exec) as that number.
pub(super) fn pass_descriptors<const N: usize>(
    command: &mut std::process::Command,
    targets: [(RawFd, RawFd); N],
) {
    // Out of the way first, above every target, so that no dup2 overwrites another's source
    // and no source is a target (a plain `dup` takes the lowest free number, which may be a
    // target: closing that copy after its dup2 would close the target).
    let above = targets
        .iter()
        .map(|(_, target)| target + 1)
        .max()
        .unwrap_or(0);
    // SAFETY: only async-signal-safe calls (fcntl, dup2, close) between fork and exec.
    unsafe {
        command.pre_exec(move || {
            let moved = targets.map(|(raw, _)| libc::fcntl(raw, libc::F_DUPFD, above));
            for (source, (_, target)) in moved.into_iter().zip(targets) {
                if source < 0 || libc::dup2(source, target) < 0 {
                    return Err(io::Error::last_os_error());
                }
                libc::close(source);
            }
            Ok(())
        });
    }
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

    /// Leaves what the command started running, and reaps the keeper when it ends (a process
    /// that exits first leaves that to whoever inherits the keeper). While the keeper holds
    /// the group, it stays registered for stop and delete.
    fn keep_background(self) {
        let Running {
            mut child, group, ..
        } = self;
        let file = group.detach();
        if matches!(child.try_wait(), Ok(Some(_))) {
            // The group's leader is gone: its registration can name nothing any more, and
            // what is left belongs to the sandbox's init.
            if let Some(file) = file {
                let _ = fs::remove_file(file);
            }
            return;
        }
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

/// Every process's children, as their parents say now.
fn family() -> HashMap<u32, Vec<u32>> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse().ok())
        else {
            continue;
        };
        if let Some(parent) = stat_field(pid, 1).and_then(|field| field.parse().ok()) {
            children.entry(parent).or_default().push(pid);
        }
    }
    children
}

/// The processes in the pid namespace of process `pid`, but `pid` itself and zombies, each
/// with its parent and its command line (arguments joined by spaces).
pub(super) fn in_pid_namespace_of(pid: u32) -> Vec<(u32, u32, String)> {
    let namespace = |pid: u32| fs::read_link(format!("/proc/{pid}/ns/pid")).ok();
    let Some(own) = namespace(pid) else {
        return Vec::new();
    };
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&other| {
            other != pid && !is_zombie(other) && namespace(other).as_ref() == Some(&own)
        })
        .map(|other| {
            let parent = stat_field(other, 1)
                .and_then(|field| field.parse().ok())
                .unwrap_or(0);
            let line = fs::read(format!("/proc/{other}/cmdline")).unwrap_or_default();
            let line = String::from_utf8_lossy(&line)
                .trim_end_matches('\0')
                .replace('\0', " ");
            (other, parent, line)
        })
        .collect()
}

/// The children of process `parent`.
pub(super) fn children(parent: u32) -> Vec<u32> {
    family().remove(&parent).unwrap_or_default()
}

/// The descendants of process `root`, as their parents say now.
fn descendants(root: u32) -> Vec<u32> {
    let children = family();
    let mut found = Vec::new();
    let mut pending = vec![root];
    while let Some(pid) = pending.pop() {
        for &child in children.get(&pid).into_iter().flatten() {
            found.push(child);
            pending.push(child);
        }
    }
    found
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

/// Field `index` of `/proc/<pid>/stat`, counted from the state (field 3) as 0.
fn stat_field(pid: u32, index: usize) -> Option<String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses; fields resume after the last `)`.
    let fields = &stat[stat.rfind(')')? + 1..];
    fields.split_whitespace().nth(index).map(str::to_string)
}

/// The start time of process `pid` in clock ticks since boot (field 22 of `/proc/<pid>/stat`).
pub(super) fn start_time(pid: u32) -> Option<u64> {
    stat_field(pid, 19)?.parse().ok()
}

/// Whether `pid` has exited and waits to be reaped (state `Z`, field 3 of its stat).
fn is_zombie(pid: u32) -> bool {
    stat_field(pid, 0).is_some_and(|state| state == "Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passed_descriptors_arrive_whichever_numbers_are_free_in_the_child() {
        use std::io::Read as _;
        // The numbers the child has free decide what a plain `dup` returns; each case frees
        // some before the descriptors are passed (a caller whose own 3 or 4 was closed).
        for (free, swapped) in [
            (&[3, 4][..], false),
            (&[3], false),
            (&[4, 5], true),
            (&[], false),
        ] {
            let (mut status_reader, status_writer) = io::pipe().unwrap();
            let (script_reader, mut script_writer) = io::pipe().unwrap();
            script_writer.write_all(b"script\n").unwrap();
            drop(script_writer);
            let ours = [status_writer.as_raw_fd(), script_reader.as_raw_fd()];
            let free: Vec<RawFd> = free
                .iter()
                .copied()
                .filter(|fd| !ours.contains(fd))
                .collect();
            let mut command = std::process::Command::new("/bin/sh");
            command.args(["-c", "cat <&5 && echo status >&3"]);
            // SAFETY: only close between fork and exec.
            unsafe {
                command.pre_exec(move || {
                    for fd in &free {
                        libc::close(*fd);
                    }
                    Ok(())
                });
            }
            let status = (status_writer.as_raw_fd(), 3);
            let script = (script_reader.as_raw_fd(), 5);
            if swapped {
                pass_descriptors(&mut command, [script, status]);
            } else {
                pass_descriptors(&mut command, [status, script]);
            }
            let output = command.stderr(Stdio::piped()).output().unwrap();
            drop((status_writer, script_reader));
            let mut said = String::new();
            status_reader.read_to_string(&mut said).unwrap();
            let shown = String::from_utf8_lossy(&output.stderr);
            assert_eq!(
                String::from_utf8_lossy(&output.stdout),
                "script\n",
                "{shown}"
            );
            assert_eq!(said, "status\n", "{shown}");
        }
    }

    #[test]
    fn start_time_of_this_process_is_stable_and_absent_for_a_missing_one() {
        let own = std::process::id();
        let first = start_time(own).expect("own start time");
        assert_eq!(start_time(own), Some(first));
        assert_eq!(start_time(u32::MAX), None);
    }
}
