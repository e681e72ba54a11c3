//! `serve`'s own records over real local sandboxes: SSH access tokens, snapshots, persistence
//! across a restart, unknown routes and the request counters.

use crate::serve_support;

use serde_json::json;
use serve_support::{Options, start, start_with};

#[tokio::test(flavor = "multi_thread")]
async fn ssh_access_keeps_one_live_token_per_sandbox() {
    let server = start("").await;
    let id = server.create(json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let first = server
        .post(
            &format!("/api/sandbox/{id}/ssh-access?expiresInMinutes=30"),
            json!({}),
        )
        .await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    let token = first.body["token"].as_str().unwrap().to_string();
    assert_eq!(token.len(), 32);
    assert!(token.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(
        first.body["sshCommand"],
        format!("ssh -p 2222 {token}@127.0.0.1")
    );
    assert_eq!(first.body["sandboxId"], id.as_str());
    for field in ["id", "expiresAt", "createdAt", "updatedAt"] {
        assert!(first.body[field].is_string(), "{field}");
    }
    let validate = |token: String| {
        let server = &server;
        async move {
            server
                .get(&format!("/api/sandbox/ssh-access/validate?token={token}"))
                .await
                .body
        }
    };
    assert_eq!(
        validate(token.clone()).await,
        json!({"valid": true, "sandboxId": id})
    );

    let second = server
        .post(&format!("/api/sandbox/{id}/ssh-access"), json!({}))
        .await;
    let second_token = second.body["token"].as_str().unwrap().to_string();
    assert_eq!(
        validate(token).await,
        json!({"valid": false, "sandboxId": ""})
    );
    assert_eq!(validate(second_token.clone()).await["valid"], true);
    let revoked = server
        .delete(&format!("/api/sandbox/{id}/ssh-access"))
        .await;
    assert_eq!(
        (revoked.status, revoked.body["id"].clone()),
        (200, json!(id))
    );
    assert_eq!(validate(second_token).await["valid"], false);

    let expired = server
        .post(
            &format!("/api/sandbox/{id}/ssh-access?expiresInMinutes=0"),
            json!({}),
        )
        .await;
    assert_eq!(
        validate(expired.body["token"].as_str().unwrap().to_string()).await["valid"],
        false
    );
    server
        .post("/api/sandbox/missing/ssh-access", json!({}))
        .await
        .api_error(404);
}

#[tokio::test(flavor = "multi_thread")]
async fn snapshots_are_named_records_with_daytona_states() {
    let server = start("create-delay=1h").await;
    let general = server.get("/api/snapshots/daytona-small").await;
    assert_eq!(
        (
            general.body["state"].clone(),
            general.body["mem"].clone(),
            general.body["general"].clone()
        ),
        (json!("active"), json!(1), json!(true))
    );

    let created = server
        .post(
            "/api/snapshots",
            json!({"name": "team:1", "imageName": "debian:12", "cpu": 2, "memory": 4}),
        )
        .await;
    assert_eq!(created.status, 200, "{:?}", created.body);
    assert_eq!(
        (
            created.body["state"].clone(),
            created.body["cpu"].clone(),
            created.body["mem"].clone(),
            created.body["disk"].clone()
        ),
        (json!("pending"), json!(2), json!(4), json!(3))
    );
    for nullable in ["size", "entrypoint", "errorReason", "lastUsedAt"] {
        assert!(created.body.get(nullable).is_some(), "{nullable}");
    }
    let snapshot_id = created.body["id"].as_str().unwrap().to_string();
    let by_id = server.get(&format!("/api/snapshots/{snapshot_id}")).await;
    assert_eq!(by_id.body["name"], "team:1");
    let pending = server
        .post("/api/sandbox", json!({"snapshot": "team:1"}))
        .await;
    assert_eq!(pending.api_error(400), "Snapshot team:1 is pending");

    let duplicate = server
        .post(
            "/api/snapshots",
            json!({"name": "team:1", "imageName": "debian:12"}),
        )
        .await;
    assert_eq!(
        duplicate.api_error(409),
        "Snapshot with name \"team:1\" already exists for this organization"
    );
    server
        .post(
            "/api/snapshots",
            json!({"name": "x", "imageName": "debian"}),
        )
        .await
        .api_error(400);
    server
        .post(
            "/api/snapshots",
            json!({"name": "y", "imageName": "debian:latest"}),
        )
        .await
        .api_error(400);

    let list = server.get("/api/snapshots?name=team").await;
    assert_eq!(
        (
            list.body["total"].clone(),
            list.body["items"][0]["name"].clone()
        ),
        (json!(1), json!("team:1"))
    );
    let all = server.get("/api/snapshots").await;
    assert_eq!(all.body["total"], 4);

    assert_eq!(
        server.delete("/api/snapshots/team:1").await.api_error(400),
        "Validation failed (uuid is expected)"
    );
    server
        .delete(&format!(
            "/api/snapshots/{}",
            general.body["id"].as_str().unwrap()
        ))
        .await
        .api_error(403);
    assert_eq!(
        server
            .delete(&format!("/api/snapshots/{snapshot_id}"))
            .await
            .status,
        200
    );
    server.get("/api/snapshots/team:1").await.api_error(404);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_inactive_snapshot_refuses_sandboxes_until_activated() {
    let server = start("").await;
    let created = server
        .post(
            "/api/snapshots",
            json!({"name": "s:1", "imageName": "debian:12"}),
        )
        .await;
    let id = created.body["id"].as_str().unwrap().to_string();
    let sandbox = server.create(json!({"snapshot": "s:1"})).await;
    assert_eq!(sandbox["snapshot"], "s:1");
    assert_eq!(
        server
            .post(&format!("/api/snapshots/{id}/activate"), json!({}))
            .await
            .api_error(400),
        "Snapshot s:1 is already active"
    );
    assert_eq!(
        server
            .post(&format!("/api/snapshots/{id}/deactivate"), json!({}))
            .await
            .status,
        204
    );
    assert_eq!(
        server
            .post("/api/sandbox", json!({"snapshot": id}))
            .await
            .api_error(400),
        format!("Snapshot {id} is inactive")
    );
    let activated = server
        .post(&format!("/api/snapshots/{id}/activate"), json!({}))
        .await;
    assert_eq!(
        (activated.status, activated.body["state"].clone()),
        (200, json!("active"))
    );
    server.create(json!({"snapshot": "s:1"})).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_keeps_sandboxes_snapshots_and_tokens() {
    let server = start("").await;
    let id = server
        .create(json!({"name": "keeper", "autoStopInterval": 45}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    server
        .post(
            "/api/snapshots",
            json!({"name": "kept:1", "imageName": "debian:12"}),
        )
        .await;
    let token = server
        .post(&format!("/api/sandbox/{id}/ssh-access"), json!({}))
        .await
        .body["token"]
        .as_str()
        .unwrap()
        .to_string();
    let organization =
        server.get(&format!("/api/sandbox/{id}")).await.body["organizationId"].clone();
    let root = server.shutdown().await;
    let records = std::fs::metadata(root.path().join("state/serve.json")).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(records.permissions().mode() & 0o777, 0o600);

    let server = start_with(Options {
        root: Some(root),
        ..Options::default()
    })
    .await;
    let sandbox = server.get("/api/sandbox/keeper").await;
    assert_eq!(
        (
            sandbox.body["id"].clone(),
            sandbox.body["autoStopInterval"].clone()
        ),
        (json!(id), json!(45))
    );
    assert_eq!(sandbox.body["organizationId"], organization);
    assert_eq!(server.get("/api/snapshots/kept:1").await.status, 200);
    let valid = server
        .get(&format!("/api/sandbox/ssh-access/validate?token={token}"))
        .await;
    assert_eq!(valid.body["valid"], true);
    assert_eq!(server.exec(&id, "echo back").await.body["result"], "back\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_routes_and_stats() {
    let server = start("").await;
    let unknown = server.get("/api/nothing/here").await;
    assert_eq!(unknown.api_error(404), "Cannot GET /api/nothing/here");
    server.get("/api/sandbox").await;
    server.get("/api/sandbox").await;
    server.get("/api/sandbox/x").await;
    assert_eq!(server.requests("GET /api/sandbox").await, 2);
    assert_eq!(server.requests("GET /api/sandbox/{sandbox}").await, 1);
    let stats = server.get("/_ralph/stats").await;
    assert_eq!(
        stats.body["routes"]["GET /api/sandbox/{sandbox}"]["statuses"]["404"],
        1
    );
    let reset = server.delete("/_ralph/stats").await;
    assert_eq!(reset.status, 204);
    assert_eq!(server.requests("GET /api/sandbox").await, 0);
}
