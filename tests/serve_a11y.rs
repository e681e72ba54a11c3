//! The accessibility routes of computer use (`/toolbox/{id}/computeruse/a11y/...`) against an
//! in-process `serve`: the official Python SDK starts computer use, runs a real GTK 3 window in
//! the sandbox and reads, finds, sets, clicks and focuses its nodes through the real AT-SPI
//! buses (`tests/sdk/a11y_test.py`, which also checks on the host that stop and delete leave
//! none of the buses' processes); the TypeScript SDK reads the same window's tree and clicks
//! its button (`tests/sdk-ts/a11y_test.mjs`); and raw HTTP checks every answer of the routes,
//! errors included, against the toolbox spec through the recording proxy.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common;
use crate::serve_openapi::{Client, assert_contract, recording};
use crate::serve_sdk_ts::sdk_node;
use crate::serve_support::{self, run_node_script, run_python_script, sdk_python};

/// The display, the buses, and a toolkit that speaks AT-SPI for the window under test.
pub(crate) fn have_a11y_tools() -> bool {
    let programs = ["Xvfb", "dbus-daemon", "python3"]
        .iter()
        .all(|tool| common::have(tool));
    let launcher = [
        "/usr/libexec/at-spi-bus-launcher",
        "/usr/lib/at-spi2-core/at-spi-bus-launcher",
    ]
    .iter()
    .any(|path| std::path::Path::new(path).is_file());
    if !launcher {
        common::skip("`at-spi-bus-launcher` (the `at-spi2-core` package)");
        return false;
    }
    let gtk = std::process::Command::new("/usr/bin/python3")
        .args([
            "-c",
            "import gi; gi.require_version('Gtk', '3.0'); from gi.repository import Gtk, Gio",
        ])
        .output()
        .is_ok_and(|output| output.status.success());
    if !gtk {
        common::skip("GTK 3 for Python (the `python3-gi` and `gir1.2-gtk-3.0` packages)");
        return false;
    }
    programs
}

#[tokio::test(flavor = "multi_thread")]
async fn the_official_python_sdk_reads_and_drives_a_real_gtk_window() {
    let Some(python) = sdk_python(&["daytona"]).await else {
        return;
    };
    if !have_a11y_tools() {
        return;
    }
    let server = serve_support::start("").await;
    run_python_script(&python, "a11y_test.py", &server, &[], "a11y: done").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_official_typescript_sdk_reads_the_tree_and_clicks_a_button() {
    let Some(folder) = sdk_node() else {
        return;
    };
    if !have_a11y_tools() {
        return;
    }
    let server = serve_support::start("").await;
    run_node_script(&folder, "a11y_test.mjs", &server, &[], "sdk-ts-a11y: done").await;
}

/// The id of the first node `find` answers for `request` once the window shows it.
async fn node_when_shown(client: &Client, toolbox: &str, request: Value) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let found = client
            .ok(
                "POST",
                &format!("{toolbox}/find"),
                Some(request.clone()),
                200,
            )
            .await;
        if let Some(id) = found["matches"][0]["id"].as_str() {
            return id.to_string();
        }
        assert!(Instant::now() < deadline, "never found {request}: {found}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accessibility_answers_keep_the_toolbox_contract() {
    let Some((python, harness, client)) = recording().await else {
        return;
    };
    if !have_a11y_tools() {
        return;
    }
    let id = client.started(json!({})).await;
    let computer_use = format!("/toolbox/{id}/computeruse");
    let toolbox = format!("{computer_use}/a11y");
    client
        .ok("GET", &format!("{toolbox}/tree"), None, 400)
        .await;
    client
        .ok("POST", &format!("{computer_use}/start"), None, 200)
        .await;
    let window = include_str!("sdk/a11y_window.py");
    client
        .exec(&id, &format!("cat >probe.py <<'EOF'\n{window}\nEOF"))
        .await;
    let session = format!("/toolbox/{id}/process/session");
    client
        .ok("POST", &session, Some(json!({"sessionId": "desktop"})), 201)
        .await;
    let run = json!({"command": "python3 probe.py", "runAsync": true});
    client
        .ok("POST", &format!("{session}/desktop/exec"), Some(run), 202)
        .await;
    let button = node_when_shown(
        &client,
        &toolbox,
        json!({"scope": "all", "role": "push button", "name": "Press me"}),
    )
    .await;
    let entry = node_when_shown(
        &client,
        &toolbox,
        json!({"role": "text", "nameMatch": "exact", "name": "Your name", "limit": 1}),
    )
    .await;
    let unknown = format!("{}/999999", button.rsplit_once('/').unwrap().0);
    for (method, path, body, status) in [
        ("GET", "tree", None, 200),
        ("GET", "tree?scope=all&maxDepth=2", None, 200),
        ("GET", "tree?scope=focused&maxDepth=0", None, 200),
        ("GET", "tree?scope=pid&pid=999999", None, 404),
        ("GET", "tree?scope=pid", None, 400),
        ("GET", "tree?scope=nearby", None, 400),
        ("POST", "find", Some(json!({"states": ["focusable"]})), 200),
        ("POST", "find", Some(json!({"nameMatch": "fuzzy"})), 400),
        ("POST", "node/focus", Some(json!({ "id": entry })), 200),
        (
            "POST",
            "node/value",
            Some(json!({ "id": entry, "value": "typed" })),
            200,
        ),
        ("POST", "node/invoke", Some(json!({ "id": button })), 200),
        (
            "POST",
            "node/invoke",
            Some(json!({ "id": button, "action": "click" })),
            200,
        ),
        (
            "POST",
            "node/invoke",
            Some(json!({ "id": button, "action": "dance" })),
            400,
        ),
        ("POST", "node/focus", Some(json!({ "id": unknown })), 404),
        ("POST", "node/focus", Some(json!({"id": "no-path"})), 400),
    ] {
        client
            .ok(method, &format!("{toolbox}/{path}"), body, status)
            .await;
    }
    client
        .ok("POST", &format!("{computer_use}/stop"), None, 200)
        .await;
    client
        .ok("DELETE", &format!("/api/sandbox/{id}"), None, 200)
        .await;
    assert_contract(&python, &harness).await;
}

/// A program whose main loop hangs answers no accessibility call. A walk over every program
/// used to fail whole, with 500 "Timeout was reached"; now the hung program costs one call's
/// timeout and is left out, and every other program's nodes are found.
#[tokio::test(flavor = "multi_thread")]
async fn a_hung_program_is_left_out_of_a_walk_over_every_program() {
    if !have_a11y_tools() {
        return;
    }
    let server = serve_support::start("").await;
    let id = server.create(json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let computer_use = format!("/toolbox/{id}/computeruse");
    let started = server
        .post(&format!("{computer_use}/start"), json!({}))
        .await;
    assert_eq!(started.status, 200, "{:?}", started.body);
    let window = include_str!("sdk/a11y_window.py");
    let written = server
        .exec(&id, &format!("cat >probe.py <<'EOF'\n{window}\nEOF"))
        .await;
    assert_eq!(written.body["exitCode"], 0, "{:?}", written.body);
    let session = format!("/toolbox/{id}/process/session");
    for (name, command) in [
        ("hung", "python3 probe.py --hang"),
        ("answering", "python3 probe.py"),
    ] {
        let made = server.post(&session, json!({ "sessionId": name })).await;
        assert!(made.status < 300, "{:?}", made.body);
        let run = json!({ "command": command, "runAsync": true });
        let ran = server.post(&format!("{session}/{name}/exec"), run).await;
        assert!(ran.status < 300, "{:?}", ran.body);
    }
    let find = format!("{computer_use}/a11y/find");
    let buttons = json!({"scope": "all", "role": "push button"});
    let deadline = Instant::now() + Duration::from_secs(120);
    let names = loop {
        let found = server.post(&find, buttons.clone()).await;
        assert_eq!(found.status, 200, "{:?}", found.body);
        let names: Vec<String> = found.body["matches"]
            .as_array()
            .unwrap()
            .iter()
            .map(|node| node["name"].as_str().unwrap_or_default().to_string())
            .collect();
        let hung_left_out = !names.iter().any(|name| name == "Hung button");
        if names.iter().any(|name| name == "Press me") && hung_left_out {
            break names;
        }
        assert!(
            Instant::now() < deadline,
            "never found only `Press me`: {names:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(names, ["Press me"]);
    let deleted = server.delete(&format!("/api/sandbox/{id}")).await;
    assert!(deleted.status < 300, "{:?}", deleted.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_requests_are_refused_before_the_sandbox_is_asked() {
    let server = serve_support::start("").await;
    let sandbox = server.create(json!({})).await;
    let id = sandbox["id"].as_str().unwrap();
    let toolbox = format!("/toolbox/{id}/computeruse/a11y");
    let reply = server.get(&format!("{toolbox}/tree?maxDepth=deep")).await;
    let message = reply.daemon_error(400, "BAD_REQUEST");
    assert!(
        message.contains("`maxDepth` must be an integer"),
        "{message}"
    );
    for route in ["node/focus", "node/invoke", "node/value"] {
        let reply = server
            .post(&format!("{toolbox}/{route}"), json!({"value": "x"}))
            .await;
        let message = reply.daemon_error(400, "BAD_REQUEST");
        assert!(message.contains("`id` is required"), "{route}: {message}");
    }
    let reply = server
        .post(&format!("{toolbox}/find"), json!({"limit": "many"}))
        .await;
    let message = reply.daemon_error(400, "BAD_REQUEST");
    assert!(message.contains("invalid JSON body"), "{message}");
    // A well-formed request reaches the sandbox, where the display is not started.
    let reply = server.get(&format!("{toolbox}/tree")).await;
    let message = reply.daemon_error(400, "BAD_REQUEST");
    assert!(message.contains("computer use is not started"), "{message}");
}
