//! The toolbox guides of Daytona's documentation, as a user copies them, run by the official
//! SDKs against an in-process `serve`: `tests/sdk/guidestool_test.py` and
//! `tests/sdk-ts/guidestool_test.mjs` run code and commands, sessions and their logs, the file
//! system, git against a smart-HTTP remote on loopback that wants a password (watched for on
//! every command line), the language servers, pseudo terminals and the desktop, asserting what
//! each snippet returns or leaves behind. Calls that once failed have a case of their own, each
//! test named after what broke.
//!
//! The SDKs, language servers and X tools come from `scripts/sdk-venv.sh`, `scripts/sdk-node.sh`
//! and `.ci/run`; without them the tests skip and say why, and with `CI=true` they fail. Nothing
//! reaches beyond 127.0.0.1.

use crate::common;
use crate::serve_computer_use::have_x_tools;
use crate::serve_git::http_remote;
use crate::serve_lsp::servers;
use crate::serve_sdk_ts::sdk_node;
use crate::serve_support::{self, Options, run_node_script, run_python_script, sdk_python};

const USER: &str = "ann";
const PASSWORD: &str = "sentinel-guide-password-3e9a";

/// Runs the guides of `script` (`python` or node in `folder`): a server whose sandboxes see the
/// language servers, a remote wanting [`PASSWORD`], and the desktop when X tools are here.
async fn guides(script: &str, python: Option<&std::path::Path>, done: &str) {
    if !common::have("git") {
        return;
    }
    let Some(servers) = servers() else {
        return;
    };
    let desktop = have_x_tools();
    let remote = http_remote::start(USER, PASSWORD).await;
    let server = serve_support::start_with(Options {
        read_only_paths: servers.read_only.clone(),
        ..Options::default()
    })
    .await;
    let mut env = vec![
        ("SWEEP_CASE", "guides"),
        ("GIT_REMOTE_URL", remote.url.as_str()),
        ("GIT_REMOTE_USER", USER),
        ("GIT_REMOTE_PASSWORD", PASSWORD),
        ("LSP_SANDBOX_PATH", servers.path.as_str()),
    ];
    if desktop {
        env.push(("GUIDE_DESKTOP", "1"));
    }
    let output = match python {
        Some(python) => run_python_script(python, script, &server, &env, done).await,
        None => {
            let Some(folder) = sdk_node() else {
                return;
            };
            run_node_script(&folder, script, &server, &env, done).await
        }
    };
    for guide in ["code", "sessions", "fs", "git", "lsp", "pty"] {
        assert!(
            output.contains(&format!(": {guide}")),
            "{guide} never ran:\n{output}"
        );
    }
    assert_eq!(output.contains("computer use"), desktop, "{output}");
    assert!(*remote.requests.lock().unwrap() >= 10);
    let leaks = remote.leaks.lock().unwrap().clone();
    assert!(
        leaks.is_empty(),
        "the password was on a command line: {leaks:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_python_toolbox_guides_run_as_written() {
    let Some(python) = sdk_python(&["daytona", "pylsp"]).await else {
        return;
    };
    guides("guidestool_test.py", Some(&python), "guidestool: done").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_typescript_toolbox_guides_run_as_written() {
    guides("guidestool_test.mjs", None, "guidestool-ts: done").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_directory_is_deleted_only_with_recursive_even_an_empty_one() {
    serve_support::python_case("guidestool_test.py", "delete-directory", "guidestool: done").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_typescript_delete_of_an_empty_directory_without_recursive_is_refused() {
    serve_support::node_case(
        "guidestool_test.mjs",
        "delete-directory",
        "guidestool-ts: done",
    )
    .await;
}
