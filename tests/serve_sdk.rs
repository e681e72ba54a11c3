//! The official Daytona Python SDK (`pip install daytona`) against an in-process `serve`:
//! `tests/sdk/daytona_sdk_test.py` creates, gets, lists, executes, uploads and downloads, opens
//! SSH access and deletes, all through the SDK's own models, which refuse records missing the
//! fields they require.
//!
//! The SDK comes from a virtual environment that `scripts/sdk-venv.sh` makes (`.ci/run` runs
//! it): `$RALPH_TOWN_SDK_VENV`, else `target/sdk-venv`. The test itself never reaches the
//! network. Without the environment it skips and says why; with `CI=true` it fails.

use crate::serve_support;

use std::path::Path;
use std::time::Duration;

use crate::common;
use serve_support::{KEY, start};

#[tokio::test(flavor = "multi_thread")]
async fn the_official_python_sdk_works_against_serve() {
    let Some(python) = tokio::task::spawn_blocking(|| common::sdk_python(&["daytona"]))
        .await
        .unwrap()
    else {
        return;
    };
    let server = start("").await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/daytona_sdk_test.py");
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
    // The SDK really went through the routes this test is about.
    for (route, at_least) in [
        ("POST /api/sandbox", 2),
        ("GET /api/sandbox", 1),
        ("GET /api/sandbox/{sandbox}", 3),
        ("DELETE /api/sandbox/{sandbox}", 2),
        ("POST /api/sandbox/{sandbox}/ssh-access", 1),
        ("POST /api/snapshots", 1),
        ("POST /toolbox/{sandbox}/process/execute", 2),
        ("POST /toolbox/{sandbox}/files/bulk-upload", 1),
        ("POST /toolbox/{sandbox}/files/bulk-download", 1),
    ] {
        let count = server.requests(route).await;
        assert!(
            count >= at_least,
            "{route}: {count} requests\n{stdout}\n{stderr}"
        );
    }
}
