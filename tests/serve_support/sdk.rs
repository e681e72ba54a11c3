//! Runs a test script of an official Daytona SDK against an in-process server: Python scripts
//! of `tests/sdk` with the environment `scripts/sdk-venv.sh` makes, node scripts of
//! `tests/sdk-ts` with the TypeScript SDK `scripts/sdk-node.sh` installs. The server's URL and
//! key go in the environment, no other Daytona setting of this process's does, a run is bounded
//! (10 minutes: image builds are slow), and a failure shows the script's own output.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{KEY, Server};
use crate::common;

/// The Python that has `modules`, or `None` when the test must skip (it fails under `CI=true`).
pub(crate) async fn sdk_python(modules: &'static [&'static str]) -> Option<PathBuf> {
    tokio::task::spawn_blocking(move || common::sdk_python(modules))
        .await
        .expect("the Python lookup")
}

/// Runs `tests/sdk/{script}` with `python` against `server` (`env` added); see
/// [`run_sdk_script`].
pub(crate) async fn run_python_script(
    python: &Path,
    script: &str,
    server: &Server,
    env: &[(&str, &str)],
    done: &str,
) -> String {
    run_python_script_at(python, script, (&server.api_url, KEY), env, done).await
}

/// [`run_python_script`] against the server at `api_url` with `key` (a child `serve`).
pub(crate) async fn run_python_script_at(
    python: &Path,
    script: &str,
    at: (&str, &str),
    env: &[(&str, &str)],
    done: &str,
) -> String {
    run_python_script_through(&[], python, script, at, env, done).await
}

/// [`run_python_script_at`] with `python` started by `launcher` (a program and its arguments,
/// such as `nsenter` into another namespace); empty, it is started itself.
pub(crate) async fn run_python_script_through(
    launcher: &[&str],
    python: &Path,
    script: &str,
    (api_url, key): (&str, &str),
    env: &[(&str, &str)],
    done: &str,
) -> String {
    let mut command = match launcher.split_first() {
        Some((program, args)) => {
            let mut command = tokio::process::Command::new(program);
            command.args(args).arg(python);
            command
        }
        None => tokio::process::Command::new(python),
    };
    command.arg(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/sdk")
            .join(script),
    );
    run_sdk_script(command, (api_url, key), env, done).await
}

/// Runs `{folder}/{script}` with node against `server` (`env` added); see [`run_sdk_script`].
pub(crate) async fn run_node_script(
    folder: &Path,
    script: &str,
    server: &Server,
    env: &[(&str, &str)],
    done: &str,
) -> String {
    let mut command = tokio::process::Command::new("node");
    command.arg(script).current_dir(folder);
    run_sdk_script(command, (&server.api_url, KEY), env, done).await
}

/// One case of a sweep script: a fresh server, then `tests/sdk/{script}` with `SWEEP_CASE` set
/// to `case`, which must print `done`. Skips (fails under `CI=true`) without the SDK.
pub(crate) async fn python_case(script: &str, case: &str, done: &str) {
    let Some(python) = sdk_python(&["daytona"]).await else {
        return;
    };
    let server = super::start("").await;
    run_python_script(&python, script, &server, &[("SWEEP_CASE", case)], done).await;
}

/// [`python_case`] for `tests/sdk-ts/{script}` with node.
pub(crate) async fn node_case(script: &str, case: &str, done: &str) {
    let Some(folder) = crate::serve_sdk_ts::sdk_node() else {
        return;
    };
    let server = super::start("").await;
    run_node_script(&folder, script, &server, &[("SWEEP_CASE", case)], done).await;
}

/// Points `command` (an SDK script) at the server at `api_url` with `key`, and at nothing else
/// of this process's Daytona settings; it is killed when dropped.
pub(crate) fn sdk_environment(command: &mut tokio::process::Command, (api_url, key): (&str, &str)) {
    command
        .env("DAYTONA_API_URL", api_url)
        .env("DAYTONA_API_KEY", key)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env_remove("DAYTONA_JWT_TOKEN")
        .env_remove("DAYTONA_ORGANIZATION_ID")
        .env_remove("DAYTONA_TARGET")
        .env_remove("DAYTONA_USE_DEPRECATED_POLLING")
        .kill_on_drop(true);
}

/// Runs `command` (the interpreter and its script) against the server at `api_url` with `key`
/// and `env` added; fails unless it exits 0 and prints `done`. Returns its standard output.
async fn run_sdk_script(
    mut command: tokio::process::Command,
    at: (&str, &str),
    env: &[(&str, &str)],
    done: &str,
) -> String {
    sdk_environment(&mut command, at);
    command.envs(env.iter().copied());
    let output = tokio::time::timeout(Duration::from_secs(600), command.output())
        .await
        .expect("the SDK script did not finish within 10 minutes")
        .expect("the SDK script runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains(done),
        "the SDK script failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    stdout
}
