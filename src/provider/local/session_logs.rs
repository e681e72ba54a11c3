//! Reading and following the logs of `local` session commands.
//!
//! A follower is a small state machine behind a [`LogStream`]: it reads what the shell appended
//! to `output.log` since its last read, splits it by stream marker, and sleeps on a tokio timer
//! when there is nothing new, so that following many commands costs no thread each. It ends once
//! the command's exit code is written (the shell writes it after all output) and everything was
//! read, or when the session is gone. Reads of the log are plain reads of a local regular file,
//! which do not block for long; they run on the async thread for that reason.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read};

use futures::StreamExt as _;
use rustix::fs::OFlags;

use super::paths;
use super::session_files::{LIVENESS_EVERY, POLL, Record, SessionPaths};
use super::{LocalProvider, blocking};
use crate::provider::session::Demultiplexer;
use crate::provider::{CommandLogs, LogChunk, LogStream, ProviderError, Result};

/// The most one read takes from the log.
const READ_SIZE: usize = 64 * 1024;

impl SessionPaths {
    /// What a command wrote so far.
    pub(super) fn read_logs(&self, command: &str) -> Result<CommandLogs> {
        let log = self.command_file(command, "output.log");
        match paths::read_beneath(&self.home, &log) {
            Ok(bytes) => Ok(CommandLogs::from_multiplexed(&bytes)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(CommandLogs::default()),
            Err(error) => Err(ProviderError::transport(format!(
                "cannot read the logs of command `{command}`: {error}"
            ))),
        }
    }
}

impl LocalProvider {
    pub(crate) async fn session_command_logs(
        &self,
        id: &str,
        session: &str,
        command: &str,
    ) -> Result<CommandLogs> {
        let paths = self.existing_session(id, session).await?;
        let command = command.to_string();
        blocking(move || {
            paths.command(&command)?;
            paths.read_logs(&command)
        })
        .await
    }

    pub(crate) async fn follow_session_command_logs(
        &self,
        id: &str,
        session: &str,
        command: &str,
    ) -> Result<LogStream> {
        let paths = self.existing_session(id, session).await?;
        let (checked, command) = (paths.clone(), command.to_string());
        let name = command.clone();
        let record = blocking(move || {
            checked.command(&name)?;
            checked.record()
        })
        .await?;
        let follower = Follower {
            paths,
            record,
            command,
            file: None,
            demultiplexer: Demultiplexer::default(),
            ready: VecDeque::new(),
            idle: 0,
            ended: false,
        };
        Ok(
            futures::stream::unfold(follower, |mut follower| async move {
                let item = follower.next().await?;
                Some((item, follower))
            })
            .boxed(),
        )
    }
}

struct Follower {
    paths: SessionPaths,
    record: Record,
    command: String,
    /// The log, once it exists.
    file: Option<File>,
    demultiplexer: Demultiplexer,
    /// Chunks read but not yet handed out.
    ready: VecDeque<LogChunk>,
    /// Polls since the last new bytes.
    idle: u32,
    /// No more bytes will come: hand out what is left, then end.
    ended: bool,
}

impl Follower {
    async fn next(&mut self) -> Option<Result<LogChunk>> {
        loop {
            if let Some(chunk) = self.ready.pop_front() {
                return Some(Ok(chunk));
            }
            if self.ended {
                self.ready.extend(self.demultiplexer.finish());
                return self.ready.pop_front().map(Ok);
            }
            match self.read() {
                Ok(0) => {}
                Ok(_) => {
                    self.idle = 0;
                    continue;
                }
                Err(error) => {
                    self.ended = true;
                    return Some(Err(ProviderError::transport(format!(
                        "cannot read the logs of command `{}`: {error}",
                        self.command
                    ))));
                }
            }
            // Nothing new. The exit code comes after the last output: one more read drains it.
            if self.paths.exit_code(&self.command).is_some() || self.gone() {
                while let Ok(read) = self.read() {
                    if read == 0 {
                        break;
                    }
                }
                self.ended = true;
                continue;
            }
            self.idle += 1;
            tokio::time::sleep(POLL).await;
        }
    }

    /// Reads what is new in the log into `ready`; the number of bytes read.
    fn read(&mut self) -> io::Result<usize> {
        if self.file.is_none() {
            let log = self.paths.command_file(&self.command, "output.log");
            match paths::open_beneath(&self.paths.home, &log, OFlags::RDONLY) {
                Ok(file) => self.file = Some(File::from(file)),
                Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(0),
                Err(error) => return Err(error),
            }
        }
        let Some(file) = self.file.as_mut() else {
            return Ok(0);
        };
        let mut buffer = vec![0; READ_SIZE];
        let read = file.read(&mut buffer)?;
        self.ready.extend(self.demultiplexer.push(&buffer[..read]));
        Ok(read)
    }

    /// Whether the session was deleted or its shell ended, checked about once a second.
    fn gone(&self) -> bool {
        self.idle % LIVENESS_EVERY == LIVENESS_EVERY - 1
            && (!self.paths.control.exists() || !self.record.is_running())
    }
}
