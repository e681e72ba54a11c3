//! The `daytona` provider against answers `ralph-town serve` does not give but real Daytona
//! servers do (older ones, or the spec's letter): cursor pages and bare-array lists, an empty
//! `toolboxProxyUrl`, an exec reply with `code` instead of `exitCode`, `PUT labels` answering
//! only the labels, empty `201` timer answers, a daemon without `files/bulk-upload`, and
//! sandboxes that fail while the client waits; and which paths need the daemon's home. A small
//! axum server on loopback plays the API.

use crate::daytona_support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use ralph_town::provider::daytona::DaytonaProvider;
use ralph_town::provider::{
    CreateSandbox, ExecRequest, Labels, Lifecycle, Provider, ProviderError, SandboxState,
};
use serde_json::{Value, json};

#[derive(Default)]
struct Fake {
    base: String,
    /// `true`: `GET /sandbox` answers a bare array, as servers before v0.180 did.
    legacy_list: bool,
    /// States `GET /sandbox/{id}` reports in turn, the last one for ever.
    states: Mutex<Vec<(&'static str, Option<&'static str>)>>,
    /// `true`: `POST /sandbox` answers 503, as a gateway does when the API's answer is lost.
    create_fails: bool,
    /// What `user-home-dir` answers; `None`: the route is missing, as on an old daemon.
    home: Option<&'static str>,
    /// Requests seen, as `METHOD path?query`.
    seen: Mutex<Vec<String>>,
    uploads: Mutex<Vec<(String, Vec<u8>)>>,
}

fn record(id: &str, state: &str, reason: Option<&str>) -> Value {
    json!({
        "id": id, "organizationId": "org", "name": id, "user": "daytona", "env": {"PLAIN": "1"},
        "labels": {"team": "compat"}, "public": false, "networkBlockAll": false, "target": "us",
        "cpu": 1, "gpu": 0, "memory": 1, "disk": 3, "toolboxProxyUrl": "",
        "state": state, "errorReason": reason, "autoStopInterval": 15,
        "createdAt": "2026-01-02T03:04:05.678Z",
    })
}

fn seen(fake: &Fake, line: String) {
    fake.seen.lock().unwrap().push(line);
}

async fn list(
    State(fake): State<Arc<Fake>>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Json<Value> {
    seen(&fake, format!("GET /sandbox {query:?}"));
    assert_eq!(
        query.get("labels").map(String::as_str),
        Some(r#"{"team":"compat"}"#)
    );
    if fake.legacy_list {
        return Json(json!([
            record("a", "started", None),
            record("b", "stopped", None)
        ]));
    }
    let item = |id: &str, state: &str| {
        let mut item = record(id, state, None);
        item.as_object_mut().unwrap().remove("env");
        item
    };
    Json(match query.get("cursor").map(String::as_str) {
        None => json!({"items": [item("a", "started")], "nextCursor": "page-2"}),
        Some("page-2") => {
            json!({"items": [item("b", "stopped"), item("c", "destroyed")], "nextCursor": null})
        }
        Some(other) => panic!("unknown cursor {other}"),
    })
}

async fn create(State(fake): State<Arc<Fake>>, Json(body): Json<Value>) -> Response {
    seen(&fake, format!("POST /sandbox {body}"));
    if fake.create_fails {
        return (StatusCode::SERVICE_UNAVAILABLE, "upstream timed out").into_response();
    }
    Json(record("new", "creating", None)).into_response()
}

async fn get_one(State(fake): State<Arc<Fake>>, Path(id): Path<String>) -> Json<Value> {
    let mut states = fake.states.lock().unwrap();
    let (state, reason) = if states.len() > 1 {
        states.remove(0)
    } else {
        states.first().copied().unwrap_or(("started", None))
    };
    Json(record(&id, state, reason))
}

async fn proxy_url(State(fake): State<Arc<Fake>>, Path(id): Path<String>) -> Json<Value> {
    seen(&fake, format!("GET /sandbox/{id}/toolbox-proxy-url"));
    Json(json!({"url": format!("{}/toolbox", fake.base)}))
}

async fn labels(State(fake): State<Arc<Fake>>, Json(body): Json<Value>) -> Json<Value> {
    seen(&fake, "PUT labels".to_string());
    Json(json!({"labels": body["labels"]}))
}

async fn timer(
    State(fake): State<Arc<Fake>>,
    Path((id, minutes)): Path<(String, i64)>,
) -> StatusCode {
    seen(&fake, format!("POST /sandbox/{id}/autostop/{minutes}"));
    StatusCode::CREATED
}

async fn execute(State(fake): State<Arc<Fake>>, Json(body): Json<Value>) -> Json<Value> {
    seen(
        &fake,
        format!("execute {} in {}", body["command"], body["cwd"]),
    );
    Json(json!({"code": 7, "result": "from an old daemon"}))
}

async fn home(State(fake): State<Arc<Fake>>) -> Response {
    seen(&fake, "GET user-home-dir".to_string());
    match fake.home {
        Some(dir) => Json(json!({ "dir": dir })).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn upload(
    State(fake): State<Arc<Fake>>,
    Query(query): Query<BTreeMap<String, String>>,
    mut form: axum::extract::Multipart,
) -> Response {
    let field = form.next_field().await.unwrap().expect("a `file` part");
    assert_eq!(field.name(), Some("file"));
    let bytes = field.bytes().await.unwrap().to_vec();
    fake.uploads
        .lock()
        .unwrap()
        .push((query["path"].clone(), bytes));
    StatusCode::OK.into_response()
}

fn with_states(states: Vec<(&'static str, Option<&'static str>)>) -> Fake {
    Fake {
        states: Mutex::new(states),
        ..Fake::default()
    }
}

async fn start(mut fake: Fake) -> (Arc<Fake>, DaytonaProvider) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    fake.base = base.clone();
    let fake = Arc::new(fake);
    let app = axum::Router::new()
        .route("/api/sandbox", get(list).post(create))
        .route("/api/sandbox/{id}", get(get_one))
        .route("/api/sandbox/{id}/toolbox-proxy-url", get(proxy_url))
        .route("/api/sandbox/{id}/labels", put(labels))
        .route("/api/sandbox/{id}/autostop/{minutes}", post(timer))
        .route("/toolbox/{id}/process/execute", post(execute))
        .route("/toolbox/{id}/files/upload", post(upload))
        .route("/toolbox/{id}/user-home-dir", get(home))
        .with_state(fake.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let provider = DaytonaProvider::new(daytona_support::settings(
        &format!("{base}/api"),
        "dtn_compat",
    ))
    .unwrap();
    (fake, provider)
}

fn team() -> Labels {
    Labels::from([("team".to_string(), "compat".to_string())])
}

#[tokio::test]
async fn list_follows_cursors_to_the_end_and_leaves_out_destroyed_sandboxes() {
    let (fake, provider) = start(Fake::default()).await;
    let sandboxes = provider.list(&team()).await.expect("list");
    let ids: Vec<&str> = sandboxes
        .iter()
        .map(|sandbox| sandbox.id.as_str())
        .collect();
    assert_eq!(ids, ["a", "b"]);
    assert!(
        sandboxes.iter().all(|sandbox| sandbox.env.is_empty()),
        "list items carry no env"
    );
    assert_eq!(fake.seen.lock().unwrap().len(), 2, "two pages");
}

#[tokio::test]
async fn a_bare_array_list_is_understood() {
    let (_, provider) = start(Fake {
        legacy_list: true,
        ..Fake::default()
    })
    .await;
    let sandboxes = provider.list(&team()).await.expect("list");
    let found: Vec<(&str, &SandboxState)> = sandboxes
        .iter()
        .map(|sandbox| (sandbox.id.as_str(), &sandbox.state))
        .collect();
    assert_eq!(
        found,
        [("a", &SandboxState::Started), ("b", &SandboxState::Stopped)]
    );
    assert_eq!(sandboxes[0].env.get("PLAIN").map(String::as_str), Some("1"));
}

#[tokio::test]
async fn old_servers_and_daemons_are_understood() {
    let (fake, provider) = start(Fake::default()).await;
    let request = ExecRequest {
        command: "echo hi".to_string(),
        ..ExecRequest::default()
    };
    let output = provider.exec("new", &request).await.expect("exec");
    assert_eq!(
        (output.exit_code, output.output.as_str()),
        (7, "from an old daemon")
    );

    provider
        .upload("new", "dir/file.txt", b"contents")
        .await
        .expect("upload falls back");
    assert_eq!(
        *fake.uploads.lock().unwrap(),
        [("dir/file.txt".to_string(), b"contents".to_vec())]
    );

    let relabelled = provider.set_labels("new", &team()).await.expect("labels");
    assert_eq!(relabelled.labels, team());
    let retimed = provider
        .set_lifecycle(
            "new",
            &Lifecycle {
                auto_stop: Some(30),
                ..Lifecycle::default()
            },
        )
        .await
        .expect("an empty 201 is success");
    assert_eq!(retimed.id, "new");

    let seen = fake.seen.lock().unwrap().clone();
    assert_eq!(
        seen.iter()
            .filter(|line| line.ends_with("/toolbox-proxy-url"))
            .count(),
        1,
        "cached: {seen:?}"
    );
    assert!(
        seen.contains(&"POST /sandbox/new/autostop/30".to_string()),
        "{seen:?}"
    );
}

#[tokio::test]
async fn create_waits_through_pending_build_and_sends_only_what_was_asked() {
    let states = vec![
        ("pending_build", None),
        ("creating", None),
        ("started", None),
    ];
    let (fake, provider) = start(with_states(states)).await;
    let request = CreateSandbox {
        name: "new".to_string(),
        labels: team(),
        ..CreateSandbox::default()
    };
    let sandbox = provider.create(&request).await.expect("create");
    assert_eq!(sandbox.state, SandboxState::Started);
    let body = fake
        .seen
        .lock()
        .unwrap()
        .iter()
        .find_map(|line| line.strip_prefix("POST /sandbox ").map(str::to_string))
        .unwrap();
    let body: Value = serde_json::from_str(&body).unwrap();
    let mut keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        ["labels", "name"],
        "no field the request did not ask for: {body}"
    );
}

#[tokio::test]
async fn a_sandbox_that_fails_while_starting_ends_the_wait_with_its_reason() {
    for (state, reason) in [
        ("error", "runner is out of disk"),
        ("build_failed", "RUN apt-get failed"),
    ] {
        let (_, provider) =
            start(with_states(vec![("creating", None), (state, Some(reason))])).await;
        let request = CreateSandbox {
            name: "new".to_string(),
            ..CreateSandbox::default()
        };
        match provider.create(&request).await {
            Err(ProviderError::Api {
                message,
                retryable: false,
                ..
            }) => {
                assert!(
                    message.contains(reason) && message.contains(state),
                    "{message}"
                );
            }
            other => panic!("{state}: expected an error with the reason, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn paths_and_commands_start_in_the_home_the_daemon_reports() {
    let (fake, provider) = start(Fake {
        home: Some("/home/tester"),
        ..Fake::default()
    })
    .await;
    provider
        .upload("new", "~/a.txt", b"a")
        .await
        .expect("upload");
    provider
        .upload("new", "b/b.txt", b"b")
        .await
        .expect("upload");
    provider
        .upload("new", "/etc/c.txt", b"c")
        .await
        .expect("upload");
    let paths: Vec<String> = fake
        .uploads
        .lock()
        .unwrap()
        .iter()
        .map(|(path, _)| path.clone())
        .collect();
    assert_eq!(
        paths,
        ["/home/tester/a.txt", "/home/tester/b/b.txt", "/etc/c.txt"]
    );

    for (cwd, expected) in [
        (None, "/home/tester"),
        (Some("work"), "/home/tester/work"),
        (Some("/srv"), "/srv"),
    ] {
        let request = ExecRequest {
            command: "pwd".to_string(),
            cwd: cwd.map(str::to_string),
            ..ExecRequest::default()
        };
        provider.exec("new", &request).await.expect("exec");
        let seen = fake.seen.lock().unwrap().last().cloned().unwrap();
        assert_eq!(seen, format!("execute \"pwd\" in \"{expected}\""));
    }
}

/// A command in an absolute directory and a file at an absolute path go without asking the
/// daemon for the home first: `status` probes every teammate that way, one request each.
#[tokio::test]
async fn absolute_paths_send_no_home_request() {
    let (fake, provider) = start(Fake {
        home: Some("/home/tester"),
        ..Fake::default()
    })
    .await;
    let homes = |fake: &Fake| {
        let seen = fake.seen.lock().unwrap();
        seen.iter()
            .filter(|line| *line == "GET user-home-dir")
            .count()
    };
    let exec_in = |cwd: Option<&str>| ExecRequest {
        command: "pwd".to_string(),
        cwd: cwd.map(str::to_string),
        ..ExecRequest::default()
    };
    provider
        .exec("new", &exec_in(Some("/")))
        .await
        .expect("exec");
    provider
        .upload("new", "/etc/c.txt", b"c")
        .await
        .expect("upload");
    assert_eq!(homes(&fake), 0, "{:?}", fake.seen.lock().unwrap());

    // A relative path needs the home: asked once, then remembered.
    provider.exec("new", &exec_in(None)).await.expect("exec");
    provider
        .exec("new", &exec_in(Some("work")))
        .await
        .expect("exec");
    assert_eq!(homes(&fake), 1, "{:?}", fake.seen.lock().unwrap());
}

#[tokio::test]
async fn a_create_whose_answer_is_lost_adopts_by_name_and_is_never_repeated_without_one() {
    let (fake, provider) = start(Fake {
        create_fails: true,
        ..Fake::default()
    })
    .await;
    let posts = |fake: &Fake| {
        let seen = fake.seen.lock().unwrap();
        seen.iter()
            .filter(|line| line.starts_with("POST /sandbox "))
            .count()
    };

    // `b` is listed with the request's labels: it is the sandbox the lost create made.
    let named = CreateSandbox {
        name: "b".to_string(),
        labels: team(),
        ..CreateSandbox::default()
    };
    let adopted = provider.create(&named).await.expect("adopted");
    assert_eq!((adopted.id.as_str(), posts(&fake)), ("b", 1));

    // No such sandbox listed: the create is sent again, looking for the sandbox before each
    // further attempt, as often as the retry policy allows; then the server's error.
    let missing = CreateSandbox {
        name: "z".to_string(),
        labels: team(),
        ..CreateSandbox::default()
    };
    match provider.create(&missing).await {
        Err(
            error @ ProviderError::Api {
                status: Some(503), ..
            },
        ) => {
            assert!(error.to_string().contains("upstream timed out"), "{error}");
        }
        other => panic!("expected the 503, got {other:?}"),
    }
    let attempts = provider.settings().retry.attempts as usize;
    assert_eq!(posts(&fake), 1 + attempts);
    let lists = fake
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|line| line.starts_with("GET /sandbox {"))
        .count();
    assert!(
        lists >= attempts,
        "a look before every further create: {lists}"
    );

    // Without a name nothing could tell a duplicate apart: no second create.
    let unnamed = CreateSandbox {
        labels: team(),
        ..CreateSandbox::default()
    };
    assert!(provider.create(&unnamed).await.is_err());
    assert_eq!(posts(&fake), 2 + attempts);
}
