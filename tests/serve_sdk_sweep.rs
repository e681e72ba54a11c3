//! Calls of the official Daytona Python SDK that once failed against an in-process `serve`,
//! each test named after what broke; `tests/sdk/sweep_test.py` runs one case per test
//! (`SWEEP_CASE`) and asserts what the SDK returns or raises.
//!
//! The SDK comes from the virtual environment `scripts/sdk-venv.sh` makes; without it the tests
//! skip and say why, and with `CI=true` they fail. Nothing reaches beyond 127.0.0.1.

use crate::serve_support::{run_python_script, sdk_python, start};

async fn sweep_case(case: &str) {
    let Some(python) = sdk_python(&["daytona"]).await else {
        return;
    };
    let server = start("").await;
    run_python_script(
        &python,
        "sweep_test.py",
        &server,
        &[("SWEEP_CASE", case)],
        "sweep: done",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn clone_of_a_missing_repository_or_branch_raises_the_sdks_git_not_found_errors() {
    sweep_case("git-not-found").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn file_permissions_can_name_the_daytona_user_as_owner_and_group() {
    sweep_case("owner-daytona").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn file_infos_show_the_sandbox_users_files_as_owned_by_daytona() {
    sweep_case("owner-shown").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn list_filters_on_times_resources_visibility_and_snapshots_are_applied() {
    sweep_case("list-filters").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn typescript_code_run_names_a_missing_ts_node_instead_of_downloading_one() {
    sweep_case("typescript").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_python_image_with_local_files_is_refused_with_the_reason_not_a_bare_builder_error() {
    sweep_case("local-file-image").await;
}
