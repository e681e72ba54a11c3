//! A language server start that reaches the registry once a clean stop of the real
//! `ralph-town serve` (SIGTERM) has begun is refused with 503 `the server is stopping`, as a
//! PTY session's is, instead of starting a server that only the process's exit would end.
//!
//! Deterministic without timing: a stand-in `pylsp` on the sandbox's `PATH` holds the first
//! start in its `initialize` until the test opens a gate, so that a second start of the same
//! server waits behind it; the stop begins (its listener refuses connections) while both are in
//! flight, and only then is the gate opened. The first start, begun before the stop, is
//! answered and its server ended by the stop; the second is refused.
//!
//! Needs bubblewrap; without it the test skips and says why, with `CI=true` it fails. Nothing
//! reaches beyond 127.0.0.1.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common;
use crate::serve_crash::{Checker, KEY, Serve};
use crate::serve_stop_ends::with_argument;
use crate::serve_support::ServeCommand;
use crate::serve_web_terminal::until;

/// A stand-in for `pylsp` that answers `initialize` only once `gate` exists, then every
/// request with `null`, and exits on `exit`.
fn stand_in(gate: &Path) -> String {
    format!(
        r#"#!/usr/bin/python3
import json, os, sys, time

def message():
    length = None
    while True:
        line = sys.stdin.buffer.readline()
        if not line:
            sys.exit(0)
        line = line.strip()
        if not line:
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return json.loads(sys.stdin.buffer.read(length))

while True:
    request = message()
    method = request.get("method")
    if method == "exit":
        sys.exit(0)
    if method == "initialize":
        while not os.path.exists({gate:?}):
            time.sleep(0.05)
    if "id" in request:
        result = {{"capabilities": {{}}}} if method == "initialize" else None
        body = json.dumps({{"jsonrpc": "2.0", "id": request["id"], "result": result}}).encode()
        sys.stdout.buffer.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        sys.stdout.buffer.flush()
"#,
        gate = gate.display().to_string()
    )
}

async fn start(world: &Path, listen: &str) -> Serve {
    ServeCommand::new(world, &world.join("state"))
        .key(Some(KEY))
        .listen(listen)
        .start_async()
        .await
}

/// The requests `serve` has taken on `route` (`METHOD /template`), counted as they come in.
async fn taken(serve: &Serve, route: &str) -> u64 {
    let stats: Value = reqwest::Client::new()
        .get(format!("{}/_ralph/stats", serve.base()))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    stats["routes"][route]["requests"].as_u64().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_language_server_start_after_the_stop_began_is_refused() {
    if !common::have("bwrap") {
        return;
    }
    let world = tempfile::tempdir().unwrap();
    // Seen by sandbox commands (read-only, as the host is): the state root and /tmp are not.
    let programs = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let gate = programs.path().join("go");
    let program = programs.path().join("pylsp");
    std::fs::write(&program, stand_in(&gate)).unwrap();
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    let program = program.display().to_string();

    let mut serve = start(world.path(), "127.0.0.1:0").await;
    let listen = serve.address().to_string();
    let checker = Checker::of(&serve);
    let path = format!("{}:/usr/local/bin:/usr/bin:/bin", programs.path().display());
    let (status, sandbox) = checker
        .post("/sandbox", json!({ "env": { "PATH": path } }))
        .await;
    assert!(status < 300, "{sandbox}");
    let id = sandbox["id"].as_str().unwrap().to_string();
    checker.wait_state(&id, "started").await;

    let lsp_start = format!("/toolbox/{id}/lsp/start");
    let project = json!({ "languageId": "python", "pathToProject": "/tmp" });
    let send = |checker: Checker| {
        let (path, body) = (lsp_start.clone(), project.clone());
        tokio::spawn(async move { checker.post(&path, body).await })
    };
    let first = send(Checker::of(&serve));
    // The first start holds its server's registry slot while the stand-in waits at the gate.
    until("the stand-in language server starts", || {
        with_argument(&program) == 1
    })
    .await;
    let second = send(Checker::of(&serve));
    let route = "POST /toolbox/{sandbox}/lsp/start";
    let deadline = Instant::now() + Duration::from_secs(30);
    while taken(&serve, route).await < 2 {
        assert!(
            Instant::now() < deadline,
            "serve never took the second start"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    serve.signal_stop();
    // The stop begins before the listener closes: a refused connection says it has begun.
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(&listen).await.is_ok() {
        assert!(Instant::now() < deadline, "serve kept taking connections");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    std::fs::write(&gate, "").unwrap();
    let (status, body) = first.await.unwrap();
    assert_eq!(status, 200, "the start begun before the stop: {body}");
    let (status, body) = second.await.unwrap();
    assert_eq!(
        (status, body["message"].as_str()),
        (503, Some("the server is stopping")),
        "{body}"
    );
    assert_eq!(serve.exited().await.code(), Some(0));
    until("the started language server ends with serve", || {
        with_argument(&program) == 0
    })
    .await;

    let mut serve = start(world.path(), &listen).await;
    let checker = Checker::of(&serve);
    let (status, _) = checker
        .call(reqwest::Method::DELETE, &format!("/sandbox/{id}"), None)
        .await;
    assert!(status < 300);
    serve.stop().await;
}
