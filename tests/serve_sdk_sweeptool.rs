//! Calls of the official Daytona SDKs on a sandbox's toolbox (files, git, processes, the code
//! interpreter, language servers, computer use) found by a sweep of their public methods: those
//! that once failed against an in-process `serve`, each test named after what broke, and those
//! no other test called. `tests/sdk/sweeptool_test.py` and `tests/sdk-ts/sweeptool_test.mjs`
//! run one case per test (`SWEEP_CASE`) and assert what the SDK returns or raises.
//!
//! The SDKs come from `scripts/sdk-venv.sh` and `scripts/sdk-node.sh`; without them the tests
//! skip and say why, and with `CI=true` they fail. Nothing reaches beyond 127.0.0.1.

use crate::serve_support;

async fn python_case(case: &str) {
    serve_support::python_case("sweeptool_test.py", case, "sweeptool: done").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn find_files_searches_a_start_path_that_is_one_file_and_answers_in_walk_order() {
    python_case("find-in-one-file").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn interpreter_code_that_sets_the_environment_keeps_it_for_later_runs() {
    python_case("interpreter-env").await;
}

async fn node_case(case: &str) {
    serve_support::node_case("sweeptool_test.mjs", case, "sweeptool-ts: done").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_compressed_screenshot_in_webp_as_the_sdk_example_asks_is_a_png() {
    if !crate::serve_computer_use::have_x_tools() {
        return;
    }
    node_case("webp-screenshot").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn python_streams_bulk_downloads_and_session_input_work_sync_and_async() {
    python_case("streams-bulk-input").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn python_buttons_and_keys_held_and_let_go_and_the_display_restarted() {
    if !crate::serve_computer_use::have_x_tools() {
        return;
    }
    python_case("input-devices").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_typescript_code_interpreter_streams_keeps_state_and_times_out() {
    node_case("interpreter").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn typescript_permissions_streams_bulk_downloads_and_session_input_work() {
    node_case("files-and-sessions").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_typescript_sdk_drives_mouse_keyboard_screenshots_and_recordings() {
    if !crate::serve_computer_use::have_x_tools() {
        return;
    }
    node_case("computer-use").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn typescript_branches_clones_at_a_commit_and_pulls_work() {
    node_case("git-branches").await;
}
