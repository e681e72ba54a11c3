//! The official Daytona Python SDK's git, file-system, lifecycle and volume calls against an
//! in-process `serve`: `tests/sdk/toolbox_test.py` drives `sandbox.git.*`, `sandbox.fs.*`,
//! archive and start, recover, pause, timers and the TTL, resize, snapshots from a sandbox,
//! forks, metrics, `update_env`, SSH validation, `daytona.volume.*` with a volume shared by two
//! sandboxes, and sorted lists, all through the SDK's own models and error classes.
//!
//! The SDK comes from the virtual environment `scripts/sdk-venv.sh` makes; without it the test
//! skips and says why, and with `CI=true` it fails. Nothing reaches beyond 127.0.0.1.

use crate::serve_support;

use std::path::Path;
use std::time::Duration;

use crate::common;
use serve_support::{KEY, start};

#[tokio::test(flavor = "multi_thread")]
async fn the_python_sdk_drives_git_files_lifecycle_and_volumes() {
    let Some(python) = tokio::task::spawn_blocking(|| common::sdk_python(&["daytona"]))
        .await
        .unwrap()
    else {
        return;
    };
    let server = start("").await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/toolbox_test.py");
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
    assert!(stdout.contains("sdk-toolbox: done"), "{stdout}");
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
        assert!(count >= 1, "{route}: {count} requests\n{stdout}\n{stderr}");
    }
}
