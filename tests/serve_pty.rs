//! PTY sessions of the toolbox (`/toolbox/{id}/process/pty...`) against an in-process `serve`:
//! a WebSocket client of our own checks the daemon's protocol frame by frame (the `connected`
//! and `exited` control messages, binary output, the close frame with the exit code), a
//! resize the shell sees, and that deleting a session kills what it runs; then the official
//! Python SDK drives the same routes (`tests/sdk/pty_test.py`).

use std::time::{Duration, Instant};

use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::common;
use crate::serve_support::{self, KEY, Server, run_python_script, sdk_python};

const EXIT_CONTROL: &str = "X-Daytona-Pty-Exit-Control";

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A WebSocket client of one PTY session, and all the output it has seen.
struct Client {
    socket: Socket,
    output: String,
    /// The subprotocol the server selected.
    protocol: Option<String>,
}

/// Opens a WebSocket to `path` with the bearer token and `protocols` offered.
async fn open(server: &Server, path: &str, protocols: &[&str]) -> Result<Client, WsError> {
    let url = format!("{}{path}", server.base.replacen("http", "ws", 1));
    let mut request = url.into_client_request().unwrap();
    let headers = request.headers_mut();
    headers.insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {KEY}")).unwrap(),
    );
    if !protocols.is_empty() {
        headers.insert(
            "sec-websocket-protocol",
            HeaderValue::from_str(&protocols.join(", ")).unwrap(),
        );
    }
    let (socket, response) = tokio_tungstenite::connect_async(request).await?;
    let protocol = response
        .headers()
        .get("sec-websocket-protocol")
        .map(|value| value.to_str().unwrap().to_string());
    Ok(Client {
        socket,
        output: String::new(),
        protocol,
    })
}

impl Client {
    /// The next frame, or a failure after a generous deadline.
    async fn next(&mut self) -> Option<Message> {
        tokio::time::timeout(Duration::from_secs(30), self.socket.next())
            .await
            .expect("a frame within 30 s")
            .map(|frame| frame.expect("a valid frame"))
    }

    /// Expects the `connected` control message first.
    async fn connected(&mut self) {
        match self.next().await {
            Some(Message::Text(text)) => {
                let control: Value = serde_json::from_str(&text).unwrap();
                assert_eq!(control, json!({"type": "control", "status": "connected"}));
            }
            other => panic!("expected the connected control message, got {other:?}"),
        }
    }

    async fn send(&mut self, text: &str) {
        self.socket
            .send(Message::binary(text.as_bytes().to_vec()))
            .await
            .unwrap();
    }

    /// Reads output (binary frames) until it holds `needle`; returns all output so far.
    async fn expect(&mut self, needle: &str) -> String {
        while !self.output.contains(needle) {
            match self.next().await {
                Some(Message::Binary(data)) => {
                    self.output.push_str(&String::from_utf8_lossy(&data));
                }
                other => panic!("waiting for {needle:?} got {other:?}\n{}", self.output),
            }
        }
        self.output.clone()
    }

    /// Reads to the end: the `exited` control message (if any) and the close frame.
    async fn finish(&mut self) -> (Option<Value>, CloseFrame) {
        let mut exited = None;
        loop {
            match self.next().await {
                Some(Message::Binary(data)) => {
                    self.output.push_str(&String::from_utf8_lossy(&data));
                }
                Some(Message::Text(text)) => exited = Some(serde_json::from_str(&text).unwrap()),
                Some(Message::Close(Some(frame))) => return (exited, frame),
                other => panic!("expected the end of the session, got {other:?}"),
            }
        }
    }
}

async fn sandbox(server: &Server) -> String {
    let sandbox = server.create(json!({})).await;
    sandbox["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pty_session_streams_resizes_and_reports_its_exit_code() {
    let server = serve_support::start("").await;
    let id = sandbox(&server).await;
    let pty = format!("/toolbox/{id}/process/pty");

    let created = server
        .post(
            &pty,
            json!({"id": "shell", "cols": 80, "rows": 24, "envs": {"PTY_MARK": "from-env"}}),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body, json!({"sessionId": "shell"}));
    let again = server.post(&pty, json!({"id": "shell"})).await;
    again.daemon_error(409, "CONFLICT");

    let info = server.get(&format!("{pty}/shell")).await;
    assert_eq!(info.status, 200, "{:?}", info.body);
    assert_eq!(info.body["active"], true);
    assert_eq!(info.body["envs"]["TERM"], "xterm-256color", "{}", info.body);
    assert_eq!(info.body["envs"]["PTY_MARK"], "from-env");
    assert!(
        info.body["cwd"]
            .as_str()
            .is_some_and(|cwd| cwd.starts_with('/'))
    );
    let listed = server.get(&pty).await;
    assert_eq!(
        listed.body["sessions"][0]["id"], "shell",
        "{:?}",
        listed.body
    );

    let mut client = open(&server, &format!("{pty}/shell/connect"), &[EXIT_CONTROL])
        .await
        .expect("connect");
    assert_eq!(client.protocol.as_deref(), Some(EXIT_CONTROL));
    client.connected().await;

    // Input reaches the shell: the echo of the line shows `$((6*7))`, only running it shows 42.
    client.send("echo \"$PTY_MARK-$((6*7))\"\n").await;
    client.expect("from-env-42").await;
    client.send("stty size\n").await;
    client.expect("24 80").await;

    let resized = server
        .post(
            &format!("{pty}/shell/resize"),
            json!({"cols": 132, "rows": 43}),
        )
        .await;
    assert_eq!(resized.status, 200, "{:?}", resized.body);
    assert_eq!(
        (resized.body["cols"].clone(), resized.body["rows"].clone()),
        (json!(132), json!(43))
    );
    client.send("stty size\n").await;
    client.expect("43 132").await;
    let too_big = server
        .post(
            &format!("{pty}/shell/resize"),
            json!({"cols": 1001, "rows": 10}),
        )
        .await;
    too_big.daemon_error(400, "BAD_REQUEST");

    client.send("exit 3\n").await;
    let (exited, close) = client.finish().await;
    assert_eq!(
        exited,
        Some(
            json!({"type": "control", "status": "exited", "exitCode": 3, "exitReason": "non-zero exit"})
        )
    );
    assert_eq!(u16::from(close.code), 1011);
    let reason: Value = serde_json::from_str(&close.reason).unwrap();
    assert_eq!(
        reason,
        json!({"exitCode": 3, "exitReason": "non-zero exit"})
    );

    // A session ends with its shell, as the daemon's does.
    let gone = server.get(&format!("{pty}/shell")).await;
    gone.daemon_error(404, "NOT_FOUND");
    assert_eq!(server.get(&pty).await.body, json!({"sessions": []}));
}

#[tokio::test(flavor = "multi_thread")]
async fn create_connect_takes_its_environment_from_a_subprotocol_and_a_clean_exit_closes_1000() {
    let server = serve_support::start("").await;
    let id = sandbox(&server).await;
    // base64url without padding of {"GREETING":"hi there"}; the server must never echo it.
    let envs = "X-Daytona-Pty-Envs~eyJHUkVFVElORyI6ImhpIHRoZXJlIn0";
    let path = format!("/toolbox/{id}/process/pty/create-connect?id=quick&cols=91&rows=17");
    let mut client = open(&server, &path, &[envs, EXIT_CONTROL])
        .await
        .expect("connect");
    assert_eq!(client.protocol.as_deref(), Some(EXIT_CONTROL));
    client.connected().await;
    client.send("stty size; echo \"[$GREETING]\"\n").await;
    client.expect("[hi there]").await;
    assert!(client.output.contains("17 91"), "{}", client.output);

    // The id is taken while the session lives: refused before the upgrade.
    match open(&server, &path, &[EXIT_CONTROL]).await {
        Err(WsError::Http(response)) => assert_eq!(response.status(), 409),
        other => panic!(
            "expected 409, got {:?}",
            other.map(|client| client.protocol)
        ),
    }

    client.send("exit\n").await;
    let (exited, close) = client.finish().await;
    assert_eq!(
        exited,
        Some(json!({"type": "control", "status": "exited", "exitCode": 0}))
    );
    assert_eq!(u16::from(close.code), 1000);

    // Without the capability there is no `exited` message, only the close frame.
    let path = format!("/toolbox/{id}/process/pty/create-connect?id=plain");
    let mut plain = open(&server, &path, &[]).await.expect("connect");
    assert_eq!(plain.protocol, None);
    plain.connected().await;
    plain.send("exit 5\n").await;
    let (exited, close) = plain.finish().await;
    assert_eq!(exited, None);
    assert_eq!(u16::from(close.code), 1011);
    let reason: Value = serde_json::from_str(&close.reason).unwrap();
    assert_eq!(reason["exitCode"], 5);
}

/// The subprotocol token that carries `envs`.
fn envs_token(json: &str) -> String {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
    format!("X-Daytona-Pty-Envs~{encoded}")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pty_environment_stays_out_of_command_lines_headers_and_errors() {
    let server = serve_support::start("").await;
    let id = sandbox(&server).await;
    // Unique to this run: other tests' processes may carry the shared sentinel.
    let value = format!("{}-{}", common::SENTINEL, fastrand::u64(..));
    let secret = envs_token(&json!({"PTY_SECRET": value}).to_string());
    let path = format!("/toolbox/{id}/process/pty/create-connect?id=secret");
    let mut client = open(&server, &path, &[&secret, EXIT_CONTROL])
        .await
        .expect("connect");
    assert_eq!(client.protocol.as_deref(), Some(EXIT_CONTROL));
    client.connected().await;
    // The shell has it (its length, so that the value itself never crosses the terminal).
    client.send("echo \"length=${#PTY_SECRET}\"\n").await;
    client.expect(&format!("length={}", value.len())).await;
    let leaked: Vec<u32> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|line| String::from_utf8_lossy(&line).contains(&value))
        })
        .collect();
    assert!(
        leaked.is_empty(),
        "the secret is on the command line of {leaked:?}"
    );
    let info = server
        .get(&format!("/toolbox/{id}/process/pty/secret"))
        .await;
    assert_eq!(info.body["envs"]["PTY_SECRET"], value);

    // A malformed token is refused without repeating what it held.
    for token in [
        envs_token(&format!("{{\"PTY_SECRET\": \"{value}")),
        envs_token(&format!("{{\"PTY_SECRET\": [\"{value}\"]}}")),
        format!("X-Daytona-Pty-Envs~{value}!"),
    ] {
        let path = format!("/toolbox/{id}/process/pty/create-connect?id=bad");
        match open(&server, &path, &[&token, EXIT_CONTROL]).await {
            Err(WsError::Http(response)) => {
                assert_eq!(response.status(), 400);
                let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default())
                    .into_owned();
                assert!(body.contains("invalid envs subprotocol"), "{body}");
                assert!(!body.contains(&value), "{body}");
            }
            other => panic!(
                "expected 400, got {:?}",
                other.map(|client| client.protocol)
            ),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pty_connection_needs_the_bearer_token_and_a_live_session() {
    let server = serve_support::start_with(serve_support::Options {
        api_key: Some(KEY.to_string()),
        ..serve_support::Options::default()
    })
    .await;
    let id = sandbox(&server).await;
    let url = format!(
        "{}/toolbox/{id}/process/pty/create-connect?id=x",
        server.base.replacen("http", "ws", 1)
    );
    match tokio_tungstenite::connect_async(url).await {
        Err(WsError::Http(response)) => assert_eq!(response.status(), 401),
        Ok(_) => panic!("connected without a token"),
        Err(other) => panic!("expected 401, got {other}"),
    }

    let mut client = open(
        &server,
        &format!("/toolbox/{id}/process/pty/nobody/connect"),
        &[EXIT_CONTROL],
    )
    .await
    .expect("the upgrade happens first, as on the daemon");
    match client.next().await {
        Some(Message::Text(text)) => {
            let control: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(control["status"], "error", "{control}");
            assert!(
                control["error"].as_str().unwrap().contains("nobody"),
                "{control}"
            );
        }
        other => panic!("expected an error control message, got {other:?}"),
    }
}

/// Host processes whose command line is exactly `words`.
fn processes(words: &[&str]) -> Vec<u32> {
    let wanted: Vec<u8> = words
        .iter()
        .flat_map(|word| format!("{word}\0").into_bytes())
        .collect();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|line| line == wanted)
        })
        .collect()
}

/// Waits until processes with command line `words` exist (`true`) or none do (`false`).
async fn until_processes(words: &[&str], exist: bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while processes(words).is_empty() == exist {
        assert!(
            Instant::now() < deadline,
            "{words:?} still {}",
            if exist { "absent" } else { "running" }
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_a_pty_session_kills_its_processes() {
    let server = serve_support::start("").await;
    let id = sandbox(&server).await;
    let pty = format!("/toolbox/{id}/process/pty");
    // A duration no other process on the machine sleeps for.
    let seconds = format!(
        "86{:03}.{:06}",
        fastrand::u32(..1000),
        fastrand::u32(..1_000_000)
    );
    let sleeper = ["sleep", seconds.as_str()];

    let created = server.post(&pty, json!({"id": "busy"})).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let mut client = open(&server, &format!("{pty}/busy/connect"), &[EXIT_CONTROL])
        .await
        .expect("connect");
    client.connected().await;
    client.send(&format!("sleep {seconds}\n")).await;
    until_processes(&sleeper, true).await;

    let deleted = server.delete(&format!("{pty}/busy")).await;
    assert_eq!(deleted.status, 200, "{:?}", deleted.body);
    assert_eq!(deleted.body, json!({"message": "PTY session deleted"}));
    until_processes(&sleeper, false).await;
    let (exited, close) = client.finish().await;
    assert_eq!(exited.unwrap()["exitCode"], 137);
    assert_eq!(u16::from(close.code), 1011);
    assert!(close.reason.contains("SIGKILL"), "{}", close.reason);
    server
        .get(&format!("{pty}/busy"))
        .await
        .daemon_error(404, "NOT_FOUND");
    server
        .delete(&format!("{pty}/busy"))
        .await
        .daemon_error(404, "NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_official_python_sdk_drives_pty_sessions() {
    let Some(python) = sdk_python(&["daytona"]).await else {
        return;
    };
    let server = serve_support::start("").await;
    run_python_script(&python, "pty_test.py", &server, &[], "sdk: done").await;
    for (route, at_least) in [
        ("GET /toolbox/{sandbox}/process/pty/create-connect", 2),
        ("GET /toolbox/{sandbox}/process/pty/{session}/connect", 1),
        ("POST /toolbox/{sandbox}/process/pty/{session}/resize", 1),
        ("DELETE /toolbox/{sandbox}/process/pty/{session}", 1),
    ] {
        let count = server.requests(route).await;
        assert!(count >= at_least, "{route}: {count} requests");
    }
}
