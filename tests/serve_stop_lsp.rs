//! A stop of `serve` ends the language servers being started too: one whose start is still
//! waiting for the server's answer to `initialize` (a sandbox's own `pylsp` may never answer),
//! and one whose start request was sent before the stop but reaches the registry after it. The
//! start request is answered either way, and no server process outlives the stop.
//!
//! The language server is a stand-in found first on the sandbox's `PATH`: a Python script that
//! answers `initialize` once a file `go` is beside it. Needs bubblewrap and `python3`.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::have;
use crate::serve_stop_ends::with_argument;
use crate::serve_support::{KEY, Server, start};
use crate::serve_web_terminal::until;

/// The local provider's `PATH` for sandbox commands, after the stand-in's directory.
const SYSTEM_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A language server that reads `initialize`, answers it once the file `go` is in its own
/// directory, then reads until its input ends.
const LATE_LANGUAGE_SERVER: &str = r#"#!/usr/bin/env python3
import json, os, sys, time
here = os.path.dirname(os.path.abspath(__file__))
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
request = json.loads(sys.stdin.buffer.read(length))
while not os.path.exists(os.path.join(here, 'go')):
    time.sleep(0.05)
body = json.dumps({'jsonrpc': '2.0', 'id': request['id'], 'result': {'capabilities': {}}})
sys.stdout.buffer.write(b'Content-Length: %d\r\n\r\n%s' % (len(body), body.encode()))
sys.stdout.buffer.flush()
while sys.stdin.buffer.read(4096):
    pass
"#;

/// A directory sandboxes see (read-only, as the host) holding the stand-in as `pylsp`.
fn stand_in() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt as _;
    let folder = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
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

/// `POST /toolbox/{id}/lsp/start` for Python, sent in a task of its own.
fn start_language_server(
    server: &Server,
    id: &str,
) -> tokio::task::JoinHandle<reqwest::Result<reqwest::Response>> {
    let request = server
        .client
        .post(server.url(&format!("/toolbox/{id}/lsp/start")))
        .bearer_auth(KEY)
        .json(&json!({ "languageId": "python", "pathToProject": "/tmp" }))
        .send();
    tokio::spawn(request)
}

/// Stops `server` while `starting` is in flight: its state root, which stays as a real
/// `serve`'s does (removing it would end the sandbox's processes whatever the stop did), and the
/// start's status and body, which must have come before the stop ended.
async fn stop(
    server: Server,
    starting: tokio::task::JoinHandle<reqwest::Result<reqwest::Response>>,
) -> (tempfile::TempDir, u16, String) {
    let root = server.shutdown().await;
    let answer = starting
        .await
        .unwrap()
        .expect("the start is answered before serve stops");
    let status = answer.status().as_u16();
    (root, status, answer.text().await.unwrap_or_default())
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
    let (_root, status, body) = stop(server, starting).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("stopping"), "{body}");
    until("the language server ends with serve", || {
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
    // Counted before the latency: the request is in the server's hands.
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.requests("POST /toolbox/{sandbox}/lsp/start").await == 0 {
        assert!(
            Instant::now() < deadline,
            "the start request never reached serve"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_root, status, body) = stop(server, starting).await;
    // 503 when the handler came after the close (the usual order); a start that got in first is
    // ended by the close like any other.
    assert!(status == 503 || status == 200, "{status}: {body}");
    until("no language server outlives serve", || {
        with_argument(&needle) == 0
    })
    .await;
}
