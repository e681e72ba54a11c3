//! Runs a test script of an official Daytona SDK (Python from `scripts/sdk-venv.sh`, or node
//! with the TypeScript SDK of `scripts/sdk-node.sh`) against an in-process server: the server's
//! URL and key in the environment, no other Daytona setting from this process's, a 5-minute
//! bound, and the script's own output in the failure message.

use std::time::Duration;

use super::{KEY, Server};

/// Runs `command` (the interpreter and its script) against `server` with `env` added; fails
/// unless it exits 0 and prints `done`. Returns its standard output.
pub(crate) async fn run_sdk_script(
    mut command: tokio::process::Command,
    server: &Server,
    env: &[(&str, &str)],
    done: &str,
) -> String {
    command
        .env("DAYTONA_API_URL", &server.api_url)
        .env("DAYTONA_API_KEY", KEY)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env_remove("DAYTONA_JWT_TOKEN")
        .env_remove("DAYTONA_ORGANIZATION_ID")
        .env_remove("DAYTONA_TARGET")
        .env_remove("DAYTONA_USE_DEPRECATED_POLLING")
        .envs(env.iter().copied())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(300), command.output())
        .await
        .expect("the SDK script did not finish within 5 minutes")
        .expect("the SDK script runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains(done),
        "the SDK script failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    stdout
}
