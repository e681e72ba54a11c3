//! Daytona's web terminal: what a preview of port 22222 serves while the sandbox is started
//! (the daemon's `pkg/terminal`). The link itself is a page that runs xterm.js (vendored under
//! `assets/web-terminal/`, embedded here); `<link>/ws` is a WebSocket in the daemon's protocol:
//! a text frame that parses as `{"rows": R, "cols": C}` resizes the terminal, any other frame
//! is input, output comes back as text frames of UTF-8, and the socket closes when the shell
//! exits. Each WebSocket gets a login shell of its own, started by the PTY sessions' code
//! ([`super::pty::start`]) in a registry of its own, so the toolbox neither lists nor reaches
//! it; closing the socket kills the shell, stopping or deleting the sandbox kills every shell
//! of it (the provider kills what is attached to it), and expiring early the signed link a
//! socket was opened through closes that socket (1008) and kills its shell.
//!
//! The preview proxy checks the token and the sandbox's state before anything here runs. What
//! is typed and printed is never logged.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts as _, Request};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use futures::{SinkExt as _, StreamExt as _};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use super::preview::refuse;
use super::pty::{Client, Registry, Spec, Terminal, start};
use super::revocation::{Watch, revoked};
use super::ssh::pty::Size;
use super::state::{AppState, now};
use crate::provider::Sandbox;

/// Daytona's daemon serves its web terminal on this port of every sandbox.
pub(crate) const PORT: u16 = 22222;

/// The page and what it loads, by their path under the link.
const FILES: [(&str, &str, &[u8]); 4] = [
    (
        "",
        "text/html; charset=utf-8",
        include_bytes!("../../assets/web-terminal/index.html"),
    ),
    (
        "xterm.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/web-terminal/xterm.js"),
    ),
    (
        "addon-fit.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/web-terminal/addon-fit.js"),
    ),
    (
        "xterm.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/web-terminal/xterm.css"),
    ),
];

/// The page is asked for again each time (it is small, and names the assets); the assets
/// change only with this binary. Private: behind a private sandbox's token.
const PAGE_CACHE: &str = "no-cache";
const ASSET_CACHE: &str = "private, max-age=3600";

const NORMAL: u16 = 1000;
const POLICY_VIOLATION: u16 = 1008;
const INTERNAL_ERROR: u16 = 1011;

/// Web terminal ids, unique in this server, so no two sockets share a shell.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Answers `request` for `rest` (the path under the link) of a started sandbox's port 22222.
pub(crate) async fn serve(
    state: &Arc<AppState>,
    sandbox: &Sandbox,
    rest: &str,
    request: Request,
) -> Response {
    if rest == "ws" {
        return connect(state, sandbox, request).await;
    }
    let Some((_, content_type, body)) = FILES.iter().find(|(path, ..)| *path == rest) else {
        return refuse(
            StatusCode::NOT_FOUND,
            format!("the web terminal has no `/{rest}`"),
        );
    };
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("the web terminal's `/{rest}` answers GET only"),
        );
    }
    let cache = if rest.is_empty() {
        PAGE_CACHE
    } else {
        ASSET_CACHE
    };
    (
        [
            (header::CONTENT_TYPE, *content_type),
            (header::CACHE_CONTROL, cache),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        Bytes::from_static(body),
    )
        .into_response()
}

/// `<link>/ws`: upgrades, then starts the socket's shell.
async fn connect(state: &Arc<AppState>, sandbox: &Sandbox, request: Request) -> Response {
    let (mut parts, _) = request.into_parts();
    // A browser sends the page's origin: only the link's own page may open a shell, not
    // another site's page that learnt the link.
    if let Some(origin) = parts.headers.get(header::ORIGIN) {
        let own = parts
            .headers
            .get(header::HOST)
            .and_then(|host| host.to_str().ok());
        let from = origin
            .to_str()
            .ok()
            .and_then(|origin| origin.split_once("://"))
            .map(|(_, host)| host);
        if own.is_none() || from != own {
            return refuse(
                StatusCode::FORBIDDEN,
                "the web terminal opens only from its own page (the WebSocket's Origin is another site)",
            );
        }
    }
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, state).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let watch = parts.extensions.remove::<Watch>();
    let (state, sandbox) = (state.clone(), sandbox.clone());
    upgrade.on_upgrade(move |socket| terminal(socket, state, sandbox, watch))
}

/// One socket's terminal, from the shell's start to its end, the client's, or the revocation
/// of the signed link it was opened through (`watch`).
async fn terminal(socket: WebSocket, state: Arc<AppState>, sandbox: Sandbox, watch: Option<Watch>) {
    let _client = Client::new(&state, Registry::WebTerminal);
    let (mut sink, mut source) = socket.split();
    let spec = Spec {
        registry: Registry::WebTerminal,
        id: format!("web-terminal-{}", NEXT_ID.fetch_add(1, Ordering::Relaxed)),
        // NOTES-style: Daytona's daemon starts its web terminal in `/`; a person opening a
        // terminal expects their home, where a local sandbox's work is, so it starts there.
        cwd: Some("~".to_string()),
        envs: std::collections::BTreeMap::new(),
        cols: None,
        rows: None,
    };
    let (session, mut output) = match start(&state, &sandbox, spec).await {
        Ok(started) => started,
        Err(error) => {
            let text = format!("\r\ncannot start a shell: {}\r\n", error.message);
            let _ = sink.send(Message::text(text)).await;
            let _ = sink.send(close(INTERNAL_ERROR, "no shell")).await;
            return;
        }
    };
    let mut text = Utf8Carry::default();
    let ending = loop {
        tokio::select! {
            chunk = output.recv() => match chunk {
                Ok(chunk) => {
                    let decoded = text.decode(&chunk);
                    if !decoded.is_empty() && sink.send(Message::text(decoded)).await.is_err() {
                        break None;
                    }
                }
                // Output was lost: what follows would garble the screen.
                Err(RecvError::Lagged(_)) => break Some(close(POLICY_VIOLATION, "slow consumer")),
                // The shell exited and its output is all sent.
                Err(RecvError::Closed) => break Some(close(NORMAL, "")),
            },
            message = source.next() => match message {
                Some(Ok(message)) => {
                    if !take(&session, message) {
                        break None;
                    }
                    state.store.touch(&sandbox.id, now());
                }
                // The client left.
                Some(Err(_)) | None => break None,
            },
            () = revoked(watch.as_ref()) => {
                break Some(close(POLICY_VIOLATION, "the signed preview link was expired"));
            }
        }
    };
    // A socket's shell is its own: it ends with the socket (a no-op once it exited).
    session.kill();
    match ending {
        Some(frame) => {
            let rest = text.finish();
            if !rest.is_empty() {
                let _ = sink.send(Message::text(rest)).await;
            }
            let _ = sink.send(frame).await;
        }
        // Answers a client's close frame, if it sent one.
        None => {
            let _ = sink.close().await;
        }
    }
}

/// A client frame: a resize, or input. False when the client closes.
fn take(session: &Terminal, message: Message) -> bool {
    match message {
        Message::Text(text) => match resize_of(text.as_str()) {
            Some(size) => {
                let _ = session.resize(size);
            }
            None => session.write(Bytes::copy_from_slice(text.as_bytes())),
        },
        Message::Binary(data) => session.write(data),
        Message::Ping(_) | Message::Pong(_) => {}
        Message::Close(_) => return false,
    }
    true
}

/// The daemon's resize message: a JSON object with both sizes in 16 bits (other fields are
/// ignored, as the daemon's decoder does).
#[derive(Deserialize)]
struct Resize {
    rows: u16,
    cols: u16,
}

fn resize_of(text: &str) -> Option<Size> {
    let Resize { rows, cols } = serde_json::from_str(text).ok()?;
    Some(Size {
        columns: u32::from(cols),
        rows: u32::from(rows),
    })
}

fn close(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

/// The terminal's output as text: a character split across two reads is held back until the
/// rest of it arrives (replacing its halves would print two U+FFFD for one character); bytes
/// that can never be UTF-8 become U+FFFD, as a terminal shows them.
#[derive(Debug, Default)]
struct Utf8Carry {
    /// The start of a character whose last bytes have not arrived yet (at most 3 bytes).
    pending: Vec<u8>,
}

impl Utf8Carry {
    fn decode(&mut self, chunk: &[u8]) -> String {
        let mut bytes = std::mem::take(&mut self.pending);
        bytes.extend_from_slice(chunk);
        let mut text = String::with_capacity(bytes.len());
        let mut rest = bytes.as_slice();
        loop {
            match std::str::from_utf8(rest) {
                Ok(valid) => {
                    text.push_str(valid);
                    return text;
                }
                Err(error) => {
                    let (valid, after) = rest.split_at(error.valid_up_to());
                    text.push_str(&String::from_utf8_lossy(valid));
                    match error.error_len() {
                        Some(invalid) => {
                            text.push(char::REPLACEMENT_CHARACTER);
                            rest = &after[invalid..];
                        }
                        None => {
                            self.pending = after.to_vec();
                            return text;
                        }
                    }
                }
            }
        }
    }

    /// What is held back when the output ends: a character that will never be finished.
    fn finish(&mut self) -> String {
        let pending = std::mem::take(&mut self.pending);
        String::from_utf8_lossy(&pending).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_character_split_across_reads_is_carried_over_whole() {
        let text = "é€😀 ok";
        let bytes = text.as_bytes();
        // Every split point, including inside each multi-byte character.
        for split in 0..=bytes.len() {
            let mut carry = Utf8Carry::default();
            let mut out = carry.decode(&bytes[..split]);
            out.push_str(&carry.decode(&bytes[split..]));
            assert_eq!(out, text, "split at {split}");
            assert!(carry.finish().is_empty());
        }
        // One byte per read.
        let mut carry = Utf8Carry::default();
        let out: String = bytes.iter().map(|byte| carry.decode(&[*byte])).collect();
        assert_eq!(out, text);
    }

    #[test]
    fn bytes_that_are_never_utf8_are_replaced_not_held() {
        let mut carry = Utf8Carry::default();
        assert_eq!(carry.decode(b"a\xffb\xc3"), "a\u{fffd}b");
        assert_eq!(carry.decode(b"\xa9!"), "\u{e9}!");
        assert_eq!(carry.decode(b"\xe2\x82"), "");
        assert_eq!(carry.finish(), "\u{fffd}");
        assert_eq!(carry.decode(b"x"), "x");
    }

    #[test]
    fn only_a_size_object_resizes() {
        assert_eq!(
            resize_of(r#"{"rows":31,"cols":97}"#),
            Some(Size {
                columns: 97,
                rows: 31
            })
        );
        assert_eq!(resize_of(r#"{"cols":97}"#), None);
        assert_eq!(resize_of(r#"{"rows":70000,"cols":97}"#), None);
        assert_eq!(resize_of("ls\r"), None);
        assert_eq!(resize_of("{"), None);
    }

    #[test]
    fn the_page_loads_the_vendored_assets_relative_to_itself() {
        let page = std::str::from_utf8(FILES[0].2).unwrap();
        for (path, ..) in &FILES[1..] {
            assert!(page.contains(&format!("\"{path}\"")), "{path}");
        }
        assert!(page.contains("new URL(\"ws\", location.href)"));
    }
}
