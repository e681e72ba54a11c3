//! `ralph-town sandbox ...` with the `daytona` provider, against `serve` in-process (and, for a
//! failing snapshot build, a scripted stand-in for the API).

use crate::common;
use crate::serve_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{Run, SENTINEL, World};
use serde_json::{Value, json};
use serve_support::{KEY, Server};

fn parse(run: &Run) -> Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|error| panic!("not JSON ({error}):\n{}", run.stdout))
}

/// Runs the binary with the `daytona` provider pointed at `api_url`; `extra` adds environment.
async fn against(world: &World, api_url: &str, args: &[&str], extra: &[(&str, &str)]) -> Run {
    let mut command = world.command(args);
    command
        .env("RALPH_TOWN_PROVIDER", "daytona")
        .env("DAYTONA_API_URL", api_url)
        .env("DAYTONA_API_KEY", KEY);
    for (key, value) in extra {
        command.env(key, value);
    }
    Run::from(
        tokio::process::Command::from(command)
            .output()
            .await
            .expect("run ralph-town"),
    )
}

async fn live(server: &Server) -> Vec<Value> {
    let reply = server.get("/api/sandbox").await;
    reply.body["items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_list_exec_env_ssh_and_delete_through_the_api() {
    let world = World::new();
    let server = serve_support::start("").await;
    let api = server.api_url.clone();
    let run = against(
        &world,
        &api,
        &[
            "sandbox",
            "create",
            "--name",
            "remote",
            "--env",
            "FIRST=a=b,c",
            "--label",
            "owner=tests",
        ],
        &[],
    )
    .await
    .success();
    let id = run.stdout.trim().to_string();
    let record = server.get(&format!("/api/sandbox/{id}")).await.body;
    assert_eq!(record["name"], "remote");
    assert_eq!(record["env"]["FIRST"], "a=b,c");

    let listed = parse(
        &against(
            &world,
            &api,
            &["sandbox", "list", "--json", "--label", "owner=tests"],
            &[],
        )
        .await
        .success(),
    );
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(listed[0]["state"], "started");
    assert_eq!(listed[0]["snapshot"], "daytona-small");

    let run = against(
        &world,
        &api,
        &[
            "sandbox",
            "exec",
            &id,
            "--",
            "sh",
            "-c",
            "printf %s \"$FIRST\"; exit 7",
        ],
        &[],
    )
    .await
    .code(7);
    assert_eq!(run.stdout, "a=b,c");

    // env set goes through the toolbox and lasts; its values stay out of the sandbox record.
    let token = format!("API_TOKEN={SENTINEL}");
    let run = against(
        &world,
        &api,
        &["sandbox", "env", "set", &id, &token, "PLAIN=x=y"],
        &[],
    )
    .await
    .success();
    assert!(!run.all().contains(SENTINEL), "{run:?}");
    let check = format!("test \"$API_TOKEN\" = '{SENTINEL}' && printf %s \"$PLAIN\"");
    let run = against(&world, &api, &["sandbox", "exec", &id, &check], &[])
        .await
        .success();
    assert_eq!(run.stdout, "x=y");
    let run = against(&world, &api, &["sandbox", "env", "list", &id], &[])
        .await
        .success();
    assert!(run.stdout.contains("API_TOKEN=<redacted>\n"), "{run:?}");
    assert!(run.stdout.contains("PLAIN=x=y\n"), "{run:?}");
    assert!(!run.all().contains(SENTINEL), "{run:?}");
    let record = server.get(&format!("/api/sandbox/{id}")).await;
    assert!(!record.body.to_string().contains(SENTINEL));

    let run = against(&world, &api, &["sandbox", "ssh", &id], &[])
        .await
        .success();
    let command = run.stdout.trim();
    assert!(command.starts_with("ssh "), "{run:?}");
    assert!(run.stderr.contains("expires at"), "{run:?}");
    let access = parse(
        &against(
            &world,
            &api,
            &["sandbox", "ssh", "--json", "--expires", "5", &id],
            &[],
        )
        .await
        .success(),
    );
    assert_eq!(access["kind"], "ssh");
    let token = access["token"].as_str().unwrap();
    assert!(
        access["command"]
            .as_str()
            .unwrap()
            .contains(&format!("{token}@"))
    );
    assert!(access["port"].is_u64() && access["host"].is_string());
    let expires = humantime::parse_rfc3339_weak(access["expires_at"].as_str().unwrap()).unwrap();
    let left = expires
        .duration_since(std::time::SystemTime::now())
        .unwrap();
    assert!(left <= std::time::Duration::from_secs(5 * 60), "{access}");
    let valid = server
        .get(&format!("/api/sandbox/ssh-access/validate?token={token}"))
        .await;
    assert_eq!(valid.body["valid"], true);

    let run = against(
        &world,
        &api,
        &["sandbox", "delete", &id, "missing-one"],
        &[],
    )
    .await
    .code(1);
    assert!(run.stdout.contains(&format!("deleted {id}")), "{run:?}");
    assert!(run.stderr.contains("`missing-one`"), "{run:?}");
    assert!(live(&server).await.is_empty());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_minus_one_defect_is_reported_as_is_without_the_fallback() {
    let world = World::new();
    let server = serve_support::start("exec-defect").await;
    let api = server.api_url.clone();
    let id = against(&world, &api, &["sandbox", "create"], &[])
        .await
        .success()
        .stdout;
    let id = id.trim();
    let run = against(
        &world,
        &api,
        &["sandbox", "exec", "--no-ssh-fallback", id, "--", "echo hi"],
        &[],
    )
    .await;
    // -1 leaves the process as 255.
    assert_eq!(run.code, 255, "{run:?}");
    assert!(run.stdout.is_empty(), "{run:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_create_builds_the_default_recipe_for_real_and_fails_offline_with_the_reason() {
    if !common::have("bwrap") {
        return;
    }
    let world = World::new();
    let server = serve_support::start("").await;
    let api = server.api_url.clone();
    // Credentials in the caller's environment must not end up in the image.
    let secrets = [("GH_TOKEN", SENTINEL), ("ANTHROPIC_API_KEY", SENTINEL)];
    // `serve` really builds it, without a network: the recipe's package installs fail, and
    // the command says so (never a silent `active`).
    let run = against(&world, &api, &["sandbox", "snapshot", "create"], &secrets)
        .await
        .code(1);
    assert!(
        run.stderr.contains("build_failed") && run.stderr.contains("exited with code"),
        "{run:?}"
    );
    assert!(!run.all().contains(SENTINEL));
    let record = server.get("/api/snapshots/ralph-town-dev").await.body;
    assert_eq!(record["state"], "build_failed");
    let dockerfile = record["buildInfo"]["dockerfileContent"].as_str().unwrap();
    assert_eq!(
        dockerfile,
        include_str!("fixtures/sandbox/ralph-town-dev.Dockerfile")
    );
    assert!(!record.to_string().contains(SENTINEL));
    let first_id = record["id"].as_str().unwrap().to_string();
    let logs = server
        .send(
            server
                .client
                .get(server.url(&format!("/api/snapshots/{first_id}/build-logs")))
                .bearer_auth(KEY),
        )
        .await;
    let logs = logs.body.as_str().unwrap().to_string();
    assert!(logs.contains("apt-get update"), "{logs}");
    assert!(!logs.contains(SENTINEL));

    let run = against(&world, &api, &["sandbox", "snapshot", "create"], &[])
        .await
        .code(4);
    assert!(
        run.stderr.contains("already exists") && run.stderr.contains("--force"),
        "{run:?}"
    );

    // `--force` deletes it and builds it again (which fails the same way offline).
    against(
        &world,
        &api,
        &["sandbox", "snapshot", "create", "--force"],
        &[],
    )
    .await
    .code(1);
    let record = server.get("/api/snapshots/ralph-town-dev").await.body;
    assert_ne!(record["id"], first_id.as_str());
    assert_eq!(record["state"], "build_failed");

    // No sandbox comes from a snapshot whose build failed.
    let run = against(
        &world,
        &api,
        &["sandbox", "create", "--snapshot", "ralph-town-dev"],
        &[],
    )
    .await;
    assert!(run.stderr.contains("build_failed"), "{run:?}");
    assert!(live(&server).await.is_empty());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_of_a_missing_snapshot_fails_and_leaves_nothing() {
    let world = World::new();
    let server = serve_support::start("").await;
    let api = server.api_url.clone();
    let run = against(
        &world,
        &api,
        &["sandbox", "preflight", "--snapshot", "no-such-snapshot"],
        &[],
    )
    .await
    .code(1);
    assert!(run.stderr.contains("no-such-snapshot"), "{run:?}");
    assert!(live(&server).await.is_empty());
    server.shutdown().await;
}

/// A stand-in for the API whose snapshot build fails: the reason must reach the user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_snapshot_build_shows_the_build_error() {
    use axum::Json;
    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::routing::{get, post};

    let created = Arc::new(AtomicBool::new(false));
    let dto = |state: &str, reason: Value| {
        json!({
            "id": "3f1b9c1e-0000-4000-8000-000000000001", "general": false, "name": "ralph-town-dev",
            "state": state, "size": null, "entrypoint": null, "cpu": 1, "gpu": 0, "mem": 1, "disk": 3,
            "errorReason": reason, "createdAt": "2026-01-01T00:00:00Z",
            "updatedAt": "2026-01-01T00:00:00Z", "lastUsedAt": null
        })
    };
    let get_snapshot = move |State(created): State<Arc<AtomicBool>>| async move {
        if created.load(Ordering::SeqCst) {
            (
                StatusCode::OK,
                Json(dto("build_failed", json!("E: Unable to locate package gh"))),
            )
        } else {
            let body = json!({"statusCode": 404, "error": "Not Found", "message": "Snapshot ralph-town-dev not found",
                "path": "/api/snapshots/ralph-town-dev", "timestamp": "2026-01-01T00:00:00Z"});
            (StatusCode::NOT_FOUND, Json(body))
        }
    };
    let post_snapshot = move |State(created): State<Arc<AtomicBool>>| async move {
        created.store(true, Ordering::SeqCst);
        Json(dto("building", Value::Null))
    };
    let app = axum::Router::new()
        .route("/api/snapshots/{name}", get(get_snapshot))
        .route("/api/snapshots", post(post_snapshot))
        .with_state(created);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let world = World::new();
    let api = format!("http://{address}/api");
    let run = against(&world, &api, &["sandbox", "snapshot", "create"], &[])
        .await
        .code(1);
    // miette wraps long messages: compare the words.
    let words: Vec<&str> = run
        .stderr
        .split_whitespace()
        .filter(|word| *word != "│")
        .collect();
    let stderr = words.join(" ");
    assert!(
        stderr.contains("(build_failed): E: Unable to locate package gh"),
        "{run:?}"
    );
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_reads_every_page() {
    let world = World::new();
    let server = serve_support::start("").await;
    // The provider asks for 100 a page.
    let count = 130;
    for _ in 0..count {
        let reply = server
            .post("/api/sandbox", json!({"labels": {"batch": "paging"}}))
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
    }
    let before = server.requests("GET /api/sandbox").await;
    let listed = parse(
        &against(
            &world,
            &server.api_url,
            &["sandbox", "list", "--json", "--label", "batch=paging"],
            &[],
        )
        .await
        .success(),
    );
    assert_eq!(listed.as_array().unwrap().len(), count);
    assert!(server.requests("GET /api/sandbox").await - before >= 2);
    server.shutdown().await;
}
