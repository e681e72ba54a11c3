//! Claims of the README's first sections that no other module checks, each through the real
//! binary on the `local` provider with a real git origin: `wait` and `up --wait` exit 124 at
//! their timeout, the runner's back-off doubles after each failure, `--only` touches only the
//! teammates it names, and `ssh --print` shows a command that opens the shell where `ssh`
//! does, in the teammate's workdir.

use std::process::Stdio;

use serde_json::Value;

use crate::common::World;
use crate::work::workers;

/// The teammates `status --json` shows with a sandbox.
fn staffed(world: &World) -> Vec<String> {
    let run = world.run(&["status", "--json"]).success();
    let rows: Value = serde_json::from_str(&run.stdout).unwrap();
    rows.as_array()
        .unwrap()
        .iter()
        .filter(|row| !row["sandbox_id"].is_null())
        .map(|row| row["teammate"].as_str().unwrap().to_string())
        .collect()
}

/// "`wait` ... 124 after `--timeout S`" and "`up --wait [--wait-timeout S]`": a command that
/// is still running when the timeout passes makes both exit 124, and it runs on.
#[test]
fn wait_and_up_wait_exit_124_when_the_commands_outlast_the_timeout() {
    let Some(world) = workers(
        "command = \"sleep 600\"\n\n[[teammate]]\nname = \"alice\"\nbranch = \"feature/alice\"\n",
    ) else {
        return;
    };
    let up = world
        .run(&["up", "--wait", "--wait-timeout", "1", "--progress", "none"])
        .code(124);
    assert!(staffed(&world) == ["alice"], "{}", up.all());
    let waited = world.run(&["wait", "--timeout", "1"]).code(124);
    assert!(waited.all().contains("alice"), "{}", waited.all());
    let json = world.run(&["wait", "--timeout", "1", "--json"]).code(124);
    let json: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(json["ok"], false, "{json}");
    // The timeout ends the waiting, not the command.
    let status = world.run(&["status", "--json"]).success();
    let rows: Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(rows[0]["command"]["state"], "running", "{rows}");
    world.run(&["down", "--force"]).success();
}

/// "backs off after a failure (1 s, doubling up to 30 s) and stops at `max_runs`": the runner
/// says how long it waits, and the second pause is twice the first.
#[test]
fn the_runner_backs_off_doubling_after_each_failure_and_stops_at_max_runs() {
    let Some(world) = workers(
        "command = \"exit 3\"\nrestart = \"on-failure\"\nmax_runs = 3\n\n\
         [[teammate]]\nname = \"alice\"\nbranch = \"feature/alice\"\n",
    ) else {
        return;
    };
    world.run(&["up", "--progress", "none"]).success();
    let waited = world.run(&["wait", "--timeout", "120"]).code(1);
    assert!(waited.stdout.contains("failed 3"), "{}", waited.all());
    let logs = world.run(&["logs"]).success().stdout;
    let pauses: Vec<&str> = logs
        .lines()
        .filter_map(|line| line.split("ralph-town: restarting in ").nth(1))
        .collect();
    assert_eq!(pauses, ["1s", "2s"], "{logs}");
    assert_eq!(
        logs.matches("exited with 3").count(),
        3,
        "three runs, then max_runs ends the loop:\n{logs}"
    );
    let status = world.run(&["status"]).success();
    assert!(status.stdout.contains("failed 3"), "{}", status.stdout);
    world.run(&["down", "--force"]).success();
}

/// "`plan` ... `--only`" and "`up` ... `--only NAME`": only the named teammate is planned and
/// created; the others are left for a later `up`.
#[test]
fn only_plans_and_creates_just_the_named_teammates() {
    let Some(world) = workers(
        "\n[[teammate]]\nname = \"alice\"\nbranch = \"feature/alice\"\n\n\
         [[teammate]]\nname = \"bob\"\nbranch = \"feature/bob\"\n",
    ) else {
        return;
    };
    let plan = world.run(&["plan", "--only", "alice"]).success();
    assert!(plan.stdout.contains("alice"), "{}", plan.stdout);
    assert!(!plan.stdout.contains("bob"), "{}", plan.stdout);
    assert!(
        plan.stdout.contains("Plan: 1 to create."),
        "{}",
        plan.stdout
    );
    world
        .run(&["up", "--only", "alice", "--progress", "none"])
        .success();
    assert_eq!(staffed(&world), ["alice"]);
    world.run(&["up", "--progress", "none"]).success();
    assert_eq!(staffed(&world), ["alice", "bob"]);
    world.run(&["down"]).success();
    assert!(staffed(&world).is_empty());
}

/// "`ssh TEAMMATE` | open a shell in the teammate's sandbox; `--print` shows the command", and
/// "`exec` and `ssh` start there" (the workdir): the printed command opens the same shell.
#[test]
fn ssh_print_shows_a_command_that_opens_the_shell_in_the_workdir() {
    let Some(world) = workers(
        "workdir = \"src/app\"\n\n[[teammate]]\nname = \"alice\"\nbranch = \"feature/alice\"\n",
    ) else {
        return;
    };
    world.run(&["up", "--progress", "none"]).success();
    let direct = world.run_input(&["ssh", "alice"], "pwd\n").success();
    assert_eq!(
        direct.stdout.trim(),
        "/home/daytona/src/app",
        "{}",
        direct.all()
    );

    let printed = world.run(&["ssh", "alice", "--print"]).success();
    let words = shlex::split(printed.stdout.trim()).expect("a shell command");
    assert_eq!(words[0], "ralph-town", "{}", printed.stdout);
    let mut command = world.command(&words[1..].iter().map(String::as_str).collect::<Vec<_>>());
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(b"pwd; git branch --show-current\n")
            .unwrap();
    }
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        ["/home/daytona/src/app", "feature/alice"],
        "`{}` opened its shell elsewhere",
        printed.stdout.trim()
    );
    world.run(&["down"]).success();
}

/// Security model: "the sandbox has its own user, pid, ipc and uts namespaces (the network is
/// shared ...)" and "(bubblewrap 0.8 and later) no user namespaces of their own": each of a
/// sandbox's commands sees the same namespaces, none of them the host's but the network, and
/// cannot make a user namespace.
#[test]
fn a_sandbox_has_namespaces_of_its_own_and_cannot_make_a_user_namespace() {
    if !crate::common::have("bwrap") {
        return;
    }
    let world = World::new();
    world
        .run(&["sandbox", "create", "--name", "spaces"])
        .success();
    let kinds = ["user", "pid", "ipc", "uts", "net"];
    let script = "for n in user pid ipc uts net; do readlink /proc/self/ns/$n; done";
    let inside = || -> Vec<String> {
        let run = world
            .run(&["sandbox", "exec", "spaces", "--", "sh", "-c", script])
            .success();
        run.stdout.lines().map(String::from).collect()
    };
    let first = inside();
    assert_eq!(
        first,
        inside(),
        "two commands of one sandbox, two namespaces"
    );
    for (kind, seen) in kinds.iter().zip(&first) {
        let host = std::fs::read_link(format!("/proc/self/ns/{kind}")).unwrap();
        let host = host.to_string_lossy();
        if *kind == "net" {
            assert_eq!(seen, &host, "the network is shared");
        } else {
            assert_ne!(
                seen, &host,
                "the sandbox shares the host's {kind} namespace"
            );
        }
    }
    let nested = world
        .run(&[
            "sandbox",
            "exec",
            "spaces",
            "--",
            "sh",
            "-c",
            "command -v unshare && { unshare -U true || unshare -Ur true || echo refused; }",
        ])
        .success();
    assert!(nested.stdout.contains("refused"), "{}", nested.all());
    world.run(&["sandbox", "delete", "spaces"]).success();
}

/// Security model: "a push access's session token only uploads build contexts": the token
/// stores and reads objects of this organisation's build contexts, nothing else takes its
/// place there (no token, a wrong one, the API key), and it opens no API route.
#[tokio::test(flavor = "multi_thread")]
async fn a_push_access_token_only_uploads_build_contexts() {
    use crate::serve_support::{self, KEY};
    let server = serve_support::start("").await;
    let access = server.get("/api/object-storage/push-access").await;
    assert_eq!(access.status, 200, "{:?}", access.body);
    let token = access.body["sessionToken"].as_str().unwrap().to_string();
    let object = server.url(&format!(
        "/_objects/{}/{}/0123abcd/context.tar",
        access.body["bucket"].as_str().unwrap(),
        access.body["organizationId"].as_str().unwrap()
    ));
    let put = |credential: Option<&str>| {
        let request = server.client.put(&object).body("the context");
        match credential {
            Some(credential) => request.header("x-amz-security-token", credential),
            None => request,
        }
    };
    for credential in [None, Some("not-the-token"), Some(KEY)] {
        let refused = server.send(put(credential)).await;
        assert_eq!(refused.status, 403, "{credential:?}: {:?}", refused.body);
    }
    let fetch = |credential: &str| {
        server
            .client
            .get(&object)
            .header("x-amz-security-token", credential)
    };
    assert_eq!(
        server.send(fetch(KEY)).await.status,
        403,
        "nothing stored yet"
    );
    assert_eq!(server.send(put(Some(&token))).await.status, 200);
    let stored = server.send(fetch(&token)).await;
    assert_eq!(stored.status, 200);
    assert_eq!(stored.body, "the context");
    // Another organisation's key is no build context of this server's.
    let elsewhere = object.replace(access.body["organizationId"].as_str().unwrap(), "other-org");
    let foreign = server
        .client
        .put(&elsewhere)
        .header("x-amz-security-token", &token);
    assert_eq!(server.send(foreign.body("x")).await.status / 100, 4);
    // The token is no API key: not for the control plane, not for a toolbox.
    let sandbox = server.create(serde_json::json!({})).await;
    let id = sandbox["id"].as_str().unwrap();
    for path in [
        "/api/sandbox".to_string(),
        format!("/api/sandbox/{id}"),
        format!("/toolbox/{id}/files?path=/home/daytona"),
    ] {
        let answer = server
            .send(server.client.get(server.url(&path)).bearer_auth(&token))
            .await;
        assert_eq!(answer.status, 401, "{path}: {:?}", answer.body);
    }
    let run = server
        .send(
            server
                .client
                .post(server.url(&format!("/toolbox/{id}/process/execute")))
                .bearer_auth(&token)
                .json(&serde_json::json!({"command": "echo reached"})),
        )
        .await;
    assert_eq!(run.status, 401, "{:?}", run.body);
    assert_eq!(
        server.delete(&format!("/api/sandbox/{id}")).await.status,
        200
    );
}
