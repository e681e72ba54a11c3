//! Whole journeys of a sandbox's life with the official Daytona SDKs against an in-process
//! `serve`, as Daytona's guides walk them: `tests/sdk/journeys_test.py` (the async Python
//! client) and `tests/sdk-ts/journeys_test.mjs` run one journey or regression case per test
//! (`SWEEP_CASE`), each test named after what it guards.
//!
//! The SDKs come from `scripts/sdk-venv.sh` and `scripts/sdk-node.sh`; without them the tests
//! skip and say why, and with `CI=true` they fail. Nothing reaches beyond 127.0.0.1.

use crate::serve_support;

async fn python_case(case: &str) {
    serve_support::python_case("journeys_test.py", case, "journeys: done").await;
}

async fn node_case(case: &str) {
    serve_support::node_case("journeys_test.mjs", case, "journeys-ts: done").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_snapshot_of_a_sandbox_built_from_an_image_keeps_its_env_workdir_and_files() {
    python_case("image-snapshot").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_typescript_snapshot_of_a_sandbox_built_from_an_image_keeps_its_image() {
    node_case("image-snapshot").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ended_session_and_a_completed_command_raise_the_sdks_own_errors() {
    python_case("ended-session").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_async_python_sandbox_lives_from_image_to_snapshot() {
    python_case("image-life").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_async_python_sandboxes_share_a_volume_with_labels_and_timers() {
    python_case("shared-volume").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn async_python_errors_are_the_sdks_own_classes_with_useful_messages() {
    python_case("errors").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_first_sandbox_of_a_new_image_owns_the_home_directories_the_image_made() {
    python_case("image-home").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_typescript_sandbox_lives_from_image_with_local_files_to_snapshot() {
    node_case("image-life").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_typescript_sandboxes_share_a_volume_with_labels_and_timers() {
    node_case("shared-volume").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn typescript_errors_are_the_sdks_own_classes_with_useful_messages() {
    node_case("errors").await;
}
