//! A stop of `serve` ends the language servers being started too, and starts none after it
//! began: a start still waiting for the server's answer to `initialize` (a sandbox's own
//! `pylsp` may never answer) is given up, one waiting behind it for the same server is refused,
//! and one whose request was sent before the stop but reaches the registry after it starts
//! none. Each is answered before the stop ends, with 503 `the server is stopping` as a PTY
//! session's start is (or, for the last, 200 if it got in first), and no server process
//! outlives the stop.
//!
//! The language server is a stand-in found first on the sandbox's `PATH`: a Python script that
//! answers `initialize` once a file `go` is beside it. Needs bubblewrap and `python3`; without
//! them the tests skip and say why, with `CI=true` they fail. Nothing reaches beyond 127.0.0.1.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::have;
use crate::serve_stop_ends::with_argument;
use crate::serve_support::{KEY, Server, start};
use crate::serve_web_terminal::until;

/// The local provider's `PATH` for sandbox commands, after the stand-in's directory.
const SYSTEM_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// The route whose requests `serve` counts as they come in.
const START_ROUTE: &str = "POST /toolbox/{sandbox}/lsp/start";

/// A language server that answers `initialize` once the file `go` is in its own directory,
/// then every request with `null`, and exits on `exit` or when its input ends.
const LATE_LANGUAGE_SERVER: &str = r#"#!/usr/bin/env python3
import json, os, sys, time
here = os.path.dirname(os.path.abspath(__file__))

def message():
    length = 0
    while True:
        line = sys.stdin.buffer.readline()
        if not line:
            sys.exit(0)
        line = line.strip()
        if not line:
            break
        name, _, value = line.partition(b':')
        if name.strip().lower() == b'content-length':
            length = int(value)
    return json.loads(sys.stdin.buffer.read(length))

while True:
    request = message()
    method = request.get('method')
    if method == 'exit':
        sys.exit(0)
    if method == 'initialize':
        while not os.path.exists(os.path.join(here, 'go')):
            time.sleep(0.05)
    if 'id' in request:
        result = {'capabilities': {}} if method == 'initialize' else None
        body = json.dumps({'jsonrpc': '2.0', 'id': request['id'], 'result': result}).encode()
        sys.stdout.buffer.write(b'Content-Length: %d\r\n\r\n' % len(body) + body)
        sys.stdout.buffer.flush()
"#;

/// A directory sandboxes see (read-only, as the host) holding the stand-in as `pylsp`.
fn stand_in() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt as _;
    let folder = crate::common::seen_by_sandboxes("ralph-town-stand-in");
    let program = folder.path().join("pylsp");
    std::fs::write(&program, LATE_LANGUAGE_SERVER).unwrap();
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    folder
}

/// A server (with `simulation`) and a started sandbox that finds the stand-in in `folder`.
async fn sandbox(simulation: &str, folder: &Path) -> Option<(Server, String)> {
    if !have("bwrap") || !have("python3") {
        return None;
    }
    let server = start(simulation).await;
    let path = format!("{}:{SYSTEM_PATH}", folder.display());
    let created = server.create(json!({ "env": { "PATH": path } })).await;
    Some((server, created["id"].as_str().unwrap().to_string()))
}

type Starting = tokio::task::JoinHandle<reqwest::Result<reqwest::Response>>;

/// `POST /toolbox/{id}/lsp/start` for Python, sent in a task of its own.
fn start_language_server(server: &Server, id: &str) -> Starting {
    let request = server
        .client
        .post(server.url(&format!("/toolbox/{id}/lsp/start")))
        .bearer_auth(KEY)
        .json(&json!({ "languageId": "python", "pathToProject": "/tmp" }))
        .send();
    tokio::spawn(request)
}

/// Waits until `serve` has taken `count` start requests (counted before the handler runs:
/// the request is in the server's hands).
async fn taken(server: &Server, count: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.requests(START_ROUTE).await < count {
        assert!(
            Instant::now() < deadline,
            "serve never took start request {count}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Stops `server` while `starting` are in flight: its state root, which stays as a real
/// `serve`'s does (removing it would end the sandbox's processes whatever the stop did), and
/// each start's status and body, which must have come before the stop ended.
async fn stop(server: Server, starting: Vec<Starting>) -> (tempfile::TempDir, Vec<(u16, Value)>) {
    let root = server.shutdown().await;
    let mut answers = Vec::new();
    for start in starting {
        let answer = start
            .await
            .unwrap()
            .expect("the start is answered before serve stops");
        let status = answer.status().as_u16();
        let text = answer.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        answers.push((status, body));
    }
    (root, answers)
}

/// The answer to a start that the stop gave up or refused.
fn is_refusal((status, body): &(u16, Value)) -> bool {
    *status == 503 && body["message"] == "the server is stopping"
}

/// A start waiting for a server that does not answer `initialize` does not hold the stop: it
/// is answered (503, the server stops) and the server's process ends. Before, the stop waited
/// for the start's lock for its whole grace (the start waits up to 60 s) and then cut the
/// request unanswered.
#[tokio::test(flavor = "multi_thread")]
async fn a_language_server_still_starting_ends_with_the_stop_and_its_start_is_answered() {
    let folder = stand_in();
    let Some((server, id)) = sandbox("", folder.path()).await else {
        return;
    };
    let needle = folder.path().display().to_string();
    let starting = start_language_server(&server, &id);
    until("the language server runs", || with_argument(&needle) > 0).await;
    let (_root, answers) = stop(server, vec![starting]).await;
    assert!(is_refusal(&answers[0]), "{answers:?}");
    until("the language server ends with serve", || {
        with_argument(&needle) == 0
    })
    .await;
}

/// A second start of the same server, waiting behind the first (which holds the server's
/// registry slot while the stand-in waits for `go`, never written here) when the stop begins,
/// is refused once the first has given up: no server starts after the stop began.
#[tokio::test(flavor = "multi_thread")]
async fn a_language_server_start_after_the_stop_began_is_refused() {
    let folder = stand_in();
    let Some((server, id)) = sandbox("", folder.path()).await else {
        return;
    };
    let needle = folder.path().display().to_string();
    let first = start_language_server(&server, &id);
    until("the stand-in language server starts", || {
        with_argument(&needle) > 0
    })
    .await;
    let second = start_language_server(&server, &id);
    taken(&server, 2).await;
    let (_root, answers) = stop(server, vec![first, second]).await;
    assert!(answers.iter().all(is_refusal), "{answers:?}");
    until("no language server outlives serve", || {
        with_argument(&needle) == 0
    })
    .await;
}

/// A start request sent before the stop whose handler reaches the language servers only after
/// they were closed (here it is held by the simulated latency) starts none that outlives the
/// stop. Before, it started one nothing ever killed.
#[tokio::test(flavor = "multi_thread")]
async fn a_language_server_started_during_the_stop_does_not_outlive_it() {
    let folder = stand_in();
    std::fs::write(folder.path().join("go"), "").unwrap();
    let Some((server, id)) = sandbox("latency=3s", folder.path()).await else {
        return;
    };
    let needle = folder.path().display().to_string();
    let starting = start_language_server(&server, &id);
    taken(&server, 1).await;
    let (_root, answers) = stop(server, vec![starting]).await;
    // 503 when the handler came after the close (the usual order); a start that got in first is
    // ended by the close like any other.
    assert!(
        is_refusal(&answers[0]) || answers[0].0 == 200,
        "{answers:?}"
    );
    until("no language server outlives serve", || {
        with_argument(&needle) == 0
    })
    .await;
}
