//! Teammates at work on the `local` provider, through the real binary: `up` starts each command
//! after setup, the runner restarts it as the team file says, and `logs`, `wait`, `status`,
//! `stop`, `start`, `restart` and `down`'s guard see what it does.

use crate::common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{SENTINEL, World, git, have};
use serde_json::Value;

pub(crate) fn ready() -> bool {
    have("git") && have("bash")
}

/// The agent script of `examples/agents`, committed into the test origin as `tools/agent.sh`.
pub(crate) fn origin_with_agent(world: &World) -> PathBuf {
    let origin = world.origin(&[]);
    let agent = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/agents/agent.sh");
    std::fs::create_dir_all(origin.join("tools")).unwrap();
    std::fs::copy(agent, origin.join("tools/agent.sh")).unwrap();
    git(&origin, &["add", "tools"]);
    git(&origin, &["commit", "-q", "-m", "the agent"]);
    origin
}

/// A team file over `origin` with `body` (defaults and teammates) after the header.
pub(crate) fn team(world: &World, origin: &Path, body: &str) -> PathBuf {
    world.file(
        "team.toml",
        &format!(
            "name = \"workers\"\n\n[defaults]\nrepo = \"{}\"\nbase_branch = \"main\"\n{body}",
            origin.display()
        ),
    )
}

/// A world whose `team.toml` is a team of `body` over a fresh origin; `None` (the test
/// skips, or fails under `CI=true`) without git and bash.
pub(crate) fn workers(body: &str) -> Option<World> {
    if !ready() {
        return None;
    }
    let world = World::new();
    let origin = world.origin(&[]);
    team(&world, &origin, body);
    Some(world)
}

/// Runs `args` until `done` accepts its output, looking at most `tries` times, a fifth of a
/// second apart; the last run.
#[track_caller]
pub(crate) fn until(
    world: &World,
    args: &[&str],
    tries: u32,
    done: impl Fn(&common::Run) -> bool,
) -> common::Run {
    let mut run = world.run(args);
    for _ in 0..tries {
        if done(&run) {
            return run;
        }
        std::thread::sleep(Duration::from_millis(200));
        run = world.run(args);
    }
    panic!(
        "gave up waiting on {args:?}\nstdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
}

fn status(world: &World) -> Vec<Value> {
    let run = world.run(&["status", "--json"]).success();
    serde_json::from_str::<Value>(&run.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn row<'a>(rows: &'a [Value], teammate: &str) -> &'a Value {
    rows.iter().find(|row| row["teammate"] == teammate).unwrap()
}

fn exit_codes(waited: &Value, teammate: &str) -> Vec<i64> {
    let entry = waited["teammates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["teammate"] == teammate)
        .unwrap();
    entry["command"]["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|run| run["exit_code"].as_i64().unwrap())
        .collect()
}

#[test]
fn restart_policies_bound_the_runs_and_wait_reports_every_exit_code() {
    if !ready() {
        return;
    }
    let world = World::new();
    let origin = origin_with_agent(&world);
    team(
        &world,
        &origin,
        r#"command = "bash tools/agent.sh"

[[teammate]]
name = "alice"
branch = "feature/alice"
restart = "on-failure"
max_runs = 5
task = "Write the login notes"

[[teammate]]
name = "bob"
branch = "feature/bob"
task = "Never gets a second run"

[[teammate]]
name = "carol"
branch = "feature/carol"
command = "echo carol run $RALPH_TOWN_RUN"
restart = "always"
max_runs = 3

[[teammate]]
name = "dave"
branch = "feature/dave"
command = "exit 7"
restart = "on-failure"
max_runs = 2
"#,
    );
    world.run(&["up", "--progress", "plain"]).success();
    let waited = world.run(&["wait", "--json", "--timeout", "120"]).code(1);
    let waited: Value = serde_json::from_str(&waited.stdout).unwrap();
    assert_eq!(waited["ok"], false);
    // on-failure: the first run fails on purpose, the second succeeds and ends the loop.
    assert_eq!(exit_codes(&waited, "alice"), [3, 0]);
    // no: one run, failed.
    assert_eq!(exit_codes(&waited, "bob"), [3]);
    // always: every run succeeds, and max_runs still ends the loop.
    assert_eq!(exit_codes(&waited, "carol"), [0, 0, 0]);
    // on-failure: a crash loop stops at max_runs.
    assert_eq!(exit_codes(&waited, "dave"), [7, 7]);
    let state = |name: &str| {
        waited["teammates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|entry| entry["teammate"] == name)
            .unwrap()["command"]["state"]
            .clone()
    };
    assert_eq!(state("alice"), "exited");
    assert_eq!(state("bob"), "failed");
    assert_eq!(state("dave"), "failed");

    // Only the ones that succeeded: exit 0.
    world.run(&["wait", "alice", "carol"]).success();
    let failed = world.run(&["wait", "dave"]).code(1);
    assert!(failed.stdout.contains("failed 7"), "{}", failed.stdout);

    // The agent's commit shows in the work fields.
    let rows = status(&world);
    let alice = row(&rows, "alice");
    assert_eq!(alice["command"]["state"], "exited");
    assert_eq!(alice["work"]["ahead"], 1);
    assert_eq!(alice["work"]["dirty"], 0);
    assert_eq!(alice["work"]["last_commit"], "alice: Write the login notes");
    assert_eq!(alice["work"]["pushed"], Value::Null);
    assert_eq!(row(&rows, "bob")["work"]["ahead"], 0);
    let table = world.run(&["status"]).success();
    assert!(table.stdout.contains("exited 0"), "{}", table.stdout);
    assert!(table.stdout.contains("failed 7"), "{}", table.stdout);

    // The runs and the runner's notices are in the logs, each teammate prefixed.
    let logs = world.run(&["logs", "alice", "carol"]).success();
    assert!(
        logs.stdout
            .contains("alice | agent: run 1 fails on purpose"),
        "{}",
        logs.stdout
    );
    assert!(
        logs.stdout
            .contains("alice | ralph-town: run 2 of 5 started"),
        "{}",
        logs.stdout
    );
    assert!(
        logs.stdout.contains("carol | carol run 3"),
        "{}",
        logs.stdout
    );
    let tail = world.run(&["logs", "carol", "--tail", "1"]).success();
    assert_eq!(tail.stdout.lines().count(), 1, "{}", tail.stdout);
    let json = world
        .run(&["logs", "carol", "--json", "--timestamps"])
        .success();
    for line in json.stdout.lines() {
        let line: Value = serde_json::from_str(line).unwrap();
        assert_eq!(line["teammate"], "carol");
        assert!(line["time"].is_string(), "{line}");
    }
    let future = world
        .run(&["logs", "carol", "--since", "2999-01-01T00:00:00Z"])
        .success();
    assert_eq!(future.stdout, "");
    world.run(&["down", "--force"]).success();
}

#[test]
fn logs_follow_merges_several_teammates_until_their_commands_end() {
    let Some(world) = workers(
        r#"command = "for i in 1 2 3 4 5; do echo \"$RALPH_TOWN_TEAMMATE line $i\"; sleep 0.3; done"

[[teammate]]
name = "alice"
branch = "feature/alice"

[[teammate]]
name = "bob"
branch = "feature/bob"
"#,
    ) else {
        return;
    };
    world.run(&["up"]).success();
    let follow = world.run(&["logs", "-f"]).success();
    for teammate in ["alice", "bob"] {
        for index in 1..=5 {
            let line = format!("{teammate} line {index}");
            assert_eq!(
                follow.stdout.matches(&line).count(),
                1,
                "`{line}` once in:\n{}",
                follow.stdout
            );
        }
    }
    world.run(&["down", "--force"]).success();
}

#[test]
fn a_changed_command_runs_in_the_same_sandbox() {
    if !ready() {
        return;
    }
    let world = World::new();
    let origin = world.origin(&[]);
    let body = |command: &str| {
        format!(
            "command = \"{command}\"\n\n[[teammate]]\nname = \"alice\"\nbranch = \"feature/alice\"\n"
        )
    };
    team(&world, &origin, &body("echo first command"));
    world.run(&["up"]).success();
    world.run(&["wait"]).success();
    let before = status(&world);
    let id = row(&before, "alice")["sandbox_id"].clone();

    team(&world, &origin, &body("echo second command"));
    let plan = world.run(&["plan"]).success();
    assert!(
        plan.stdout
            .contains("~ alice        update     command changed"),
        "{}",
        plan.stdout
    );
    world.run(&["up"]).success();
    world.run(&["wait"]).success();
    let after = status(&world);
    assert_eq!(row(&after, "alice")["sandbox_id"], id);
    let logs = world.run(&["logs"]).success();
    assert!(
        logs.stdout.contains("alice | second command"),
        "{}",
        logs.stdout
    );
    let again = world.run(&["plan", "--detailed-exitcode"]).success();
    assert!(again.stdout.contains("up to date"), "{}", again.stdout);
    world.run(&["down", "--force"]).success();
}

#[test]
fn down_refuses_while_a_command_runs_and_goes_ahead_once_it_is_stopped() {
    let Some(world) = workers(
        "command = \"sleep 600\"\n\n[[teammate]]\nname = \"alice\"\nbranch = \"feature/alice\"\n",
    ) else {
        return;
    };
    world.run(&["up"]).success();
    until(&world, &["status"], 100, |run| {
        run.stdout.contains("running 1/1")
    });
    let refused = world.run(&["down"]).code(4);
    assert!(refused.stderr.contains("`alice`"), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("command is running (run 1)"),
        "{}",
        refused.stderr
    );
    assert_eq!(world.sandbox_dirs().len(), 1);

    let stopped = world.run(&["stop"]).success();
    assert!(
        stopped.stdout.contains("alice: stopped"),
        "{}",
        stopped.stdout
    );
    assert_eq!(row(&status(&world), "alice")["command"]["state"], "stopped");
    // A stopped command is neither done nor running: `wait` reports it as not successful.
    world.run(&["wait"]).code(1);
    let started = world.run(&["start"]).success();
    assert!(
        started.stdout.contains("alice: started"),
        "{}",
        started.stdout
    );
    let again = world.run(&["start"]).success();
    assert!(
        again.stdout.contains("alice: already running"),
        "{}",
        again.stdout
    );
    world.run(&["restart"]).success();
    world.run(&["stop"]).success();
    world.run(&["down"]).success();
    assert!(world.sandbox_dirs().is_empty());
}

#[test]
fn a_command_outlives_a_killed_up_and_a_second_up_keeps_it() {
    let Some(world) = workers(
        "command = \"for i in $(seq 1 40); do echo tick $i; sleep 0.1; done; echo finished\"\n\n\
         [[teammate]]\nname = \"alice\"\nbranch = \"feature/alice\"\n",
    ) else {
        return;
    };
    let mut up = world.command(&["up", "--wait"]).spawn().unwrap();
    until(&world, &["status"], 200, |run| {
        run.stdout.contains("running 1/1")
    });
    up.kill().unwrap();
    up.wait().unwrap();
    // The run goes on without the `up` that started it.
    let second = world.run(&["up"]).success();
    assert!(
        !second.all().contains("command changed"),
        "{}",
        second.all()
    );
    world.run(&["wait", "--timeout", "120"]).success();
    let logs = world.run(&["logs"]).success();
    assert!(logs.stdout.contains("alice | tick 40"), "{}", logs.stdout);
    assert!(logs.stdout.contains("alice | finished"), "{}", logs.stdout);
    let waited = world.run(&["wait", "--json"]).success();
    let waited: Value = serde_json::from_str(&waited.stdout).unwrap();
    assert_eq!(exit_codes(&waited, "alice"), [0]);
    world.run(&["down", "--force"]).success();
}

#[test]
fn the_command_sees_its_secrets_and_env_and_no_output_shows_them() {
    let Some(world) = workers(
        r#"secrets = ["GH_TOKEN"]
env = ["GREETING=hello"]
command = "printf '%s' \"$GH_TOKEN\" | sha256sum && echo \"$GREETING from $RALPH_TOWN_TEAMMATE in $(pwd): $(cat \"$RALPH_TOWN_TASK_FILE\")\""

[[teammate]]
name = "alice"
branch = "feature/alice"
task = "the task"
"#,
    ) else {
        return;
    };
    let env = [("GH_TOKEN", SENTINEL)];
    let up = world.run_with(&["up", "--wait"], &env).success();
    assert!(!up.all().contains(SENTINEL));
    let logs = world.run(&["logs"]).success();
    use sha2::Digest;
    let digest = hex::encode(sha2::Sha256::digest(SENTINEL.as_bytes()));
    assert!(logs.stdout.contains(&digest), "{}", logs.stdout);
    assert!(
        logs.stdout.contains("hello from alice in /"),
        "{}",
        logs.stdout
    );
    assert!(logs.stdout.contains(": the task"), "{}", logs.stdout);
    let status = world.run(&["status", "--json"]).success();
    assert!(!status.all().contains(SENTINEL));
    let labels = world.run(&["sandbox", "list", "--json"]).success();
    assert!(!labels.all().contains(SENTINEL));
    assert!(
        labels.stdout.contains("ralph-town/command"),
        "{}",
        labels.stdout
    );
    world.run(&["down", "--force"]).success();
}

/// `status` said "not started" for a teammate that declares no `command`: there is nothing to
/// start, so it shows no command state, while its work is still shown.
#[test]
fn a_teammate_without_a_command_shows_no_command_state() {
    let Some(world) = workers(
        "\n[[teammate]]\nname = \"alice\"\nbranch = \"feature/alice\"\n\n\
         [[teammate]]\nname = \"bob\"\nbranch = \"feature/bob\"\ncommand = \"true\"\n",
    ) else {
        return;
    };
    world.run(&["up", "--no-start"]).success();
    let rows = status(&world);
    assert!(row(&rows, "alice")["command"].is_null(), "{rows:?}");
    assert_eq!(row(&rows, "alice")["work"]["ahead"], 0, "{rows:?}");
    assert_eq!(row(&rows, "bob")["command"]["state"], "not_started");
    let table = world.run(&["status"]).success().stdout;
    let alice = table
        .lines()
        .find(|line| line.starts_with("alice"))
        .unwrap();
    assert!(!alice.contains("not started"), "{table}");
    let bob = table.lines().find(|line| line.starts_with("bob")).unwrap();
    assert!(bob.contains("not started"), "{table}");
    world.run(&["down", "--force"]).success();
}

#[test]
fn no_start_only_staffs_and_a_later_up_starts_the_command() {
    let Some(world) = workers(
        "command = \"echo working\"\n\n[[teammate]]\nname = \"alice\"\nbranch = \"feature/alice\"\n",
    ) else {
        return;
    };
    world.run(&["up", "--no-start"]).success();
    assert_eq!(
        row(&status(&world), "alice")["command"]["state"],
        "not_started"
    );
    let plan = world.run(&["plan"]).success();
    assert!(
        plan.stdout.contains("command not started"),
        "{}",
        plan.stdout
    );
    world
        .run(&["up", "--wait", "--wait-timeout", "120"])
        .success();
    let logs = world.run(&["logs"]).success();
    assert!(logs.stdout.contains("alice | working"), "{}", logs.stdout);
    world.run(&["down", "--force"]).success();
}

#[test]
fn attach_forwards_input_to_a_command_without_a_terminal() {
    let Some(world) = workers(
        "command = \"read -r name; echo \\\"hello $name\\\"\"\n\n[[teammate]]\nname = \"alice\"\nbranch = \"feature/alice\"\n",
    ) else {
        return;
    };
    world.run(&["up"]).success();
    until(&world, &["status"], 100, |run| {
        run.stdout.contains("running 1/1")
    });
    let attached = world.run_input(&["attach", "alice"], "world\n").success();
    assert!(
        attached.stdout.contains("hello world"),
        "{}",
        attached.stdout
    );
    world.run(&["wait"]).success();
    world.run(&["down", "--force"]).success();
}

#[test]
fn attach_shows_the_live_terminal_of_a_tty_command() {
    if !(ready() && have("tmux") && have("script")) {
        return;
    }
    let world = World::new();
    let origin = world.origin(&[]);
    team(
        &world,
        &origin,
        "command = \"test -t 0 && printf 'name? '; read -r name; echo \\\"hello $name on a terminal\\\"; sleep 1\"\ntty = true\n\n\
         [[teammate]]\nname = \"alice\"\nbranch = \"feature/alice\"\n",
    );
    world.run(&["up"]).success();
    until(&world, &["status"], 100, |run| {
        run.stdout.contains("running 1/1")
    });
    // script(1) gives `attach` a pseudo-terminal; the typed line reaches the command through tmux.
    let binary = env!("CARGO_BIN_EXE_ralph-town");
    let mut script = std::process::Command::new("script");
    script
        .args(["-qefc", &format!("{binary} attach alice"), "/dev/null"])
        .current_dir(world.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", world.home())
        .env("RALPH_TOWN_HOME", world.state())
        .env("TERM", "xterm")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = script.spawn().unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        stdin.write_all(b"world\r").unwrap();
        std::thread::sleep(Duration::from_millis(500));
        drop(stdin);
    }
    let output = child.wait_with_output().unwrap();
    let screen = String::from_utf8_lossy(&output.stdout);
    assert!(screen.contains("hello world on a terminal"), "{screen}");
    world.run(&["wait", "--timeout", "60"]).success();
    let logs = world.run(&["logs"]).success();
    assert!(
        logs.stdout.contains("hello world on a terminal"),
        "{}",
        logs.stdout
    );
    // The finished runner let go of its session: a restart runs at once, and a stop ends the
    // command that waits on its terminal.
    world.run(&["restart"]).success();
    until(&world, &["status"], 100, |run| {
        run.stdout.contains("running 1/1")
    });
    let stopped = world.run(&["stop"]).success();
    assert!(
        stopped.stdout.contains("alice: stopped"),
        "{}",
        stopped.stdout
    );
    world.run(&["down", "--force"]).success();
}

/// `examples/teams/agents.toml` as a fresh clone runs it: the example file inside a repository
/// that holds the agent and its tasks (`repo = "../.."` is that repository).
#[test]
fn the_agents_example_restarts_commits_and_waits_offline() {
    if !ready() {
        return;
    }
    let world = World::new();
    let checkout = world.path().join("checkout");
    let source = Path::new(env!("CARGO_MANIFEST_DIR"));
    for file in [
        "examples/teams/agents.toml",
        "examples/agents/agent.sh",
        "examples/agents/tasks/alice.md",
    ] {
        let target = checkout.join(file);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(source.join(file), target).unwrap();
    }
    git(&checkout, &["init", "-q", "-b", "main"]);
    git(&checkout, &["add", "."]);
    git(&checkout, &["commit", "-q", "-m", "the example"]);
    let example = checkout.join("examples/teams/agents.toml");
    let example = example.to_str().unwrap();
    world
        .run(&["up", "--wait", "--progress", "plain", example])
        .success();
    let logs = world.run(&["logs", "--file", example]).success();
    for teammate in ["alice", "bob"] {
        let own: Vec<&str> = logs
            .stdout
            .lines()
            .filter(|line| line.starts_with(teammate))
            .collect();
        for expected in [
            "| agent: run 1 fails on purpose",
            "| ralph-town: run 2 of 3 started",
            "| agent: committed",
        ] {
            assert!(
                own.iter().any(|line| line.contains(expected)),
                "{teammate} {expected}: {}",
                logs.stdout
            );
        }
    }
    let rows: Value =
        serde_json::from_str(&world.run(&["status", "--json", example]).success().stdout).unwrap();
    for row in rows.as_array().unwrap() {
        assert_eq!(row["command"]["state"], "exited", "{row}");
        assert_eq!(row["work"]["ahead"], 1, "{row}");
    }
    world.run(&["down", "--force", example]).success();
}

/// The probe `status` runs in every sandbox, on a real clone: dirty files, commits ahead of the
/// base branch, and whether the branch is pushed to its upstream.
#[test]
fn the_work_probe_reads_ahead_dirty_and_pushed() {
    if !ready() {
        return;
    }
    let world = World::new();
    let origin = world.origin(&[]);
    let home = world.path().join("sandbox-home");
    std::fs::create_dir_all(&home).unwrap();
    git(&home, &["clone", "-q", origin.to_str().unwrap(), "app"]);
    let app = home.join("app");
    git(&app, &["checkout", "-q", "-b", "feature/x"]);
    std::fs::write(app.join("work.txt"), "work\n").unwrap();
    git(&app, &["add", "work.txt"]);
    git(&app, &["commit", "-q", "-m", "Add the work"]);
    std::fs::write(app.join("draft.txt"), "draft\n").unwrap();
    let probe = || {
        let output = std::process::Command::new("bash")
            .args([
                "-c",
                ralph_town::setup::work_probe_script(),
                "probe",
                "app",
                "main",
                "feature/x",
            ])
            .env("HOME", &home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        ralph_town::workflow::parse_probe(&text).unwrap_or_else(|| panic!("{text}"))
    };
    let found = probe();
    assert_eq!(
        found.command.state,
        ralph_town::workflow::RunState::NotStarted
    );
    let work = found.work.unwrap();
    assert_eq!(
        (work.ahead, work.dirty, work.pushed),
        (Some(1), Some(1), None)
    );
    assert_eq!(work.last_commit.as_deref(), Some("Add the work"));
    git(&app, &["push", "-q", "-u", "origin", "feature/x"]);
    let work = probe().work.unwrap();
    assert_eq!((work.pushed, work.unpushed), (Some(true), Some(0)));
    git(&app, &["commit", "-q", "--allow-empty", "-m", "More"]);
    let work = probe().work.unwrap();
    assert_eq!(
        (work.pushed, work.unpushed, work.ahead),
        (Some(false), Some(1), Some(2))
    );
}
