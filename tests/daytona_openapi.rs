//! Every request the `daytona` provider sends, and every answer `serve` gives it, keeps
//! Daytona's published contract: the control-plane spec (`tests/openapi/openapi.yaml`) and the
//! toolbox spec (`tests/openapi/toolbox-openapi.yaml`), both v0.190 copies (provenance in
//! `tests/openapi/LICENSE-NOTE.md`). A recording proxy in front of an in-process `serve` keeps
//! what the client sent and what came back during a realistic workload (every provider
//! operation, snapshots, then the conformance suite); `tests/openapi/validate_requests.py`
//! checks each request's operation, parameters and body, and each answer's status and body,
//! against the specs and lists every violation (the documented newer-API differences are listed
//! in the script with their reasons). `serve_openapi` does the same for every other route.
//!
//! The checker needs `pyyaml` and `jsonschema` from the virtual environment that
//! `scripts/sdk-venv.sh` makes (`$RALPH_TOWN_SDK_VENV`, else `target/sdk-venv`). Without it the
//! test skips and says why; with `CI=true` it fails. Nothing here reaches beyond 127.0.0.1.

use crate::conformance;
use crate::daytona_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ralph_town::provider::daytona::{CreateSnapshotRequest, SnapshotSource};
use ralph_town::provider::{
    CreateSandbox, ExecRequest, Labels, Lifecycle, Provider, Resources, SandboxState,
    SessionExecRequest,
};

use crate::common;
use daytona_support::{Harness, Options, Recorded, start, token};

/// One provider call of each kind, with every optional field the provider can send filled in.
async fn workload(harness: &Harness) {
    let provider = harness.provider.as_ref();
    let run = token();

    let snapshot = provider
        .create_snapshot(&CreateSnapshotRequest {
            name: format!("openapi-{run}"),
            source: SnapshotSource::Image("debian:12-slim".to_string()),
            entrypoint: Some(vec!["sleep".to_string(), "infinity".to_string()]),
            resources: Resources {
                cpu: Some(1),
                memory: Some(1),
                disk: Some(3),
            },
        })
        .await
        .expect("snapshot from an image");
    let built = provider
        .create_snapshot(&CreateSnapshotRequest {
            name: format!("openapi-built-{run}"),
            source: SnapshotSource::Dockerfile("FROM debian:12-slim\nENV BUILT=1\n".to_string()),
            entrypoint: None,
            resources: Resources::default(),
        })
        .await
        .expect("snapshot from a Dockerfile");
    provider
        .get_snapshot(&snapshot.name)
        .await
        .expect("snapshot by name");
    provider.list_snapshots().await.expect("snapshot list");

    let labels = Labels::from([("ralph-town-test/run".to_string(), run.clone())]);
    let request = CreateSandbox {
        name: format!("openapi-{run}"),
        labels: labels.clone(),
        env: BTreeMap::from([("PLAIN".to_string(), "plain".to_string())]),
        snapshot: Some(snapshot.name.clone()),
        user: Some("daytona".to_string()),
        lifecycle: Lifecycle {
            auto_stop: Some(30),
            auto_archive: Some(60),
            auto_delete: Some(-1),
        },
        ttl_minutes: Some(120),
        resources: Resources {
            cpu: Some(1),
            memory: Some(1),
            disk: Some(3),
        },
        volumes: Vec::new(),
        hosts: BTreeMap::new(),
        network: ralph_town::provider::Network::Open,
    };
    let sandbox = provider.create(&request).await.expect("create");
    assert_eq!(sandbox.state, SandboxState::Started);
    let listed = provider.list(&labels).await.expect("list by labels");
    assert_eq!(listed.len(), 1);
    provider.get(&sandbox.id).await.expect("get by id");
    provider.get(&sandbox.name).await.expect("get by name");

    let mut more = labels.clone();
    more.insert("ralph-town/setup".to_string(), "ok".to_string());
    provider
        .set_labels(&sandbox.id, &more)
        .await
        .expect("set labels");
    let timers = Lifecycle {
        auto_stop: Some(0),
        auto_archive: Some(10),
        auto_delete: Some(5),
    };
    provider
        .set_lifecycle(&sandbox.id, &timers)
        .await
        .expect("set lifecycle");
    provider.stop(&sandbox.id).await.expect("stop");
    provider.start(&sandbox.id).await.expect("start");

    let exec = ExecRequest {
        command: "pwd; echo \"$ONE\"".to_string(),
        cwd: Some("/tmp".to_string()),
        env: BTreeMap::from([("ONE".to_string(), "1".to_string())]),
        timeout: Some(Duration::from_secs(30)),
        no_ssh_fallback: false,
    };
    let output = provider.exec(&sandbox.id, &exec).await.expect("exec");
    assert_eq!(output.exit_code, 0, "{}", output.output);
    provider
        .upload(&sandbox.id, "dir/file.txt", b"contents")
        .await
        .expect("upload");
    let read = provider
        .download(&sandbox.id, "dir/file.txt")
        .await
        .expect("download");
    assert_eq!(read, b"contents");
    let set = BTreeMap::from([("ADDED".to_string(), "added".to_string())]);
    provider
        .set_env(&sandbox.id, &set, &["PLAIN".to_string()])
        .await
        .expect("set env");

    let access = provider
        .shell_access(&sandbox.id, Some("/tmp"), 5)
        .await
        .expect("shell access");
    provider
        .revoke_shell_access(&sandbox.id, &access)
        .await
        .expect("revoke shell access");

    sessions(provider, &sandbox.id).await;

    provider.delete(&sandbox.id).await.expect("delete");

    provider
        .delete_snapshot(&snapshot.name)
        .await
        .expect("delete snapshot by name");
    provider
        .delete_snapshot(&built.id)
        .await
        .expect("delete snapshot by id");
}

/// Every session call, with every optional field the provider can send.
async fn sessions(provider: &dyn Provider, id: &str) {
    provider
        .create_session(id, "openapi")
        .await
        .expect("create session");
    let sync = SessionExecRequest {
        command: "echo out; echo err >&2".to_string(),
        ..SessionExecRequest::default()
    };
    let output = provider
        .session_exec(id, "openapi", &sync)
        .await
        .expect("session exec");
    assert_eq!(output.logs.stderr(), "err\n");
    let reader = SessionExecRequest {
        command: "read -r line; echo \"$line\"".to_string(),
        run_async: true,
        suppress_input_echo: true,
        command_id: None,
    };
    let reader = provider
        .session_exec(id, "openapi", &reader)
        .await
        .expect("async session exec");
    provider
        .send_session_input(id, "openapi", &reader.command_id, "typed")
        .await
        .expect("session input");
    while provider
        .session_command(id, "openapi", &reader.command_id)
        .await
        .expect("session command")
        .exit_code
        .is_none()
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let logs = provider
        .session_command_logs(id, "openapi", &reader.command_id)
        .await
        .expect("session logs");
    assert_eq!(logs.stdout(), "typed\n");
    // The recording proxy does not carry WebSocket upgrades: the follow request is recorded
    // and checked, what it answers is `tests/sessions.rs`'s business.
    let follow = provider.follow_session_command_logs(id, "openapi", &reader.command_id);
    let _ = tokio::time::timeout(Duration::from_secs(5), follow).await;
    provider
        .get_session(id, "openapi")
        .await
        .expect("get session");
    provider.list_sessions(id).await.expect("list sessions");
    provider
        .delete_session(id, "openapi")
        .await
        .expect("delete session");
}

/// The records as the checker reads them: header names only, never their values.
pub(crate) fn records_json(recorded: &[Recorded]) -> serde_json::Value {
    let records: Vec<serde_json::Value> = recorded
        .iter()
        .map(|request| {
            let content_type = request
                .headers
                .iter()
                .find(|(name, _)| name == "content-type")
                .map(|(_, value)| value.clone());
            let names: Vec<&str> = request
                .headers
                .iter()
                .map(|(name, _)| name.as_str())
                .collect();
            serde_json::json!({
                "method": request.method,
                "target": request.target,
                "content_type": content_type,
                "header_names": names,
                "body_hex": hex::encode(&request.body),
                "response": request.response.as_ref().map(|response| serde_json::json!({
                    "status": response.status,
                    "content_type": response.content_type,
                    "body_hex": hex::encode(&response.body),
                })),
            })
        })
        .map(|mut record| {
            if record["response"].is_null() {
                record.as_object_mut().unwrap().remove("response");
            }
            record
        })
        .collect();
    serde_json::Value::Array(records)
}

/// Runs the checker on `recorded`; its report when every exchange keeps the contract.
pub(crate) async fn check_contract(python: &Path, recorded: &[Recorded]) -> String {
    let directory = tempfile::tempdir().expect("temporary directory");
    let records = directory.path().join("requests.json");
    std::fs::write(&records, records_json(recorded).to_string()).expect("write the records");
    let specs = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/openapi");
    let output = tokio::process::Command::new(python)
        .arg(specs.join("validate_requests.py"))
        .arg(specs.join("openapi.yaml"))
        .arg(specs.join("toolbox-openapi.yaml"))
        .arg(&records)
        .kill_on_drop(true)
        .output()
        .await
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exchanges outside Daytona's OpenAPI contract\n{stdout}{stderr}"
    );
    let answers = recorded
        .iter()
        .filter(|request| request.response.is_some())
        .count();
    for summary in [
        format!("openapi: {} requests, 0 invalid", recorded.len()),
        format!("openapi: {answers} answers, 0 invalid"),
    ] {
        assert!(stdout.contains(&summary), "{stdout}{stderr}");
    }
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_the_provider_sends_and_every_answer_keep_the_daytona_openapi_contract() {
    let Some(python) = tokio::task::spawn_blocking(|| common::sdk_python(&["yaml", "jsonschema"]))
        .await
        .unwrap()
    else {
        return;
    };
    let harness = start(Options {
        record: true,
        ..Options::default()
    })
    .await;
    workload(&harness).await;
    conformance::run_all(harness.provider.clone() as Arc<dyn Provider>).await;

    let recorded = harness.recorded();
    let routes: Vec<String> = recorded
        .iter()
        .map(|request| format!("{} {}", request.method, request.target))
        .collect();
    for expected in [
        "POST /api/snapshots",
        "DELETE /api/snapshots/",
        "POST /api/sandbox",
        "PUT /api/sandbox/",
        "/autostop/",
        "/ssh-access",
        "/process/execute",
        "/files/bulk-upload",
        "/files/download",
        "/env",
        "/process/session",
        "/exec",
        "/input",
        "/logs?follow=true",
    ] {
        assert!(
            routes.iter().any(|route| route.contains(expected)),
            "the workload never sent `{expected}`"
        );
    }

    let report = check_contract(&python, &recorded).await;
    eprint!("{report}");
}
