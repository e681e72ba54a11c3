//! `/resize` applied where a `local` sandbox can be limited: its vCPUs confine its commands to
//! that many CPUs (CPU affinity, what `nproc` reads), from create on, after a resize, and after
//! `serve` restarts. The memory limit is a cgroup's, tested in `local_cgroup`; the disk is
//! recorded only. The machine needs two CPUs for a limit to be visible; with fewer the
//! test skips, and fails under `CI=true`.

use serde_json::json;

use crate::common::skip;
use crate::serve_support::{Options, Server, start, start_with};

async fn nproc(server: &Server, id: &str) -> String {
    let reply = server.exec(id, "nproc").await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["exitCode"], 0, "{:?}", reply.body);
    reply.body["result"].as_str().unwrap().trim().to_string()
}

async fn resize(server: &Server, id: &str, body: serde_json::Value, then: &str) {
    let reply = server
        .post(&format!("/api/sandbox/{id}/resize"), body)
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    server.wait_state(id, then).await;
}

async fn restart(server: Server) -> Server {
    let root = server.shutdown().await;
    start_with(Options {
        root: Some(root),
        ..Options::default()
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sandbox_given_one_cpu_runs_on_one_before_and_after_resizes_and_restarts() {
    let machine = std::thread::available_parallelism().map_or(1, usize::from);
    if machine < 2 {
        skip("a machine with at least two CPUs");
        return;
    }
    let server = start("").await;
    let id = server.create(json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let given = server.get(&format!("/api/sandbox/{id}")).await.body["cpu"].clone();
    assert_eq!(given, 1);
    assert_eq!(nproc(&server, &id).await, "1", "created with one vCPU");

    // Up while started: commands started from now on get the machine's two CPUs.
    resize(&server, &id, json!({"cpu": 2}), "started").await;
    assert_eq!(nproc(&server, &id).await, "2", "resized to two vCPUs");

    // Down needs a stopped sandbox, as on Daytona.
    server
        .post(&format!("/api/sandbox/{id}/stop"), json!({}))
        .await;
    server.wait_state(&id, "stopped").await;
    resize(&server, &id, json!({"cpu": 1}), "stopped").await;
    let server = restart(server).await;
    server
        .post(&format!("/api/sandbox/{id}/start"), json!({}))
        .await;
    server.wait_state(&id, "started").await;
    assert_eq!(
        nproc(&server, &id).await,
        "1",
        "one vCPU after a resize and a restart"
    );

    // A process session's shell is a sandbox command too.
    let session = format!("/toolbox/{id}/process/session");
    let reply = server.post(&session, json!({"sessionId": "s"})).await;
    assert!(reply.status < 300, "{:?}", reply.body);
    let reply = server
        .post(&format!("{session}/s/exec"), json!({"command": "nproc"}))
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(
        reply.body["output"].as_str().unwrap().trim(),
        "1",
        "{:?}",
        reply.body
    );
    server.shutdown().await;
}
