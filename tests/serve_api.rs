//! `serve`'s sandbox routes over real local sandboxes, driven over HTTP: authentication, status
//! codes, record shapes, Daytona's error bodies, lists with label filters and cursor pages,
//! derived states and lifecycle settings.

use crate::serve_support;

use std::collections::BTreeSet;

use serde_json::{Value, json};
use serve_support::{KEY, Options, encode, start, start_with};

/// Fields the official Python SDK refuses a sandbox record without.
const SDK_REQUIRED: [&str; 15] = [
    "id",
    "organizationId",
    "name",
    "user",
    "env",
    "labels",
    "public",
    "networkBlockAll",
    "kvm",
    "target",
    "cpu",
    "gpu",
    "memory",
    "disk",
    "toolboxProxyUrl",
];

#[tokio::test(flavor = "multi_thread")]
async fn requests_without_a_bearer_token_get_401_with_the_api_body() {
    let server = start("").await;
    let reply = server
        .send(server.client.get(server.url("/api/sandbox")))
        .await;
    assert_eq!(reply.api_error(401), "Unauthorized");
    assert_eq!(reply.body["path"], "/api/sandbox");
    let reply = server
        .send(server.client.get(server.url("/toolbox/x/work-dir")))
        .await;
    let message = reply.daemon_error(401, "UNAUTHORIZED");
    assert!(message.starts_with("missing authentication"), "{message}");
    // The server's key is accepted.
    assert_eq!(server.get("/api/sandbox").await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pinned_key_refuses_every_other_key() {
    let server = start_with(Options {
        api_key: Some(KEY.to_string()),
        ..Options::default()
    })
    .await;
    assert_eq!(server.get("/api/sandbox").await.status, 200);
    let wrong = server
        .send(
            server
                .client
                .get(server.url("/api/sandbox"))
                .bearer_auth("dtn_sentinel_wrong_key_4711"),
        )
        .await;
    wrong.api_error(401);
    assert!(
        !wrong.body.to_string().contains("sentinel"),
        "{}",
        wrong.body
    );
    let toolbox = server
        .send(
            server
                .client
                .get(server.url("/toolbox/x/work-dir"))
                .bearer_auth("dtn_sentinel_wrong_key_4711"),
        )
        .await;
    toolbox.daemon_error(401, "UNAUTHORIZED");
    assert!(
        !toolbox.body.to_string().contains("sentinel"),
        "{}",
        toolbox.body
    );
    let options = ralph_town::serve::ServeOptions {
        api_key: Some(ralph_town::secret::Secret::new(
            "dtn_sentinel_pinned_key_4711".to_string(),
        )),
        ..Default::default()
    };
    assert!(!format!("{options:?}").contains("sentinel"));
}

#[tokio::test(flavor = "multi_thread")]
async fn create_get_delete_then_404() {
    let server = start("").await;
    let reply = server
        .post(
            "/api/sandbox",
            json!({
                "name": "alice", "labels": {"team": "t"}, "env": {"GREETING": "hi"},
                "class": "small", "someFutureField": {"x": 1}
            }),
        )
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let created = reply.body;
    // Daytona answers with the record as inserted.
    assert_eq!(created["state"], "creating");
    for field in SDK_REQUIRED {
        assert!(created.get(field).is_some(), "missing {field}: {created}");
    }
    assert_eq!(created["name"], "alice");
    assert_eq!(created["env"]["GREETING"], "hi");
    assert_eq!(created["user"], "daytona");
    assert_eq!(created["snapshot"], "daytona-small");
    assert_eq!(
        (
            created["cpu"].clone(),
            created["memory"].clone(),
            created["disk"].clone()
        ),
        (json!(1), json!(1), json!(3))
    );
    assert_eq!(created["autoStopInterval"], 15);
    assert_eq!(created["autoDeleteInterval"], -1);
    assert_eq!(
        created["toolboxProxyUrl"],
        format!("{}/toolbox", server.base)
    );
    let id = created["id"].as_str().unwrap();

    let started = server.wait_state(id, "started").await;
    assert_eq!(started["desiredState"], "started");
    let by_name = server.get("/api/sandbox/alice").await;
    assert_eq!(by_name.body["id"], id);

    let deleted = server.delete(&format!("/api/sandbox/{id}")).await;
    assert_eq!(deleted.status, 200);
    assert_eq!(deleted.body["state"], "destroying");
    let gone = server.get(&format!("/api/sandbox/{id}")).await;
    assert_eq!(
        gone.api_error(404),
        format!("Sandbox with ID or name {id} not found")
    );
    assert_eq!(gone.body["error"], "Not Found");
    server
        .delete(&format!("/api/sandbox/{id}"))
        .await
        .api_error(404);
    // The name is free again at once.
    server.create(json!({"name": "alice"})).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn create_refuses_what_daytona_refuses() {
    let server = start("").await;
    server.create(json!({"name": "taken"})).await;
    let duplicate = server.post("/api/sandbox", json!({"name": "taken"})).await;
    assert_eq!(
        duplicate.api_error(409),
        "Sandbox with name taken already exists"
    );

    let unknown = server
        .post("/api/sandbox", json!({"snapshot": "nope:1"}))
        .await;
    assert_eq!(
        unknown.api_error(400),
        "Snapshot nope:1 not found. Did you add it through the Daytona Dashboard?"
    );
    let resources = server
        .post(
            "/api/sandbox",
            json!({"snapshot": "daytona-small", "cpu": 2}),
        )
        .await;
    assert_eq!(
        resources.api_error(400),
        "Cannot specify Sandbox resources when using a snapshot"
    );
    let both = server
        .post(
            "/api/sandbox",
            json!({"snapshot": "daytona-small", "buildInfo": {"dockerfileContent": "FROM x:1\n"}}),
        )
        .await;
    assert_eq!(
        both.api_error(400),
        "Cannot specify a snapshot when using a build info entry"
    );
    let negative = server
        .post("/api/sandbox", json!({"autoStopInterval": -5}))
        .await;
    assert_eq!(
        negative.api_error(400),
        "Auto-stop interval must be non-negative"
    );
    let garbage = server
        .send(
            server
                .client
                .post(server.url("/api/sandbox"))
                .bearer_auth(KEY)
                .header("content-type", "application/json")
                .body("{not json"),
        )
        .await;
    garbage.api_error(400);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_build_info_create_takes_its_resources_and_reports_pending_build() {
    let server = start("").await;
    let reply = server
        .post(
            "/api/sandbox",
            json!({"buildInfo": {"dockerfileContent": "FROM debian:12\n"}, "cpu": 2, "memory": 4}),
        )
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["state"], "pending_build");
    assert_eq!(
        (
            reply.body["cpu"].clone(),
            reply.body["memory"].clone(),
            reply.body["disk"].clone()
        ),
        (json!(2), json!(4), json!(3))
    );
    assert!(
        reply.body["snapshot"]
            .as_str()
            .unwrap()
            .starts_with("daytona-")
    );
    server
        .wait_state(reply.body["id"].as_str().unwrap(), "started")
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn lists_filter_by_label_subset_and_page_by_cursor() {
    let server = start("").await;
    let mut team_a = BTreeSet::new();
    for index in 0..5 {
        let body = json!({"name": format!("a{index}"), "labels": {"team": "a", "index": index.to_string()}});
        team_a.insert(
            server.create(body).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    for index in 0..2 {
        server
            .create(json!({"name": format!("b{index}"), "labels": {"team": "b"}}))
            .await;
    }
    let labels = encode(r#"{"team":"a"}"#);
    let mut seen = BTreeSet::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut path = format!("/api/sandbox?labels={labels}&limit=2");
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let page = server.get(&path).await;
        assert_eq!(page.status, 200, "{:?}", page.body);
        let items = page.body["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        for item in items {
            assert_eq!(item["labels"]["team"], "a");
            assert!(
                item.get("networkBlockAll").is_some() && item.get("env").is_none(),
                "{item}"
            );
            assert!(
                seen.insert(item["id"].as_str().unwrap().to_string()),
                "repeated {item}"
            );
        }
        pages += 1;
        match &page.body["nextCursor"] {
            Value::Null => break,
            Value::String(next) => cursor = Some(next.clone()),
            other => panic!("nextCursor {other}"),
        }
    }
    assert_eq!(seen, team_a);
    assert_eq!(pages, 3);

    let both = server
        .get(&format!(
            "/api/sandbox?labels={}",
            encode(r#"{"team":"a","index":"3"}"#)
        ))
        .await;
    assert_eq!(both.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(both.body["items"][0]["name"], "a3");
    let everything = server.get("/api/sandbox").await;
    assert_eq!(everything.body["items"].as_array().unwrap().len(), 7);
    assert_eq!(everything.body["nextCursor"], Value::Null);
    let prefix = server.get("/api/sandbox?name=B").await;
    assert_eq!(prefix.body["items"].as_array().unwrap().len(), 2);

    assert_eq!(
        server.get("/api/sandbox?limit=201").await.api_error(400),
        "limit must not be greater than 200"
    );
    assert_eq!(
        server
            .get("/api/sandbox?labels=%7Bnope")
            .await
            .api_error(400),
        "Invalid labels JSON format"
    );

    let old = server
        .get(&format!(
            "/api/sandbox/paginated?labels={labels}&limit=2&page=3"
        ))
        .await;
    assert_eq!(old.status, 200);
    assert_eq!(
        (
            old.body["total"].clone(),
            old.body["page"].clone(),
            old.body["totalPages"].clone()
        ),
        (json!(5), json!(3), json!(3))
    );
    assert_eq!(old.body["items"].as_array().unwrap().len(), 1);
    assert!(old.body["items"][0].get("env").is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn start_and_stop_follow_daytonas_state_rules() {
    let server = start("").await;
    let id = server.create(json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let again = server
        .post(&format!("/api/sandbox/{id}/start"), json!({}))
        .await;
    assert_eq!(
        (again.status, again.body["state"].clone()),
        (200, json!("started"))
    );
    let stopped = server
        .post(&format!("/api/sandbox/{id}/stop"), json!({}))
        .await;
    assert_eq!(stopped.status, 200);
    server.wait_state(&id, "stopped").await;
    let not_stoppable = server
        .post(&format!("/api/sandbox/{id}/stop"), json!({}))
        .await;
    assert_eq!(
        not_stoppable.api_error(400),
        "Sandbox is not in a stoppable state"
    );
    let exec = server.exec(&id, "true").await;
    exec.daemon_error(409, "CONFLICT");
    let started = server
        .post(&format!("/api/sandbox/{id}/start"), json!({}))
        .await;
    assert_eq!(started.status, 200);
    server.wait_state(&id, "started").await;
    assert_eq!(server.exec(&id, "true").await.body["exitCode"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn transitions_show_derived_states_and_refuse_races_with_409() {
    // Transitions last far longer than the test, so what it sees does not depend on timing.
    let server = start("create-delay=1h,transition-delay=1h").await;
    let reply = server.post("/api/sandbox", json!({})).await;
    let id = reply.body["id"].as_str().unwrap().to_string();
    let shown = server.get(&format!("/api/sandbox/{id}")).await;
    assert_eq!(
        (
            shown.body["state"].clone(),
            shown.body["desiredState"].clone()
        ),
        (json!("creating"), json!("started"))
    );
    let racing = server
        .post(&format!("/api/sandbox/{id}/stop"), json!({}))
        .await;
    assert_eq!(racing.api_error(409), "Sandbox state change in progress");
    server
        .delete(&format!("/api/sandbox/{id}"))
        .await
        .api_error(409);
    server.exec(&id, "true").await.daemon_error(409, "CONFLICT");
    let listed = server.get("/api/sandbox").await;
    assert_eq!(listed.body["items"][0]["state"], "creating");
}

#[tokio::test(flavor = "multi_thread")]
async fn stopping_an_ephemeral_sandbox_deletes_it() {
    let server = start("").await;
    let id = server.create(json!({"autoDeleteInterval": 0})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let reply = server
        .post(&format!("/api/sandbox/{id}/stop"), json!({}))
        .await;
    assert_eq!(
        (reply.status, reply.body["state"].clone()),
        (200, json!("destroying"))
    );
    server
        .get(&format!("/api/sandbox/{id}"))
        .await
        .api_error(404);
}

#[tokio::test(flavor = "multi_thread")]
async fn labels_and_lifecycle_settings_change_in_place() {
    let server = start("").await;
    let id = server.create(json!({"labels": {"old": "1"}})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let labels = server
        .put(
            &format!("/api/sandbox/{id}/labels"),
            json!({"labels": {"new": "2"}}),
        )
        .await;
    assert_eq!(labels.status, 200);
    assert_eq!(labels.body["labels"], json!({"new": "2"}));
    for (route, field, minutes, expected) in [
        ("autostop", "autoStopInterval", "30", json!(30)),
        ("autoarchive", "autoArchiveInterval", "0", json!(43200)),
        ("autodelete", "autoDeleteInterval", "-7", json!(-1)),
    ] {
        let reply = server
            .post(&format!("/api/sandbox/{id}/{route}/{minutes}"), json!({}))
            .await;
        assert_eq!(reply.status, 201, "{route}: {:?}", reply.body);
        assert_eq!(reply.body[field], expected, "{route}");
    }
    let refused = server
        .post(&format!("/api/sandbox/{id}/autostop/-1"), json!({}))
        .await;
    assert_eq!(
        refused.api_error(400),
        "Auto-stop interval must be non-negative"
    );
    let public = server
        .post(&format!("/api/sandbox/{id}/public/true"), json!({}))
        .await;
    assert_eq!(
        (public.status, public.body["public"].clone()),
        (201, json!(true))
    );
    let url = server
        .get(&format!("/api/sandbox/{id}/toolbox-proxy-url"))
        .await;
    assert_eq!(url.body, json!({"url": format!("{}/toolbox", server.base)}));
    server
        .get("/api/sandbox/missing/toolbox-proxy-url")
        .await
        .api_error(404);
}
