//! The official Python SDK's async client (`AsyncDaytona`) on a sandbox's toolbox against an
//! in-process `serve`: its files (multipart uploads, streamed downloads), git, processes and
//! sessions (logs followed over a WebSocket), terminals, the code interpreter, language servers
//! and computer use, plus the control-plane calls it makes around them. The broad cases walk
//! every method so a regression in any call is caught; the others are named after what broke.
//! `tests/sdk/asynctool_test.py` runs one case per test (`SWEEP_CASE`) and asserts what the SDK
//! returns or raises.
//!
//! The SDK comes from `scripts/sdk-venv.sh`; without it the tests skip and say why, and with
//! `CI=true` they fail. Nothing reaches beyond 127.0.0.1.

use crate::serve_support::{self, run_python_script, sdk_python};

const SCRIPT: &str = "asynctool_test.py";
const DONE: &str = "asynctool: done";

async fn python_case(case: &str) {
    serve_support::python_case(SCRIPT, case, DONE).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_async_client_walks_every_file_method() {
    python_case("files").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_async_client_walks_every_git_method() {
    python_case("git").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_async_client_runs_commands_code_and_sessions_and_follows_their_logs() {
    python_case("process").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_async_client_drives_terminals_from_two_connections() {
    python_case("pty").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_async_code_interpreter_keeps_contexts_callbacks_envs_and_timeouts() {
    python_case("interpreter").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_async_client_drives_the_display_mouse_keyboard_screenshots_and_recordings() {
    if !crate::serve_computer_use::have_x_tools() {
        return;
    }
    python_case("computer-use").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_async_client_builds_lists_labels_previews_and_stops_sandboxes() {
    python_case("plane").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_async_client_drives_a_python_language_server() {
    let Some(servers) = crate::serve_lsp::servers() else {
        return;
    };
    let Some(python) = sdk_python(&["daytona"]).await else {
        return;
    };
    let server = serve_support::start_with(serve_support::Options {
        read_only_paths: servers.read_only.clone(),
        ..serve_support::Options::default()
    })
    .await;
    let env = [
        ("SWEEP_CASE", "lsp"),
        ("LSP_SANDBOX_PATH", servers.path.as_str()),
    ];
    run_python_script(&python, SCRIPT, &server, &env, DONE).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_streamed_download_of_a_file_whose_name_is_not_plain_ascii_finds_its_name() {
    python_case("stream-names").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn first_runs_at_once_in_the_default_context_start_one_interpreter() {
    python_case("concurrent-runs").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_command_longer_than_one_argument_may_be_runs_as_the_daemons_shell_runs_it() {
    python_case("long-command").await;
}
