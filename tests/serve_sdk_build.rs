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

use crate::common;
use crate::serve_sdk_ts::sdk_node;
use crate::serve_support::{Server, run_node_script, run_python_script, sdk_python, start};

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
    let Some(python) = sdk_python(&["daytona"]).await else {
        return;
    };
    let server = start("").await;
    run_python_script(
        &python,
        "build_preview_test.py",
        &server,
        &[],
        "sdk-build: done",
    )
    .await;
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
    run_node_script(
        &folder,
        "build_preview_test.mjs",
        &server,
        &[],
        "sdk-ts-build: done",
    )
    .await;
    assert_routes(&server).await;
    assert!(server.requests("GET /api/object-storage/push-access").await >= 1);
}
