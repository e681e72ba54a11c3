//! The official SDKs' public methods that no other test calls, against an in-process `serve`:
//! `tests/sdk/surface_test.py` (the Python SDK, sync and `AsyncDaytona`) and
//! `tests/sdk-ts/surface_test.mjs` (the TypeScript SDK), one case per test (`SWEEP_CASE`).
//! They cover the deprecated aliases, terminal handles' exit state, warm pools (none locally:
//! Daytona's 422 and 404), the async client's lifecycle, vault, snapshot, git, terminal,
//! computer-use and accessibility calls, language servers' workspace symbols, and the image
//! steps that need the internet (`pip_install`, `debian_slim`), whose builds fail at that step
//! saying why.
//!
//! The SDKs come from `scripts/sdk-venv.sh` and `scripts/sdk-node.sh`; without them (or the X,
//! accessibility or language-server tools a case needs) the tests skip and say why, and with
//! `CI=true` they fail. Nothing reaches beyond 127.0.0.1.

use crate::serve_support::{self, run_node_script, run_python_script, sdk_python};
use crate::{common, serve_git::http_remote};

const PYTHON: &str = "surface_test.py";
const NODE: &str = "surface_test.mjs";
const DONE: &str = "surface: done";

async fn python_case(case: &str) {
    serve_support::python_case(PYTHON, case, DONE).await;
}

async fn node_case(case: &str) {
    serve_support::node_case(NODE, case, DONE).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deprecated_aliases_terminal_exit_state_and_warm_pools_answer_through_the_python_sdk() {
    python_case("sync-sandbox").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pip_install_images_fail_where_they_need_the_image_and_say_why() {
    python_case("pip-images").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_async_client_walks_metrics_timers_keys_network_ssh_resize_recover_and_pause() {
    python_case("async-sandbox").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_async_client_walks_the_vault_snapshot_activation_and_warm_pools() {
    python_case("async-services").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_async_client_configures_git_stores_credentials_and_reads_terminal_exit_state() {
    let Some(python) = sdk_python(&["daytona"]).await else {
        return;
    };
    if !common::have("git") {
        return;
    }
    let password = "sentinel-async-password-5d1f";
    let remote = http_remote::start("ann", password).await;
    let server = serve_support::start("").await;
    let env = [
        ("SWEEP_CASE", "async-git-terminal"),
        ("GIT_REMOTE_URL", remote.url.as_str()),
        ("GIT_REMOTE_PASSWORD", password),
    ];
    run_python_script(&python, PYTHON, &server, &env, DONE).await;
    let leaks = remote.leaks.lock().unwrap().clone();
    assert!(
        leaks.is_empty(),
        "the password was on a command line: {leaks:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_async_client_restarts_the_display_holds_keys_and_drives_a_gtk_window() {
    if !crate::serve_computer_use::have_x_tools() || !crate::serve_a11y::have_a11y_tools() {
        return;
    }
    python_case("async-desktop").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn workspace_symbols_finds_typescript_symbols_through_both_sdks() {
    let Some(servers) = crate::serve_lsp::servers() else {
        return;
    };
    let Some(python) = sdk_python(&["daytona"]).await else {
        return;
    };
    let Some(folder) = crate::serve_sdk_ts::sdk_node() else {
        return;
    };
    let server = servers.serve().await;
    let env = [
        ("SWEEP_CASE", "lsp"),
        ("LSP_SANDBOX_PATH", servers.path.as_str()),
    ];
    run_python_script(&python, PYTHON, &server, &env, DONE).await;
    run_node_script(&folder, NODE, &server, &env, DONE).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_typescript_sdk_sets_a_gtk_entrys_value() {
    if !crate::serve_computer_use::have_x_tools() || !crate::serve_a11y::have_a11y_tools() {
        return;
    }
    node_case("a11y").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_typescript_sdk_reads_warm_pools_terminal_exit_state_and_offline_image_failures() {
    node_case("plane").await;
}
