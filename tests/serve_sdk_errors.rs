//! What the official Daytona SDKs raise against an in-process `serve` when a call cannot be
//! done: a sandbox that does not exist, one in the wrong state, input Daytona refuses, a quota,
//! a timeout. Each case runs one case of `tests/sdk/errors_test.py` (sync, and one async) or
//! `tests/sdk-ts/errors_test.mjs`, which check the error class, the status and a part of the
//! message Daytona's server (or its daemon) gives in the same situation.
//!
//! Without the SDKs the tests skip and say why; with `CI=true` they fail. Nothing reaches
//! beyond 127.0.0.1.

use crate::serve_support::{node_case, python_case, run_python_script, sdk_python, start};

const DONE: &str = "errors: done";
const DONE_TS: &str = "errors-ts: done";

/// One case of the Python script against a server simulating `simulation`.
async fn python_simulated(case: &str, simulation: &str) {
    let Some(python) = sdk_python(&["daytona"]).await else {
        return;
    };
    let server = start(simulation).await;
    run_python_script(
        &python,
        "errors_test.py",
        &server,
        &[("SWEEP_CASE", case)],
        DONE,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_call_on_a_deleted_sandbox_raises_not_found_with_daytonas_message() {
    python_case("errors_test.py", "missing", DONE).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn calls_in_the_wrong_state_raise_daytonas_classes_and_messages() {
    python_case("errors_test.py", "states", DONE).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_input_raises_daytonas_classes_and_messages() {
    python_case("errors_test.py", "inputs", DONE).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn timeouts_raise_the_sdks_timeout_errors() {
    python_case("errors_test.py", "timeouts", DONE).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_async_client_raises_the_same_classes() {
    python_case("errors_test.py", "async", DONE).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn create_resize_fork_and_start_over_the_cpu_quota_raise_a_bad_request() {
    python_simulated("quota", "quota-cpu=2").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_to_a_starting_sandbox_raise_state_change_in_progress() {
    python_simulated("transitions", "transition-delay=10s").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn typescript_calls_on_a_deleted_sandbox_throw_not_found() {
    node_case("errors_test.mjs", "missing", DONE_TS).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn typescript_calls_after_a_refused_upload_get_their_own_answer_not_a_closed_connection() {
    node_case("errors_test.mjs", "after-refused-upload", DONE_TS).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn typescript_calls_in_the_wrong_state_throw_daytonas_classes() {
    node_case("errors_test.mjs", "states", DONE_TS).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn typescript_refused_input_throws_daytonas_classes() {
    node_case("errors_test.mjs", "inputs", DONE_TS).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn typescript_timeouts_throw_the_sdks_timeout_errors() {
    node_case("errors_test.mjs", "timeouts", DONE_TS).await;
}
