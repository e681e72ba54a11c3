//! `down` as a person and a script meet it: the plan of what goes, a question on a terminal
//! (a real pseudo-terminal here), `--yes`, no question without a terminal, a JSON answer when
//! refused, `--older-than`, `--parallel`, and `plan --destroy`.
//!
//! The team's sandboxes are made with `sandbox create` and the team's labels (no clone needed);
//! the guard sees what a teammate left in a repository of the sandbox home.

use std::io::{Read, Write};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{World, have};

/// A sandbox of team `squad` for `teammate`, as `up` would have left it; returns its id.
fn member(world: &World, teammate: &str) -> String {
    world
        .run(&[
            "sandbox",
            "create",
            "--label",
            "ralph-town/team=squad",
            "--label",
            &format!("ralph-town/teammate={teammate}"),
            "--label",
            "ralph-town/setup=ok",
        ])
        .success()
        .stdout
        .trim()
        .to_string()
}

/// Leaves an uncommitted file in a repository of the sandbox's home.
fn leave_work(world: &World, id: &str) {
    world
        .run(&[
            "sandbox",
            "exec",
            id,
            "--",
            "sh",
            "-c",
            "git init -q draft && echo idea > draft/notes.txt",
        ])
        .success();
}

fn ids(world: &World) -> Vec<String> {
    let mut ids: Vec<String> = world
        .sandbox_dirs()
        .iter()
        .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    ids.sort();
    ids
}

/// A team file for `squad` on `local` (nothing is created from it here).
fn team_file(world: &World) {
    world.file(
        "team.toml",
        "name = \"squad\"\nprovider = \"local\"\n[defaults]\nrepo = \"https://example.com/app.git\"\n\
         [[teammate]]\nname = \"alice\"\nbranch = \"a\"\n[[teammate]]\nname = \"bob\"\nbranch = \"b\"\n",
    );
}

#[test]
fn down_shows_the_plan_and_without_a_terminal_running_it_is_the_confirmation() {
    if !have("git") {
        return;
    }
    let world = World::new();
    team_file(&world);
    let alice = member(&world, "alice");
    let bob = member(&world, "bob");

    let preview = world
        .run(&["plan", "--destroy", "--detailed-exitcode"])
        .code(2);
    for (name, id) in [("alice", &alice), ("bob", &bob)] {
        let line = preview
            .stdout
            .lines()
            .find(|line| line.starts_with(&format!("- {name} ")))
            .unwrap_or_else(|| panic!("no line for {name} in\n{}", preview.stdout));
        assert!(line.contains("remove"), "{line}");
        assert!(line.contains("sandbox is started, created"), "{line}");
        assert_eq!(ids(&world).len(), 2, "{id} was touched by a plan");
    }
    assert!(
        preview.stdout.contains("Plan: 2 to remove."),
        "{}",
        preview.stdout
    );

    // No terminal: no question, no `--yes` needed. `RALPH_TOWN_PROVIDER`, documented for
    // `--team`, once made clap demand `--team` here.
    let down = world
        .run_with(&["down"], &[("RALPH_TOWN_PROVIDER", "daytona")])
        .success();
    assert!(down.stderr.contains("- alice "), "{}", down.stderr);
    assert!(
        down.stderr.contains("Plan: 2 to remove."),
        "{}",
        down.stderr
    );
    assert!(!down.stderr.contains("[y/N]"), "{}", down.stderr);
    assert!(
        down.stdout.contains("2 sandboxes removed"),
        "{}",
        down.stdout
    );
    assert!(ids(&world).is_empty());

    let nothing = world
        .run(&["plan", "--destroy", "--detailed-exitcode"])
        .success();
    assert!(nothing.stdout.contains("No changes."), "{}", nothing.stdout);
    let again = world.run(&["down", "--json"]).success();
    let answer: Value = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(answer["removed"], serde_json::json!([]));
    assert!(answer.get("refused").is_none(), "{answer}");
}

#[test]
fn down_yes_and_parallel_are_accepted_like_ups() {
    if !have("git") {
        return;
    }
    let world = World::new();
    for teammate in ["alice", "bob", "carol"] {
        member(&world, teammate);
    }
    let down = world
        .run(&["down", "--team", "squad", "-y", "--parallel", "2", "--json"])
        .success();
    let answer: Value = serde_json::from_str(&down.stdout).unwrap();
    assert_eq!(answer["team"], "squad");
    assert_eq!(answer["removed"].as_array().unwrap().len(), 3, "{answer}");
    assert_eq!(answer["plan"]["summary"]["remove"], 3, "{answer}");
    assert!(ids(&world).is_empty());
    world
        .run(&["down", "--team", "squad", "--parallel", "0"])
        .code(2);
}

#[test]
fn a_refused_down_json_still_answers_why_on_stdout() {
    if !have("git") {
        return;
    }
    let world = World::new();
    let alice = member(&world, "alice");
    let bob = member(&world, "bob");
    leave_work(&world, &alice);

    let refused = world.run(&["down", "--team", "squad", "--json"]).code(4);
    let answer: Value = serde_json::from_str(&refused.stdout)
        .unwrap_or_else(|error| panic!("{error}: {refused:?}"));
    assert_eq!(answer["team"], "squad");
    assert_eq!(answer["removed"], serde_json::json!([]));
    assert_eq!(answer["refused"]["reason"], "unsaved_work", "{answer}");
    let sandboxes = answer["refused"]["sandboxes"].as_array().unwrap();
    assert_eq!(sandboxes.len(), 1, "{answer}");
    assert_eq!(sandboxes[0]["teammate"], "alice");
    assert_eq!(sandboxes[0]["id"], alice.as_str());
    assert!(
        sandboxes[0]["detail"]
            .as_str()
            .unwrap()
            .contains("notes.txt"),
        "{answer}"
    );
    assert!(refused.stderr.contains("--force"), "{}", refused.stderr);
    assert_eq!(ids(&world), {
        let mut both = vec![alice.clone(), bob.clone()];
        both.sort();
        both
    });

    world.run(&["down", "--team", "squad", "--force"]).success();
    assert!(ids(&world).is_empty());
}

#[test]
fn down_older_than_removes_only_the_older_sandboxes() {
    if !have("git") {
        return;
    }
    let world = World::new();
    let old = member(&world, "alice");
    let young = member(&world, "bob");
    let metadata = world
        .state()
        .join("sandboxes")
        .join(&old)
        .join("sandbox.json");
    let mut record: Value = serde_json::from_slice(&std::fs::read(&metadata).unwrap()).unwrap();
    let three_hours_ago = std::time::SystemTime::now() - Duration::from_secs(3 * 3600);
    record["created_at"] = humantime::format_rfc3339_millis(three_hours_ago)
        .to_string()
        .into();
    std::fs::write(&metadata, serde_json::to_vec(&record).unwrap()).unwrap();

    let down = world
        .run(&["down", "--team", "squad", "--older-than", "2h"])
        .success();
    assert!(down.stderr.contains("created 3h ago"), "{}", down.stderr);
    assert!(!down.stderr.contains("- bob"), "{}", down.stderr);
    assert_eq!(ids(&world), [young]);
    world
        .run(&["down", "--team", "squad", "--older-than", "soon"])
        .code(2);
}

/// The `[y/N]` question of `down` on a real terminal: `n` keeps everything (exit 4, and the
/// JSON answer says it was not confirmed), `y` removes.
#[test]
fn down_asks_on_a_terminal() {
    if !have("git") {
        return;
    }
    let world = World::new();
    let alice = member(&world, "alice");

    let declined = on_terminal(&world, &["down", "--team", "squad", "--json"], "n\n");
    assert_eq!(declined.code, 4, "{declined:?}");
    assert!(declined.terminal.contains("- alice"), "{declined:?}");
    assert!(declined.terminal.contains("[y/N]"), "{declined:?}");
    let answer: Value = serde_json::from_str(&declined.stdout).unwrap();
    assert_eq!(answer["refused"]["reason"], "not_confirmed", "{answer}");
    assert_eq!(answer["refused"]["sandboxes"][0]["id"], alice.as_str());
    assert_eq!(ids(&world), std::slice::from_ref(&alice));

    let accepted = on_terminal(&world, &["down", "--team", "squad"], "y\n");
    assert_eq!(accepted.code, 0, "{accepted:?}");
    assert!(ids(&world).is_empty());

    // `--yes` asks nothing, also on a terminal.
    member(&world, "bob");
    let yes = on_terminal(&world, &["down", "--team", "squad", "--yes"], "");
    assert_eq!(yes.code, 0, "{yes:?}");
    assert!(!yes.terminal.contains("[y/N]"), "{yes:?}");
    assert!(ids(&world).is_empty());
}

#[derive(Debug)]
struct TerminalRun {
    code: i32,
    stdout: String,
    /// What the command wrote on the terminal (stderr), with what was typed echoed.
    terminal: String,
}

/// Runs the binary with stdin and stderr on a new pseudo-terminal and stdout on a pipe; types
/// `answer` once the question appears (at once when there is nothing to answer).
fn on_terminal(world: &World, args: &[&str], answer: &str) -> TerminalRun {
    use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC).unwrap();
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let name = ptsname(&master, Vec::new()).unwrap();
    let terminal = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(name.to_str().unwrap())
        .unwrap();
    let mut child = world
        .command(args)
        .stdin(Stdio::from(terminal.try_clone().unwrap()))
        .stderr(Stdio::from(terminal))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut master = std::fs::File::from(master);
    let seen = Arc::new(Mutex::new(String::new()));
    let reader = {
        let (mut master, seen) = (master.try_clone().unwrap(), seen.clone());
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            // Ends with EIO once the child, the last holder of the terminal, has exited.
            while let Ok(count) = master.read(&mut buffer) {
                if count == 0 {
                    break;
                }
                seen.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buffer[..count]));
            }
        })
    };
    if !answer.is_empty() {
        // A deadline so that a missing question fails the test instead of hanging it.
        let deadline = Instant::now() + Duration::from_secs(120);
        while !seen.lock().unwrap().contains("[y/N]") {
            assert!(
                Instant::now() < deadline,
                "no question on the terminal:\n{}",
                seen.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        master.write_all(answer.as_bytes()).unwrap();
    }
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let status = child.wait().unwrap();
    drop(master);
    reader.join().unwrap();
    let terminal = seen.lock().unwrap().clone();
    TerminalRun {
        code: status.code().unwrap_or(-1),
        stdout,
        terminal,
    }
}
