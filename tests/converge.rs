//! Runs converge, with real processes: an `up` killed with SIGKILL at seeded moments is finished
//! by the next `up` (no `--yes`) or cleaned away by `down`; SIGTERM and SIGHUP stop `up` as
//! gently as Ctrl-C; two `up`s of one team at once, and an `up` racing a `down`, leave at most
//! one sandbox per teammate, which the next `up` converges. On `local`, and on `daytona`
//! against a spawned `serve` with slow creates and transitions.
//!
//! Moments and offsets come from fixed seeds, so every machine tries the same ones; what they
//! land on (a clone, a label write, a create in flight) varies with the machine's speed, and
//! every outcome must converge.

use std::process::Stdio;
use std::time::Duration;

use crate::common::have;
use crate::team_support::{Shape, Squad, kill_after, moments};

/// Cloud-like timing for `serve`: creates report `creating` and transitions take a while, so
/// that kills and races land while sandboxes are still on their way.
const SLOW_CLOUD: &str = "create-delay=400ms,transition-delay=200ms";

/// [`SLOW_CLOUD`] where every answer takes 100 ms, so that two runs started close together
/// both list the team before either has created anything.
const RACY_CLOUD: &str = "latency=100ms,create-delay=400ms,transition-delay=200ms";

fn ready() -> bool {
    have("git") && have("bash")
}

/// Kills `up` at seeded moments; after each kill, either the next `up` converges (exit 0, no
/// `--yes`) or `down` removes everything.
fn killed_up_converges(simulate: Option<&str>, seed: u64, count: usize) {
    let squad = Squad::new(Shape {
        simulate,
        // Big enough that a kill may land inside a clone or a checkout.
        origin_megabytes: 6,
        ..Shape::default()
    });
    // The plan's lines, then queued, creating, setup, ready per teammate.
    let lines = 2 + 5 * squad.teammates.len() as u32;
    for (round, (line, delay)) in moments(seed, count, lines, 400).into_iter().enumerate() {
        let up = squad.command(&["up", "--progress", "plain", "--parallel", "2"]);
        let (killed, seen) = kill_after(up, line, delay);
        let context = format!("round {round}: killed {killed} after line {line} + {delay} ms");
        if round % 2 == 0 {
            let again = squad.run(&["up", "--progress", "plain"]);
            assert_eq!(
                again.code, 0,
                "{context}\nkilled run:\n{seen}\nnext run:\n{}",
                again.stderr
            );
            squad.assert_converged(&context);
        }
        let down = squad.run(&["down"]);
        assert_eq!(down.code, 0, "{context}\n{}{}", down.stdout, down.stderr);
        squad.assert_empty(&context);
    }
}

#[test]
fn killed_up_is_finished_by_the_next_up_or_removed_by_down_on_local() {
    if ready() {
        killed_up_converges(None, 11, 6);
    }
}

#[test]
fn killed_up_is_finished_by_the_next_up_or_removed_by_down_on_daytona() {
    if ready() {
        killed_up_converges(Some(SLOW_CLOUD), 23, 4);
    }
}

/// What an `up` killed during setup leaves, made on purpose: the sandbox without its
/// `ralph-town/setup` label, git's locks (killed inside `git checkout` or `git config`), and
/// its state directory made by the host but not yet handed to the sandbox's user (killed inside
/// the script's upload; as root, the host's directories are root's until handed over). The
/// next `up` finishes it.
#[test]
fn a_setup_killed_inside_git_or_an_upload_is_finished_by_the_next_up() {
    if !ready() {
        return;
    }
    let squad = Squad::new(Shape {
        size: 1,
        ..Shape::default()
    });
    squad.run(&["up"]).success();
    let held = squad.held();
    let directory = squad.sandbox_directory(&held[0].id);
    let record_path = directory.join("sandbox.json");
    let mut record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&record_path).unwrap()).unwrap();
    record["labels"]
        .as_object_mut()
        .unwrap()
        .remove("ralph-town/setup");
    std::fs::write(&record_path, record.to_string()).unwrap();
    std::fs::write(directory.join("home/origin/.git/index.lock"), "").unwrap();
    std::fs::write(directory.join("home/.gitconfig.lock"), "").unwrap();
    let state_directory = directory.join("home/.ralph-town");
    std::fs::remove_dir_all(&state_directory).unwrap();
    std::fs::create_dir(&state_directory).unwrap();

    let again = squad.run(&["up", "--progress", "plain"]).success();
    assert!(again.stderr.contains("update"), "{}", again.stderr);
    squad.assert_converged("after a killed setup");
    squad.run(&["down"]).success();
}

/// Sends `signal` to an `up` of four teammates, one at a time, while the first one's setup
/// runs: that change finishes (labelled `ok`), no new one starts, the exit code is 130, and the
/// next `up` converges.
fn stop_signal_lets_changes_in_flight_finish(signal: rustix::process::Signal) {
    let squad = Squad::new(Shape {
        size: 4,
        // Setup is slow enough for the signal to arrive while it runs.
        before_clone: Some("  sleep 1"),
        ..Shape::default()
    });
    let mut child = squad
        .command(&["up", "--progress", "plain", "--parallel", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stderr.take().unwrap()));
    let mut seen = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.ends_with(": setup") {
            break;
        }
    }
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, signal).unwrap();
    for line in lines {
        seen.push_str(&line.unwrap());
        seen.push('\n');
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{status:?}\n{seen}");
    assert!(seen.contains("interrupt"), "{seen}");
    let held = squad.held();
    assert!(
        !held.is_empty() && held.len() < squad.teammates.len(),
        "the change in flight finishes and no other starts\n{held:#?}\n{seen}"
    );
    assert!(
        held.iter()
            .all(|sandbox| sandbox.setup.as_deref() == Some("ok")),
        "every sandbox made before the signal is set up and labelled\n{held:#?}\n{seen}"
    );
    squad.run(&["up"]).success();
    squad.assert_converged("after the interrupted run");
    squad.run(&["down"]).success();
}

#[test]
fn sigterm_stops_up_like_ctrl_c() {
    if ready() {
        stop_signal_lets_changes_in_flight_finish(rustix::process::Signal::TERM);
    }
}

#[test]
fn sighup_stops_up_like_ctrl_c() {
    if ready() {
        stop_signal_lets_changes_in_flight_finish(rustix::process::Signal::HUP);
    }
}

#[test]
fn sigint_lets_changes_in_flight_finish() {
    if ready() {
        stop_signal_lets_changes_in_flight_finish(rustix::process::Signal::INT);
    }
}

/// Two `up`s of one team at once (`--parallel parallel`), the second started after a seeded
/// offset of at most `spread_ms`: both exit 0 and every teammate has exactly one sandbox, set
/// up. The runs must really race: in some round both planned to create the same teammate.
fn two_ups_at_once_converge(simulate: Option<&str>, seed: u64, rounds: usize, parallel: &str) {
    let squad = Squad::new(Shape {
        size: 4,
        simulate,
        ..Shape::default()
    });
    let mut random = fastrand::Rng::with_seed(seed);
    let mut raced = 0;
    for round in 0..rounds {
        let offset = random.u64(0..=100);
        let up = ["up", "--progress", "plain", "--parallel", parallel];
        let (first, second) = together(squad.command(&up), squad.command(&up), offset);
        let context = format!("round {round}, second up {offset} ms later");
        for run in [&first, &second] {
            assert_eq!(run.code, 0, "{context}\n{}{}", run.stdout, run.stderr);
        }
        squad.assert_converged(&context);
        let both_create = squad.teammates.iter().any(|teammate| {
            let line = format!("+ {teammate} ");
            first.stderr.contains(&line) && second.stderr.contains(&line)
        });
        raced += usize::from(both_create);
        squad.run(&["down"]).success();
        squad.assert_empty(&context);
    }
    assert!(
        raced > 0,
        "the two runs never both planned to create a teammate"
    );
    if let Some(refused) = squad.refused_creates() {
        assert!(
            refused > 0,
            "the provider never refused a second create of a name"
        );
    }
}

#[test]
fn two_ups_at_once_leave_one_sandbox_per_teammate_on_local() {
    if ready() {
        // One change at a time: the first run's later creates come long after the second has
        // planned them too.
        two_ups_at_once_converge(None, 5, 4, "1");
    }
}

#[test]
fn two_ups_at_once_leave_one_sandbox_per_teammate_on_daytona() {
    if ready() {
        two_ups_at_once_converge(Some(RACY_CLOUD), 9, 3, "8");
    }
}

/// `up` and `down` at once, `down` after a seeded offset: afterwards each teammate has at most
/// one sandbox, and the next `up` (no `--yes`) converges whatever was left.
fn up_racing_down_converges(simulate: Option<&str>, seed: u64, rounds: usize) {
    let squad = Squad::new(Shape {
        size: 4,
        simulate,
        ..Shape::default()
    });
    let mut random = fastrand::Rng::with_seed(seed);
    for round in 0..rounds {
        let offset = random.u64(0..=800);
        let up = squad.command(&["up", "--progress", "plain"]);
        let down = squad.command(&["down"]);
        let (up, down) = together(up, down, offset);
        let context = format!(
            "round {round}, down {offset} ms after up (exits {} and {})",
            up.code, down.code
        );
        let held = squad.held();
        for teammate in &squad.teammates {
            let count = held
                .iter()
                .filter(|sandbox| sandbox.teammate.as_deref() == Some(teammate))
                .count();
            assert!(count <= 1, "{context}: {teammate} has {count}\n{held:#?}");
        }
        assert!(
            held.iter().all(|sandbox| sandbox.teammate.is_some()),
            "{context}\n{held:#?}"
        );
        let again = squad.run(&["up", "--progress", "plain"]);
        assert_eq!(
            again.code, 0,
            "{context}\nup:\n{}\ndown:\n{}{}\nnext up:\n{}",
            up.stderr, down.stdout, down.stderr, again.stderr
        );
        squad.assert_converged(&context);
        squad.run(&["down"]).success();
        squad.assert_empty(&context);
    }
}

#[test]
fn up_racing_down_leaves_nothing_the_next_up_cannot_converge_on_local() {
    if ready() {
        up_racing_down_converges(None, 3, 4);
    }
}

#[test]
fn up_racing_down_leaves_nothing_the_next_up_cannot_converge_on_daytona() {
    if ready() {
        up_racing_down_converges(Some(SLOW_CLOUD), 17, 3);
    }
}

/// Runs `first`, then `second` `offset_ms` later, both to completion.
fn together(
    first: std::process::Command,
    second: std::process::Command,
    offset_ms: u64,
) -> (crate::common::Run, crate::common::Run) {
    let first = in_background(first);
    std::thread::sleep(Duration::from_millis(offset_ms));
    let second = in_background(second);
    (first.join().unwrap(), second.join().unwrap())
}

/// Runs `command` to completion on a thread of its own, so that no run blocks on a full pipe.
fn in_background(
    mut command: std::process::Command,
) -> std::thread::JoinHandle<crate::common::Run> {
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ralph-town");
    std::thread::spawn(move || child.wait_with_output().unwrap().into())
}
