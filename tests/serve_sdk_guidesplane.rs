//! Daytona's documentation guides to the control plane, followed with the official SDKs against
//! an in-process `serve`: `tests/sdk/guidesplane_test.py` and `tests/sdk-ts/guidesplane_test.mjs`
//! run every guide's snippets end to end (case `guides`) or one regression case (`SWEEP_CASE`),
//! each test named after what it guards.
//!
//! The SDKs come from `scripts/sdk-venv.sh` and `scripts/sdk-node.sh`; without them the tests
//! skip and say why, and with `CI=true` they fail. Nothing reaches beyond 127.0.0.1.

use crate::serve_support;

async fn python_case(case: &str) {
    serve_support::python_case("guidesplane_test.py", case, "guidesplane: done").await;
}

async fn node_case(case: &str) {
    serve_support::node_case("guidesplane_test.mjs", case, "guidesplane-ts: done").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_python_control_plane_guides_run_as_documented() {
    python_case("guides").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_typescript_control_plane_guides_run_as_documented() {
    node_case("guides").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_allow_list_of_more_than_ten_networks_is_refused_as_on_daytona() {
    python_case("allow-list-of-eleven").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_typescript_allow_list_of_more_than_ten_networks_is_refused() {
    node_case("allow-list-of-eleven").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signed_preview_link_of_more_than_a_day_is_refused_as_on_daytona() {
    python_case("signed-preview-over-a-day").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_typescript_signed_preview_link_of_more_than_a_day_is_refused() {
    node_case("signed-preview-over-a-day").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_web_terminal_port_serves_the_terminal_page() {
    python_case("web-terminal").await;
}
