//! `ralph-town sandbox ...` on the `local` provider, through the real binary.

use crate::common;

use std::io::Write;
use std::process::Stdio;

use common::{Run, SENTINEL, World};
use serde_json::Value;

fn json(run: &Run) -> Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|error| panic!("not JSON ({error}):\n{}", run.stdout))
}

fn create(world: &World, args: &[&str]) -> String {
    let mut all = vec!["sandbox", "create"];
    all.extend_from_slice(args);
    let run = world.run(&all).success();
    let id = run.stdout.trim().to_string();
    assert!(!id.is_empty() && !id.contains('\n'), "{run:?}");
    id
}

#[test]
fn create_list_exec_and_delete_one_sandbox() {
    let world = World::new();
    let id = create(
        &world,
        &[
            "--name",
            "scratch",
            "--env",
            "FIRST=a=b,c",
            "--env",
            "SECOND=two words",
            "--label",
            "owner=tests",
        ],
    );
    let other = create(&world, &["--label", "owner=someone-else"]);

    let listed = json(
        &world
            .run(&["sandbox", "list", "--json", "--label", "owner=tests"])
            .success(),
    );
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(listed[0]["name"], "scratch");
    assert_eq!(listed[0]["state"], "started");
    assert_eq!(listed[0]["labels"]["owner"], "tests");
    assert!(listed[0]["age_seconds"].is_u64() && listed[0]["created_at"].is_string());
    let table = world.run(&["sandbox", "list"]).success().stdout;
    assert!(table.starts_with("ID"), "{table}");
    assert!(table.contains(&id) && table.contains(&other), "{table}");

    // Every `--env` is kept whole: split at the first `=` only.
    let run = world
        .run(&[
            "sandbox",
            "exec",
            &id,
            "--",
            "sh",
            "-c",
            "printf '%s|%s' \"$FIRST\" \"$SECOND\"; exit 7",
        ])
        .code(7);
    assert_eq!(run.stdout, "a=b,c|two words");
    // One argument is a shell command line.
    let run = world
        .run(&["sandbox", "exec", "scratch", "echo one && echo two >&2"])
        .success();
    assert_eq!(run.stdout, "one\ntwo\n");
    let result = json(
        &world
            .run(&["sandbox", "exec", &id, "--json", "--", "true"])
            .success(),
    );
    assert_eq!(result["exit_code"], 0);
    assert_eq!(result["via"], "exec");

    let run = world
        .run(&["sandbox", "delete", &id, "no-such-sandbox"])
        .code(1);
    assert!(run.stdout.contains(&format!("deleted {id}")), "{run:?}");
    assert!(run.stderr.contains("`no-such-sandbox`"), "{run:?}");
    let outcomes = json(
        &world
            .run(&["sandbox", "delete", "--json", &other])
            .success(),
    );
    assert_eq!(outcomes[0]["deleted"], true);
    assert!(world.sandbox_dirs().is_empty());
    world.run(&["sandbox", "exec", &id, "--", "true"]).code(1);
}

#[test]
fn exec_timeout_exits_124() {
    let world = World::new();
    let id = create(&world, &[]);
    let run = world
        .run(&[
            "sandbox",
            "exec",
            &id,
            "--timeout",
            "1",
            "--",
            "sleep",
            "30",
        ])
        .code(124);
    assert!(run.stderr.contains("did not finish"), "{run:?}");
}

#[test]
fn env_set_lasts_for_later_commands_and_list_redacts_credentials() {
    let world = World::new();
    let id = create(&world, &["--env", "GONE=soon"]);
    let run = world
        .run(&[
            "sandbox",
            "env",
            "set",
            &id,
            &format!("API_TOKEN={SENTINEL}"),
            "PLAIN=x=y,z",
        ])
        .success();
    assert!(!run.all().contains(SENTINEL), "{run:?}");
    assert!(
        run.stdout.contains("`API_TOKEN`") && run.stdout.contains("`PLAIN`"),
        "{run:?}"
    );
    world
        .run(&["sandbox", "env", "unset", &id, "GONE"])
        .success();

    let check = format!(
        "test \"$API_TOKEN\" = '{SENTINEL}' && printf '%s|%s' \"$PLAIN\" \"${{GONE-unset}}\""
    );
    let run = world.run(&["sandbox", "exec", &id, &check]).success();
    assert_eq!(run.stdout, "x=y,z|unset");

    let run = world.run(&["sandbox", "env", "list", &id]).success();
    assert!(!run.all().contains(SENTINEL), "{run:?}");
    assert!(run.stdout.contains("API_TOKEN=<redacted>\n"), "{run:?}");
    assert!(run.stdout.contains("PLAIN=x=y,z\n"), "{run:?}");
    assert!(!run.stdout.contains("GONE="), "{run:?}");
    let listing = json(
        &world
            .run(&["sandbox", "env", "list", "--json", &id])
            .success(),
    );
    assert_eq!(listing["env"]["API_TOKEN"], "<redacted>");
    assert_eq!(listing["redacted"], serde_json::json!(["API_TOKEN"]));

    // The value stays out of the sandbox record and the listing; its own file is private.
    let dir = world.state().join("sandboxes").join(&id);
    let record = std::fs::read_to_string(dir.join("sandbox.json")).unwrap();
    assert!(!record.contains(SENTINEL));
    let listed = world.run(&["sandbox", "list", "--json"]).success();
    assert!(!listed.all().contains(SENTINEL));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.join("env.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn bad_assignments_are_usage_errors_that_never_echo_the_value() {
    let world = World::new();
    for bad in [
        format!("1BAD={SENTINEL}"),
        SENTINEL.to_string(),
        format!("A-B={SENTINEL}"),
    ] {
        let run = world.run(&["sandbox", "create", "--env", &bad]).code(2);
        assert!(!run.all().contains(SENTINEL), "{run:?}");
    }
    assert!(world.sandbox_dirs().is_empty());
    let id = create(&world, &[]);
    let run = world
        .run(&["sandbox", "env", "set", &id, &format!("9X={SENTINEL}")])
        .code(2);
    assert!(!run.all().contains(SENTINEL), "{run:?}");
}

#[test]
fn a_credential_given_at_create_is_warned_about_and_never_printed() {
    let world = World::new();
    let run = world
        .run(&[
            "sandbox",
            "create",
            "--env",
            &format!("GH_TOKEN={SENTINEL}"),
        ])
        .success();
    assert!(
        run.stderr.contains("`GH_TOKEN` looks like a credential"),
        "{run:?}"
    );
    assert!(!run.all().contains(SENTINEL), "{run:?}");
    let run = world
        .run(&[
            "sandbox",
            "create",
            "--json",
            "--env",
            &format!("MY_SECRET={SENTINEL}"),
        ])
        .success();
    assert!(!run.all().contains(SENTINEL), "{run:?}");
    assert_eq!(json(&run)["warnings"].as_array().unwrap().len(), 1);
}

#[test]
fn preflight_passes_when_every_tool_exists_and_deletes_its_sandbox() {
    let world = World::new();
    let run = world
        .run(&[
            "sandbox",
            "preflight",
            "--tool",
            "/bin/sh",
            "--tool",
            "/usr/bin/env",
        ])
        .success();
    assert!(run.stdout.contains("Preflight passed"), "{run:?}");
    let report = json(
        &world
            .run(&[
                "sandbox",
                "preflight",
                "--json",
                "--snapshot",
                "custom",
                "--tool",
                "/bin/sh",
            ])
            .success(),
    );
    assert_eq!(report["passed"], true);
    assert_eq!(report["snapshot"], "custom");
    assert_eq!(report["checked_via"], "exec");
    assert_eq!(report["deleted"], true);
    assert!(world.sandbox_dirs().is_empty());
}

#[test]
fn preflight_fails_for_a_missing_tool_and_still_deletes_its_sandbox() {
    let world = World::new();
    let run = world
        .run(&[
            "sandbox",
            "preflight",
            "--json",
            "--tool",
            "/bin/sh",
            "--tool",
            "/nonexistent/gh",
        ])
        .code(1);
    let report = json(&run);
    assert_eq!(report["passed"], false);
    assert_eq!(report["tools"][0]["found"], true);
    assert_eq!(report["tools"][1]["path"], "/nonexistent/gh");
    assert_eq!(report["tools"][1]["found"], false);
    assert_eq!(report["deleted"], true);
    assert!(world.sandbox_dirs().is_empty());
    let run = world
        .run(&["sandbox", "preflight", "--tool", "/nonexistent/gh"])
        .code(1);
    assert!(run.stdout.contains("MISSING /nonexistent/gh"), "{run:?}");
    assert!(run.stderr.contains("snapshot create"), "{run:?}");
    // A tool named without its full path is refused before anything is created.
    world
        .run(&["sandbox", "preflight", "--tool", "git"])
        .code(2);
    assert!(world.sandbox_dirs().is_empty());
}

#[test]
fn ssh_on_local_opens_a_shell_that_sees_the_changed_environment() {
    let world = World::new();
    let id = create(&world, &[]);
    world
        .run(&["sandbox", "env", "set", &id, "FROM_ENV_SET=visible"])
        .success();
    let mut child = world
        .command(&["sandbox", "ssh", &id])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"echo \"inside:$FROM_ENV_SET\"\nexit 4\n")
        .unwrap();
    let run = Run::from(child.wait_with_output().unwrap()).code(4);
    assert!(run.stdout.contains("inside:visible"), "{run:?}");
    let access = json(&world.run(&["sandbox", "ssh", "--json", &id]).success());
    assert_eq!(access["kind"], "local");
    assert!(access["command"].as_str().unwrap().contains(&id));
    world.run(&["sandbox", "ssh", "no-such-sandbox"]).code(1);
}

#[test]
fn snapshot_create_is_not_supported_on_local() {
    let world = World::new();
    let run = world.run(&["sandbox", "snapshot", "create"]).code(1);
    assert!(
        run.stderr.contains("not supported by the `local` provider"),
        "{run:?}"
    );
}

/// The recipe is pinned: changing it means updating `tests/fixtures/sandbox/` on purpose.
#[test]
fn the_snapshot_dockerfile_is_the_pinned_recipe() {
    let world = World::new();
    let run = world.run(&["sandbox", "snapshot", "dockerfile"]).success();
    let pinned = include_str!("fixtures/sandbox/ralph-town-dev.Dockerfile");
    assert_eq!(run.stdout, pinned);
}
