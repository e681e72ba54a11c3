//! The files of a `local` session: where they are on the host and inside the sandbox, and
//! reading them. Host-only, in `<sandbox>/sessions/<session>/`: `session.json` (the shell's
//! process group and start time), `commands.jsonl` (one line per command), `input` (the FIFO the
//! shell reads commands from) and `lock` (serialises senders). Inside the sandbox, as on
//! Daytona, `~/.daytona/sessions/<session>/<command>/` holds `cmd.sh`, `output.log`, `exit_code`
//! and `input.pipe`; the sandbox can change those, so they are read without following links.
//! This file writes nothing but the lock.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::paths::{self};
use super::process_group;
use super::store::{Store, io_error};
use crate::provider::{ProviderError, Result, SessionCommand, SessionInfo};

/// How often a waiting caller looks for an exit code or new output.
pub(super) const POLL: Duration = Duration::from_millis(50);
/// Idle polls between checks that the session's shell still lives (about a second).
pub(super) const LIVENESS_EVERY: u32 = 20;
/// Where command files live in the home, the same place as on Daytona.
pub(super) const DATA_DIR: &str = ".daytona/sessions";

/// `session.json`: the shell behind a session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Record {
    pub(super) id: String,
    pub(super) pgid: u32,
    /// The group leader's start time: a reused pid never passes for the shell.
    pub(super) started: u64,
    #[serde(with = "crate::provider::humantime_serde_compat")]
    pub(super) created_at: SystemTime,
}

impl Record {
    pub(super) fn is_running(&self) -> bool {
        process_group::is_running(self.pgid, self.started)
    }
}

/// One line of `commands.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CommandRecord {
    pub(super) id: String,
    pub(super) command: String,
    pub(super) suppress_input_echo: bool,
}

/// Where one session's files are, on the host and as its shell sees them.
#[derive(Debug, Clone)]
pub(super) struct SessionPaths {
    pub(super) session: String,
    /// Host-only control directory.
    pub(super) control: PathBuf,
    /// The sandbox home on the host.
    pub(super) home: PathBuf,
    /// The same home as the shell sees it (`/home/daytona` under bubblewrap, `/root` in a root
    /// sandbox).
    pub(super) home_inside: String,
    pub(super) run_dir: PathBuf,
    /// The host id the sandbox's commands run as, when not this process's own: the files
    /// written here for the shell must be its.
    pub(super) owner: Option<u32>,
}

impl SessionPaths {
    /// A command file, relative to the home.
    pub(super) fn command_file(&self, command: &str, name: &str) -> PathBuf {
        Path::new(DATA_DIR)
            .join(&self.session)
            .join(command)
            .join(name)
    }

    pub(super) fn command_dir_inside(&self, command: &str) -> String {
        format!(
            "{}/{DATA_DIR}/{}/{command}",
            self.home_inside.trim_end_matches('/'),
            self.session
        )
    }

    pub(super) fn record(&self) -> Result<Record> {
        let path = self.control.join("session.json");
        let text = match fs::read(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return Err(ProviderError::not_found(format!(
                    "session `{}`",
                    self.session
                )));
            }
            Err(error) => return Err(io_error("read", &path, error)),
        };
        serde_json::from_slice(&text).map_err(|error| {
            ProviderError::transport(format!("cannot parse `{}`: {error}", path.display()))
        })
    }

    pub(super) fn commands(&self) -> Result<Vec<CommandRecord>> {
        let path = self.control.join("commands.jsonl");
        let text = fs::read_to_string(&path).map_err(|error| match error.kind() {
            io::ErrorKind::NotFound => {
                ProviderError::not_found(format!("session `{}`", self.session))
            }
            _ => io_error("read", &path, error),
        })?;
        Ok(text
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect())
    }

    pub(super) fn command(&self, command: &str) -> Result<CommandRecord> {
        self.commands()?
            .into_iter()
            .find(|record| record.id == command)
            .ok_or_else(|| {
                ProviderError::not_found(format!(
                    "command `{command}` in session `{}`",
                    self.session
                ))
            })
    }

    /// The exit code the shell wrote, once the command has ended.
    pub(super) fn exit_code(&self, command: &str) -> Option<i32> {
        let bytes =
            paths::read_beneath(&self.home, &self.command_file(command, "exit_code")).ok()?;
        String::from_utf8_lossy(&bytes).trim().parse().ok()
    }

    pub(super) fn status(&self, record: &CommandRecord) -> SessionCommand {
        SessionCommand {
            id: record.id.clone(),
            command: record.command.clone(),
            exit_code: self.exit_code(&record.id),
        }
    }

    pub(super) fn info(&self) -> Result<SessionInfo> {
        Ok(SessionInfo {
            id: self.session.clone(),
            commands: self
                .commands()?
                .iter()
                .map(|record| self.status(record))
                .collect(),
        })
    }

    /// Takes the session's lock: one sender at a time, so commands reach the shell whole and
    /// in the order they were recorded.
    pub(super) fn lock(&self) -> Result<File> {
        let path = self.control.join("lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|error| match error.kind() {
                io::ErrorKind::NotFound => {
                    ProviderError::not_found(format!("session `{}`", self.session))
                }
                _ => io_error("open", &path, error),
            })?;
        file.lock()
            .map_err(|error| io_error("lock", &path, error))?;
        Ok(file)
    }

    pub(super) fn ended(&self) -> ProviderError {
        session_gone(format!(
            "session `{}` has ended (its shell exited)",
            self.session
        ))
    }
}

impl Store {
    pub(super) fn sessions_dir(&self, id: &str) -> PathBuf {
        self.sandbox_dir(id).join("sessions")
    }
}

/// Forgets every session of a sandbox whose processes were just killed (stop): like a
/// restarted Daytona daemon, a started-again sandbox has none. Their logs stay in the home.
pub(super) fn forget_all(store: &Store, id: &str) {
    let _ = fs::remove_dir_all(store.sessions_dir(id));
}

/// A session whose shell is gone (it ran `exit`, or was killed): 410, as Daytona's daemon
/// answers such a session (`SESSION_ENDED`), not a conflict a retry could resolve.
pub(super) fn session_gone(message: String) -> ProviderError {
    ProviderError::Api {
        status: Some(410),
        message,
        retryable: false,
    }
}
