//! What the official Python SDK calls beyond sandboxes, files and git (`tests/sdk/platform_test.py`):
//! `get_metrics` (one sample per series), network settings and auto-pause, warm pools and the
//! secret vault's refusals, language servers and the entrypoint session. What local
//! sandboxes can do works; what they cannot is refused in Daytona's error shapes with a reason,
//! so that the SDK raises its own error classes, and a refused create leaves nothing behind.
//!
//! The SDK comes from `scripts/sdk-venv.sh`; without it the test skips and says why, and with
//! `CI=true` it fails. Nothing reaches beyond 127.0.0.1.

use serde_json::json;

use crate::serve_support::{run_python_script, sdk_python, start};

#[tokio::test(flavor = "multi_thread")]
async fn the_python_sdk_gets_answers_or_its_own_errors_beyond_sandboxes() {
    let Some(python) = sdk_python(&["daytona"]).await else {
        return;
    };
    let server = start("").await;
    run_python_script(
        &python,
        "platform_test.py",
        &server,
        &[],
        "sdk-platform: done",
    )
    .await;
    for route in [
        "GET /api/config",
        "GET /api/sandbox/{sandbox}/telemetry/metrics",
        "POST /api/sandbox/{sandbox}/network-settings",
        "POST /api/sandbox/{sandbox}/autopause/{minutes}",
        "POST /api/warm-pools",
        "PUT /api/sandbox/{sandbox}/secrets",
        "POST /toolbox/{sandbox}/lsp/start",
        "GET /toolbox/{sandbox}/process/session/entrypoint",
    ] {
        assert!(
            server.requests(route).await >= 1,
            "{route} was never called"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn routes_a_local_sandbox_cannot_serve_say_why_in_daytonas_shapes() {
    let server = start("").await;
    let id = server.create(json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let message = server
        .post(
            "/api/sandbox",
            json!({"domainAllowList": "example.com,example com"}),
        )
        .await
        .api_error(400);
    assert!(message.contains("`example com`"), "{message}");
    let message = server
        .post(
            "/api/sandbox",
            json!({"networkAllowList": "10.0.0.0/8,10.1/16"}),
        )
        .await
        .api_error(400);
    assert!(message.contains("`10.1`"), "{message}");
    let message = server
        .get(&format!("/toolbox/{id}/process/session/entrypoint/logs"))
        .await
        .daemon_error(404, "NOT_FOUND");
    assert!(message.contains("entrypoint"), "{message}");
    // A session that happens to be called `entrypoint` is still a session of its own.
    let made = server
        .post(
            &format!("/toolbox/{id}/process/session"),
            json!({"sessionId": "other"}),
        )
        .await;
    assert!(made.status < 300, "{:?}", made.body);
    let other = server
        .get(&format!("/toolbox/{id}/process/session/other"))
        .await;
    assert_eq!(other.status, 200, "{:?}", other.body);
    let config = server.get("/api/config").await;
    assert_eq!(config.status, 200);
    assert_eq!(
        config.body["proxyToolboxUrl"],
        format!("{}/toolbox", server.base)
    );
}
