//! The official Daytona Python SDK (`pip install daytona`) against an in-process `serve`:
//! `tests/sdk/daytona_sdk_test.py` creates, gets, lists, executes, uploads and downloads, opens
//! SSH access and deletes, all through the SDK's own models, which refuse records missing the
//! fields they require.
//!
//! The SDK comes from a virtual environment that `scripts/sdk-venv.sh` makes (`.ci/run` runs
//! it): `$RALPH_TOWN_SDK_VENV`, else `target/sdk-venv`. The test itself never reaches the
//! network. Without the environment it skips and says why; with `CI=true` it fails.

use crate::serve_support::{run_python_script, sdk_python, start};

#[tokio::test(flavor = "multi_thread")]
async fn the_official_python_sdk_works_against_serve() {
    let Some(python) = sdk_python(&["daytona"]).await else {
        return;
    };
    let server = start("").await;
    run_python_script(&python, "daytona_sdk_test.py", &server, &[], "sdk: done").await;
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
        assert!(count >= at_least, "{route}: {count} requests");
    }
}
