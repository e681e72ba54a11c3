//! Daytona's charts example with the official Python SDK against an in-process `serve`:
//! `tests/sdk/charts_test.py` runs matplotlib code through `sandbox.process.code_run` and checks
//! `response.artifacts.charts` (types, titles, axis labels, element values, a PNG that decodes)
//! and that the chart lines left `result`; `tests/sdk-ts/charts_test.mjs` does the same with
//! the TypeScript SDK.
//!
//! The sandbox's `python3` is the host's `/usr/bin/python3` (sandboxes see the host's `/usr`),
//! which needs matplotlib (`python3-matplotlib`, installed by `.ci/run`); without it, or without
//! the SDK's virtual environment, the test skips and says why, and with `CI=true` it fails.

use crate::common;
use crate::serve_support::{run_node_script, run_python_script, sdk_python, start};

/// Whether the sandbox's `python3` can draw; when it cannot, [`common::skip`]s.
fn sandbox_matplotlib() -> bool {
    let usable = std::process::Command::new("/usr/bin/python3")
        .args(["-c", "import matplotlib.pyplot"])
        .output()
        .is_ok_and(|output| output.status.success());
    if !usable {
        common::skip("matplotlib for `/usr/bin/python3` (the `python3-matplotlib` package)");
    }
    usable
}

#[tokio::test(flavor = "multi_thread")]
async fn matplotlib_charts_come_back_in_code_run_artifacts() {
    if !sandbox_matplotlib() {
        return;
    }
    let Some(python) = sdk_python(&["daytona"]).await else {
        return;
    };
    let server = start("").await;
    run_python_script(&python, "charts_test.py", &server, &[], "sdk-charts: done").await;
    let runs = server
        .requests("POST /toolbox/{sandbox}/process/code-run")
        .await;
    assert!(runs >= 5, "{runs} code runs");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_typescript_sdk_reads_the_same_charts() {
    if !sandbox_matplotlib() {
        return;
    }
    let Some(folder) = crate::serve_sdk_ts::sdk_node() else {
        return;
    };
    let server = start("").await;
    run_node_script(
        &folder,
        "charts_test.mjs",
        &server,
        &[],
        "sdk-ts-charts: done",
    )
    .await;
}
