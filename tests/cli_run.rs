//! `ralph-town run`: a disposable sandbox, a clone, a command, its exit code, and the sandbox
//! gone afterwards: on `local`, and on `serve` through the `daytona` provider.

use crate::common;
use crate::serve_support;

use std::time::{Duration, Instant};

use common::{Run, SENTINEL, World, have};
use serde_json::Value;

fn json(run: &Run) -> Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|error| panic!("not JSON ({error}):\n{}", run.stdout))
}

#[test]
fn run_clones_the_branch_runs_the_command_and_deletes_the_sandbox() {
    if !have("git") {
        return;
    }
    let world = World::new();
    let origin = world.origin(&["feature"]);
    let origin = origin.to_str().unwrap();
    let run = world
        .run(&[
            "run",
            "--repo",
            origin,
            "--branch",
            "feature",
            "--",
            "sh",
            "-c",
            "cat branch.txt; git branch --show-current; exit 3",
        ])
        .code(3);
    assert_eq!(run.stdout, "featurefeature\n");
    assert!(run.stderr.contains("deleted sandbox"), "{run:?}");
    assert!(world.sandbox_dirs().is_empty());

    let report = json(
        &world
            .run(&[
                "run",
                "--json",
                "--repo",
                origin,
                "--cwd",
                ".",
                "--",
                "cat README.md",
            ])
            .success(),
    );
    assert_eq!(report["output"], "origin\n");
    assert_eq!(report["exit_code"], 0);
    assert_eq!(report["repo"], origin);
    assert_eq!(report["branch"], Value::Null);
    assert_eq!(report["timed_out"], false);
    assert_eq!(report["kept"], false);
    assert_eq!(report["deleted"], true);
    assert_eq!(report["cleanup_error"], Value::Null);
    assert!(report["duration_ms"].is_u64() && report["sandbox_id"].is_string());
    assert!(world.sandbox_dirs().is_empty());
    world.assert_host_git_untouched();
}

#[test]
fn a_failing_command_or_clone_still_deletes_the_sandbox() {
    let world = World::new();
    world.run(&["run", "--", "false"]).code(1);
    assert!(world.sandbox_dirs().is_empty());
    let missing = world.path().join("no-such-repo");
    let run = world
        .run(&["run", "--repo", missing.to_str().unwrap(), "--", "true"])
        .code(1);
    assert!(run.stderr.contains("cannot clone"), "{run:?}");
    assert!(world.sandbox_dirs().is_empty());
    let run = world
        .run(&["run", "--timeout", "1", "--", "sleep", "30"])
        .code(124);
    assert!(run.stderr.contains("did not finish"), "{run:?}");
    assert!(world.sandbox_dirs().is_empty());
}

#[test]
fn keep_keeps_the_sandbox() {
    let world = World::new();
    let report = json(
        &world
            .run(&["run", "--keep", "--json", "--", "echo kept > here.txt"])
            .success(),
    );
    assert_eq!(report["kept"], true);
    assert_eq!(report["deleted"], false);
    let id = report["sandbox_id"].as_str().unwrap();
    let run = world
        .run(&["sandbox", "exec", id, "cat here.txt"])
        .success();
    assert_eq!(run.stdout, "kept\n");
    world.run(&["sandbox", "delete", id]).success();
}

#[test]
fn env_values_reach_the_command_but_are_never_reported() {
    let world = World::new();
    let check = format!("test \"$API_TOKEN\" = '{SENTINEL}' && echo \"$URL\"");
    let env = format!("API_TOKEN={SENTINEL}");
    let run = world
        .run(&[
            "run",
            "--env",
            &env,
            "--env",
            "URL=https://x/?a=b,c",
            "--",
            &check,
        ])
        .success();
    assert_eq!(run.stdout, "https://x/?a=b,c\n");
    let run = world
        .run(&[
            "run",
            "--json",
            "--env",
            &env,
            "--",
            "test -n \"$API_TOKEN\"",
        ])
        .success();
    assert!(!run.all().contains(SENTINEL), "{run:?}");
}

#[test]
fn a_repository_url_with_a_credential_is_refused() {
    let world = World::new();
    let url = format!("https://user:{SENTINEL}@example.com/acme/app.git");
    let run = world.run(&["run", "--repo", &url, "--", "true"]).code(2);
    assert!(!run.all().contains(SENTINEL), "{run:?}");
    assert!(world.sandbox_dirs().is_empty());
}

#[test]
fn an_interrupted_run_deletes_its_sandbox() {
    let world = World::new();
    let child = world
        .command(&["run", "--", "sleep", "60"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while world.sandbox_dirs().is_empty() {
        assert!(Instant::now() < deadline, "the sandbox never appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The command runs once its process is registered.
    let running = |dir: &std::path::Path| {
        std::fs::read_dir(dir.join("run")).is_ok_and(|mut entries| entries.next().is_some())
    };
    while !world.sandbox_dirs().iter().any(|dir| running(dir)) {
        assert!(Instant::now() < deadline, "the command never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let run = Run::from(child.wait_with_output().unwrap()).code(130);
    assert!(run.stderr.contains("deleted"), "{run:?}");
    assert!(world.sandbox_dirs().is_empty());
}

/// Runs the binary against `server` with the `daytona` provider.
async fn against(world: &World, server: &serve_support::Server, args: &[&str]) -> Run {
    let mut command = world.command(args);
    command
        .env("RALPH_TOWN_PROVIDER", "daytona")
        .env("DAYTONA_API_URL", &server.api_url)
        .env("DAYTONA_API_KEY", serve_support::KEY);
    Run::from(
        tokio::process::Command::from(command)
            .output()
            .await
            .expect("run ralph-town"),
    )
}

async fn live_sandboxes(server: &serve_support::Server) -> Vec<Value> {
    let reply = server.get("/api/sandbox").await;
    reply.body["items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_on_daytona_clones_runs_and_deletes() {
    if !have("git") {
        return;
    }
    let world = World::new();
    let origin = world.origin(&["feature"]);
    let server = serve_support::start_with(serve_support::Options {
        read_only_paths: vec![origin.clone()],
        ..Default::default()
    })
    .await;
    let origin = origin.to_str().unwrap();
    let run = against(
        &world,
        &server,
        &[
            "run",
            "--json",
            "--repo",
            origin,
            "--branch",
            "feature",
            "--",
            "cat branch.txt; exit 5",
        ],
    )
    .await
    .code(5);
    let report = json(&run);
    assert_eq!(report["output"], "feature");
    assert_eq!(report["deleted"], true);
    assert!(live_sandboxes(&server).await.is_empty());

    let run = against(
        &world,
        &server,
        &["run", "--repo", "/no/such/repo", "--", "true"],
    )
    .await
    .code(1);
    assert!(run.stderr.contains("cannot clone"), "{run:?}");
    assert!(live_sandboxes(&server).await.is_empty());

    let report = json(
        &against(&world, &server, &["run", "--keep", "--json", "--", "true"])
            .await
            .success(),
    );
    let live = live_sandboxes(&server).await;
    assert_eq!(live.len(), 1);
    assert_eq!(live[0]["id"], report["sandbox_id"]);
    assert_eq!(live[0]["labels"]["ralph-town/purpose"], "run");
    server.shutdown().await;
}
