//! The shell behind a `local` session: how it is started so that it outlives its creator,
//! and how a command reaches it (files written into the sandbox, then a few lines of shell
//! through its FIFO). Commands travel as files, never on a command line; the shell's
//! environment (which may hold secrets) only in its process environment.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Stdio;
use std::time::SystemTime;

use rustix::fs::{Mode, OFlags};

use super::paths;
use super::process_group;
use super::session_files::{
    CommandRecord, LIVENESS_EVERY, POLL, Record, SessionPaths, session_gone,
};
use super::store::io_error;
use crate::provider::{ProviderError, Result, SessionExecRequest};

/// Starts the shell on a FIFO in `staging`, registers its group and writes the records.
pub(super) fn start_shell(
    mut command: std::process::Command,
    staging: &Path,
    paths: &SessionPaths,
) -> Result<Record> {
    let fifo = staging.join("input");
    rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, Mode::from_raw_mode(0o600))
        .map_err(|error| io_error("create", &fifo, error.into()))?;
    // Open for reading and writing: the shell's stdin then never ends, whoever closes theirs.
    let stdin = File::options()
        .read(true)
        .write(true)
        .open(&fifo)
        .map_err(|error| io_error("open", &fifo, error))?;
    command
        .stdin(stdin)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    let cannot_start = |error: &dyn std::fmt::Display| {
        ProviderError::transport(format!(
            "cannot start the shell of session `{}`: {error}",
            paths.session
        ))
    };
    // Tokio reaps a dropped child when it ends; once this process is gone, init does.
    let mut child = tokio::process::Command::from(command)
        .spawn()
        .map_err(|error| cannot_start(&error))?;
    let pgid = child
        .id()
        .ok_or_else(|| cannot_start(&"it exited at once"))?;
    let Some(started) = process_group::register_detached(pgid, &paths.run_dir) else {
        let _ = child.start_kill();
        return Err(cannot_start(&"it exited at once"));
    };
    drop(child);
    let record = Record {
        id: paths.session.clone(),
        pgid,
        started,
        created_at: SystemTime::now(),
    };
    let written = serde_json::to_vec(&record)
        .map_err(io::Error::other)
        .and_then(|text| fs::write(staging.join("session.json"), text))
        .and_then(|()| fs::write(staging.join("commands.jsonl"), b""));
    written.map_err(|error| {
        process_group::end_detached(pgid, started, &paths.run_dir);
        io_error("write", staging, error)
    })?;
    Ok(record)
}

/// Records a command, writes its files and hands it to the shell. Returns the session's
/// record.
pub(super) fn submit(
    paths: &SessionPaths,
    command_id: &str,
    request: &SessionExecRequest,
) -> Result<Record> {
    let record = paths.record()?;
    let _lock = paths.lock()?;
    if !record.is_running() {
        return Err(paths.ended());
    }
    // Under the lock: of two senders of one chosen id, the second sees the first's record.
    if request.command_id.is_some() && paths.command(command_id).is_ok() {
        return Err(ProviderError::Conflict {
            message: format!(
                "command `{command_id}` already exists in session `{}`",
                paths.session
            ),
        });
    }
    // Replaced, never opened: the files lie in the sandbox's home, where a command may have
    // left a FIFO at a chosen id's known path (the entrypoint's), whose opening would wait.
    let write = |name: &str, contents: &[u8]| {
        let file = paths.command_file(command_id, name);
        paths::replace_beneath(&paths.home, &file, contents, paths.owner)
            .map_err(|error| io_error("write", &paths.home.join(&file), error))
    };
    write("cmd.sh", request.command.as_bytes())?;
    // There before the answer, so that reading logs of a command just sent finds them.
    write("output.log", b"")?;
    // A chosen id may have run before (the entrypoint, in an earlier start of the sandbox): its
    // exit code goes, or the command would show as ended before it began.
    if request.command_id.is_some() {
        write("exit_code", b"")?;
    }
    let line = serde_json::to_string(&CommandRecord {
        id: command_id.to_string(),
        command: request.command.clone(),
        suppress_input_echo: request.suppress_input_echo,
    })
    .map_err(|error| ProviderError::transport(format!("cannot encode a command: {error}")))?;
    let list = paths.control.join("commands.jsonl");
    File::options()
        .append(true)
        .open(&list)
        .and_then(|mut file| file.write_all(format!("{line}\n").as_bytes()))
        .map_err(|error| io_error("write", &list, error))?;
    let wrapper = wrapper(&paths.command_dir_inside(command_id), request.run_async)?;
    let fifo = paths.control.join("input");
    // Non-blocking open: with no shell reading, it fails (ENXIO) instead of waiting forever.
    let mut input = File::options()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .map_err(|_| paths.ended())?;
    rustix::fs::fcntl_setfl(&input, OFlags::empty())
        .map_err(|error| io_error("write", &fifo, error.into()))?;
    input
        .write_all(wrapper.as_bytes())
        .map_err(|_| paths.ended())?;
    Ok(record)
}

/// Waits for the exit code of a command the shell runs, checking about once a second that the
/// shell still lives.
pub(super) async fn wait_for_exit(
    paths: &SessionPaths,
    record: &Record,
    command: &str,
) -> Result<i32> {
    let mut polls = 0u32;
    loop {
        if let Some(code) = paths.exit_code(command) {
            return Ok(code);
        }
        polls += 1;
        if polls.is_multiple_of(LIVENESS_EVERY) && (!record.is_running() || !paths.control.exists())
        {
            return paths.exit_code(command).ok_or_else(|| {
                session_gone(format!(
                    "session `{}` ended before command `{command}` finished",
                    paths.session
                ))
            });
        }
        // Quick commands are the common case: look often at first, then at the usual pace.
        let pause = if polls < LIVENESS_EVERY {
            POLL / 10
        } else {
            POLL
        };
        tokio::time::sleep(pause).await;
    }
}

/// The shell text that runs one command, after Daytona's daemon: the command file's text is
/// evaluated by the session's shell (so `cd` and `export` persist, and its errors name the
/// shell, `bash: line 1: ...`, as Daytona's do, not a file of ours), its stdout and stderr pass through
/// FIFOs that put a marker before each line, and its exit code is written once all output is in
/// the log. A sync command's stdin ends at once; an async one's stays open for input until it
/// ends (a `sleep` holds the write end: Daytona's loop of `sleep 3600` left orphans behind).
fn wrapper(dir: &str, run_async: bool) -> Result<String> {
    let dir = shlex::try_quote(dir)
        .map_err(|_| ProviderError::transport("a session path holds a NUL byte"))?;
    let stdin = if run_async {
        r#"sleep 2147483647 > "$ip" &"#
    } else {
        r#"cat /dev/null > "$ip" &"#
    };
    Ok(format!(
        r#"{{
dir={dir}
log="$dir/output.log"
sp="$dir/stdout.pipe"
ep="$dir/stderr.pipe"
ip="$dir/input.pipe"
rm -f "$sp" "$ep" "$ip" && mkfifo "$sp" "$ep" "$ip" || exit 1
cleanup() {{ rm -f "$sp" "$ep" "$ip"; }}
trap 'cleanup' EXIT HUP INT TERM
( while IFS= read -r line || [ -n "$line" ]; do printf '\001\001\001%s\n' "$line"; done < "$sp" ) >> "$log" & r1=$!
( while IFS= read -r line || [ -n "$line" ]; do printf '\002\002\002%s\n' "$line"; done < "$ep" ) >> "$log" & r2=$!
{stdin}
ip_pid=$!
{{ eval "$(cat "$dir/cmd.sh")"; }} < "$ip" > "$sp" 2> "$ep"
_ec=$?
kill "$ip_pid" 2>/dev/null; wait "$ip_pid" 2>/dev/null
wait "$r1" "$r2"
echo "$_ec" >> "$dir/exit_code"
cleanup
}}
"#
    ))
}
