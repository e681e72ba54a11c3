//! JSON-RPC 2.0 over a language server's standard input and output, framed as the Language
//! Server Protocol frames it (`Content-Length: N` headers, a blank line, N bytes of JSON): the
//! requests and notifications `serve` sends, and one task that reads what the server sends back.
//!
//! The server's own requests (`window/workDoneProgress/create`, `client/registerCapability`,
//! ...) are answered with a `null` result, as Daytona's daemon answers them, and its
//! notifications (diagnostics, logs) are dropped: nothing asks for them. This file knows
//! nothing of sandboxes, languages or the toolbox's wire types; it never logs a message's
//! content (documents may hold anything).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{
    AsyncBufReadExt as _, AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _,
};
use tokio::sync::oneshot;

/// The longest a request waits for its answer (a first completion can load a whole project).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// The largest message accepted from a server, so that a broken header cannot make us allocate
/// without bound.
const MAX_MESSAGE_BYTES: usize = 64 << 20;

/// Why a request got no result.
#[derive(Debug, Clone, thiserror::Error, miette::Diagnostic)]
pub(crate) enum RpcError {
    #[error("the language server exited")]
    #[diagnostic(help("its standard error or the sandbox's state says why"))]
    Exited,
    #[error("the language server did not answer `{method}` within {seconds} seconds")]
    #[diagnostic(help("the server may still be loading the project: try again"))]
    Timeout { method: String, seconds: u64 },
    #[error("the language server refused `{method}`: {message} (code {code})")]
    #[diagnostic(help("not every language server implements every request"))]
    Refused {
        method: String,
        code: i64,
        message: String,
    },
}

/// A result, or the server's error code and message.
type Answer = Result<Value, (i64, String)>;
type Pending = Arc<Mutex<Option<HashMap<u64, oneshot::Sender<Answer>>>>>;

/// One connection; requests may be sent concurrently. The pending map is `None` once the
/// server's output ended; its lock is never held across an await.
pub(crate) struct Connection {
    writer: tokio::sync::Mutex<Box<dyn AsyncWrite + Send + Unpin>>,
    pending: Pending,
    next_id: AtomicU64,
}

impl Connection {
    /// Speaks to a server through `input` (its stdin) and `output` (its stdout). The reading
    /// task ends when the output does.
    pub(crate) fn new(
        input: impl AsyncWrite + Send + Unpin + 'static,
        output: impl AsyncRead + Send + Unpin + 'static,
    ) -> Arc<Connection> {
        let connection = Arc::new(Connection {
            writer: tokio::sync::Mutex::new(Box::new(input)),
            pending: Arc::new(Mutex::new(Some(HashMap::new()))),
            next_id: AtomicU64::new(1),
        });
        tokio::spawn(read(
            tokio::io::BufReader::new(output),
            connection.pending.clone(),
            Arc::downgrade(&connection),
        ));
        connection
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Option<HashMap<u64, oneshot::Sender<Answer>>>> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sends request `method` and waits for its result.
    pub(crate) async fn request(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (sender, receiver) = oneshot::channel();
        match self.pending().as_mut() {
            Some(pending) => pending.insert(id, sender),
            None => return Err(RpcError::Exited),
        };
        let message = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        if self.send(&message).await.is_err() {
            self.forget(id);
            return Err(RpcError::Exited);
        }
        let answer = tokio::time::timeout(REQUEST_TIMEOUT, receiver).await;
        match answer {
            Ok(Ok(Ok(result))) => Ok(result),
            Ok(Ok(Err((code, message)))) => Err(RpcError::Refused {
                method: method.to_string(),
                code,
                message,
            }),
            Ok(Err(_)) => Err(RpcError::Exited),
            Err(_) => {
                self.forget(id);
                Err(RpcError::Timeout {
                    method: method.to_string(),
                    seconds: REQUEST_TIMEOUT.as_secs(),
                })
            }
        }
    }

    fn forget(&self, id: u64) {
        if let Some(pending) = self.pending().as_mut() {
            pending.remove(&id);
        }
    }

    /// Sends notification `method`.
    pub(crate) async fn notify(&self, method: &str, params: Value) -> Result<(), RpcError> {
        let message = json!({ "jsonrpc": "2.0", "method": method, "params": params });
        self.send(&message).await.map_err(|_| RpcError::Exited)
    }

    async fn send(&self, message: &Value) -> std::io::Result<()> {
        let body = serde_json::to_vec(message).map_err(std::io::Error::other)?;
        let mut writer = self.writer.lock().await;
        writer
            .write_all(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes())
            .await?;
        writer.write_all(&body).await?;
        writer.flush().await
    }
}

/// Reads the server's messages until its output ends or breaks, then fails what still waits.
async fn read(
    mut output: impl tokio::io::AsyncBufRead + Unpin,
    pending: Pending,
    connection: std::sync::Weak<Connection>,
) {
    while let Ok(Some(message)) = read_message(&mut output).await {
        let id = message.get("id").cloned();
        match (message.get("method"), id) {
            // A request of the server's: answered so that it does not wait on us.
            (Some(_), Some(id)) => {
                let Some(connection) = connection.upgrade() else {
                    break;
                };
                let answer = json!({ "jsonrpc": "2.0", "id": id, "result": null });
                let _ = connection.send(&answer).await;
            }
            (Some(_), None) => {}
            (None, Some(id)) => {
                let Some(id) = id.as_u64() else { continue };
                let waiter = pending
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .as_mut()
                    .and_then(|pending| pending.remove(&id));
                if let Some(waiter) = waiter {
                    let _ = waiter.send(answer(message));
                }
            }
            (None, None) => {}
        }
    }
    // Dropping the senders fails every waiting request with `Exited`.
    pending
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
}

fn answer(mut message: Value) -> Answer {
    match message.get_mut("error").map(Value::take) {
        Some(error) => Err((
            error.get("code").and_then(Value::as_i64).unwrap_or(0),
            error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("no message")
                .to_string(),
        )),
        None => Ok(message
            .get_mut("result")
            .map(Value::take)
            .unwrap_or(Value::Null)),
    }
}

/// One framed message; `None` at the end of the output. A message that is not JSON is
/// skipped; a broken frame ends the connection.
async fn read_message(
    output: &mut (impl tokio::io::AsyncBufRead + Unpin),
) -> std::io::Result<Option<Value>> {
    loop {
        let mut length = None;
        let mut line = String::new();
        loop {
            line.clear();
            if output.read_line(&mut line).await? == 0 {
                return Ok(None);
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.trim().eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse::<usize>().ok();
            }
        }
        let Some(length) = length.filter(|length| *length <= MAX_MESSAGE_BYTES) else {
            return Err(std::io::Error::other(
                "a frame without a usable Content-Length",
            ));
        };
        let mut body = vec![0; length];
        output.read_exact(&mut body).await?;
        if let Ok(message) = serde_json::from_slice(&body) {
            return Ok(Some(message));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server on the other end of an in-memory pipe: answers `echo` with its params, refuses
    /// anything else, and asks the client something first.
    async fn fake_server(stream: tokio::io::DuplexStream) {
        let (output, mut input) = tokio::io::split(stream);
        let mut output = tokio::io::BufReader::new(output);
        let write = |message: Value| {
            let body = serde_json::to_vec(&message).unwrap();
            let mut frame = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
            frame.extend(body);
            frame
        };
        input
            .write_all(&write(
                json!({"jsonrpc": "2.0", "id": "ask", "method": "client/registerCapability"}),
            ))
            .await
            .unwrap();
        while let Ok(Some(message)) = read_message(&mut output).await {
            let reply = match message["method"].as_str() {
                Some("echo") => {
                    json!({"jsonrpc": "2.0", "id": message["id"], "result": message["params"]})
                }
                Some(_) if message.get("id").is_some() => {
                    json!({"jsonrpc": "2.0", "id": message["id"], "error": {"code": -32601, "message": "Method Not Found"}})
                }
                // The client's answer to our request, and notifications.
                _ => continue,
            };
            input.write_all(&write(reply)).await.unwrap();
        }
    }

    #[tokio::test]
    async fn requests_get_their_own_answers_and_refusals_keep_the_code() {
        let (client, server) = tokio::io::duplex(1 << 16);
        tokio::spawn(fake_server(server));
        let (output, input) = tokio::io::split(client);
        let connection = Connection::new(input, output);
        let (first, second) = tokio::join!(
            connection.request("echo", json!({"n": 1})),
            connection.request("echo", json!({"n": 2})),
        );
        assert_eq!(first.unwrap(), json!({"n": 1}));
        assert_eq!(second.unwrap(), json!({"n": 2}));
        connection.notify("initialized", json!({})).await.unwrap();
        let refused = connection.request("workspace/symbol", json!({})).await;
        let Err(RpcError::Refused { code, message, .. }) = refused else {
            panic!("{refused:?}");
        };
        assert_eq!((code, message.as_str()), (-32601, "Method Not Found"));
    }

    #[tokio::test]
    async fn a_request_fails_when_the_server_output_ends() {
        let (client, server) = tokio::io::duplex(1 << 16);
        let (output, input) = tokio::io::split(client);
        let connection = Connection::new(input, output);
        drop(server);
        let result = connection.request("echo", json!({})).await;
        assert!(matches!(result, Err(RpcError::Exited)), "{result:?}");
    }
}
