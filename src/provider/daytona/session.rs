//! Process sessions over the toolbox API (`{toolbox}/process/session...`), following logs over
//! a WebSocket as Daytona's SDKs do.
//!
//! Daytona's daemon shapes session output by the client's SDK version. This client is no SDK, so
//! it asks for the one form every daemon version can give: session requests carry an empty
//! `X-Daytona-SDK-Version` (overriding the client-wide one) and `X-Daytona-Split-Output: true`,
//! which make the daemon send the log as stored, stdout and stderr lines behind their stream
//! markers, in exec answers, log reads and WebSocket messages alike; the client splits it. A
//! server that answers with the JSON form anyway (`{output, stdout, stderr}`) is understood too.
//! Session commands carry no secrets (they have no environment of their own).

use futures::{SinkExt as _, StreamExt as _};
use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{RequestBuilder, Url};
use reqwest_websocket::{CloseCode, Message, Upgrade as _};

use super::DaytonaProvider;
use super::http::{Repeat, transport_error};
use super::sandbox::sandbox_what;
use super::status;
use crate::daytona_api as wire;
use crate::provider::session::{Demultiplexer, STDERR_MARKER, STDOUT_MARKER};
use crate::provider::{
    CommandLogs, LogChunk, LogStream, ProviderError, Result, SessionCommand, SessionExecOutput,
    SessionExecRequest, SessionInfo,
};

/// The headers that ask the daemon for the marked log (see the module comment).
fn raw_output(builder: RequestBuilder) -> RequestBuilder {
    builder
        .header(
            HeaderName::from_static("x-daytona-sdk-version"),
            HeaderValue::from_static(""),
        )
        .header(
            HeaderName::from_static("x-daytona-split-output"),
            HeaderValue::from_static("true"),
        )
}

/// A marked log split into chunks; text without any marker (a daemon that combined the
/// streams) is all stdout.
fn split_log(text: &str) -> CommandLogs {
    let bytes = text.as_bytes();
    let marked = bytes
        .windows(STDOUT_MARKER.len())
        .any(|window| window == STDOUT_MARKER || window == STDERR_MARKER);
    if marked || bytes.is_empty() {
        CommandLogs::from_multiplexed(bytes)
    } else {
        CommandLogs {
            chunks: vec![LogChunk::Stdout(bytes.to_vec())],
        }
    }
}

fn session_what(id: &str, session: &str) -> String {
    format!("session `{session}` in {}", sandbox_what(id))
}

/// One command of a process session: the sandbox, the session and the command's id, which
/// together name its routes (`{toolbox}/process/session/{session}/command/{command}/...`).
#[derive(Debug, Clone, Copy)]
pub(super) struct CommandAt<'a> {
    id: &'a str,
    session: &'a str,
    command: &'a str,
}

impl<'a> CommandAt<'a> {
    pub(super) fn new(id: &'a str, session: &'a str, command: &'a str) -> Self {
        CommandAt {
            id,
            session,
            command,
        }
    }

    /// How errors name the command.
    fn what(&self) -> String {
        format!(
            "command `{}` in {}",
            self.command,
            session_what(self.id, self.session)
        )
    }
}

fn command_of(dto: wire::SessionCommandDto) -> SessionCommand {
    SessionCommand {
        id: dto.id,
        command: dto.command,
        exit_code: dto.exit_code,
    }
}

fn session_of(dto: wire::SessionDto) -> SessionInfo {
    SessionInfo {
        id: dto.session_id,
        commands: dto.commands.into_iter().map(command_of).collect(),
    }
}

impl DaytonaProvider {
    /// `{toolbox}/process/session/...`.
    async fn session_url(&self, id: &str, path: &[&str]) -> Result<Url> {
        let base = self.toolbox_base(id).await?;
        let mut segments = vec!["process", "session"];
        segments.extend_from_slice(path);
        base.url(&segments)
    }

    /// `{toolbox}/process/session/{session}/command/{command}/...`.
    async fn command_url(&self, at: CommandAt<'_>, path: &[&str]) -> Result<Url> {
        let mut segments = vec![at.session, "command", at.command];
        segments.extend_from_slice(path);
        self.session_url(at.id, &segments).await
    }

    pub(crate) async fn create_process_session(&self, id: &str, session: &str) -> Result<()> {
        let url = self.session_url(id, &[]).await?;
        let body = wire::CreateSessionRequest {
            session_id: session.to_string(),
        };
        self.http
            .post(&session_what(id, session), Repeat::Once, &url, &body)
            .await
    }

    pub(crate) async fn list_process_sessions(&self, id: &str) -> Result<Vec<SessionInfo>> {
        let url = self.session_url(id, &[]).await?;
        let sessions: Vec<wire::SessionDto> = self
            .http
            .json(&sandbox_what(id), Repeat::Safe, |client| {
                client.get(url.clone()).timeout(self.http.request_timeout())
            })
            .await?;
        Ok(sessions.into_iter().map(session_of).collect())
    }

    pub(crate) async fn get_process_session(&self, id: &str, session: &str) -> Result<SessionInfo> {
        let url = self.session_url(id, &[session]).await?;
        let dto: wire::SessionDto = self
            .http
            .json(&session_what(id, session), Repeat::Safe, |client| {
                client.get(url.clone()).timeout(self.http.request_timeout())
            })
            .await?;
        Ok(session_of(dto))
    }

    pub(crate) async fn delete_process_session(&self, id: &str, session: &str) -> Result<()> {
        let url = self.session_url(id, &[session]).await?;
        self.http.delete(&session_what(id, session), &url).await
    }

    pub(crate) async fn process_session_exec(
        &self,
        id: &str,
        session: &str,
        request: &SessionExecRequest,
    ) -> Result<SessionExecOutput> {
        // Daytona's daemon names commands itself (its entrypoint's id is its own doing).
        if request.command_id.is_some() {
            return Err(ProviderError::Unsupported {
                provider: "daytona",
                operation: "choosing a session command's id".to_string(),
            });
        }
        let url = self.session_url(id, &[session, "exec"]).await?;
        let body = wire::SessionExecuteRequest {
            command: request.command.clone(),
            run_async: Some(request.run_async),
            legacy_async: None,
            suppress_input_echo: Some(request.suppress_input_echo).filter(|&suppress| suppress),
        };
        // A sync command may run for long: no timeout but the command's own.
        let answer: wire::SessionExecuteResponse = self
            .http
            .json(&session_what(id, session), Repeat::Once, |client| {
                raw_output(client.post(url.clone()).json(&body))
            })
            .await?;
        let logs = match (&answer.output, &answer.stdout, &answer.stderr) {
            (Some(output), _, _) => split_log(output),
            (None, Some(stdout), Some(stderr)) => CommandLogs {
                chunks: vec![
                    LogChunk::Stdout(stdout.as_bytes().to_vec()),
                    LogChunk::Stderr(stderr.as_bytes().to_vec()),
                ],
            },
            _ => CommandLogs::default(),
        };
        Ok(SessionExecOutput {
            command_id: answer.cmd_id,
            exit_code: answer.exit_code,
            logs,
        })
    }

    pub(super) async fn process_session_command(
        &self,
        at: CommandAt<'_>,
    ) -> Result<SessionCommand> {
        let url = self.command_url(at, &[]).await?;
        let dto: wire::SessionCommandDto = self
            .http
            .json(&at.what(), Repeat::Safe, |client| {
                client.get(url.clone()).timeout(self.http.request_timeout())
            })
            .await?;
        Ok(command_of(dto))
    }

    pub(super) async fn process_session_logs(&self, at: CommandAt<'_>) -> Result<CommandLogs> {
        let url = self.command_url(at, &["logs"]).await?;
        let reply = self
            .http
            .send(&at.what(), Repeat::Safe, |client| {
                raw_output(client.get(url.clone())).timeout(self.http.request_timeout())
            })
            .await?;
        if let Ok(json) = reply.json::<wire::SessionCommandLogsResponse>() {
            return Ok(split_log(&json.output));
        }
        Ok(split_log(&String::from_utf8_lossy(&reply.body)))
    }

    pub(super) async fn follow_process_session_logs(&self, at: CommandAt<'_>) -> Result<LogStream> {
        let mut url = self.command_url(at, &["logs"]).await?;
        url.query_pairs_mut().append_pair("follow", "true");
        let what = at.what();
        let response = raw_output(self.http.client().get(url))
            .upgrade()
            .send()
            .await
            .map_err(|error| {
                ProviderError::transport(format!(
                    "cannot follow the logs of {what}: {}",
                    error_text(error)
                ))
            })?;
        let status = response.status();
        if status != reqwest::StatusCode::SWITCHING_PROTOCOLS {
            let headers = response.headers().clone();
            let body = response
                .into_inner()
                .bytes()
                .await
                .map_err(transport_error)?;
            return Err(status::error_from_status(
                status,
                &headers,
                &body,
                self.http.subject(&what),
            ));
        }
        let socket = response.into_websocket().await.map_err(|error| {
            ProviderError::transport(format!(
                "cannot follow the logs of {what}: {}",
                error_text(error)
            ))
        })?;
        let state = (
            socket,
            Demultiplexer::default(),
            std::collections::VecDeque::new(),
            false,
        );
        Ok(futures::stream::unfold(
            state,
            move |(mut socket, mut demultiplexer, mut ready, mut ended)| {
                let what = what.clone();
                async move {
                    loop {
                        if let Some(chunk) = ready.pop_front() {
                            return Some((Ok(chunk), (socket, demultiplexer, ready, ended)));
                        }
                        if ended {
                            return None;
                        }
                        let bytes = match socket.next().await {
                            Some(Ok(Message::Binary(bytes))) => bytes.to_vec(),
                            Some(Ok(Message::Text(text))) => text.as_bytes().to_vec(),
                            Some(Ok(Message::Ping(payload))) => {
                                let _ = socket.send(Message::Pong(payload)).await;
                                continue;
                            }
                            Some(Ok(Message::Pong(_))) => continue,
                            Some(Ok(Message::Close { code, reason }))
                                if code != CloseCode::Normal =>
                            {
                                let error = ProviderError::transport(format!(
                                    "following the logs of {what} failed: {reason} (close code {})",
                                    u16::from(code)
                                ));
                                return Some((Err(error), (socket, demultiplexer, ready, true)));
                            }
                            Some(Ok(Message::Close { .. })) | None => {
                                ended = true;
                                ready.extend(demultiplexer.finish());
                                continue;
                            }
                            Some(Err(error)) => {
                                let error = ProviderError::transport(format!(
                                    "lost the logs of {what}: {}",
                                    error_text(error)
                                ));
                                return Some((Err(error), (socket, demultiplexer, ready, true)));
                            }
                        };
                        ready.extend(demultiplexer.push(&bytes));
                    }
                }
            },
        )
        .boxed())
    }

    pub(super) async fn process_session_input(&self, at: CommandAt<'_>, data: &str) -> Result<()> {
        let url = self.command_url(at, &["input"]).await?;
        let body = wire::SessionSendInputRequest {
            data: data.to_string(),
        };
        self.http.post(&at.what(), Repeat::Once, &url, &body).await
    }
}

/// A WebSocket client error without any URL (a query may hold a token).
fn error_text(error: reqwest_websocket::Error) -> String {
    match error {
        reqwest_websocket::Error::Reqwest(error) => error.without_url().to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_without_markers_are_stdout() {
        let combined = split_log("plain\ntext\n");
        assert_eq!(combined.stdout(), "plain\ntext\n");
        let marked = split_log("\u{1}\u{1}\u{1}out\n\u{2}\u{2}\u{2}err\n");
        assert_eq!(
            (marked.stdout().as_str(), marked.stderr().as_str()),
            ("out\n", "err\n")
        );
    }
}
