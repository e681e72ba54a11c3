//! What a child `serve` prints: its stderr read line by line in the background (so that a full
//! pipe never stalls it), its stdout at its end, both kept as one text; and its announcement,
//! the lines up to `export ...` that say where it listens.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use super::child::DEADLINE;

/// The lines `serve` prints once it listens.
pub(super) struct Announcement {
    pub(super) api: String,
    pub(super) ssh: Option<SocketAddr>,
    pub(super) export: String,
    pub(super) said: Vec<String>,
}

/// What a child prints: stderr's lines as they come, and all of it (stdout at its end).
pub(super) struct Output {
    printed: Arc<Mutex<String>>,
    /// Stderr's lines; disconnected once both readers have reached the end.
    lines: Receiver<String>,
}

impl Output {
    pub(super) fn read(
        stderr: impl std::io::Read + Send + 'static,
        stdout: Option<impl std::io::Read + Send + 'static>,
    ) -> Output {
        let printed = Arc::new(Mutex::new(String::new()));
        let (send, lines) = channel();
        let collected = printed.clone();
        let sender: Sender<String> = send.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                // A test that failed while holding the lock poisons it: keep collecting anyway.
                let mut text = collected.lock().unwrap_or_else(PoisonError::into_inner);
                text.push_str(&line);
                text.push('\n');
                drop(text);
                let _ = sender.send(line);
            }
        });
        if let Some(mut stdout) = stdout {
            let collected = printed.clone();
            std::thread::spawn(move || {
                // Holds a sender, so that `lines` ends only after stdout did too.
                let _done = send;
                let mut text = String::new();
                let _ = stdout.read_to_string(&mut text);
                let mut collected = collected.lock().unwrap_or_else(PoisonError::into_inner);
                collected.push_str(&text);
            });
        }
        Output { printed, lines }
    }

    pub(super) fn printed(&self) -> String {
        self.printed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Reads stderr up to the `export` line; the error says what went wrong and all it said.
    pub(super) fn announcement(self) -> Result<(Output, Announcement), String> {
        let (mut api, mut ssh, mut said) = (None, None, Vec::new());
        let deadline = Instant::now() + DEADLINE;
        loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            let line = match self.lines.recv_timeout(wait) {
                Ok(line) => line,
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!(
                        "serve did not announce itself in {DEADLINE:?}:\n{}",
                        self.printed()
                    ));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(format!(
                        "serve exited before it announced itself:\n{}",
                        self.printed()
                    ));
                }
            };
            if let Some(url) = line.strip_prefix("Daytona-compatible API at ") {
                api = Some(url.to_string());
            } else if let Some(address) = line.strip_prefix("SSH gateway at ") {
                ssh = Some(address.parse().expect("the gateway's address"));
            } else if line.starts_with("  export ") {
                let api = api.expect("the API address comes before the export line");
                let export = line;
                return Ok((
                    self,
                    Announcement {
                        api,
                        ssh,
                        export,
                        said,
                    },
                ));
            } else if api.is_none() {
                said.push(line);
            }
        }
    }

    /// Waits until stderr and stdout have ended (boundedly: a child of `serve` that kept them
    /// open would otherwise hang the test).
    pub(super) fn finish(&self) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(wait) {
                Ok(_) => {}
                Err(RecvTimeoutError::Disconnected) => return,
                Err(RecvTimeoutError::Timeout) => panic!("serve's output never ended"),
            }
        }
    }
}
