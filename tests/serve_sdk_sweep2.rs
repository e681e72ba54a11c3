//! Calls of the official Daytona SDKs that once failed against an in-process `serve`, found by a
//! second sweep of their public methods, each test named after what broke:
//! `tests/sdk/sweep2_test.py` and `tests/sdk-ts/sweep2_test.mjs` run one case per test
//! (`SWEEP_CASE`) and assert what the SDK returns or raises.
//!
//! The SDKs come from `scripts/sdk-venv.sh` and `scripts/sdk-node.sh`; without them the tests
//! skip and say why, and with `CI=true` they fail. Nothing reaches beyond 127.0.0.1.

use crate::serve_support;

async fn python_case(case: &str) {
    serve_support::python_case("sweep2_test.py", case, "sweep2: done").await;
}

async fn node_case(case: &str) {
    serve_support::node_case("sweep2_test.mjs", case, "sweep2-ts: done").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pty_session_is_listed_and_found_as_soon_as_create_returns() {
    python_case("pty-listed").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_typescript_pty_session_is_found_as_soon_as_create_returns() {
    node_case("pty-listed").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn typescript_downloads_of_absolute_non_ascii_paths_arrive() {
    node_case("unicode-download").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn exit_or_input_in_interpreter_code_leaves_its_context_running() {
    python_case("interpreter-exit").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bulk_upload_that_fails_in_part_lists_each_failed_file_and_writes_the_rest() {
    python_case("bulk-upload-errors").await;
}
