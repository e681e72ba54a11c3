//! Process sessions of `local` sandboxes: the [`Provider`](crate::provider::Provider) session
//! calls. A session is a shell started by the launcher (inside bubblewrap when the sandbox has
//! it) in its own process group, registered with the process tracker so that stop and delete end
//! it, and fed commands through a FIFO. All state is in files (`session_files.rs`), so that any
//! process on the state root (a `serve`, a later CLI run) can use a session another one created;
//! starting the shell and handing it commands is in `session_shell.rs`, reading and following
//! logs in `session_logs.rs`. Nothing here logs or prints a command's environment.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};

use rustix::fs::OFlags;

use super::bubblewrap::SANDBOX;
use super::exec::{Starting, ensure_started};
use super::paths;
use super::session_files::{DATA_DIR, POLL, SessionPaths};
use super::session_shell::{start_shell, submit, wait_for_exit};
use super::store::{Metadata, io_error};
use super::{LocalProvider, blocking, process_env, process_group};
use crate::provider::session::{STDOUT_MARKER, check_session_id};
use crate::provider::{
    CommandLogs, ExecRequest, ProviderError, Result, SessionCommand, SessionExecOutput,
    SessionExecRequest, SessionInfo,
};

impl LocalProvider {
    pub(super) fn session_paths(&self, metadata: &Metadata, session: &str) -> SessionPaths {
        let dirs = self.store.dirs(metadata);
        SessionPaths {
            owner: self.launcher.owner(),
            session: session.to_string(),
            control: self.store.sessions_dir(&metadata.id).join(session),
            home_inside: self.launcher.home_value(&dirs),
            home: dirs.home,
            run_dir: self.store.run_dir(&metadata.id),
        }
    }

    /// The paths of an existing session of a started sandbox.
    pub(super) async fn existing_session(&self, id: &str, session: &str) -> Result<SessionPaths> {
        check_session_id(session)?;
        let metadata = self.blocking_resolve(id).await?;
        ensure_started(&metadata)?;
        Ok(self.session_paths(&metadata, session))
    }

    pub(crate) async fn create_session(&self, id: &str, session: &str) -> Result<()> {
        check_session_id(session)?;
        // Held until the shell is registered: a stop or delete either comes first or kills it.
        let Starting {
            lock,
            metadata,
            env,
        } = self.starting(id).await?;
        let paths = self.session_paths(&metadata, session);
        let exists = || ProviderError::Conflict {
            message: format!("session `{session}` already exists"),
        };
        if paths.control.exists() {
            return Err(exists());
        }
        let dirs = self.store.dirs(&metadata);
        let location = self.working_directory(&metadata, &dirs, None)?;
        // Built aside and renamed into place, so that no one sees a half-made session.
        let staging = self
            .store
            .sessions_dir(&metadata.id)
            .join(format!(".new-{}", uuid::Uuid::new_v4().simple()));
        fs::create_dir_all(&staging).map_err(|error| io_error("create", &staging, error))?;
        let environment = process_env::environment(
            &paths.home_inside,
            &metadata.user,
            &env,
            &BTreeMap::new(),
            None,
        );
        let invocation = self.launcher.invocation(
            &dirs,
            &location,
            environment,
            &[process_env::login_shell()],
            true,
            SANDBOX,
        );
        let started = invocation
            .held_command()
            .map_err(|error| {
                ProviderError::transport(format!(
                    "cannot start the shell of session `{session}`: {error}"
                ))
            })
            .and_then(|command| start_shell(command, &staging, &paths));
        let result = started.and_then(|record| {
            fs::rename(&staging, &paths.control).map_err(|error| {
                process_group::end_detached(record.pgid, record.started, &paths.run_dir);
                match error.kind() {
                    io::ErrorKind::AlreadyExists | io::ErrorKind::DirectoryNotEmpty => exists(),
                    _ => io_error("create", &paths.control, error),
                }
            })
        });
        if result.is_err() {
            let _ = fs::remove_dir_all(&staging);
        }
        drop(lock);
        result
    }

    pub(crate) async fn list_sessions(&self, id: &str) -> Result<Vec<SessionInfo>> {
        let metadata = self.blocking_resolve(id).await?;
        let sessions = self.store.sessions_dir(&metadata.id);
        let provider = self.clone();
        blocking(move || {
            let entries = match fs::read_dir(&sessions) {
                Ok(entries) => entries,
                Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(error) => return Err(io_error("read", &sessions, error)),
            };
            let mut found = Vec::new();
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') {
                    continue;
                }
                let paths = provider.session_paths(&metadata, &name);
                // A session deleted while we look is simply absent.
                if let (Ok(record), Ok(info)) = (paths.record(), paths.info()) {
                    found.push((record.created_at, info));
                }
            }
            found.sort_by(|left, right| (left.0, &left.1.id).cmp(&(right.0, &right.1.id)));
            Ok(found.into_iter().map(|(_, info)| info).collect())
        })
        .await
    }

    pub(crate) async fn get_session(&self, id: &str, session: &str) -> Result<SessionInfo> {
        let paths = self.existing_session(id, session).await?;
        blocking(move || {
            paths.record()?;
            paths.info()
        })
        .await
    }

    pub(crate) async fn delete_session(&self, id: &str, session: &str) -> Result<()> {
        let paths = self.existing_session(id, session).await?;
        let control = paths.control.clone();
        blocking(move || {
            let record = paths.record()?;
            let lock = paths.lock()?;
            process_group::end_detached(record.pgid, record.started, &paths.run_dir);
            let gone = control.with_file_name(format!(".gone-{}", uuid::Uuid::new_v4().simple()));
            fs::rename(&control, &gone).map_err(|error| io_error("delete", &control, error))?;
            drop(lock);
            let _ = fs::remove_dir_all(&gone);
            Ok(())
        })
        .await?;
        // The command files are the sandbox's own: removed from inside it, so that a link a
        // command planted there cannot point the removal at the host.
        let remove = ExecRequest {
            // The id is any directory name (see `check_session_id`): quoted, never read as code.
            command: format!(
                "rm -rf -- ~/{DATA_DIR}/{}",
                shlex::try_quote(session).map_err(|_| ProviderError::Api {
                    status: Some(400),
                    message: format!("invalid session id `{}`", session.escape_default()),
                    retryable: false,
                })?
            ),
            ..ExecRequest::default()
        };
        let _ = self.run(id, &remove).await;
        Ok(())
    }

    pub(crate) async fn session_exec(
        &self,
        id: &str,
        session: &str,
        request: &SessionExecRequest,
    ) -> Result<SessionExecOutput> {
        if request.command.trim().is_empty() {
            return Err(ProviderError::Api {
                status: Some(400),
                message: "the command is empty".to_string(),
                retryable: false,
            });
        }
        let paths = self.existing_session(id, session).await?;
        // A chosen id names the command's directory, as a session id names the session's.
        let command_id = match &request.command_id {
            Some(chosen) => {
                check_session_id(chosen)?;
                chosen.clone()
            }
            None => uuid::Uuid::new_v4().to_string(),
        };
        let run_async = request.run_async;
        let (sent, request, id_sent) = (paths.clone(), request.clone(), command_id.clone());
        let record = blocking(move || submit(&sent, &id_sent, &request)).await?;
        if run_async {
            return Ok(SessionExecOutput {
                command_id,
                exit_code: None,
                logs: CommandLogs::default(),
            });
        }
        let exit_code = wait_for_exit(&paths, &record, &command_id).await?;
        let logs = paths.read_logs(&command_id)?;
        Ok(SessionExecOutput {
            command_id,
            exit_code: Some(exit_code),
            logs,
        })
    }

    pub(crate) async fn session_command(
        &self,
        id: &str,
        session: &str,
        command: &str,
    ) -> Result<SessionCommand> {
        let paths = self.existing_session(id, session).await?;
        let command = command.to_string();
        blocking(move || Ok(paths.status(&paths.command(&command)?))).await
    }

    pub(crate) async fn send_session_input(
        &self,
        id: &str,
        session: &str,
        command: &str,
        data: &str,
    ) -> Result<()> {
        let paths = self.existing_session(id, session).await?;
        let record = {
            let (paths, command) = (paths.clone(), command.to_string());
            blocking(move || paths.command(&command)).await?
        };
        let mut data = data.to_string();
        if !data.ends_with('\n') {
            data.push('\n');
        }
        let pipe = paths.command_file(command, "input.pipe");
        // The command may still wait for an earlier one, or be about to open its stdin.
        let mut waited = 0;
        let input = loop {
            if let Some(code) = paths.exit_code(command) {
                return Err(ProviderError::Conflict {
                    message: format!(
                        "command `{command}` has already completed with exit code {code}"
                    ),
                });
            }
            match paths::open_beneath(&paths.home, &pipe, OFlags::WRONLY | OFlags::NONBLOCK) {
                Ok(input) => break input,
                Err(error)
                    if waited < 100
                        && matches!(error.raw_os_error(), Some(libc::ENXIO | libc::ENOENT)) =>
                {
                    waited += 1;
                    tokio::time::sleep(POLL).await;
                }
                Err(error) => {
                    return Err(ProviderError::Conflict {
                        message: format!("command `{command}` is not reading input: {error}"),
                    });
                }
            }
        };
        blocking(move || {
            if !record.suppress_input_echo {
                // Echoed as stdout, as Daytona does, and before the command can answer it; the
                // shell appends to the same file.
                let log = paths.command_file(&record.id, "output.log");
                let flags = OFlags::WRONLY | OFlags::APPEND;
                if let Ok(file) = paths::open_beneath(&paths.home, &log, flags) {
                    let echo = [STDOUT_MARKER, data.as_bytes()].concat();
                    let _ = File::from(file).write_all(&echo);
                }
            }
            // Blocking writes from here on: a large input waits for the command to read it.
            rustix::fs::fcntl_setfl(&input, OFlags::empty())
                .map_err(io::Error::from)
                .and_then(|()| File::from(input).write_all(data.as_bytes()))
                .map_err(|error| ProviderError::transport(format!("cannot send input: {error}")))
        })
        .await
    }
}
