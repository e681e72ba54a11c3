//! Kills of `serve` at the two moments a random kill rarely hits, set up by hand: a delete
//! killed after its sandbox was renamed into `trash/` (its processes still running), and a
//! snapshot whose kept files outlived its record. The restart must finish the one and free
//! the other's name. Needs bubblewrap, as `serve_crash` does.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common;
use crate::serve_crash::{Checker, leftovers, running_sandboxes, start_checked};

/// Starts a sandbox with a command left running in it, and waits until its cgroup holds it.
async fn sandbox_with_a_running_command(checker: &Checker, world: &Path) -> String {
    let (status, made) = checker
        .post("/sandbox", json!({ "name": "busy", "autoStopInterval": 0 }))
        .await;
    assert_eq!(status, 200, "{made}");
    let id = made["id"].as_str().unwrap().to_string();
    checker.wait_state(&id, "started").await;
    let session = format!("/toolbox/{id}/process/session");
    checker.post(&session, json!({ "sessionId": "s" })).await;
    let run = json!({ "command": "sleep 600", "runAsync": true });
    let (status, body) = checker.post(&format!("{session}/s/exec"), run).await;
    assert!(status < 300, "{body}");
    let deadline = Instant::now() + Duration::from_secs(15);
    while !running_sandboxes(world).contains(&id) {
        assert!(Instant::now() < deadline, "the command of {id} never ran");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    id
}

/// A delete killed right after it moved the sandbox to `trash/` (its one rename) and before it
/// ended the sandbox's processes: the restart ends them and removes what is left.
#[tokio::test(flavor = "multi_thread")]
async fn a_delete_killed_midway_is_finished_at_the_restart() {
    if !common::have("bwrap") {
        return;
    }
    let world = tempfile::tempdir().unwrap();
    let (mut serve, checker) = start_checked(world.path()).await;
    let id = sandbox_with_a_running_command(&checker, world.path()).await;
    serve.child.start_kill().unwrap();
    serve.child.wait().await.unwrap();
    let state = world.path().join("state");
    std::fs::rename(
        state.join("sandboxes").join(&id),
        state.join("trash").join(format!("{id}-0badf00d")),
    )
    .unwrap();

    let (_serve, checker) = start_checked(world.path()).await;
    let (status, _) = checker
        .call(reqwest::Method::GET, &format!("/sandbox/{id}"), None)
        .await;
    assert_eq!(status, 404);
    let left = leftovers(world.path()).await;
    assert!(left.is_empty(), "left behind: {left:#?}");
    let trash = std::fs::read_dir(state.join("trash")).unwrap().count();
    assert_eq!(trash, 0, "the trashed sandbox stays");
}

/// A snapshot delete killed between forgetting the record and removing the kept files (or a
/// create killed between keeping them and recording it): the name is free again after the
/// restart, and taking it makes one snapshot.
#[tokio::test(flavor = "multi_thread")]
async fn a_snapshot_name_is_free_again_after_a_kill_between_its_files_and_its_record() {
    if !common::have("bwrap") {
        return;
    }
    let world = tempfile::tempdir().unwrap();
    let (mut serve, checker) = start_checked(world.path()).await;
    let (status, made) = checker
        .post(
            "/sandbox",
            json!({ "name": "source", "autoStopInterval": 0 }),
        )
        .await;
    assert_eq!(status, 200, "{made}");
    let id = made["id"].as_str().unwrap().to_string();
    checker.wait_state(&id, "started").await;
    let snapshot = json!({ "name": "kept" });
    let path = format!("/sandbox/{id}/snapshot");
    let (status, body) = checker.post(&path, snapshot.clone()).await;
    assert_eq!(status, 200, "{body}");
    checker.wait_state(&id, "started").await;
    serve.child.start_kill().unwrap();
    serve.child.wait().await.unwrap();
    let records_path = world.path().join("state").join("serve.json");
    let mut records: Value =
        serde_json::from_slice(&std::fs::read(&records_path).unwrap()).unwrap();
    records["snapshots"] = json!([]);
    std::fs::write(&records_path, serde_json::to_vec(&records).unwrap()).unwrap();

    let (_serve, checker) = start_checked(world.path()).await;
    let (status, body) = checker.post(&path, snapshot.clone()).await;
    assert_eq!(status, 200, "the name stays taken: {body}");
    checker.wait_state(&id, "started").await;
    let listed = checker.get("/snapshots?name=kept").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "{listed}");
    let (status, body) = checker.post(&path, snapshot).await;
    assert_eq!(status, 409, "taken twice: {body}");
}

/// The records file as a killed run left it.
fn records(world: &Path) -> Value {
    let path = world.join("state").join("serve.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn write_records(world: &Path, records: &Value) {
    let path = world.join("state").join("serve.json");
    std::fs::write(path, serde_json::to_vec(records).unwrap()).unwrap();
}

/// Creates sandbox `name` and waits until it runs.
async fn started(checker: &Checker, name: &str) -> String {
    let (status, made) = checker.post("/sandbox", json!({ "name": name })).await;
    assert_eq!(status, 200, "{made}");
    let id = made["id"].as_str().unwrap().to_string();
    checker.wait_state(&id, "started").await;
    id
}

/// A delete killed after the provider removed the sandbox and before `serve` forgot its
/// record: the restart forgets the record, and only that one.
#[tokio::test(flavor = "multi_thread")]
async fn a_record_whose_sandbox_is_gone_is_forgotten_at_the_restart() {
    if !common::have("bwrap") {
        return;
    }
    let world = tempfile::tempdir().unwrap();
    let (mut serve, checker) = start_checked(world.path()).await;
    let kept = started(&checker, "kept").await;
    let gone = started(&checker, "gone").await;
    let (status, body) = checker
        .post(&format!("/sandbox/{gone}/stop"), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    checker.wait_state(&gone, "stopped").await;
    serve.child.start_kill().unwrap();
    serve.child.wait().await.unwrap();
    let before = records(world.path());
    assert!(before["sandboxes"].get(&gone).is_some(), "{before}");
    // The provider's delete of a stopped sandbox: its directory goes, the record stays.
    let state = world.path().join("state");
    std::fs::remove_dir_all(state.join("sandboxes").join(&gone)).unwrap();

    let (serve, checker) = start_checked(world.path()).await;
    let said = serve.said.join("\n");
    assert!(
        said.contains("forgot 1 record(s) of sandbox(es) a previous run deleted midway"),
        "{said}"
    );
    let after = records(world.path());
    let ids: Vec<&String> = after["sandboxes"].as_object().unwrap().keys().collect();
    assert_eq!(ids, [&kept], "{after}");
    assert_eq!(after["organization_id"], before["organization_id"]);
    assert_eq!(after["sandboxes"][&kept], before["sandboxes"][&kept]);
    checker.wait_state(&kept, "started").await;
}

/// A volume delete killed after marking the volume deleted and before removing its files (and
/// files no record names at all): the restart removes them, and only them.
#[tokio::test(flavor = "multi_thread")]
async fn the_files_of_a_deleted_volume_are_removed_at_the_restart() {
    if !common::have("bwrap") {
        return;
    }
    let world = tempfile::tempdir().unwrap();
    let (mut serve, checker) = start_checked(world.path()).await;
    let mut ids = Vec::new();
    for name in ["kept", "deleted"] {
        let (status, made) = checker.post("/volumes", json!({ "name": name })).await;
        assert_eq!(status, 200, "{made}");
        ids.push(made["id"].as_str().unwrap().to_string());
    }
    serve.child.start_kill().unwrap();
    serve.child.wait().await.unwrap();
    let mut records_left = records(world.path());
    let deleted = records_left["volumes"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|record| record["dto"]["name"] == "deleted")
        .unwrap();
    deleted["gone_at"] = json!(1);
    write_records(world.path(), &records_left);
    let volumes = world.path().join("state").join("volumes");
    let unrecorded = "0badf00d-0000-4000-8000-000000000000".to_string();
    for id in ids.iter().chain([&unrecorded]) {
        std::fs::create_dir_all(volumes.join(id).join("data")).unwrap();
        std::fs::write(volumes.join(id).join("data").join("file"), id).unwrap();
    }

    let (serve, checker) = start_checked(world.path()).await;
    let said = serve.said.join("\n");
    assert!(
        said.contains("removed the files of 2 volume(s) a previous run deleted midway"),
        "{said}"
    );
    let left: Vec<String> = std::fs::read_dir(&volumes)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, [ids[0].clone()]);
    let kept_file = volumes.join(&ids[0]).join("data").join("file");
    assert_eq!(std::fs::read_to_string(kept_file).unwrap(), ids[0]);
    let trash = std::fs::read_dir(world.path().join("state").join("trash"));
    assert_eq!(trash.unwrap().count(), 0, "the removed files stay in trash");
    let listed = checker.get("/volumes").await;
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|volume| volume["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["kept"], "{listed}");
}
