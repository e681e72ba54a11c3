//! Control-plane calls of the official Daytona SDKs (regions, volumes) that once did not answer
//! as Daytona does against an in-process `serve`, each test named after what broke:
//! `tests/sdk/plane_test.py` and `tests/sdk-ts/plane_test.mjs` run one case per test
//! (`SWEEP_CASE`) and assert what the SDK returns or raises. And Daytona's own control-plane
//! examples, condensed, end to end in each language (`plane_examples.py`, `plane_examples.mjs`).
//!
//! The SDKs come from `scripts/sdk-venv.sh` and `scripts/sdk-node.sh`; without them, or without
//! what the examples' network settings need (bubblewrap, `slirp4netns`, `nft`), the tests skip
//! and say why, and with `CI=true` they fail. Nothing reaches beyond 127.0.0.1: a sandbox with a
//! network of its own reaches only a server of the test's, on this machine's loopback.

use crate::common;
use crate::serve_sdk_ts::sdk_node;
use crate::serve_support::{self, run_node_script, run_python_script, sdk_python, start};

/// Whether sandboxes may have networks of their own here (the examples' network settings).
fn networks_of_their_own() -> bool {
    ["bwrap", "slirp4netns", "nft"]
        .into_iter()
        .all(common::have)
}

async fn python_case(case: &str) {
    serve_support::python_case("plane_test.py", case, "plane: done").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_region_other_than_local_is_not_found_instead_of_recorded() {
    python_case("region").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_typescript_region_other_than_local_is_not_found_instead_of_recorded() {
    serve_support::node_case("plane_test.mjs", "region", "plane-ts: done").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_volume_subpath_mounted_later_leaves_the_volume_root_writable() {
    python_case("volume-subpath").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn daytonas_control_plane_examples_run_end_to_end_in_python() {
    if !networks_of_their_own() {
        return;
    }
    let Some(python) = sdk_python(&["daytona"]).await else {
        return;
    };
    let server = start("").await;
    run_python_script(
        &python,
        "plane_examples.py",
        &server,
        &[],
        "plane-examples: done",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn daytonas_control_plane_examples_run_end_to_end_in_typescript() {
    if !networks_of_their_own() {
        return;
    }
    let Some(folder) = sdk_node() else {
        return;
    };
    let server = start("").await;
    run_node_script(
        &folder,
        "plane_examples.mjs",
        &server,
        &[],
        "plane-examples-ts: done",
    )
    .await;
}
