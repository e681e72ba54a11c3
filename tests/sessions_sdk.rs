//! Process sessions, `code_run` and the code interpreter through `serve`: the official Python
//! SDK (`tests/sdk/sessions_test.py`, from the virtual environment `scripts/sdk-venv.sh` makes;
//! without it the test skips and says why, with `CI=true` it fails), and code-run's answers for
//! a missing runtime and an unknown language.

use std::path::Path;
use std::time::Duration;

use crate::common::SENTINEL;
use crate::serve_support::{self, KEY};
use crate::sessions::EndSessions;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_python_sdk_runs_sessions_code_and_the_interpreter_against_serve() {
    let Some(python) = tokio::task::spawn_blocking(|| crate::common::sdk_python(&["daytona"]))
        .await
        .unwrap()
    else {
        return;
    };
    let server = serve_support::start("").await;
    let _end = EndSessions(server.provider.root().to_path_buf());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/sessions_test.py");
    let run = tokio::process::Command::new(python)
        .arg(script)
        .env("DAYTONA_API_URL", &server.api_url)
        .env("DAYTONA_API_KEY", KEY)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env_remove("DAYTONA_JWT_TOKEN")
        .env_remove("DAYTONA_TARGET")
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(300), run)
        .await
        .expect("the SDK script did not finish within 5 minutes")
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the SDK script failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    assert!(stdout.contains("sdk: done"), "{stdout}");
    // The SDK really went through the session routes, the follow over a WebSocket included.
    for route in [
        "POST /toolbox/{sandbox}/process/code-run",
        "POST /toolbox/{sandbox}/process/session",
        "GET /toolbox/{sandbox}/process/session",
        "POST /toolbox/{sandbox}/process/session/{session}/exec",
        "GET /toolbox/{sandbox}/process/session/{session}/command/{command}",
        "GET /toolbox/{sandbox}/process/session/{session}/command/{command}/logs",
        "POST /toolbox/{sandbox}/process/session/{session}/command/{command}/input",
        "DELETE /toolbox/{sandbox}/process/session/{session}",
        "POST /toolbox/{sandbox}/process/interpreter/context",
        "GET /toolbox/{sandbox}/process/interpreter/execute",
        "DELETE /toolbox/{sandbox}/process/interpreter/context/{context}",
    ] {
        assert!(
            server.requests(route).await >= 1,
            "{route}\n{stdout}\n{stderr}"
        );
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_run_reports_a_missing_runtime_and_an_unknown_language_in_daytonas_shape() {
    let server = serve_support::start("").await;
    let _end = EndSessions(server.provider.root().to_path_buf());
    let sandbox = server.create(serde_json::json!({})).await;
    let id = sandbox["id"].as_str().unwrap();
    let route = format!("/toolbox/{id}/process/code-run");

    // The argument and the environment reach the code; the secret never a command line.
    let code = "import os, sys\nprint(sys.argv[1], len(os.environ['CODE_SECRET']))";
    let body = serde_json::json!({
        "code": code, "language": "python", "argv": ["first"],
        "envs": { "CODE_SECRET": SENTINEL },
    });
    let reply = server.post(&route, body).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["exitCode"], 0, "{:?}", reply.body);
    assert_eq!(reply.body["result"], format!("first {}\n", SENTINEL.len()));

    // A sandbox without the runtime: exit code 127 and a result that names it.
    let body = serde_json::json!({
        "code": "print(1)", "language": "python", "envs": { "PATH": "/nowhere" },
    });
    let reply = server.post(&route, body).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["exitCode"], 127, "{:?}", reply.body);
    let result = reply.body["result"].as_str().unwrap();
    assert!(
        result.contains("python3 is not installed in this sandbox"),
        "{result}"
    );

    let reply = server
        .post(
            &route,
            serde_json::json!({ "code": "x", "language": "cobol" }),
        )
        .await;
    let message = reply.daemon_error(400, "BAD_REQUEST");
    assert!(message.contains("unsupported language: cobol"), "{message}");

    if crate::common::have("node") {
        let body = serde_json::json!({
            "code": "console.log(process.argv.slice(1).join(','))",
            "language": "javascript", "argv": ["a", "b"],
        });
        let reply = server.post(&route, body).await;
        assert_eq!(reply.body["exitCode"], 0, "{:?}", reply.body);
        assert_eq!(reply.body["result"], "a,b\n");
    }
    // The code files are gone once the runs are over.
    let left = server.provider.home_dir(id).join(".daytona/code-run");
    let files = std::fs::read_dir(&left).map_or(0, std::iter::Iterator::count);
    assert_eq!(files, 0, "code files left in {left:?}");
    server.shutdown().await;
}
