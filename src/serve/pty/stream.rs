//! One WebSocket client of a PTY session, in the daemon's protocol:
//! - the server selects a subprotocol the client offered (`X-Daytona-Pty-Exit-Control`, else
//!   the `X-Daytona-SDK-Version~` token), never the environment token;
//! - first a text frame `{"type":"control","status":"connected"}`, then the terminal's output
//!   as binary frames; text and binary frames from the client are input;
//! - when the shell exits, `{"type":"control","status":"exited","exitCode":N}` (with an
//!   `exitReason` when N is not 0) for clients that offered `X-Daytona-Pty-Exit-Control`,
//!   then a close frame: 1000 for exit code 0, else 1011, with `{"exitCode":N,"exitReason":..}`
//!   as its reason;
//! - a session that cannot be reached gets `{"type":"control","status":"error","error":..}`
//!   and a close frame 1011 `{"error":..}`.
//!
//! A client that closes leaves the session running; one that falls behind the output by more
//! than the backlog is closed with 1008 `slow consumer`, as the daemon drops it.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::HeaderValue;
use futures::{SinkExt as _, StreamExt as _};
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use super::Registry;
use super::registry::Client;
use super::session::{Started, Terminal};
use crate::serve::state::{AppState, now};

/// The capability that asks for the `exited` control message.
const EXIT_CONTROL: &str = "X-Daytona-Pty-Exit-Control";
/// The prefix of the SDK version token, which the daemon echoes when offered.
const SDK_VERSION: &str = "X-Daytona-SDK-Version~";

const NORMAL: u16 = 1000;
const POLICY_VIOLATION: u16 = 1008;
const INTERNAL_ERROR: u16 = 1011;
/// The longest reason a close frame can carry.
const MAX_REASON: usize = 123;
/// How long to wait for the client's answer to our close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Selects the subprotocol to echo; whether the client wants the `exited` control message.
pub(super) fn negotiate(mut upgrade: WebSocketUpgrade) -> (WebSocketUpgrade, bool) {
    let offered: Vec<String> = upgrade
        .requested_protocols()
        .filter_map(|protocol| protocol.to_str().ok())
        .map(str::to_string)
        .collect();
    let exit_control = offered.iter().any(|protocol| protocol == EXIT_CONTROL);
    let chosen = offered
        .iter()
        .find(|protocol| *protocol == EXIT_CONTROL)
        .or_else(|| {
            offered
                .iter()
                .find(|protocol| protocol.starts_with(SDK_VERSION))
        })
        .and_then(|protocol| HeaderValue::from_str(protocol).ok());
    if let Some(chosen) = chosen {
        upgrade.set_selected_protocol(chosen);
    }
    (upgrade, exit_control)
}

/// Why a shell ended, in the daemon's words.
fn exit_reason(code: i32) -> Option<String> {
    match code {
        0 => None,
        130 => Some("Ctrl+C".to_string()),
        137 => Some("SIGKILL".to_string()),
        143 => Some("SIGTERM".to_string()),
        code if code > 128 => Some(format!("signal {}", code - 128)),
        _ => Some("non-zero exit".to_string()),
    }
}

fn control(value: serde_json::Value) -> Message {
    Message::text(value.to_string())
}

fn close(code: u16, reason: String) -> Message {
    let reason = if reason.len() <= MAX_REASON {
        reason
    } else {
        String::new()
    };
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

type Sink = futures::stream::SplitSink<WebSocket, Message>;
type Source = futures::stream::SplitStream<WebSocket>;
type Output = Option<tokio::sync::broadcast::Receiver<Bytes>>;

/// Streams `session` to one client until the shell exits or the client leaves.
pub(super) async fn serve(
    socket: WebSocket,
    state: Arc<AppState>,
    session: Arc<Terminal>,
    exit_control: bool,
) {
    let _client = Client::new(&state, Registry::Toolbox);
    let (mut sink, source) = socket.split();
    // Subscribed before `connected`, so the client misses nothing that follows it.
    let output = subscribe(&session);
    if sink.send(connected()).await.is_err() {
        return;
    }
    stream(sink, source, state, session, output, exit_control).await;
}

/// `create-connect`: says `connected` at once, then starts the session and streams it, or
/// tells why it could not start. The SDKs wait for `connected` in 0.1 s receives, and the
/// Python SDK's wait fails on the first that times out (it catches `TimeoutError`, its
/// WebSocket raises `queue.Empty`): starting a shell first took longer than that on a busy
/// machine. The output comes from a receiver subscribed before the terminal was first read
/// (see [`super::session::start`]), so none of the new shell's output is missed.
pub(super) async fn start_and_serve(
    socket: WebSocket,
    state: Arc<AppState>,
    starting: impl Future<Output = Result<Started, String>>,
    exit_control: bool,
) {
    let _client = Client::new(&state, Registry::Toolbox);
    let (mut sink, source) = socket.split();
    if sink.send(connected()).await.is_err() {
        return;
    }
    match starting.await {
        Ok((session, output)) => {
            stream(sink, source, state, session, Some(output), exit_control).await;
        }
        Err(message) => refuse_split(sink, source, &message).await,
    }
}

fn connected() -> Message {
    control(json!({ "type": "control", "status": "connected" }))
}

fn subscribe(session: &Terminal) -> Output {
    session
        .output
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .as_ref()
        .map(tokio::sync::broadcast::Sender::subscribe)
}

async fn stream(
    mut sink: Sink,
    mut source: Source,
    state: Arc<AppState>,
    session: Arc<Terminal>,
    output: Output,
    exit_control: bool,
) {
    if let Some(mut output) = output {
        loop {
            tokio::select! {
                chunk = output.recv() => match chunk {
                    Ok(chunk) => {
                        if sink.send(Message::Binary(chunk)).await.is_err() {
                            return;
                        }
                    }
                    Err(RecvError::Lagged(_)) => {
                        let _ = sink.send(close(POLICY_VIOLATION, "slow consumer".into())).await;
                        return;
                    }
                    Err(RecvError::Closed) => break,
                },
                message = source.next() => {
                    let data = match message {
                        Some(Ok(Message::Text(text))) => Bytes::copy_from_slice(text.as_bytes()),
                        Some(Ok(Message::Binary(data))) => data,
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                        // The client left; the session goes on.
                        Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                    };
                    state.store.touch(&session.sandbox, now());
                    session.write(data);
                }
            }
        }
    }
    let mut exit = session.exit.clone();
    let code = match exit.wait_for(Option::is_some).await {
        Ok(code) => code.unwrap_or(1),
        Err(_) => 1,
    };
    let reason = exit_reason(code);
    if exit_control {
        let mut exited = json!({ "type": "control", "status": "exited", "exitCode": code });
        if let Some(reason) = &reason {
            exited["exitReason"] = json!(reason);
        }
        if sink.send(control(exited)).await.is_err() {
            return;
        }
    }
    let (frame_code, data) = match reason {
        None => (NORMAL, json!({ "exitCode": code })),
        Some(reason) => (
            INTERNAL_ERROR,
            json!({ "exitCode": code, "exitReason": reason }),
        ),
    };
    if sink.send(close(frame_code, data.to_string())).await.is_ok() {
        let _ = tokio::time::timeout(CLOSE_GRACE, source.next()).await;
    }
}

/// Tells a client the session cannot be reached, and closes.
pub(super) async fn refuse(socket: WebSocket, message: &str) {
    let (sink, source) = socket.split();
    refuse_split(sink, source, message).await;
}

async fn refuse_split(mut sink: Sink, mut source: Source, message: &str) {
    let error = json!({ "type": "control", "status": "error", "error": message });
    if sink.send(control(error)).await.is_err() {
        return;
    }
    let reason = json!({ "error": message }).to_string();
    if sink.send(close(INTERNAL_ERROR, reason)).await.is_ok() {
        let _ = tokio::time::timeout(CLOSE_GRACE, source.next()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_reasons_follow_the_daemon() {
        assert_eq!(exit_reason(0), None);
        assert_eq!(exit_reason(3).as_deref(), Some("non-zero exit"));
        assert_eq!(exit_reason(130).as_deref(), Some("Ctrl+C"));
        assert_eq!(exit_reason(137).as_deref(), Some("SIGKILL"));
        assert_eq!(exit_reason(143).as_deref(), Some("SIGTERM"));
        assert_eq!(exit_reason(129).as_deref(), Some("signal 1"));
    }

    #[test]
    fn close_reasons_too_long_for_a_frame_are_dropped() {
        let Message::Close(Some(frame)) = close(INTERNAL_ERROR, "x".repeat(200)) else {
            panic!("a close frame");
        };
        assert_eq!(frame.reason.as_str(), "");
    }
}
