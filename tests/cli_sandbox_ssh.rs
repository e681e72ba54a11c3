//! The SSH side of `ralph-town sandbox ...` on the `daytona` provider, against `serve` with its
//! SSH gateway and the system OpenSSH client: the exec fallback for Daytona's `-1` defect,
//! preflight over SSH, and `ssh --connect`.

use crate::common;
use crate::serve_support;

use std::io::Write as _;
use std::process::Stdio;

use common::{Run, SENTINEL, World, have};
use serde_json::Value;

/// The server's API key, which the client sends.
const KEY: &str = "dtn_cli_ssh_test_key_0123456789abcdef";

struct Gateway {
    server: serve_support::Server,
}

/// `serve` in-process with its SSH gateway on a free port and `simulation`.
async fn start(simulation: &str) -> Gateway {
    let server = serve_support::start_with(serve_support::Options {
        simulation: simulation.parse().unwrap(),
        api_key: Some(KEY.to_string()),
        ssh: true,
        ..serve_support::Options::default()
    })
    .await;
    Gateway { server }
}

impl Gateway {
    async fn shutdown(self) {
        drop(self.server.shutdown().await);
    }

    async fn get(&self, url: &str) -> Value {
        reqwest::Client::new()
            .get(url)
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn live(&self) -> Vec<Value> {
        let reply = self.get(&format!("{}/sandbox", self.server.api_url)).await;
        reply["items"].as_array().cloned().unwrap_or_default()
    }

    /// Requests served on one route (`METHOD /template`).
    async fn requests(&self, route: &str) -> u64 {
        let stats = self
            .get(&format!("{}/_ralph/stats", self.server.base))
            .await;
        stats["routes"][route]["requests"].as_u64().unwrap_or(0)
    }

    fn command(&self, world: &World, args: &[&str]) -> std::process::Command {
        let mut command = world.command(args);
        // ssh config files are written here, and must be gone afterwards.
        let temporary = world.path().join("tmp");
        std::fs::create_dir_all(&temporary).unwrap();
        command
            .env("TMPDIR", temporary)
            .env("RALPH_TOWN_PROVIDER", "daytona")
            .env("DAYTONA_API_URL", &self.server.api_url)
            .env("DAYTONA_API_KEY", KEY);
        command
    }

    async fn run(&self, world: &World, args: &[&str]) -> Run {
        let command = self.command(world, args);
        Run::from(
            tokio::process::Command::from(command)
                .output()
                .await
                .unwrap(),
        )
    }
}

fn parse(run: &Run) -> Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|error| panic!("not JSON ({error}):\n{}", run.stdout))
}

const REVOKE: &str = "DELETE /api/sandbox/{sandbox}/ssh-access";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_falls_back_to_ssh_on_the_minus_one_defect_and_revokes_the_token() {
    if !have("ssh") {
        return;
    }
    let world = World::new();
    let gateway = start("exec-defect").await;
    let id = gateway
        .run(&world, &["sandbox", "create"])
        .await
        .success()
        .stdout;
    let id = id.trim();

    let revoked = gateway.requests(REVOKE).await;
    let run = gateway
        .run(
            &world,
            &[
                "sandbox",
                "exec",
                id,
                "--",
                "sh",
                "-c",
                "echo out; echo err >&2; exit 3",
            ],
        )
        .await
        .code(3);
    assert_eq!(run.stdout, "out\nerr\n");
    assert!(run.stderr.contains("ran again over SSH"), "{run:?}");
    assert_eq!(gateway.requests(REVOKE).await, revoked + 1);
    let left: Vec<_> = std::fs::read_dir(world.path().join("tmp"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "{left:?}");

    gateway
        .run(&world, &["sandbox", "exec", id, "mkdir -p 'sub dir'"])
        .await
        .success();
    let result = parse(
        &gateway
            .run(
                &world,
                &[
                    "sandbox", "exec", "--json", "--cwd", "sub dir", id, "--", "pwd",
                ],
            )
            .await
            .success(),
    );
    assert_eq!(result["via"], "ssh");
    assert!(
        result["output"]
            .as_str()
            .unwrap()
            .trim_end()
            .ends_with("/sub dir"),
        "{result}"
    );

    // A command's environment travels in the script on stdin, and is never reported.
    let env = format!("API_TOKEN={SENTINEL}");
    // The check spells the value in two pieces: the command itself is part of the report.
    let (head, tail) = SENTINEL.split_at(SENTINEL.len() / 2);
    let check = format!("test \"$API_TOKEN\" = '{head}''{tail}' && echo matched");
    let run = gateway
        .run(&world, &["run", "--json", "--env", &env, "--", &check])
        .await
        .success();
    let report = parse(&run);
    assert_eq!(report["output"], "matched\n");
    assert_eq!(report["deleted"], true);
    assert!(!run.all().contains(SENTINEL), "{run:?}");

    // `env list` works on such a sandbox too (over SSH), redacted.
    gateway
        .run(
            &world,
            &[
                "sandbox",
                "env",
                "set",
                id,
                &format!("MY_SECRET={SENTINEL}"),
            ],
        )
        .await
        .success();
    let run = gateway
        .run(&world, &["sandbox", "env", "list", id])
        .await
        .success();
    assert!(run.stdout.contains("MY_SECRET=<redacted>"), "{run:?}");
    assert!(!run.all().contains(SENTINEL), "{run:?}");
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_falls_back_to_ssh_on_the_exec_defect_and_always_deletes_its_sandbox() {
    if !have("ssh") {
        return;
    }
    let world = World::new();
    // Every toolbox exec answers Daytona's `-1`: the checks must go over SSH.
    let gateway = start("exec-defect=1").await;
    // The default recipe needs a network to build; a snapshot of its name from an image (which
    // `serve` records without building) is what preflight checks here.
    let created = reqwest::Client::new()
        .post(format!("{}/snapshots", gateway.server.api_url))
        .bearer_auth(KEY)
        .json(&serde_json::json!({"name": "ralph-town-dev", "imageName": "debian:12"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 200);
    let revoked = gateway.requests(REVOKE).await;
    let report = parse(
        &gateway
            .run(
                &world,
                &[
                    "sandbox",
                    "preflight",
                    "--json",
                    "--tool",
                    "/bin/sh",
                    "--tool",
                    "/usr/bin/env",
                ],
            )
            .await
            .success(),
    );
    assert_eq!(report["checked_via"], "ssh");
    assert_eq!(report["passed"], true);
    assert_eq!(report["snapshot"], "ralph-town-dev");
    assert_eq!(report["deleted"], true);
    assert_eq!(gateway.requests(REVOKE).await, revoked + 1);
    assert!(gateway.live().await.is_empty());

    let run = gateway
        .run(
            &world,
            &[
                "sandbox",
                "preflight",
                "--tool",
                "/bin/sh",
                "--tool",
                "/nonexistent/bun",
            ],
        )
        .await
        .code(1);
    assert!(run.stdout.contains("ok      /bin/sh"), "{run:?}");
    assert!(run.stdout.contains("MISSING /nonexistent/bun"), "{run:?}");
    assert!(run.stdout.contains("Preflight failed"), "{run:?}");
    assert!(gateway.live().await.is_empty());
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_connect_opens_a_session_that_sees_env_set() {
    if !have("ssh") {
        return;
    }
    let world = World::new();
    let gateway = start("").await;
    let id = gateway
        .run(&world, &["sandbox", "create"])
        .await
        .success()
        .stdout;
    let id = id.trim().to_string();
    gateway
        .run(
            &world,
            &["sandbox", "env", "set", &id, "FROM_ENV_SET=visible"],
        )
        .await
        .success();
    let mut command = gateway.command(&world, &["sandbox", "ssh", "--connect", &id]);
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let run = tokio::task::spawn_blocking(move || {
        let mut child = command.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"echo \"inside:$FROM_ENV_SET\"\nexit 6\n")
            .unwrap();
        Run::from(child.wait_with_output().unwrap())
    })
    .await
    .unwrap()
    .code(6);
    assert!(run.stdout.contains("inside:visible"), "{run:?}");
    gateway.shutdown().await;
}
