//! Rows of the README's compatibility table for `serve` that no other module checks: the rest of
//! the platform (organisations, API keys, regions, runners, audit, webhooks) answers Daytona's
//! 404 body; the auto-archive timer really archives a stopped sandbox; and what a command starts
//! in the background outlives it and a restart of `serve`, is seen and ended by its pid from a
//! later command, and ends with a command that times out.

use std::time::Duration;

use serde_json::json;

use crate::serve_support::{Options, Server, start, start_with};

/// The pids a command in sandbox `id` sees running exactly `sleep <argument>`.
async fn sleepers(server: &Server, id: &str, argument: &str) -> Vec<String> {
    let listed = server.exec(id, "ps -eo pid=,args=").await;
    assert_eq!(listed.body["exitCode"], 0, "{:?}", listed.body);
    listed.body["result"]
        .as_str()
        .unwrap()
        .lines()
        .filter_map(|line| {
            let (pid, args) = line.trim().split_once(' ')?;
            (args.trim() == format!("sleep {argument}")).then(|| pid.to_string())
        })
        .collect()
}

/// Polls until no command in sandbox `id` sees `sleep <argument>` (a guard, not a timing).
async fn until_no_sleeper(server: &Server, id: &str, argument: &str) {
    for _ in 0..200 {
        if sleepers(server, id, argument).await.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("`sleep {argument}` never ended in {id}");
}

/// "the rest of the platform | organisations, API keys, regions, runners, audit, webhooks | not
/// possible locally (Daytona's 404 body)".
#[tokio::test(flavor = "multi_thread")]
async fn the_rest_of_the_platform_answers_daytonas_404_body() {
    let server = start("").await;
    for path in [
        "/api/organizations",
        "/api/api-keys",
        "/api/regions",
        "/api/runners",
        "/api/audit",
        "/api/webhooks",
    ] {
        let listed = server.get(path).await.api_error(404);
        assert_eq!(listed, format!("Cannot GET {path}"));
        let made = server.post(path, json!({"name": "x"})).await.api_error(404);
        assert_eq!(made, format!("Cannot POST {path}"));
    }
}

/// "start, stop, labels, timers | ... `/autoarchive` ... | works; timers really stop, archive and
/// delete": a sandbox whose auto-stop and auto-archive timers pass is stopped, then archived,
/// and keeps its files.
#[tokio::test(flavor = "multi_thread")]
async fn the_auto_archive_timer_archives_a_stopped_sandbox() {
    // A lifecycle minute of 100 ms: the timers pass within seconds.
    let server = start("minute=100ms").await;
    let id = server
        .create(json!({"autoStopInterval": 0, "autoArchiveInterval": 1}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(server.exec(&id, "echo kept > note.txt").await.status, 200);
    let kept = server.create(json!({"autoStopInterval": 0})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    server.act(&kept, "stop", "stopped").await;
    // Not `act`: the sandbox may pass `stopped` faster than a poll sees it.
    let stop = server
        .post(&format!("/api/sandbox/{id}/stop"), json!({}))
        .await;
    assert_eq!(stop.status, 200, "{:?}", stop.body);
    let archived = server.wait_state(&id, "archived").await;
    assert_eq!(archived["autoArchiveInterval"], 1, "{archived}");
    // A sandbox whose archive timer is the default (30 days) stays stopped.
    let stopped = server.get(&format!("/api/sandbox/{kept}")).await;
    assert_eq!(stopped.body["state"], "stopped", "{:?}", stopped.body);
    server.act(&id, "start", "started").await;
    let note = server.exec(&id, "cat note.txt").await;
    assert_eq!(note.body["result"], "kept\n", "{:?}", note.body);
}

/// "commands | ... what it started in the background ... keeps running, seen by later commands
/// ... They survive a restart of `serve`, and every command of a sandbox shares its PID
/// namespace, so `ps`, `kill <pid>` ... in a later command sees them", and "a timeout ends it
/// with the command".
#[tokio::test(flavor = "multi_thread")]
async fn a_background_process_outlives_its_command_and_a_restart_and_a_timeout_ends_it() {
    let server = start("").await;
    let id = server.create(json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let argument = "4823.5";
    let started = server
        .exec(&id, &format!("sleep {argument} > /dev/null 2>&1 &"))
        .await;
    assert_eq!(started.body["exitCode"], 0, "{:?}", started.body);
    assert_eq!(sleepers(&server, &id, argument).await.len(), 1);

    let root = server.shutdown().await;
    let server = start_with(Options {
        root: Some(root),
        ..Options::default()
    })
    .await;
    let pids = sleepers(&server, &id, argument).await;
    assert_eq!(pids.len(), 1, "the background sleep outlived the restart");
    let killed = server.exec(&id, &format!("kill {}", pids[0])).await;
    assert_eq!(killed.body["exitCode"], 0, "{:?}", killed.body);
    until_no_sleeper(&server, &id, argument).await;

    // A command that outlives its timeout is a 408, and what it started goes with it.
    let timed_out = server
        .post(
            &format!("/toolbox/{id}/process/execute"),
            json!({"command": format!("sleep {argument} & sleep 60"), "timeout": 1}),
        )
        .await;
    assert_eq!(timed_out.status, 408, "{:?}", timed_out.body);
    until_no_sleeper(&server, &id, argument).await;
}
