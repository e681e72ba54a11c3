//! Teammates at work on the `daytona` provider against a spawned `ralph-town serve`: the runner
//! goes through the toolbox's process sessions, and `wait`, `logs -f`, `status`, an in-place
//! command change, `stop` and `down`'s guard behave as on `local`.

use crate::common;
use crate::serve_support::{self, ServeCommand};
use crate::work::{origin_with_agent, ready};

use std::ffi::OsStr;
use std::path::Path;

use common::World;
use serde_json::Value;

pub(crate) const KEY: &str = "dtn_work_daytona_key_0123456789abcdef";

/// A `ralph-town serve` child process, killed on drop.
pub(crate) type Serve = serve_support::Serve;

pub(crate) fn serve(world: &World, readable: &Path) -> Serve {
    serve_with(world, readable, &[])
}

/// [`serve`] with `extra` arguments (`--ssh-listen ...`, say), on the state root
/// `serve-state` of `world`, its sandboxes allowed to read `readable`.
pub(crate) fn serve_with(world: &World, readable: &Path, extra: &[&str]) -> Serve {
    ServeCommand::in_world(world)
        .state(&world.path().join("serve-state"))
        .key(Some(KEY))
        .args(extra)
        .args([OsStr::new("--read-only"), readable.as_os_str()])
        .start()
}

/// A `daytona` team file named `name` over `origin` (base branch `main`), with `teammates`.
pub(crate) fn daytona_team(world: &World, origin: &Path, name: &str, teammates: &str) {
    world.file(
        "team.toml",
        &format!(
            "name = \"{name}\"\nprovider = \"daytona\"\n\n[defaults]\nrepo = \"{}\"\n\
             base_branch = \"main\"\n\n{teammates}",
            origin.display()
        ),
    );
}

fn team_file(world: &World, origin: &Path, alice_command: &str) {
    daytona_team(
        world,
        origin,
        "remote-workers",
        &format!(
            r#"[[teammate]]
name = "alice"
branch = "feature/alice"
command = "{alice_command}"
restart = "on-failure"
max_runs = 3
task = "Write the notes"

[[teammate]]
name = "bob"
branch = "feature/bob"
command = "for i in 1 2 3; do echo bob says $i; sleep 0.2; done"
"#
        ),
    );
}

#[test]
fn commands_run_restart_and_report_through_daytona_sessions() {
    if !ready() {
        return;
    }
    let world = World::new();
    let origin = origin_with_agent(&world);
    let serve = serve(&world, &origin);
    // Every run of the binary talks to serve.
    let run = |args: &[&str]| {
        world.run_with(
            args,
            &[
                ("DAYTONA_API_URL", serve.api.as_str()),
                ("DAYTONA_API_KEY", KEY),
            ],
        )
    };
    team_file(&world, &origin, "bash tools/agent.sh");
    run(&["up", "--progress", "plain"]).success();
    let follow = run(&["logs", "-f", "bob"]).success();
    assert!(
        follow.stdout.contains("bob | bob says 3"),
        "{}",
        follow.stdout
    );
    let waited = run(&["wait", "--json", "--timeout", "120"]).success();
    let waited: Value = serde_json::from_str(&waited.stdout).unwrap();
    let codes = |name: &str| -> Vec<i64> {
        waited["teammates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|entry| entry["teammate"] == name)
            .unwrap()["command"]["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|run| run["exit_code"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(codes("alice"), [3, 0]);
    assert_eq!(codes("bob"), [0]);

    let status = run(&["status", "--json"]).success();
    let rows: Value = serde_json::from_str(&status.stdout).unwrap();
    let alice = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["teammate"] == "alice")
        .unwrap()
        .clone();
    assert_eq!(alice["command"]["state"], "exited");
    assert_eq!(alice["work"]["ahead"], 1);
    assert_eq!(alice["work"]["last_commit"], "alice: Write the notes");
    let id = alice["sandbox_id"].clone();

    // A new command: the same sandbox, the new command running; `down` refuses meanwhile.
    team_file(&world, &origin, "echo second command; sleep 600");
    let plan = run(&["plan"]).success();
    assert!(plan.stdout.contains("~ alice"), "{}", plan.stdout);
    assert!(plan.stdout.contains("command changed"), "{}", plan.stdout);
    run(&["up"]).success();
    let mut running = false;
    for _ in 0..100 {
        let table = run(&["status"]).success();
        if table.stdout.contains("running 1/3") {
            running = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(running, "alice's new command never ran");
    let rows: Value = serde_json::from_str(&run(&["status", "--json"]).success().stdout).unwrap();
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .any(|row| row["teammate"] == "alice" && row["sandbox_id"] == id),
        "{rows}"
    );
    let refused = run(&["down"]).code(4);
    assert!(
        refused.stderr.contains("command is running"),
        "{}",
        refused.stderr
    );
    let logs = run(&["logs", "alice"]).success();
    assert!(
        logs.stdout.contains("alice | second command"),
        "{}",
        logs.stdout
    );
    run(&["stop", "alice"]).success();
    run(&["down", "--force"]).success();
}
