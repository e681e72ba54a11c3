//! A started sandbox's init under bubblewrap: one bubblewrap per sandbox that holds its mount,
//! pid, ipc and uts namespaces, which every command of the sandbox joins (see `join`). So a
//! process one command leaves running is seen, and may be signalled, by the next one, as in a
//! container; and it lives on after the process that ran it (a CLI that exits, a `serve`
//! restart), until the sandbox stops.
//!
//! The init starts on a command's first need, in a session of its own and with no parent to
//! die with, and its host pid and start time are recorded as `<run dir>/init`, so that a stale
//! record never names a later process. It is recorded before it may live and confirmed after,
//! so that a starter killed at any moment leaves no init unrecorded and none half-started in
//! use. Stop, delete and gc end it through
//! [`super::process_group::kill_registered`]; killing the first process of a pid namespace ends every
//! process in it. Its view (mounts, read-only paths) is fixed when it starts. This file starts
//! and ends inits; it builds no bubblewrap arguments.

use std::fs::{self, File};
use std::io::{self, PipeWriter, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{descriptors, process_group, procfs};

/// The record of a sandbox's init, in its run directory.
const RECORD: &str = "init";

/// Serializes the starting of one sandbox's init, across processes.
const LOCK: &str = "init.lock";

/// What bubblewrap writes while the init starts, read back when it fails.
const LOG: &str = "init.log";

/// The descriptor on which the init's program says that the sandbox is made: it has then
/// replaced bubblewrap's child, the first process of the namespaces.
const READY_FD: i32 = 4;

/// The program of a sandbox's init, the first process of its pid namespace (which nothing
/// inside may signal): it says it is ready and waits for a line on stdin, which its starter
/// sends once it has recorded it (a starter killed before that leaves no unrecorded init: the
/// line never comes, the read fails, the init ends). It then lets go of its log (a host file,
/// which the sandbox's processes could reach through `/proc/1/fd`) and holds the namespaces,
/// reaping what its commands leave behind as a shell does while it waits, until the sandbox's
/// home is gone from the host (its state root removed without a delete: the home then has no
/// link left, or is not there at all), so that nothing outlives it.
pub(super) const PROGRAM: [&str; 3] = [
    "/bin/sh",
    "-c",
    "echo >&4 && exec 4>&- && read -r go && exec </dev/null 2>/dev/null && \
     while n=$(stat -c %h /home/daytona) && [ \"$n\" != 0 ]; do sleep 5; done",
];

/// The host pid of the sandbox's running init, started with `start` (its bubblewrap command,
/// and what it passed the init) when there is none, then made ready by `prepare` (its pid and
/// what `start` passed) before it may live. `run_dir` is the sandbox's run directory.
pub(super) fn ensure<Passed>(
    run_dir: &Path,
    start: impl FnOnce() -> io::Result<(Command, Passed)>,
    prepare: impl FnOnce(u32, Passed) -> io::Result<()>,
) -> io::Result<u32> {
    fs::create_dir_all(run_dir)?;
    let lock = File::create(run_dir.join(LOCK))?;
    lock.lock()?;
    match running(run_dir) {
        Some(Running {
            pid,
            pending: false,
        }) => return Ok(pid),
        // Its starter died between recording it and letting it live (it held this lock till
        // then): whether the init got the word or not, it is ended and a new one started.
        Some(Running { pending: true, .. }) => end(run_dir),
        None => {}
    }
    let (command, passed) = start()?;
    let (pid, mut go) = spawn(command, run_dir)?;
    let started = procfs::start_time(pid)
        .ok_or_else(|| io::Error::other("the sandbox's init exited as it started"))?;
    // An init that is never told to go ends by itself (see `PROGRAM`), with what it holds.
    prepare(pid, passed)?;
    // Recorded before it may live, so that no init ever runs unrecorded; confirmed after.
    record(run_dir, &format!("{pid} {started} {PENDING}"))?;
    go.write_all(b"\n")?;
    record(run_dir, &format!("{pid} {started}"))?;
    Ok(pid)
}

/// Marks a record whose init may not have been let live yet.
const PENDING: &str = "pending";

/// Replaces the record with `line`, atomically.
fn record(run_dir: &Path, line: &str) -> io::Result<()> {
    let staged = run_dir.join(format!(".{RECORD}.new"));
    fs::write(&staged, format!("{line}\n"))?;
    fs::rename(&staged, run_dir.join(RECORD))
}

/// Ends the sandbox's init, and with it every process in its namespaces, if it runs; returns
/// once they are gone (or after [`END_WAIT`], which only a stuck kernel would take).
pub(super) fn end(run_dir: &Path) {
    let Some(Running { pid, .. }) = running(run_dir) else {
        return;
    };
    process_group::kill_process(pid);
    let deadline = Instant::now() + END_WAIT;
    while running(run_dir).is_some() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// How long [`end`] waits for a killed init's namespaces to empty.
const END_WAIT: Duration = Duration::from_secs(5);

/// What the init's own loop runs (see [`PROGRAM`]), which is not the sandbox's work.
const OWN_CHILDREN: [&str; 2] = ["sleep 5", "stat -c %h /home/daytona"];

/// The processes of the sandbox whose init is `pid` (its command lines), but the init and what
/// its own loop runs (a child of the init that is a copy of it, about to run one of those).
pub(super) fn others(pid: u32) -> Vec<String> {
    let itself = PROGRAM.join(" ");
    procfs::in_pid_namespace_of(pid)
        .into_iter()
        .filter(|(_, parent, line)| {
            !(*parent == pid && (OWN_CHILDREN.contains(&line.as_str()) || *line == itself))
        })
        .map(|(_, _, line)| line)
        .collect()
}

/// [`others`], once none runs or, if some still run after `patience`, those.
pub(super) fn others_for(pid: u32, patience: Duration) -> Vec<String> {
    let deadline = Instant::now() + patience;
    loop {
        let running = others(pid);
        if running.is_empty() || Instant::now() >= deadline {
            return running;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `work` with the pid of the sandbox's init, when one runs and has been let live, while
/// no init of the sandbox starts or is replaced.
pub(super) fn while_held<T>(
    run_dir: &Path,
    work: impl FnOnce(Option<u32>) -> io::Result<T>,
) -> io::Result<T> {
    fs::create_dir_all(run_dir)?;
    let lock = File::create(run_dir.join(LOCK))?;
    lock.lock()?;
    work(
        running(run_dir)
            .filter(|running| !running.pending)
            .map(|running| running.pid),
    )
}

/// A recorded init that runs.
struct Running {
    pid: u32,
    /// Recorded, but maybe never let live (see [`ensure`]).
    pending: bool,
}

/// The init the record names, while it is still that process and holds its namespaces (an
/// init being killed lets go of them before it ends).
fn running(run_dir: &Path) -> Option<Running> {
    let text = fs::read_to_string(run_dir.join(RECORD)).ok()?;
    let mut fields = text.split_whitespace();
    let pid: u32 = fields.next()?.parse().ok()?;
    let started: u64 = fields.next()?.parse().ok()?;
    let pending = fields.next() == Some(PENDING);
    let holds = Path::new("/proc")
        .join(pid.to_string())
        .join("ns/pid")
        .exists();
    (process_group::is_running(pid, started) && holds).then_some(Running { pid, pending })
}

/// Starts `command`, waits until the init is ready and returns its pid and its stdin, on which
/// it waits for the line that lets it live. The command's own process is reaped by a thread,
/// or by whoever inherits it once this process is gone.
fn spawn(mut command: Command, run_dir: &Path) -> io::Result<(u32, PipeWriter)> {
    let (mut ready_reader, ready_writer) = io::pipe()?;
    let (go_reader, go_writer) = io::pipe()?;
    let log_path = run_dir.join(LOG);
    let log = File::create(&log_path)?;
    // SAFETY: only the async-signal-safe setsid between fork and exec.
    unsafe {
        // Away from the starter's terminal and process group: a ^C there must not end it.
        command.pre_exec(|| Ok(rustix::process::setsid().map(drop)?));
    }
    descriptors::pass_descriptors(&mut command, [(ready_writer.as_raw_fd(), READY_FD)]);
    command.stdin(go_reader).stdout(Stdio::null()).stderr(log);
    let mut child = command.spawn()?;
    drop(command);
    drop(ready_writer);
    // `read_exact` reads again when a signal (another child's SIGCHLD in `serve`) interrupts.
    let ready = ready_reader.read_exact(&mut [0_u8; 1]).is_ok();
    // Bubblewrap's only child: the init, which is ready, so it has replaced that child.
    let init = ready
        .then(|| procfs::children(child.id()).into_iter().next())
        .flatten();
    std::thread::spawn(move || child.wait());
    match init {
        Some(pid) => Ok((pid, go_writer)),
        None => {
            let said = fs::read_to_string(&log_path).unwrap_or_default();
            Err(io::Error::other(match said.trim() {
                "" => "the sandbox's init did not start".to_string(),
                said => format!("the sandbox's init did not start: {said}"),
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_init_watches_the_home_every_sandbox_sees() {
        assert!(PROGRAM[2].contains(super::super::paths::SANDBOX_HOME));
        for child in OWN_CHILDREN {
            assert!(PROGRAM[2].contains(child), "{child}");
        }
    }
}
