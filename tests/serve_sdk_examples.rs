//! Daytona's published examples of work inside a sandbox, run end to end with the official SDKs
//! against an in-process `serve`: `tests/sdk/examples_test.py` and
//! `tests/sdk-ts/examples_test.mjs` run them condensed (commands, sessions and streamed logs,
//! files, PTYs, git with a TypeScript language server, computer use in Python) and check what
//! each prints or leaves behind; the regression cases are named after what broke.
//!
//! The examples clone a bare repository the scripts make in a temporary directory that `serve`
//! shows sandboxes read-only, and find the pinned language servers on the sandbox `PATH`
//! (`serve_lsp::servers`). Without the SDKs, the servers or the X tools the tests skip and say
//! why; with `CI=true` they fail. Nothing reaches beyond 127.0.0.1.

use crate::serve_computer_use::have_x_tools;
use crate::serve_lsp::servers;
use crate::serve_sdk_ts::sdk_node;
use crate::serve_support::{self, Server, run_node_script, run_python_script, sdk_python};

/// A server whose sandboxes see the language servers and `repos`, and the environment the
/// example scripts read.
async fn serve_examples(repos: &tempfile::TempDir) -> Option<(Server, Vec<(String, String)>)> {
    let servers = servers()?;
    let mut read_only = servers.read_only.clone();
    read_only.push(repos.path().to_path_buf());
    let server = serve_support::start_with(serve_support::Options {
        read_only_paths: read_only,
        ..serve_support::Options::default()
    })
    .await;
    let env = vec![
        (
            "EXAMPLES_REPOS".to_string(),
            repos.path().display().to_string(),
        ),
        ("EXAMPLES_SANDBOX_PATH".to_string(), servers.path),
    ];
    Some((server, env))
}

/// `env` and the case to run, as the script runners take them.
fn with_case<'a>(env: &'a [(String, String)], case: &'a str) -> Vec<(&'a str, &'a str)> {
    env.iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .chain([("SWEEP_CASE", case)])
        .collect()
}

async fn python_case(case: &str) {
    let Some(python) = sdk_python(&["daytona", "pylsp"]).await else {
        return;
    };
    let repos = tempfile::tempdir().expect("temporary directory");
    let Some((server, env)) = serve_examples(&repos).await else {
        return;
    };
    let env = with_case(&env, case);
    run_python_script(&python, "examples_test.py", &server, &env, "examples: done").await;
}

async fn node_case(case: &str) {
    let Some(folder) = sdk_node() else {
        return;
    };
    let repos = tempfile::tempdir().expect("temporary directory");
    let Some((server, env)) = serve_examples(&repos).await else {
        return;
    };
    let env = with_case(&env, case);
    run_node_script(
        &folder,
        "examples_test.mjs",
        &server,
        &env,
        "examples-ts: done",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_python_toolbox_examples_run_end_to_end() {
    if !have_x_tools() {
        return;
    }
    python_case("examples").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_typescript_toolbox_examples_run_end_to_end() {
    node_case("examples").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn python_file_search_and_git_paths_read_a_leading_tilde_as_the_home() {
    python_case("tilde-paths").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn typescript_file_paths_read_a_leading_tilde_as_the_home() {
    node_case("tilde-paths").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_lsp_document_path_from_find_files_opens_where_find_files_found_it() {
    python_case("lsp-find-files-path").await;
}
