//! The output of the teammates' commands: every runner the teammate's work session ran, read or
//! followed through the provider's session logs, split into lines with the time the runner
//! stamped on each (`<seconds since the epoch> <text>`).
//!
//! Only reading: nothing here prints, colours or filters for a person (that is the front end's
//! job), and following costs no thread per teammate: the streams are merged.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::stream::{self, BoxStream, StreamExt};
use serde::Serialize;

use super::TeammateSandbox;
use crate::error::Result;
use crate::provider::{LogChunk, Provider, ProviderError};
use crate::runner::{RUNNER, SESSION};

/// Which stream a line was written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One line of a teammate's command output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    pub teammate: String,
    pub stream: Stream,
    /// When the runner saw the line (`None` for a line it did not stamp).
    #[serde(serialize_with = "crate::provider::humantime_serde_compat::option::serialize")]
    pub time: Option<SystemTime>,
    pub line: String,
}

/// Splits chunks into lines, per stream, and reads each line's stamp.
#[derive(Debug, Default)]
struct Lines {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Lines {
    fn push(&mut self, chunk: &LogChunk, teammate: &str, out: &mut Vec<LogLine>) {
        let (buffer, stream) = match chunk {
            LogChunk::Stdout(_) => (&mut self.stdout, Stream::Stdout),
            LogChunk::Stderr(_) => (&mut self.stderr, Stream::Stderr),
        };
        buffer.extend_from_slice(chunk.bytes());
        while let Some(end) = buffer.iter().position(|byte| *byte == b'\n') {
            let line: Vec<u8> = buffer.drain(..=end).collect();
            out.push(line_of(teammate, stream, &line[..line.len() - 1]));
        }
    }

    fn finish(&mut self, teammate: &str, out: &mut Vec<LogLine>) {
        for (buffer, stream) in [
            (&mut self.stdout, Stream::Stdout),
            (&mut self.stderr, Stream::Stderr),
        ] {
            if !buffer.is_empty() {
                out.push(line_of(teammate, stream, buffer));
                buffer.clear();
            }
        }
    }
}

fn line_of(teammate: &str, stream: Stream, bytes: &[u8]) -> LogLine {
    let text = String::from_utf8_lossy(bytes);
    let text = text.strip_suffix('\r').unwrap_or(&text);
    let (time, line) = stamp(text);
    LogLine {
        teammate: teammate.to_string(),
        stream,
        time,
        line: line.to_string(),
    }
}

/// `1712345678.123456 text` -> the time and `text`; a line without a stamp is all text.
fn stamp(text: &str) -> (Option<SystemTime>, &str) {
    let Some((first, rest)) = text.split_once(' ') else {
        return (None, text);
    };
    let valid = !first.is_empty()
        && first
            .bytes()
            .all(|byte| byte.is_ascii_digit() || byte == b'.')
        && first.bytes().filter(|byte| *byte == b'.').count() <= 1;
    match first.parse::<f64>() {
        Ok(seconds) if valid && seconds.is_finite() => {
            (Some(UNIX_EPOCH + Duration::from_secs_f64(seconds)), rest)
        }
        _ => (None, text),
    }
}

/// The ids of the runner commands of the teammate's work session, oldest first (none when the
/// session does not exist).
async fn runners(provider: &dyn Provider, id: &str) -> Result<Vec<String>> {
    match provider.get_session(id, SESSION).await {
        Ok(session) => Ok(session
            .commands
            .into_iter()
            .filter(|command| command.command == RUNNER)
            .map(|command| command.id)
            .collect()),
        Err(ProviderError::NotFound { .. }) => Ok(Vec::new()),
        Err(error) => Err(error.into()),
    }
}

/// What a teammate's commands wrote so far: the lines of every runner, oldest first, and how
/// many of them the last runner wrote (what a follower of that runner skips).
pub async fn read(
    provider: &dyn Provider,
    found: &TeammateSandbox,
) -> Result<(Vec<LogLine>, usize)> {
    let id = &found.sandbox.id;
    let teammate = &found.teammate.name;
    let mut lines = Vec::new();
    let mut last = 0;
    for command in runners(provider, id).await? {
        let logs = provider.session_command_logs(id, SESSION, &command).await?;
        let before = lines.len();
        let mut splitter = Lines::default();
        for chunk in &logs.chunks {
            splitter.push(chunk, teammate, &mut lines);
        }
        splitter.finish(teammate, &mut lines);
        // stdout and stderr reach the log through two pipes: their stamps give the order.
        lines[before..].sort_by_key(|line| line.time);
        last = lines.len() - before;
    }
    Ok((lines, last))
}

/// The lines the teammate's last runner writes from now on, after the first `skip` (those
/// already read), until it ends. Empty when no runner was ever started.
pub async fn follow(
    provider: &dyn Provider,
    found: &TeammateSandbox,
    skip: usize,
) -> Result<BoxStream<'static, Result<LogLine>>> {
    let id = &found.sandbox.id;
    let Some(command) = runners(provider, id).await?.pop() else {
        return Ok(stream::empty().boxed());
    };
    let chunks = provider
        .follow_session_command_logs(id, SESSION, &command)
        .await?;
    let teammate = found.teammate.name.clone();
    let state = (chunks, Lines::default(), teammate, false);
    let lines = stream::unfold(
        state,
        |(mut chunks, mut splitter, teammate, ended)| async move {
            if ended {
                return None;
            }
            let mut out = Vec::new();
            let ended = match chunks.next().await {
                Some(Ok(chunk)) => {
                    splitter.push(&chunk, &teammate, &mut out);
                    false
                }
                Some(Err(error)) => {
                    return Some((vec![Err(error.into())], (chunks, splitter, teammate, true)));
                }
                None => {
                    splitter.finish(&teammate, &mut out);
                    true
                }
            };
            let out: Vec<Result<LogLine>> = out.into_iter().map(Ok).collect();
            Some((out, (chunks, splitter, teammate, ended)))
        },
    )
    .flat_map(stream::iter)
    .skip(skip);
    Ok(lines.boxed())
}

/// Writes `input` (and a newline) to the standard input of the teammate's current runner, whose
/// command reads it.
pub async fn send_input(
    provider: &dyn Provider,
    found: &TeammateSandbox,
    input: &str,
) -> Result<()> {
    let id = &found.sandbox.id;
    let Some(command) = runners(provider, id).await?.pop() else {
        return Err(crate::error::Error::NotFound {
            message: format!("teammate `{}` has no command running", found.teammate.name),
            hint: Some("start it with `ralph-town start`".to_string()),
        });
    };
    provider
        .send_session_input(id, SESSION, &command, input)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_split_per_stream_and_keep_their_stamps() {
        let mut splitter = Lines::default();
        let mut out = Vec::new();
        splitter.push(
            &LogChunk::Stdout(b"1700000000.5 hel".to_vec()),
            "a",
            &mut out,
        );
        splitter.push(
            &LogChunk::Stderr(b"1700000001 oops\n".to_vec()),
            "a",
            &mut out,
        );
        splitter.push(
            &LogChunk::Stdout(b"lo world\nplain".to_vec()),
            "a",
            &mut out,
        );
        splitter.finish("a", &mut out);
        let texts: Vec<(&str, Stream)> = out.iter().map(|l| (l.line.as_str(), l.stream)).collect();
        assert_eq!(
            texts,
            [
                ("oops", Stream::Stderr),
                ("hello world", Stream::Stdout),
                ("plain", Stream::Stdout)
            ]
        );
        assert_eq!(
            out[1].time,
            Some(UNIX_EPOCH + Duration::from_millis(1_700_000_000_500))
        );
        assert_eq!(out[2].time, None);
    }

    #[test]
    fn only_a_number_then_a_space_is_a_stamp() {
        assert!(stamp("12 apples").0.is_some());
        assert_eq!(stamp("1.2.3 x"), (None, "1.2.3 x"));
        assert_eq!(stamp("x 1"), (None, "x 1"));
        assert_eq!(stamp("nospace"), (None, "nospace"));
    }
}
