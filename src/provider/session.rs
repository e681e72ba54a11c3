//! Process sessions: persistent shells inside a sandbox, in Daytona's model.
//!
//! A session is one long-lived shell. Commands sent to it run one after another in that shell,
//! so `cd` and `export` carry over from one to the next; a command sent "async" is answered at
//! once and keeps running. Every command has an id, an exit code once it ends, and logs that keep
//! stdout and stderr apart. This module holds the shared types and the multiplexed log format
//! (Daytona's three-byte stream markers); it does no I/O and knows no backend.

use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};

use super::{ProviderError, Result};

/// Marks the start of stdout bytes in a multiplexed log (Daytona's `STDOUT_PREFIX`).
pub(crate) const STDOUT_MARKER: &[u8] = b"\x01\x01\x01";
/// Marks the start of stderr bytes in a multiplexed log (Daytona's `STDERR_PREFIX`).
pub(crate) const STDERR_MARKER: &[u8] = b"\x02\x02\x02";

/// A session and the commands it ran, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// The id the session was created with.
    pub id: String,
    pub commands: Vec<SessionCommand>,
}

/// One command sent to a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionCommand {
    /// Assigned when the command is sent.
    pub id: String,
    /// The command line as sent.
    pub command: String,
    /// `None` while the command runs (or waits for an earlier one to end).
    pub exit_code: Option<i32>,
}

/// A command to send to a session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionExecRequest {
    /// Shell text, run by the session's shell itself (`cd` and `export` persist).
    pub command: String,
    /// Answer at once with the command id instead of waiting for the exit code. The command
    /// still runs in the session's shell, so later commands wait for it.
    pub run_async: bool,
    /// Do not copy input sent to the command into its logs.
    pub suppress_input_echo: bool,
    /// The id the command gets, as the image entrypoint's `entrypoint_command` on Daytona; a
    /// fresh one when `None`. An id the session already has is a conflict.
    pub command_id: Option<String>,
}

/// The answer to [`SessionExecRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionExecOutput {
    pub command_id: String,
    /// `None` for an async command.
    pub exit_code: Option<i32>,
    /// What the command wrote (empty for an async command).
    pub logs: CommandLogs,
}

/// A piece of a command's output, from one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogChunk {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
}

impl LogChunk {
    pub fn bytes(&self) -> &[u8] {
        match self {
            LogChunk::Stdout(bytes) | LogChunk::Stderr(bytes) => bytes,
        }
    }

    /// The chunk in the multiplexed form: its stream's marker, then its bytes.
    pub fn to_multiplexed(&self) -> Vec<u8> {
        let marker = match self {
            LogChunk::Stdout(_) => STDOUT_MARKER,
            LogChunk::Stderr(_) => STDERR_MARKER,
        };
        [marker, self.bytes()].concat()
    }
}

/// A command's output so far, in the order it was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandLogs {
    pub chunks: Vec<LogChunk>,
}

impl CommandLogs {
    /// Splits a multiplexed log.
    pub fn from_multiplexed(bytes: &[u8]) -> CommandLogs {
        let mut demultiplexer = Demultiplexer::default();
        let mut chunks = demultiplexer.push(bytes);
        chunks.extend(demultiplexer.finish());
        CommandLogs { chunks }
    }

    pub fn stdout(&self) -> String {
        self.text(|chunk| matches!(chunk, LogChunk::Stdout(_)))
    }

    pub fn stderr(&self) -> String {
        self.text(|chunk| matches!(chunk, LogChunk::Stderr(_)))
    }

    /// Both streams interleaved as they were written, without markers.
    pub fn output(&self) -> String {
        self.text(|_| true)
    }

    /// Both streams with their markers, as Daytona's daemon stores and sends them.
    pub fn multiplexed(&self) -> Vec<u8> {
        self.chunks
            .iter()
            .flat_map(LogChunk::to_multiplexed)
            .collect()
    }

    fn text(&self, keep: impl Fn(&LogChunk) -> bool) -> String {
        let bytes: Vec<u8> = self
            .chunks
            .iter()
            .filter(|chunk| keep(chunk))
            .flat_map(|chunk| chunk.bytes().iter().copied())
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// A followed command's output: chunks as they are written, ending when the command has ended
/// and everything it wrote was delivered. Each item may fail on its own (the session vanished).
pub type LogStream = BoxStream<'static, Result<LogChunk>>;

/// Splits a multiplexed byte stream into chunks, incrementally: a marker may arrive split
/// across two reads. Bytes before the first marker belong to no stream and are dropped, as
/// Daytona's SDKs drop them.
#[derive(Debug, Default)]
pub struct Demultiplexer {
    pending: Vec<u8>,
    current: Option<Stream>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Stdout,
    Stderr,
}

impl Demultiplexer {
    /// The chunks complete in `bytes` (and what earlier calls held back).
    pub fn push(&mut self, bytes: &[u8]) -> Vec<LogChunk> {
        self.pending.extend_from_slice(bytes);
        let mut chunks = Vec::new();
        let mut start = 0;
        let mut index = 0;
        while index < self.pending.len() {
            let rest = &self.pending[index..];
            let marker = if rest.starts_with(STDOUT_MARKER) {
                Some(Stream::Stdout)
            } else if rest.starts_with(STDERR_MARKER) {
                Some(Stream::Stderr)
            } else {
                None
            };
            match marker {
                Some(stream) => {
                    self.emit(start, index, &mut chunks);
                    self.current = Some(stream);
                    index += STDOUT_MARKER.len();
                    start = index;
                }
                // A marker's beginning at the very end: wait for the rest of it.
                None if could_begin_marker(rest) => break,
                None => index += 1,
            }
        }
        self.emit(start, index, &mut chunks);
        self.pending.drain(..index);
        chunks
    }

    /// Whatever was held back, once the stream has ended.
    pub fn finish(&mut self) -> Vec<LogChunk> {
        let mut chunks = Vec::new();
        let end = self.pending.len();
        self.emit(0, end, &mut chunks);
        self.pending.clear();
        chunks
    }

    fn emit(&self, start: usize, end: usize, chunks: &mut Vec<LogChunk>) {
        if start >= end {
            return;
        }
        let bytes = self.pending[start..end].to_vec();
        match self.current {
            Some(Stream::Stdout) => chunks.push(LogChunk::Stdout(bytes)),
            Some(Stream::Stderr) => chunks.push(LogChunk::Stderr(bytes)),
            None => {}
        }
    }
}

/// Whether `rest` (shorter than a marker) is the start of one.
fn could_begin_marker(rest: &[u8]) -> bool {
    rest.len() < STDOUT_MARKER.len()
        && (STDOUT_MARKER.starts_with(rest) || STDERR_MARKER.starts_with(rest))
}

/// Session ids: Daytona's daemon takes any, and names a directory after each; so here an id is
/// anything that can be one directory's name (no `/`, not `.` or `..`, at most 255 bytes),
/// without control characters. It is always quoted where a shell sees it.
pub(crate) fn check_session_id(id: &str) -> Result<()> {
    let valid = !id.is_empty()
        && id.len() <= 255
        && !matches!(id, "." | "..")
        && !id.chars().any(|c| c == '/' || c.is_control());
    if valid {
        return Ok(());
    }
    Err(ProviderError::Api {
        status: Some(400),
        message: format!(
            "invalid session id `{}`: it names a directory, so it cannot be empty, `.` or `..`, hold `/` or control characters, or be longer than 255 bytes",
            id.escape_default()
        ),
        retryable: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_split_across_reads_are_recognised() {
        let log = b"\x01\x01\x01out\n\x02\x02\x02err\n\x01\x01\x01more\n";
        let whole = CommandLogs::from_multiplexed(log);
        assert_eq!(whole.stdout(), "out\nmore\n");
        assert_eq!(whole.stderr(), "err\n");
        assert_eq!(whole.output(), "out\nerr\nmore\n");
        for split in 1..log.len() {
            let mut demultiplexer = Demultiplexer::default();
            let mut chunks = demultiplexer.push(&log[..split]);
            chunks.extend(demultiplexer.push(&log[split..]));
            chunks.extend(demultiplexer.finish());
            let logs = CommandLogs { chunks };
            assert_eq!(logs.stdout(), "out\nmore\n", "split at {split}");
            assert_eq!(logs.stderr(), "err\n", "split at {split}");
        }
    }

    #[test]
    fn a_lone_marker_byte_is_data() {
        let logs = CommandLogs::from_multiplexed(b"\x01\x01\x01a\x01b\x02\x02c");
        assert_eq!(logs.stdout(), "a\x01b\x02\x02c");
        assert_eq!(
            CommandLogs::from_multiplexed(&logs.multiplexed()).stdout(),
            logs.stdout()
        );
    }

    #[test]
    fn session_ids_are_any_one_directory_name() {
        for good in [
            "s",
            "my-session",
            "a.b_c",
            "0f8e-uuid",
            "my session",
            "ü-s",
            "-x",
            "$(x)",
        ] {
            assert!(check_session_id(good).is_ok(), "{good}");
        }
        for bad in ["", ".", "..", "a/b", "a\nb", "a\0b", &"x".repeat(256)] {
            assert!(check_session_id(bad).is_err(), "{bad:?}");
        }
    }
}
