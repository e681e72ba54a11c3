//! Running one command in a sandbox to completion: merged output, timeout, and the process
//! group that makes a command killable as a whole (on timeout, stop or delete, even from
//! another `ralph-town` process; see `process_group`). This file holds no lock and reads no
//! metadata; the provider decides what may run.
//!
//! An exec'd command runs under `keeper.sh`, which reports its exit code on a pipe of its own
//! the moment it ends, so the answer comes then even while what it started in the background
//! (`python3 -m http.server > log 2>&1 &`, as Daytona's SDKs start servers) holds its output.
//! The background lives on: under bubblewrap in the sandbox's namespaces, which its init holds
//! until stop or delete ends it (see `init`); without, in the command's process group, which
//! the keeper holds and keeps registered, so stop and delete end it. A timeout or a cancelled
//! exec ends the background with the command, as Daytona's daemon kills the command's process
//! group then.

use std::fs;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use rustix::fs::{Gid, Uid};
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe::Receiver;

use super::descriptors::pass_descriptors;
use super::process_group::ProcessGroup;

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
