//! The routes the pinned SDKs call that are newer than the v0.190 specs answer inside Daytona's
//! contract as `tests/openapi/validate_requests.py` extends it with their current shapes: the
//! toolbox's git init, reset, restore, remotes, config and credentials, signed file URLs and
//! `/files/upload-v2`, sandbox signing keys, `/config`, telemetry metrics, network settings,
//! auto-pause, warm pools, the secret vault, computer use and the entrypoint session, each
//! request and answer (errors included) checked through the recording proxy.
//!
//! Needs `pyyaml` and `jsonschema` from `scripts/sdk-venv.sh`'s environment (skips without it,
//! fails under `CI=true`). Nothing leaves 127.0.0.1.

use serde_json::json;

use crate::serve_openapi::{Client, assert_contract, recording};
use crate::serve_signed_urls::signed_path;

async fn git(client: &Client, id: &str) {
    let git = format!("/toolbox/{id}/git");
    let repo = |extra: serde_json::Value| {
        let mut body = json!({"path": "repo"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        Some(body)
    };
    for (method, route, body, status) in [
        ("POST", "init", repo(json!({"initial_branch": "main"})), 201),
        ("POST", "init", repo(json!({})), 409),
        (
            "POST",
            "init",
            Some(json!({"path": "remote.git", "bare": true})),
            201,
        ),
        (
            "POST",
            "config/user",
            Some(json!({"name": "A", "email": "a@example.com", "scope": "local", "path": "repo"})),
            200,
        ),
        (
            "POST",
            "config",
            Some(json!({"key": "core.editor", "value": "vi"})),
            200,
        ),
        ("GET", "config?key=core.editor", None, 200),
        ("GET", "config?key=no.such&scope=global", None, 200),
        (
            "POST",
            "config",
            Some(json!({"key": "user.name", "value": "x", "scope": "system"})),
            403,
        ),
    ] {
        client
            .ok(method, &format!("{git}/{route}"), body, status)
            .await;
    }
    client
        .exec(
            id,
            "cd repo && echo one > f && git add f && git commit -qm one && echo two > f",
        )
        .await;
    for (method, route, body, status) in [
        ("POST", "restore", repo(json!({"files": ["f"]})), 200),
        ("POST", "restore", repo(json!({"files": ["nope"]})), 404),
        (
            "POST",
            "reset",
            repo(json!({"mode": "hard", "target": "HEAD"})),
            200,
        ),
        ("POST", "reset", repo(json!({"mode": "sideways"})), 400),
        (
            "POST",
            "remotes",
            repo(json!({"name": "origin", "url": "../remote.git"})),
            201,
        ),
        (
            "POST",
            "remotes",
            repo(json!({"name": "origin", "url": "../x.git"})),
            409,
        ),
        ("GET", "remotes?path=repo", None, 200),
        (
            "POST",
            "credentials",
            Some(
                json!({"username": "u", "password": "p", "host": "127.0.0.1:9", "protocol": "http"}),
            ),
            200,
        ),
    ] {
        client
            .ok(method, &format!("{git}/{route}"), body, status)
            .await;
    }
}

async fn signed_files(client: &Client, id: &str) {
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"shared\n".to_vec()).file_name("s.txt"),
    );
    let upload = client
        .send(
            client
                .http
                .post(format!(
                    "{}/toolbox/{id}/files/upload-v2?path=s.txt",
                    client.base
                ))
                .multipart(form),
        )
        .await;
    client.expect(upload, 200, "upload-v2");
    let key = client
        .ok("GET", &format!("/api/sandbox/{id}/signing-key"), None, 200)
        .await;
    let key = client
        .ok(
            "POST",
            &format!("/api/sandbox/{id}/signing-key/rotate"),
            None,
            200,
        )
        .await
        .as_str()
        .filter(|rotated| Some(*rotated) != key.as_str())
        .expect("a new key")
        .to_string();
    // Without the API key: the signature is the credential.
    let anonymous = |path: String, body: Option<&'static [u8]>| {
        let url = format!("{}{path}", client.base);
        let request = match body {
            Some(bytes) => client
                .http
                .post(url)
                .header("content-type", "application/octet-stream")
                .body(bytes),
            None => client.http.get(url),
        };
        async move { request.send().await.expect("request").status().as_u16() }
    };
    assert_eq!(
        anonymous(signed_path(id, &key, "GET", "s.txt", 0), None).await,
        200
    );
    let upload = signed_path(id, &key, "POST", "t.txt", 0);
    assert_eq!(anonymous(upload, Some(b"raw\n")).await, 200);
    let expired = signed_path(id, &key, "GET", "s.txt", 1_000_000_000);
    assert_eq!(anonymous(expired, None).await, 401);
}

async fn platform(client: &Client, id: &str) {
    let sandbox = format!("/api/sandbox/{id}");
    let toolbox = format!("/toolbox/{id}");
    for (method, path, body, status) in [
        ("GET", "/api/config".to_string(), None, 200),
        (
            "GET",
            format!(
                "{sandbox}/telemetry/metrics?from=2026-01-01T00:00:00Z&to=2030-01-01T00:00:00Z&metricNames=daytona.sandbox.cpu.limit"
            ),
            None,
            200,
        ),
        (
            "POST",
            format!("{sandbox}/network-settings"),
            Some(json!({"networkBlockAll": false})),
            200,
        ),
        (
            "POST",
            format!("{sandbox}/network-settings"),
            Some(json!({"domainAllowList": "example.com,not a domain"})),
            400,
        ),
        ("POST", format!("{sandbox}/autopause/5"), None, 422),
        (
            "PUT",
            format!("{sandbox}/secrets"),
            Some(json!({"secrets": []})),
            200,
        ),
        (
            "PUT",
            format!("{sandbox}/secrets"),
            Some(json!({"secrets": [{"T": "no-such-secret"}]})),
            400,
        ),
        ("GET", "/api/warm-pools".to_string(), None, 200),
        (
            "POST",
            "/api/warm-pools".to_string(),
            Some(json!({"snapshot": "daytona-small", "pool": 1})),
            422,
        ),
        (
            "GET",
            format!("{toolbox}/process/session/entrypoint"),
            None,
            404,
        ),
    ] {
        client.ok(method, &path, body, status).await;
    }
}

/// The vault's routes and mounting a secret (`sandbox.update_secrets`, its resolve route).
async fn vault(client: &Client, id: &str) {
    let secret = json!({"name": "gh", "value": "v", "description": "d", "hosts": ["*.github.com"]});
    let made = client
        .ok("POST", "/api/secret", Some(secret.clone()), 201)
        .await;
    let secret_id = made["id"].as_str().unwrap();
    client.ok("POST", "/api/secret", Some(secret), 409).await;
    let one = format!("/api/secret/{secret_id}");
    client.ok("GET", &one, None, 200).await;
    client
        .ok(
            "PATCH",
            &one,
            Some(json!({"hosts": ["api.github.com"]})),
            200,
        )
        .await;
    client.ok("GET", "/api/secret", None, 200).await;
    let page = "/api/secret/paginated?limit=1&name=g&sort=name&order=asc";
    client.ok("GET", page, None, 200).await;
    let mount = format!("/api/sandbox/{id}/secrets");
    client
        .ok(
            "PUT",
            &mount,
            Some(json!({"secrets": [{"GH_TOKEN": "gh"}]})),
            200,
        )
        .await;
    client.ok("GET", &mount, None, 200).await;
    client.ok("DELETE", &one, None, 204).await;
    client.ok("GET", &one, None, 404).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_newer_than_the_spec_keep_the_contract_the_sdks_read() {
    let Some((python, harness, client)) = recording().await else {
        return;
    };
    let id = client.started(json!({})).await;
    git(&client, &id).await;
    signed_files(&client, &id).await;
    platform(&client, &id).await;
    vault(&client, &id).await;
    client
        .ok("DELETE", &format!("/api/sandbox/{id}"), None, 200)
        .await;
    assert_contract(&python, &harness).await;
}
