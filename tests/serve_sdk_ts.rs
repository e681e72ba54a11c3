//! The official Daytona TypeScript SDK (`@daytonaio/sdk`) against an in-process `serve` that
//! delays every create: `tests/sdk-ts/sdk_test.mjs` creates (and returns only because the
//! events socket said the sandbox started: its polls are held back), executes, uploads and
//! downloads, lists by labels, opens and revokes SSH access, drives PTY sessions and deletes.
//!
//! The SDK is installed by `scripts/sdk-node.sh` (`.ci/run` runs it) into
//! `tests/sdk-ts/node_modules`, at the versions of `tests/sdk-ts/package-lock.json`. The test
//! never reaches the network. Without `node` or the installed SDK it skips and says why; with
//! `CI=true` it fails.

use std::path::{Path, PathBuf};

use crate::common;
use crate::serve_support::{self, run_node_script};

/// The folder of the TypeScript SDK test, when `node` and the installed SDK are there.
pub(crate) fn sdk_node() -> Option<PathBuf> {
    if !common::have("node") {
        return None;
    }
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk-ts");
    if folder
        .join("node_modules/@daytonaio/sdk/package.json")
        .is_file()
    {
        return Some(folder);
    }
    common::skip(&format!(
        "the TypeScript SDK in `{}` (install it with `scripts/sdk-node.sh`)",
        folder.join("node_modules").display()
    ));
    None
}

#[tokio::test(flavor = "multi_thread")]
async fn the_official_typescript_sdk_works_against_serve() {
    let Some(folder) = sdk_node() else {
        return;
    };
    // Long enough that a create answered before it ends must have waited for it.
    let server = serve_support::start("create-delay=1500ms").await;
    run_node_script(&folder, "sdk_test.mjs", &server, &[], "sdk-ts: done").await;
    // The SDK really went through the routes this test is about.
    for (route, at_least) in [
        ("POST /api/sandbox", 2),
        ("GET /api/sandbox", 1),
        ("DELETE /api/sandbox/{sandbox}", 2),
        ("POST /api/sandbox/{sandbox}/ssh-access", 1),
        ("GET /api/sandbox/ssh-access/validate", 2),
        ("POST /toolbox/{sandbox}/process/execute", 2),
        ("POST /toolbox/{sandbox}/files/bulk-upload", 1),
        ("POST /toolbox/{sandbox}/files/bulk-download", 1),
        ("GET /toolbox/{sandbox}/process/pty/create-connect", 2),
        ("GET /toolbox/{sandbox}/process/pty/{session}/connect", 1),
        ("POST /toolbox/{sandbox}/process/pty/{session}/resize", 1),
        ("DELETE /toolbox/{sandbox}/process/pty/{session}", 1),
    ] {
        let count = server.requests(route).await;
        assert!(count >= at_least, "{route}: {count} requests");
    }
}
