//! A snapshot's or an image's entrypoint in local sandboxes, as Daytona's daemon runs it: the
//! async command `entrypoint_command` of the session `entrypoint`, started each time the sandbox
//! starts. Driven by the official Python SDK (`tests/sdk/entrypoint_test.py`, one case per test)
//! and the TypeScript SDK (`tests/sdk-ts/entrypoint_test.mjs`) against an in-process `serve`;
//! a restarted `serve` runs the entrypoint of a started sandbox that lost it and leaves a
//! running one alone; and every answer of the entrypoint routes keeps the v0.190 contract.
//!
//! Without the SDKs the tests skip and say why (image builds also need bubblewrap), with
//! `CI=true` they fail. Builds stay offline: `FROM debian:12` is the host's root file system.

use std::time::{Duration, Instant};

use ralph_town::provider::Provider as _;
use serde_json::{Value, json};

use crate::common;
use crate::serve_openapi::{assert_contract, recording};
use crate::serve_support::{self, KEY, Options, Server, python_case, run_node_script};

const DONE: &str = "entrypoint: done";

#[tokio::test(flavor = "multi_thread")]
async fn a_snapshot_s_entrypoint_runs_in_its_session_across_stops_starts_forks_and_snapshots() {
    python_case("entrypoint_test.py", "snapshot", DONE).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_declarative_image_s_and_a_dockerfile_s_shell_form_entrypoint_run() {
    if !common::have("bwrap") {
        return;
    }
    python_case("entrypoint_test.py", "images", DONE).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_default_sandbox_has_no_entrypoint_session() {
    python_case("entrypoint_test.py", "default", DONE).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_typescript_sdk_reads_and_follows_the_entrypoint() {
    let Some(folder) = crate::serve_sdk_ts::sdk_node() else {
        return;
    };
    let server = serve_support::start("").await;
    run_node_script(&folder, "entrypoint_test.mjs", &server, &[], DONE).await;
}

/// A started sandbox of a new snapshot whose entrypoint prints `started` and sleeps.
async fn sandbox_with_entrypoint(server: &Server) -> String {
    let name = format!("entrypoint-{}", crate::conformance::token());
    let made = server
        .post(
            "/api/snapshots",
            json!({
                "name": name,
                "imageName": "debian:12.1",
                "entrypoint": ["/bin/sh", "-c", "echo started; exec sleep 600"],
            }),
        )
        .await;
    assert_eq!(made.status, 200, "{:?}", made.body);
    let sandbox = server.create(json!({ "snapshot": name })).await;
    sandbox["id"].as_str().unwrap().to_string()
}

/// The entrypoint session, once it shows (a restarted server runs it in the background).
async fn entrypoint_session(server: &Server, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let reply = server
            .get(&format!("/toolbox/{id}/process/session/entrypoint"))
            .await;
        if reply.status == 200 {
            return reply.body;
        }
        assert_eq!(reply.status, 404, "{:?}", reply.body);
        assert!(Instant::now() < deadline, "no entrypoint session");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The entrypoint's stdout, once it has written `started`.
async fn started_output(server: &Server, id: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let logs = server
            .send(
                server
                    .client
                    .get(server.url(&format!("/toolbox/{id}/process/session/entrypoint/logs")))
                    .bearer_auth(KEY)
                    .header("X-Daytona-SDK-Version", "0.226.1"),
            )
            .await;
        assert_eq!(logs.status, 200, "{:?}", logs.body);
        let stdout = logs.body["stdout"].as_str().unwrap_or_default().to_string();
        if stdout.contains("started") {
            return stdout;
        }
        assert!(Instant::now() < deadline, "never started: {:?}", logs.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A new server on the state of `server`, which shuts down first.
async fn restarted(server: Server) -> Server {
    let root = server.shutdown().await;
    serve_support::start_with(Options {
        root: Some(root),
        ..Options::default()
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_serve_runs_a_lost_entrypoint_and_keeps_a_running_one() {
    let server = serve_support::start("").await;
    let id = sandbox_with_entrypoint(&server).await;
    let session = entrypoint_session(&server, &id).await;
    assert_eq!(session["commands"][0]["id"], "entrypoint_command");
    assert_eq!(started_output(&server, &id).await, "started\n");

    // A running entrypoint outlives a restart and is not started twice.
    let server = restarted(server).await;
    let session = entrypoint_session(&server, &id).await;
    assert_eq!(session["commands"][0]["exitCode"], Value::Null, "{session}");
    assert_eq!(session["commands"].as_array().map(Vec::len), Some(1));
    assert_eq!(started_output(&server, &id).await, "started\n");

    // One lost while no `serve` ran (here ended behind its back) runs again at the next start.
    server
        .provider
        .delete_session(&id, "entrypoint")
        .await
        .expect("the entrypoint session ends");
    let server = restarted(server).await;
    let session = entrypoint_session(&server, &id).await;
    assert_eq!(session["commands"][0]["exitCode"], Value::Null, "{session}");
    assert_eq!(started_output(&server, &id).await, "started\n");
    let deleted = server.delete(&format!("/api/sandbox/{id}")).await;
    assert_eq!(deleted.status, 200, "{:?}", deleted.body);
}

/// The entrypoint's files live at a path the sandbox knows (its command id is fixed) and can
/// change: a FIFO left where the next start writes them must not hold that start (nor a thread
/// of `serve`) forever; the start replaces them and the entrypoint runs again.
#[tokio::test(flavor = "multi_thread")]
async fn a_fifo_left_in_the_entrypoint_s_files_does_not_hold_the_next_start() {
    let server = serve_support::start("").await;
    let id = sandbox_with_entrypoint(&server).await;
    assert_eq!(started_output(&server, &id).await, "started\n");
    let planted = server
        .exec(
            &id,
            "cd ~/.daytona/sessions/entrypoint/entrypoint_command && for f in cmd.sh output.log exit_code; do rm -f $f; mkfifo $f; done",
        )
        .await;
    assert_eq!(planted.status, 200, "{:?}", planted.body);
    assert_eq!(planted.body["exitCode"], 0, "{:?}", planted.body);
    server.act(&id, "stop", "stopped").await;
    let started = tokio::time::timeout(
        Duration::from_secs(60),
        server.post(&format!("/api/sandbox/{id}/start"), json!({})),
    )
    .await
    .expect("the start answers");
    assert_eq!(started.status, 200, "{:?}", started.body);
    server.wait_state(&id, "started").await;
    assert_eq!(started_output(&server, &id).await, "started\n");
    let deleted = server.delete(&format!("/api/sandbox/{id}")).await;
    assert_eq!(deleted.status, 200, "{:?}", deleted.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_entrypoint_routes_keep_the_daytona_openapi_contract() {
    let Some((python, harness, client)) = recording().await else {
        return;
    };
    let name = format!("entrypoint-{}", crate::conformance::token());
    let snapshot = json!({
        "name": name,
        "imageName": "debian:12.1",
        "entrypoint": ["/bin/sh", "-c", "echo out; echo err >&2; exec sleep 600"],
    });
    client
        .ok("POST", "/api/snapshots", Some(snapshot), 200)
        .await;
    let id = client.started(json!({ "snapshot": name })).await;
    let session = format!("/toolbox/{id}/process/session");
    let shown = client
        .ok("GET", &format!("{session}/entrypoint"), None, 200)
        .await;
    assert_eq!(shown["sessionId"], "entrypoint", "{shown}");
    let logs = client
        .send(
            client
                .http
                .get(format!("{}{session}/entrypoint/logs", client.base))
                .header("X-Daytona-SDK-Version", "0.226.1"),
        )
        .await;
    let logs = client.expect(logs, 200, "entrypoint logs");
    assert!(
        logs["stdout"].is_string() && logs["stderr"].is_string(),
        "{logs}"
    );
    let listed = client.ok("GET", &session, None, 200).await;
    assert_eq!(listed, json!([]), "the list shows the entrypoint");
    for (method, path, body) in [
        (
            "POST",
            format!("{session}/entrypoint/exec"),
            Some(json!({ "command": "true" })),
        ),
        (
            "POST",
            format!("{session}/entrypoint/command/entrypoint_command/input"),
            Some(json!({ "data": "x" })),
        ),
        ("DELETE", format!("{session}/entrypoint"), None),
    ] {
        client.ok(method, &path, body, 400).await;
    }
    let plain = client.started(json!({})).await;
    let plain_session = format!("/toolbox/{plain}/process/session/entrypoint");
    client.ok("GET", &plain_session, None, 404).await;
    client
        .ok("GET", &format!("{plain_session}/logs"), None, 404)
        .await;
    for sandbox in [&id, &plain] {
        client
            .ok("DELETE", &format!("/api/sandbox/{sandbox}"), None, 200)
            .await;
    }
    assert_contract(&python, &harness).await;
}
