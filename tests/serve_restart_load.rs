//! The real `ralph-town serve` stopped cleanly (SIGTERM, as `docker stop` or a service manager
//! sends) while the Python SDK works against it, then started again on the same state root and
//! port. `tests/sdk/restart_test.py` does the work and judges every answer (see its docstring:
//! no request sent before the stop goes unanswered, no 5xx or wrong answer, no name doubled,
//! every sandbox created is there with its id, commands left running still run with their logs).
//! This side stops `serve` when the script asks, requires it to exit 0 within its grace, starts
//! it again, and once the script has deleted everything checks that nothing is left: no record,
//! process, cgroup or directory of any sandbox.
//!
//! Each seed picks the stop point and the workers' choices; `RESTART_SEEDS=5,6` runs others.
//! Needs bubblewrap and the SDK; without them the test skips and says why, with `CI=true` it
//! fails. Nothing reaches beyond 127.0.0.1.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};

use crate::common;
use crate::serve_crash::{Checker, KEY, leftovers, seeds, start_at, start_checked};
use crate::serve_support::{sdk_environment, sdk_python};

/// The seeds; each stops `serve` once.
const SEEDS: [u64; 1] = [11];

async fn restart_once(python: &Path, seed: u64) {
    let world = tempfile::tempdir().unwrap();
    let (mut serve, _) = start_checked(world.path()).await;
    let api = serve.api.clone();
    let listen = serve.address().to_string();

    let mut command = tokio::process::Command::new(python);
    command.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/restart_test.py"));
    sdk_environment(&mut command, (&api, KEY));
    let mut script = command
        .env("RESTART_SEED", seed.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the SDK script runs");
    let mut stdin = script.stdin.take().unwrap();
    let stderr = script.stderr.take().unwrap();
    let said = tokio::spawn(async move {
        let mut text = String::new();
        let mut lines = tokio::io::BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    let mut lines = tokio::io::BufReader::new(script.stdout.take().unwrap()).lines();
    let mut output = String::new();
    let mut restarted = false;
    let read = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            eprintln!("{line}");
            output.push_str(&line);
            output.push('\n');
            if line.starts_with("restart: stop now") {
                assert!(!restarted, "asked to stop twice");
                serve.stop().await;
                serve = start_at(world.path(), &listen).await;
                assert_eq!(serve.api, api, "serve came back elsewhere");
                stdin.write_all(b"restarted\n").await.unwrap();
                stdin.flush().await.unwrap();
                restarted = true;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(600), read)
        .await
        .expect("the SDK script finishes within 10 minutes");
    let status = script.wait().await.unwrap();
    let stderr = said.await.unwrap();
    assert!(
        status.success() && output.contains("restart: done") && restarted,
        "seed {seed}: the SDK script failed\n--- stdout\n{output}\n--- stderr\n{stderr}"
    );

    let checker = Checker::of(&serve);
    assert_eq!(
        checker.get("/sandbox").await["items"],
        serde_json::json!([]),
        "seed {seed}: sandboxes left"
    );
    let left = leftovers(world.path()).await;
    assert!(left.is_empty(), "seed {seed}: left behind: {left:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_stopped_cleanly_under_sdk_load_answers_what_was_sent_and_keeps_what_runs() {
    if !common::have("bwrap") {
        return;
    }
    let Some(python) = sdk_python(&["daytona"]).await else {
        return;
    };
    for seed in seeds("RESTART_SEEDS", &SEEDS) {
        restart_once(&python, seed).await;
    }
}

/// A second stop signal ends `serve` at once, with the interrupt exit code, while a request it
/// waits for is still coming in (a create whose body never arrives); the first one alone would
/// have it wait out its grace and exit 0.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_stop_signal_ends_serve_at_once() {
    let world = tempfile::tempdir().unwrap();
    let mut serve = start_at(world.path(), "127.0.0.1:0").await;
    let address = serve.address().to_string();
    let mut request = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /api/sandbox HTTP/1.1\r\nhost: {address}\r\nauthorization: Bearer {KEY}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{"
    );
    request.write_all(head.as_bytes()).await.unwrap();
    serve.signal_stop();
    // It stops listening once it took the first signal.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(&address).await.is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "serve never stopped listening"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    serve.signal_stop();
    assert_eq!(
        serve.exited().await.code(),
        Some(130),
        "serve's exit after a second SIGTERM"
    );
}
