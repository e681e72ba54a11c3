//! Every route of `serve` answers inside Daytona's published contract: a workload that sends
//! what the official SDKs send to each route (sandboxes, lifecycle, volumes, the toolbox's
//! processes, files and git, and their error cases) goes through the recording proxy of
//! `daytona_support`, and `tests/openapi/validate_requests.py` checks every request and every
//! answer (status and body schema) against the v0.190 specs, except the newer-API differences
//! the script lists with their reasons.
//!
//! Needs `pyyaml` and `jsonschema` from `scripts/sdk-venv.sh`'s environment (skips without it,
//! fails under `CI=true`). Every remote is a local repository; nothing leaves 127.0.0.1.

use crate::daytona_openapi::check_contract;
use crate::daytona_support;

use std::path::{Path, PathBuf};

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common;
use crate::serve_support::{encode, sdk_python};
use daytona_support::{Harness, Options, start, token};

/// A raw client of the proxy, as the SDKs talk to `serve`.
pub(crate) struct Client {
    pub(crate) base: String,
    pub(crate) http: reqwest::Client,
}

impl Client {
    pub(crate) async fn send(&self, request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request
            .bearer_auth("dtn_test_key")
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        let bytes = response.bytes().await.expect("body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, body)
    }

    pub(crate) async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.send(request).await
    }

    #[track_caller]
    pub(crate) fn expect(&self, (status, body): (u16, Value), expected: u16, what: &str) -> Value {
        assert_eq!(status, expected, "{what}: {body}");
        body
    }

    pub(crate) async fn ok(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        expected: u16,
    ) -> Value {
        let reply = self.call(method, path, body).await;
        self.expect(reply, expected, &format!("{method} {path}"))
    }

    /// Creates a sandbox from `body` and waits until it has started; answers its id.
    pub(crate) async fn started(&self, body: Value) -> String {
        let created = self.ok("POST", "/api/sandbox", Some(body), 200).await;
        let id = created["id"].as_str().unwrap().to_string();
        self.wait(&id, "started").await;
        id
    }

    pub(crate) async fn wait(&self, id: &str, state: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (_, body) = self.call("GET", &format!("/api/sandbox/{id}"), None).await;
            if body["state"] == state {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{id} never became {state}: {body}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub(crate) async fn exec(&self, id: &str, command: &str) -> Value {
        let body = json!({"command": command});
        let reply = self
            .ok(
                "POST",
                &format!("/toolbox/{id}/process/execute"),
                Some(body),
                200,
            )
            .await;
        assert_eq!(reply["exitCode"], 0, "{command}: {reply}");
        reply
    }
}

async fn control_plane(client: &Client, run: &str) -> (String, String) {
    let volume = client
        .ok(
            "POST",
            "/api/volumes",
            Some(json!({"name": format!("vol-{run}")})),
            200,
        )
        .await;
    let volume_id = volume["id"].as_str().unwrap().to_string();
    client.ok("GET", "/api/volumes", None, 200).await;
    client
        .ok("GET", &format!("/api/volumes/{volume_id}"), None, 200)
        .await;
    client
        .ok("GET", &format!("/api/volumes/by-name/vol-{run}"), None, 200)
        .await;
    client
        .ok("GET", "/api/volumes/by-name/missing", None, 404)
        .await;

    let id = client
        .started(json!({
            "name": format!("openapi-{run}"),
            "labels": {"run": run},
            "env": {"PLAIN": "1"},
            "volumes": [{"volumeId": format!("vol-{run}"), "mountPath": "/home/daytona/vol"}],
        }))
        .await;
    let labels = serde_json::to_string(&json!({"run": run})).unwrap();
    let encoded: String = encode(&labels);
    client
        .ok(
            "GET",
            &format!("/api/sandbox?labels={encoded}&sort=name&order=asc&limit=1"),
            None,
            200,
        )
        .await;
    client
        .ok("GET", "/api/sandbox/paginated?page=1&limit=10", None, 200)
        .await;
    client
        .ok(
            "PUT",
            &format!("/api/sandbox/{id}/labels"),
            Some(json!({"labels": {"run": run, "more": "yes"}})),
            200,
        )
        .await;
    for (timer, expected) in [
        ("autostop/0", 201),
        ("autoarchive/60", 201),
        ("autodelete/-1", 201),
        ("public/false", 201),
        ("ttl/60", 201),
        ("last-activity", 201),
    ] {
        client
            .ok(
                "POST",
                &format!("/api/sandbox/{id}/{timer}"),
                None,
                expected,
            )
            .await;
    }
    client
        .ok(
            "GET",
            &format!("/api/sandbox/{id}/toolbox-proxy-url"),
            None,
            200,
        )
        .await;
    let access = client
        .ok(
            "POST",
            &format!("/api/sandbox/{id}/ssh-access?expiresInMinutes=5"),
            None,
            200,
        )
        .await;
    let token = access["token"].as_str().unwrap().to_string();
    client
        .ok(
            "GET",
            &format!("/api/sandbox/ssh-access/validate?token={token}"),
            None,
            200,
        )
        .await;
    client
        .ok(
            "DELETE",
            &format!("/api/sandbox/{id}/ssh-access"),
            None,
            200,
        )
        .await;
    client
        .ok(
            "GET",
            &format!("/api/sandbox/ssh-access/validate?token={token}"),
            None,
            200,
        )
        .await;
    client
        .ok("GET", "/api/sandbox/no-such-sandbox", None, 404)
        .await;
    (id, volume_id)
}

async fn files(client: &Client, id: &str) {
    let files = format!("/toolbox/{id}/files");
    client
        .ok(
            "POST",
            &format!("{files}/folder?path=d&mode=0755"),
            None,
            201,
        )
        .await;
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"hello TODO\n".to_vec()).file_name("a.txt"),
    );
    let upload = client
        .send(
            client
                .http
                .post(format!("{}{files}/upload?path=d/a.txt", client.base))
                .multipart(form),
        )
        .await;
    client.expect(upload, 200, "upload");
    let form = reqwest::multipart::Form::new()
        .text("files[0].path", "d/b.txt")
        .part(
            "files[0].file",
            reqwest::multipart::Part::bytes(b"b\n".to_vec()).file_name("d/b.txt"),
        );
    let bulk = client
        .send(
            client
                .http
                .post(format!("{}{files}/bulk-upload", client.base))
                .multipart(form),
        )
        .await;
    client.expect(bulk, 200, "bulk upload");
    for (method, path, body, status) in [
        ("GET", format!("{files}?path=d"), None, 200),
        ("GET", format!("{files}?path=d&depth=2"), None, 200),
        ("GET", format!("{files}/info?path=d/a.txt"), None, 200),
        ("GET", format!("{files}/download?path=d/a.txt"), None, 200),
        (
            "POST",
            format!("{files}/bulk-download"),
            Some(json!({"paths": ["d/a.txt", "d/none.txt"]})),
            200,
        ),
        (
            "GET",
            format!("{files}/find?path=d&pattern=TODO"),
            None,
            200,
        ),
        (
            "GET",
            format!("{files}/search?path=d&pattern=*.txt"),
            None,
            200,
        ),
        (
            "POST",
            format!("{files}/replace"),
            Some(
                json!({"files": ["d/a.txt", "d/none.txt"], "pattern": "TODO", "newValue": "DONE"}),
            ),
            200,
        ),
        (
            "POST",
            format!("{files}/move?source=d/b.txt&destination=d/c.txt"),
            None,
            200,
        ),
        (
            "POST",
            format!("{files}/permissions?path=d/c.txt&mode=0644"),
            None,
            200,
        ),
        ("GET", format!("{files}/info?path=d/none.txt"), None, 404),
        (
            "POST",
            format!("{files}/move?source=d/none.txt&destination=d/x.txt"),
            None,
            404,
        ),
        (
            "DELETE",
            format!("{files}?path=d&recursive=true"),
            None,
            204,
        ),
    ] {
        client.ok(method, &path, body, status).await;
    }
    let toolbox = format!("/toolbox/{id}");
    for path in ["user-home-dir", "work-dir", "system/metrics"] {
        client
            .ok("GET", &format!("{toolbox}/{path}"), None, 200)
            .await;
    }
    client
        .ok(
            "POST",
            &format!("{toolbox}/env"),
            Some(json!({"set": {"ADDED": "1"}})),
            200,
        )
        .await;
    client
        .ok(
            "POST",
            &format!("{toolbox}/process/execute"),
            Some(json!({"command": "sleep 5", "timeout": 1})),
            408,
        )
        .await;
}

async fn git(client: &Client, id: &str) {
    client
        .exec(
            id,
            "git init -q -b main seed && cd seed && echo one > f && git add f && \
             git -c user.name=s -c user.email=s@example.com commit -qm one && cd .. && \
             git clone -q --bare seed remote.git",
        )
        .await;
    let git = format!("/toolbox/{id}/git");
    let repo = |extra: Value| {
        let mut body = json!({"path": "work"});
        for (key, value) in extra.as_object().unwrap() {
            body[key] = value.clone();
        }
        Some(body)
    };
    client
        .ok(
            "POST",
            &format!("{git}/clone"),
            Some(json!({"url": "remote.git", "path": "work"})),
            200,
        )
        .await;
    for (method, route, body, status) in [
        ("GET", "status?path=work", None, 200),
        ("GET", "branches?path=work", None, 200),
        ("POST", "branches", repo(json!({"name": "topic"})), 201),
        ("POST", "branches", repo(json!({"name": "topic"})), 409),
        ("POST", "checkout", repo(json!({"branch": "main"})), 200),
        ("DELETE", "branches", repo(json!({"name": "topic"})), 204),
        ("POST", "checkout", repo(json!({"branch": "nope"})), 404),
    ] {
        client
            .ok(method, &format!("{git}/{route}"), body, status)
            .await;
    }
    client.exec(id, "echo two > work/f").await;
    client
        .ok(
            "POST",
            &format!("{git}/add"),
            repo(json!({"files": ["f"]})),
            200,
        )
        .await;
    client
        .ok(
            "POST",
            &format!("{git}/commit"),
            repo(json!({"message": "two", "author": "A", "email": "a@example.com"})),
            200,
        )
        .await;
    client
        .ok("GET", &format!("{git}/history?path=work"), None, 200)
        .await;
    client
        .ok(
            "POST",
            &format!("{git}/push"),
            repo(json!({"branch": "main"})),
            200,
        )
        .await;
    client
        .ok("POST", &format!("{git}/pull"), repo(json!({})), 200)
        .await;
    client
        .ok("GET", &format!("{git}/status?path=nowhere"), None, 404)
        .await;
}

async fn lifecycle(client: &Client, id: &str, volume_id: &str, run: &str) {
    let sandbox = format!("/api/sandbox/{id}");
    client
        .ok(
            "POST",
            &format!("{sandbox}/resize"),
            Some(json!({"cpu": 2})),
            200,
        )
        .await;
    client.wait(id, "started").await;
    let fork = client
        .ok(
            "POST",
            &format!("{sandbox}/fork"),
            Some(json!({"name": format!("fork-{run}")})),
            200,
        )
        .await;
    let fork = fork["id"].as_str().unwrap().to_string();
    client.wait(&fork, "started").await;
    client
        .ok(
            "POST",
            &format!("{sandbox}/snapshot"),
            Some(json!({"name": format!("snap-{run}")})),
            200,
        )
        .await;
    client.wait(id, "started").await;
    let snapshot = client
        .ok("GET", &format!("/api/snapshots/snap-{run}"), None, 200)
        .await;
    client
        .ok("POST", &format!("{sandbox}/recover"), None, 400)
        .await;
    client
        .ok("POST", &format!("{sandbox}/pause"), None, 422)
        .await;
    client
        .ok("POST", &format!("{sandbox}/stop"), None, 200)
        .await;
    client.wait(id, "stopped").await;
    client
        .ok("POST", &format!("{sandbox}/archive"), None, 200)
        .await;
    client.wait(id, "archived").await;
    client
        .ok("POST", &format!("{sandbox}/start"), None, 200)
        .await;
    client.wait(id, "started").await;
    client
        .ok("DELETE", &format!("/api/volumes/{volume_id}"), None, 409)
        .await;
    for doomed in [&fork, &id.to_string()] {
        client
            .ok("DELETE", &format!("/api/sandbox/{doomed}"), None, 200)
            .await;
    }
    client
        .ok("DELETE", &format!("/api/volumes/{volume_id}"), None, 200)
        .await;
    let snapshot_id = snapshot["id"].as_str().unwrap();
    client
        .ok(
            "DELETE",
            &format!("/api/snapshots/{snapshot_id}"),
            None,
            200,
        )
        .await;
}

/// Image builds, their logs and preview links: the Dockerfile really builds (without bubblewrap
/// it fails, and the answers are checked all the same).
async fn builds_and_previews(client: &Client, id: &str, run: &str) {
    let dockerfile = format!("FROM debian:12\nRUN echo openapi-{run}\n");
    let snapshot = client
        .ok(
            "POST",
            "/api/snapshots",
            Some(json!({"name": format!("built-{run}"), "buildInfo": {"dockerfileContent": dockerfile}})),
            200,
        )
        .await;
    let snapshot_id = snapshot["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, body) = client
            .call("GET", &format!("/api/snapshots/{snapshot_id}"), None)
            .await;
        if body["state"] == "active" || body["state"] == "build_failed" {
            break;
        }
        assert!(Instant::now() < deadline, "the build never ended: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    client
        .ok(
            "GET",
            &format!("/api/snapshots/{snapshot_id}/build-logs-url"),
            None,
            200,
        )
        .await;
    client
        .ok(
            "GET",
            &format!("/api/snapshots/{snapshot_id}/build-logs?follow=true"),
            None,
            200,
        )
        .await;
    let built = client
        .ok(
            "POST",
            "/api/sandbox",
            Some(json!({"buildInfo": {"dockerfileContent": dockerfile}, "labels": {"run": run}})),
            200,
        )
        .await;
    let built = built["id"].as_str().unwrap().to_string();
    client
        .ok(
            "GET",
            &format!("/api/sandbox/{built}/build-logs-url"),
            None,
            200,
        )
        .await;
    client
        .ok(
            "GET",
            &format!("/api/sandbox/{built}/build-logs?follow=true"),
            None,
            200,
        )
        .await;
    client
        .ok("GET", &format!("/api/sandbox/{built}"), None, 200)
        .await;
    client
        .ok(
            "GET",
            &format!("/api/sandbox/{id}/build-logs-url"),
            None,
            404,
        )
        .await;
    let ports = format!("/api/sandbox/{id}/ports/8080");
    client
        .ok("GET", &format!("{ports}/preview-url"), None, 200)
        .await;
    let signed = client
        .ok(
            "GET",
            &format!("{ports}/signed-preview-url?expiresInSeconds=60"),
            None,
            200,
        )
        .await;
    let token = signed["token"].as_str().unwrap();
    client
        .ok(
            "POST",
            &format!("{ports}/signed-preview-url/{token}/expire"),
            None,
            200,
        )
        .await;
    client
        .ok("GET", "/api/sandbox/x/ports/0/preview-url", None, 400)
        .await;
    client
        .ok("GET", "/api/object-storage/push-access", None, 200)
        .await;
    client
        .ok("DELETE", &format!("/api/sandbox/{built}"), None, 200)
        .await;
    client
        .ok(
            "DELETE",
            &format!("/api/snapshots/{snapshot_id}"),
            None,
            200,
        )
        .await;
}

/// A recording `serve` (the `daytona_support` proxy in front), a client of it, and the Python
/// that checks the records; `None` when a prerequisite is missing (the test skips, and fails
/// under `CI=true`).
pub(crate) async fn recording() -> Option<(PathBuf, Harness, Client)> {
    let python = sdk_python(&["yaml", "jsonschema"]).await?;
    if !common::have("git") {
        return None;
    }
    let harness = start(Options {
        record: true,
        ..Options::default()
    })
    .await;
    let client = Client {
        base: harness.api_url.trim_end_matches("/api").to_string(),
        http: reqwest::Client::new(),
    };
    Some((python, harness, client))
}

/// Checks every exchange `harness` recorded against the contract; each must have its answer.
pub(crate) async fn assert_contract(python: &Path, harness: &Harness) {
    let recorded = harness.recorded();
    assert!(recorded.iter().all(|request| request.response.is_some()));
    let report = check_contract(python, &recorded).await;
    eprint!("{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_serve_gives_keeps_the_daytona_openapi_contract() {
    let Some((python, harness, client)) = recording().await else {
        return;
    };
    let run = token();
    let (id, volume_id) = control_plane(&client, &run).await;
    files(&client, &id).await;
    git(&client, &id).await;
    builds_and_previews(&client, &id, &run).await;
    lifecycle(&client, &id, &volume_id, &run).await;

    // Every route the workload is about answered, through the proxy.
    let stats = harness.stats().await;
    let routes = stats["routes"].as_object().unwrap();
    let required = [
        "GET /api/volumes",
        "POST /api/volumes",
        "GET /api/volumes/{volume}",
        "DELETE /api/volumes/{volume}",
        "GET /api/volumes/by-name/{name}",
        "POST /api/sandbox/{sandbox}/archive",
        "POST /api/sandbox/{sandbox}/recover",
        "POST /api/sandbox/{sandbox}/pause",
        "POST /api/sandbox/{sandbox}/resize",
        "POST /api/sandbox/{sandbox}/fork",
        "POST /api/sandbox/{sandbox}/snapshot",
        "POST /api/sandbox/{sandbox}/ttl/{minutes}",
        "GET /api/sandbox/{sandbox}/build-logs-url",
        "GET /api/sandbox/{sandbox}/build-logs",
        "GET /api/snapshots/{snapshot}/build-logs-url",
        "GET /api/snapshots/{snapshot}/build-logs",
        "GET /api/sandbox/{sandbox}/ports/{port}/preview-url",
        "GET /api/sandbox/{sandbox}/ports/{port}/signed-preview-url",
        "POST /api/sandbox/{sandbox}/ports/{port}/signed-preview-url/{token}/expire",
        "GET /api/object-storage/push-access",
        "GET /toolbox/{sandbox}/system/metrics",
        "GET /toolbox/{sandbox}/files/find",
        "GET /toolbox/{sandbox}/files/search",
        "POST /toolbox/{sandbox}/files/replace",
        "POST /toolbox/{sandbox}/files/move",
        "POST /toolbox/{sandbox}/files/permissions",
        "POST /toolbox/{sandbox}/git/clone",
        "GET /toolbox/{sandbox}/git/status",
        "GET /toolbox/{sandbox}/git/branches",
        "POST /toolbox/{sandbox}/git/branches",
        "DELETE /toolbox/{sandbox}/git/branches",
        "POST /toolbox/{sandbox}/git/add",
        "POST /toolbox/{sandbox}/git/commit",
        "POST /toolbox/{sandbox}/git/checkout",
        "GET /toolbox/{sandbox}/git/history",
        "POST /toolbox/{sandbox}/git/push",
        "POST /toolbox/{sandbox}/git/pull",
    ];
    for route in required {
        assert!(
            routes.contains_key(route),
            "the workload never reached `{route}`"
        );
    }
    assert_contract(&python, &harness).await;
}
