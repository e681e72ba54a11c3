//! The official Daytona Python SDK's git, file-system, lifecycle and volume calls against an
//! in-process `serve`: `tests/sdk/toolbox_test.py` drives `sandbox.git.*`, `sandbox.fs.*`,
//! archive and start, recover, pause, timers and the TTL, resize, snapshots from a sandbox,
//! forks, metrics, `update_env`, SSH validation, `daytona.volume.*` with a volume shared by two
//! sandboxes, and sorted lists, all through the SDK's own models and error classes.
//!
//! The SDK comes from the virtual environment `scripts/sdk-venv.sh` makes; without it the test
//! skips and says why, and with `CI=true` it fails. Nothing reaches beyond 127.0.0.1.

use crate::serve_support::{run_python_script, sdk_python, start};

#[tokio::test(flavor = "multi_thread")]
async fn the_python_sdk_drives_git_files_lifecycle_and_volumes() {
    let Some(python) = sdk_python(&["daytona"]).await else {
        return;
    };
    let server = start("").await;
    run_python_script(
        &python,
        "toolbox_test.py",
        &server,
        &[],
        "sdk-toolbox: done",
    )
    .await;
    for route in [
        "GET /toolbox/{sandbox}/git/status",
        "POST /toolbox/{sandbox}/git/commit",
        "POST /toolbox/{sandbox}/git/push",
        "GET /toolbox/{sandbox}/files/find",
        "POST /toolbox/{sandbox}/files/replace",
        "GET /toolbox/{sandbox}/system/metrics",
        "POST /api/sandbox/{sandbox}/archive",
        "POST /api/sandbox/{sandbox}/resize",
        "POST /api/sandbox/{sandbox}/fork",
        "POST /api/sandbox/{sandbox}/snapshot",
        "POST /api/sandbox/{sandbox}/ttl/{minutes}",
        "POST /api/volumes",
        "DELETE /api/volumes/{volume}",
    ] {
        let count = server.requests(route).await;
        assert!(count >= 1, "{route}: {count} requests");
    }
}
