//! The control plane of the official Daytona SDKs against an in-process `serve`, method by
//! method: `tests/sdk/sweepplane_test.py` (sync and async clients) and
//! `tests/sdk-ts/sweepplane_test.mjs` run one case per test (`SWEEP_CASE`) and assert what the
//! SDK returns or raises. What a local sandbox cannot be (a GPU, KVM, an OS user other than
//! `daytona`) was once recorded and not given; it is refused with Daytona's error classes now.
//!
//! The SDKs come from `scripts/sdk-venv.sh` and `scripts/sdk-node.sh`; without them the tests
//! skip and say why, and with `CI=true` they fail. Nothing reaches beyond 127.0.0.1.

use crate::serve_support;

async fn python_case(case: &str) {
    serve_support::python_case("sweepplane_test.py", case, "sweepplane: done").await;
}

async fn node_case(case: &str) {
    serve_support::node_case("sweepplane_test.mjs", case, "sweepplane-ts: done").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gpu_kvm_or_root_sandbox_is_refused_instead_of_recorded_and_not_given() {
    python_case("impossible").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_typescript_gpu_kvm_or_root_sandbox_is_refused_instead_of_recorded_and_not_given() {
    node_case("impossible").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn lifecycle_calls_no_other_test_made_answer_as_daytona_in_python() {
    python_case("lifecycle").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn lifecycle_calls_no_other_test_made_answer_as_daytona_in_typescript() {
    node_case("lifecycle").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn snapshot_activate_refuses_an_active_or_missing_snapshot_in_python() {
    python_case("activate").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn volume_and_snapshot_services_answer_as_daytona_in_typescript() {
    node_case("services").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_async_python_client_drives_the_control_plane() {
    python_case("async").await;
}
