//! `serve`'s sandbox actions beyond start and stop, over real local sandboxes: archive and the
//! restore a start makes, recover and pause as Daytona answers them for container sandboxes,
//! resize, the TTL, forks and snapshots that carry a sandbox's files, resource metrics, list
//! `sort`/`order`, and the bodies the SDKs must be able to read (`update_env`, SSH validation).

use crate::serve_support;

use std::time::Duration;

use serde_json::{Value, json};
use serve_support::{KEY, Server, encode, start};

async fn sandbox(server: &Server, body: Value) -> String {
    server.create(body).await["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn action(server: &Server, id: &str, action: &str) -> serve_support::Reply {
    server
        .send(
            server
                .client
                .post(server.url(&format!("/api/sandbox/{id}/{action}")))
                .bearer_auth(KEY),
        )
        .await
}

async fn run(server: &Server, id: &str, command: &str) -> String {
    let reply = server.exec(id, command).await;
    assert_eq!(reply.body["exitCode"], 0, "{command}: {:?}", reply.body);
    reply.body["result"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn archive_keeps_the_files_and_a_start_restores_the_sandbox() {
    let server = start("transition-delay=300ms").await;
    let id = sandbox(&server, json!({})).await;
    run(&server, &id, "echo kept > note.txt").await;
    assert_eq!(
        action(&server, &id, "archive").await.api_error(400),
        "Sandbox is not stopped"
    );
    assert_eq!(action(&server, &id, "stop").await.status, 200);
    assert_eq!(
        action(&server, &id, "archive").await.api_error(409),
        "Sandbox state change in progress"
    );
    server.wait_state(&id, "stopped").await;
    let archiving = action(&server, &id, "archive").await;
    assert_eq!(archiving.status, 200, "{:?}", archiving.body);
    assert_eq!(
        (
            archiving.body["state"].clone(),
            archiving.body["desiredState"].clone()
        ),
        (json!("archiving"), json!("archived"))
    );
    let archived = server.wait_state(&id, "archived").await;
    assert_eq!(archived["desiredState"], "archived");
    assert_eq!(
        action(&server, &id, "archive").await.api_error(400),
        "Sandbox is not stopped"
    );
    action(&server, &id, "stop").await.api_error(400);
    server.exec(&id, "true").await.daemon_error(409, "CONFLICT");
    let listed = server.get("/api/sandbox?states=archived").await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);

    let restoring = action(&server, &id, "start").await;
    assert_eq!(restoring.body["state"], "restoring", "{:?}", restoring.body);
    server.wait_state(&id, "started").await;
    assert_eq!(run(&server, &id, "cat note.txt").await, "kept\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn recover_and_pause_answer_as_daytona_does_for_container_sandboxes() {
    let server = start("").await;
    let id = sandbox(&server, json!({})).await;
    assert_eq!(
        action(&server, &id, "recover").await.api_error(400),
        "Sandbox is not in a recoverable state"
    );
    assert_eq!(
        action(&server, &id, "pause").await.api_error(422),
        "Pausing is not supported for this sandbox"
    );
    assert_eq!(action(&server, &id, "stop").await.status, 200);
    assert_eq!(
        action(&server, &id, "pause").await.api_error(400),
        "Sandbox must be in started state to pause"
    );
    action(&server, "no-such-sandbox", "recover")
        .await
        .api_error(404);
}

#[tokio::test(flavor = "multi_thread")]
async fn resize_records_resources_with_daytonas_hot_and_cold_rules() {
    let server = start("transition-delay=200ms,quota-cpu=3").await;
    let id = sandbox(&server, json!({})).await;
    let resize = |body: Value| {
        let server = &server;
        let id = id.clone();
        async move {
            server
                .post(&format!("/api/sandbox/{id}/resize"), body)
                .await
        }
    };
    let hot = resize(json!({"cpu": 2, "memory": 2})).await;
    assert_eq!(hot.status, 200, "{:?}", hot.body);
    assert_eq!(hot.body["state"], "resizing");
    let resized = server.wait_state(&id, "started").await;
    assert_eq!(
        (resized["cpu"].clone(), resized["memory"].clone()),
        (json!(2), json!(2))
    );
    assert!(
        resize(json!({"disk": 5}))
            .await
            .api_error(400)
            .contains("stopped sandbox")
    );
    assert!(
        resize(json!({"cpu": 1}))
            .await
            .api_error(400)
            .contains("decrease the number of CPU cores")
    );
    assert!(
        resize(json!({"cpu": 4}))
            .await
            .api_error(400)
            .contains("Total CPU limit exceeded")
    );
    action(&server, &id, "stop").await;
    server.wait_state(&id, "stopped").await;
    let cold = resize(json!({"cpu": 1, "disk": 5})).await;
    assert_eq!(cold.status, 200, "{:?}", cold.body);
    let settled = server.wait_state(&id, "stopped").await;
    assert_eq!(
        (settled["cpu"].clone(), settled["disk"].clone()),
        (json!(1), json!(5))
    );
    assert!(
        resize(json!({"disk": 4}))
            .await
            .api_error(400)
            .contains("cannot be decreased")
    );
    assert!(
        resize(json!({}))
            .await
            .api_error(400)
            .contains("No resource changes")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn set_ttl_counts_from_now_and_destroys_the_sandbox_when_it_elapses() {
    let server = start("minute=200ms").await;
    let id = sandbox(&server, json!({"autoStopInterval": 0})).await;
    let long = server
        .post(&format!("/api/sandbox/{id}/ttl/600"), json!({}))
        .await;
    assert_eq!(long.status, 201, "{:?}", long.body);
    let destroy_at =
        humantime::parse_rfc3339_weak(long.body["autoDestroyAt"].as_str().unwrap()).unwrap();
    assert!(destroy_at > std::time::SystemTime::now() + Duration::from_secs(100));
    let off = server
        .post(&format!("/api/sandbox/{id}/ttl/0"), json!({}))
        .await;
    assert!(off.body.get("autoDestroyAt").is_none(), "{:?}", off.body);
    server
        .post(&format!("/api/sandbox/{id}/ttl/-1"), json!({}))
        .await
        .api_error(400);
    let short = server
        .post(&format!("/api/sandbox/{id}/ttl/1"), json!({}))
        .await;
    assert_eq!(short.status, 201);
    server.wait_gone(&id).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fork_starts_from_a_copy_of_the_home_and_goes_its_own_way() {
    let server = start("").await;
    let id = sandbox(
        &server,
        json!({"name": "source", "labels": {"team": "t"}, "env": {"FROM": "source"}}),
    )
    .await;
    run(
        &server,
        &id,
        "mkdir -p work && echo original > work/file.txt",
    )
    .await;
    let forked = server
        .post(&format!("/api/sandbox/{id}/fork"), json!({"name": "copy"}))
        .await;
    assert_eq!(forked.status, 200, "{:?}", forked.body);
    assert_eq!(forked.body["state"], "creating");
    assert_eq!(forked.body["labels"], json!({"team": "t"}));
    let fork = forked.body["id"].as_str().unwrap().to_string();
    assert_ne!(fork, id);
    server.wait_state(&fork, "started").await;
    assert_eq!(
        run(&server, &fork, "cat work/file.txt; echo $FROM").await,
        "original\nsource\n"
    );
    run(&server, &fork, "echo changed > work/file.txt").await;
    assert_eq!(run(&server, &id, "cat work/file.txt").await, "original\n");

    server
        .post(&format!("/api/sandbox/{id}/fork"), json!({"name": "copy"}))
        .await
        .api_error(409);
    action(&server, &id, "stop").await;
    assert_eq!(
        server
            .post(&format!("/api/sandbox/{id}/fork"), json!({}))
            .await
            .api_error(400),
        "Sandbox must be in started state to fork"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_snapshot_of_a_sandbox_gives_new_sandboxes_its_files() {
    let server = start("").await;
    let id = sandbox(&server, json!({})).await;
    run(&server, &id, "mkdir -p app && echo built > app/out.txt").await;
    let snapshotting = server
        .post(
            &format!("/api/sandbox/{id}/snapshot"),
            json!({"name": "from-sandbox:1"}),
        )
        .await;
    assert_eq!(snapshotting.status, 200, "{:?}", snapshotting.body);
    assert_eq!(snapshotting.body["id"], id.as_str());
    server.wait_state(&id, "started").await;
    let record = server.get("/api/snapshots/from-sandbox:1").await;
    assert_eq!(record.status, 200, "{:?}", record.body);
    assert_eq!(
        (
            record.body["sourceSandboxId"].clone(),
            record.body["state"].clone()
        ),
        (json!(id), json!("active"))
    );
    // Later changes to the source are not in the snapshot.
    run(&server, &id, "echo later > app/out.txt").await;
    let child = sandbox(&server, json!({"snapshot": "from-sandbox:1"})).await;
    assert_eq!(run(&server, &child, "cat app/out.txt").await, "built\n");
    server
        .post(
            &format!("/api/sandbox/{id}/snapshot"),
            json!({"name": "from-sandbox:1"}),
        )
        .await
        .api_error(409);
    server
        .post(
            &format!("/api/sandbox/{id}/snapshot"),
            json!({"name": "memory", "includeMemory": true}),
        )
        .await
        .api_error(400);

    let root = server.provider.root().join("snapshots");
    let kept = |root: &std::path::Path| std::fs::read_dir(root).unwrap().count();
    assert_eq!(kept(&root), 1);
    let snapshot_id = record.body["id"].as_str().unwrap();
    let deleted = server
        .delete(&format!("/api/snapshots/{snapshot_id}"))
        .await;
    assert_eq!(deleted.status, 200, "{:?}", deleted.body);
    assert_eq!(kept(&root), 0, "deleting the snapshot drops its files");
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_report_the_given_resources_and_measure_the_home() {
    let server = start("").await;
    let id = sandbox(&server, json!({})).await;
    run(&server, &id, "head -c 3000000 /dev/zero > big.bin").await;
    let metrics = server.get(&format!("/toolbox/{id}/system/metrics")).await;
    assert_eq!(metrics.status, 200, "{:?}", metrics.body);
    let body = &metrics.body;
    assert_eq!(body["cpuCount"], 1);
    assert_eq!(body["memTotal"], 1u64 << 30);
    assert_eq!(body["diskTotal"], 3u64 << 30);
    let used = body["diskUsed"].as_u64().unwrap();
    assert!(used >= 3_000_000, "{body}");
    assert_eq!(body["diskFree"].as_u64().unwrap(), (3u64 << 30) - used);
    let cpu = body["cpuUsedPct"].as_f64().unwrap();
    assert!((0.0..=100.0).contains(&cpu), "{body}");
    if matches!(
        server.provider.isolation(),
        ralph_town::provider::local::Isolation::Bubblewrap
    ) {
        // The measuring shell itself is resident.
        assert!(body["memUsed"].as_u64().unwrap() > 0, "{body}");
    }
}

async fn names(server: &Server, query: &str) -> Vec<String> {
    let reply = server.get(&format!("/api/sandbox?{query}")).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn lists_sort_and_order_as_asked_and_page_in_that_order() {
    let server = start("").await;
    for name in ["bravo", "alpha", "charlie"] {
        sandbox(&server, json!({"name": name})).await;
    }
    assert_eq!(
        names(&server, "sort=name&order=asc").await,
        ["alpha", "bravo", "charlie"]
    );
    assert_eq!(
        names(&server, "sort=name&order=desc").await,
        ["charlie", "bravo", "alpha"]
    );
    assert_eq!(
        names(&server, "sort=createdAt&order=asc").await,
        ["bravo", "alpha", "charlie"]
    );
    // The default is the most recent activity first.
    server.exec("bravo", "true").await;
    assert_eq!(names(&server, "").await[0], "bravo");

    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = "sort=name&order=asc&limit=1".to_string();
        if let Some(cursor) = &cursor {
            query.push_str(&format!("&cursor={}", encode(cursor)));
        }
        let page = server.get(&format!("/api/sandbox?{query}")).await;
        paged.extend(
            page.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|item| item["name"].as_str().unwrap().to_string()),
        );
        match page.body["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(paged, ["alpha", "bravo", "charlie"]);
    assert!(
        server
            .get("/api/sandbox?sort=size")
            .await
            .api_error(400)
            .starts_with("sort must be one of the following values")
    );
    server.get("/api/sandbox?order=up").await.api_error(400);
    server
        .get("/api/sandbox?cursor=%21%21")
        .await
        .api_error(400);
    let old = server
        .get("/api/sandbox/paginated?sort=name&order=asc")
        .await;
    let old_names: Vec<_> = old.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["name"].as_str().unwrap())
        .collect();
    assert_eq!(old_names, ["alpha", "bravo", "charlie"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn update_env_and_ssh_validation_answer_bodies_the_sdks_can_read() {
    let server = start("").await;
    let id = sandbox(&server, json!({})).await;
    let updated = server
        .post(&format!("/toolbox/{id}/env"), json!({"set": {"A": "1"}}))
        .await;
    assert_eq!((updated.status, updated.body.clone()), (200, json!({})));

    let access = server
        .post(&format!("/api/sandbox/{id}/ssh-access"), json!({}))
        .await;
    let token = access.body["token"].as_str().unwrap().to_string();
    server
        .delete(&format!("/api/sandbox/{id}/ssh-access"))
        .await;
    let revoked = server
        .get(&format!("/api/sandbox/ssh-access/validate?token={token}"))
        .await;
    assert_eq!(revoked.body, json!({"valid": false, "sandboxId": ""}));
}
