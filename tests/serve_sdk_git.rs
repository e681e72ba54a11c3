//! The official Daytona SDKs' repository and configuration git calls against an in-process
//! `serve`: `tests/sdk/git_test.py` drives the Python SDK's `sandbox.git.init`, `reset`,
//! `restore`, `remote_add`, `remotes`, `remote_get`, `set_config`, `get_config`,
//! `configure_user` and `dangerously_authenticate` (against a smart-HTTP remote on loopback that
//! wants Basic auth, watching every command line for the password), and
//! `tests/sdk-ts/git_test.mjs` the TypeScript SDK's same calls.
//!
//! The SDKs come from `scripts/sdk-venv.sh` and `scripts/sdk-node.sh`; without them the tests
//! skip and say why, and with `CI=true` they fail. Nothing reaches beyond 127.0.0.1.

use crate::common;
use crate::serve_git::http_remote;
use crate::serve_sdk_ts::sdk_node;
use crate::serve_support::{run_node_script, run_python_script, sdk_python, start};

const GIT_ROUTES: [&str; 9] = [
    "POST /toolbox/{sandbox}/git/init",
    "POST /toolbox/{sandbox}/git/reset",
    "POST /toolbox/{sandbox}/git/restore",
    "POST /toolbox/{sandbox}/git/remotes",
    "GET /toolbox/{sandbox}/git/remotes",
    "POST /toolbox/{sandbox}/git/config",
    "GET /toolbox/{sandbox}/git/config",
    "POST /toolbox/{sandbox}/git/config/user",
    "POST /toolbox/{sandbox}/git/credentials",
];

#[tokio::test(flavor = "multi_thread")]
async fn the_python_sdk_inits_resets_restores_and_configures_repositories() {
    let Some(python) = sdk_python(&["daytona"]).await else {
        return;
    };
    if !common::have("git") {
        return;
    }
    let password = "sentinel-stored-password-91c3";
    let remote = http_remote::start("ann", password).await;
    let server = start("").await;
    let env = [
        ("GIT_REMOTE_URL", remote.url.as_str()),
        ("GIT_REMOTE_PASSWORD", password),
    ];
    run_python_script(&python, "git_test.py", &server, &env, "sdk-git: done").await;
    for route in GIT_ROUTES {
        assert!(
            server.requests(route).await >= 1,
            "{route} was never called"
        );
    }
    assert!(*remote.requests.lock().unwrap() >= 2);
    let leaks = remote.leaks.lock().unwrap().clone();
    assert!(
        leaks.is_empty(),
        "the password was on a command line: {leaks:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_typescript_sdk_inits_resets_restores_and_configures_repositories() {
    let Some(folder) = sdk_node() else {
        return;
    };
    if !common::have("git") {
        return;
    }
    let password = "sentinel-stored-password-2b7e";
    let remote = http_remote::start("ann", password).await;
    let server = start("").await;
    let env = [
        ("GIT_REMOTE_URL", remote.url.as_str()),
        ("GIT_REMOTE_PASSWORD", password),
    ];
    run_node_script(&folder, "git_test.mjs", &server, &env, "sdk-ts-git: done").await;
    for route in GIT_ROUTES {
        assert!(
            server.requests(route).await >= 1,
            "{route} was never called"
        );
    }
    let leaks = remote.leaks.lock().unwrap().clone();
    assert!(
        leaks.is_empty(),
        "the password was on a command line: {leaks:?}"
    );
}
