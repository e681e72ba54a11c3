//! The official Python and TypeScript SDKs build images and open preview links against an
//! in-process `serve`: `tests/sdk/build_preview_test.py` and `tests/sdk-ts/build_preview_test.mjs`
//! create a sandbox from a declarative `Image` with a build-log callback (the steps really run),
//! see a failing image fail the create with its reason, build a snapshot with `on_logs`/`onLogs`,
//! and fetch a web server in the sandbox through a preview link and a signed one. The TypeScript
//! SDK also uploads a build context (`addLocalFile`, `addLocalDir`) that the build copies.
//!
//! The SDKs come from `scripts/sdk-venv.sh` and `scripts/sdk-node.sh` (`.ci/run` runs both). The
//! tests never reach the network; without the SDKs they skip and say why, with `CI=true` they
//! fail.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use crate::common;
use crate::serve_sdk_ts::sdk_node;
use crate::serve_support::{KEY, Server, start};

async fn finish(command: &mut tokio::process::Command, server: &Server) -> Output {
    let run = command
        .env("DAYTONA_API_URL", &server.api_url)
        .env("DAYTONA_API_KEY", KEY)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env_remove("DAYTONA_JWT_TOKEN")
        .env_remove("DAYTONA_ORGANIZATION_ID")
        .env_remove("DAYTONA_TARGET")
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(600), run)
        .await
        .expect("the SDK script did not finish within 10 minutes")
        .expect("the SDK script runs")
}

#[track_caller]
fn assert_done(output: &Output, done: &str) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains(done),
        "the SDK script failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
}

/// The SDK really went through the build-log and preview routes.
async fn assert_routes(server: &Server) {
    for route in [
        "GET /api/sandbox/{sandbox}/build-logs-url",
        "GET /api/sandbox/{sandbox}/build-logs",
        "GET /api/snapshots/{snapshot}/build-logs-url",
        "GET /api/snapshots/{snapshot}/build-logs",
        "GET /api/sandbox/{sandbox}/ports/{port}/preview-url",
        "GET /api/sandbox/{sandbox}/ports/{port}/signed-preview-url",
        "POST /api/sandbox/{sandbox}/ports/{port}/signed-preview-url/{token}/expire",
    ] {
        assert!(
            server.requests(route).await >= 1,
            "{route} was never called"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_python_sdk_builds_images_and_opens_preview_links() {
    if !common::have("bwrap") {
        return;
    }
    let Some(python) = tokio::task::spawn_blocking(|| common::sdk_python(&["daytona"]))
        .await
        .unwrap()
    else {
        return;
    };
    let server = start("").await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/build_preview_test.py");
    let output = finish(tokio::process::Command::new(python).arg(script), &server).await;
    assert_done(&output, "sdk-build: done");
    assert_routes(&server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_typescript_sdk_builds_images_and_opens_preview_links() {
    if !common::have("bwrap") {
        return;
    }
    let Some(folder) = sdk_node() else {
        return;
    };
    let server = start("").await;
    let output = finish(
        tokio::process::Command::new("node")
            .arg("build_preview_test.mjs")
            .current_dir(&folder),
        &server,
    )
    .await;
    assert_done(&output, "sdk-ts-build: done");
    assert_routes(&server).await;
    assert!(server.requests("GET /api/object-storage/push-access").await >= 1);
}
