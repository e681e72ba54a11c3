//! "backs off after a failure (1 s, doubling up to 30 s)": the runner rendered from its
//! template, run with bash the way a sandbox runs it, for a command that always fails. The
//! whole back-off would take a minute, so the `sleep` first on its `PATH` records who asked for
//! how long and then sleeps a hundredth of a second: the test counts the runner's own
//! half-second waits after each run, which is what the back-off is, instead of timing it.
//! `tests/readme_claims.rs` checks the first doubling through the real binary.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::process::Command;

use ralph_town::setup::render_runner;
use ralph_town::team::{Restart, Work};

use crate::common::have;
use crate::setup_script::teammate;

/// A command that always fails, after noting in the record that it ran.
const FAILING: &str = "echo run >>\"$SLEEPS\"; exit 3";

/// Runs `max_runs` of [`FAILING`] through the runner: the record of its `sleep`s (`PPID
/// SECONDS` lines, and `run` where a run started) and what it said on stderr.
fn run_failing(max_runs: u32) -> (String, String) {
    let world = tempfile::tempdir().unwrap();
    let home = world.path().join("home");
    let work = home.join(".ralph-town/work");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::create_dir_all(home.join("app")).unwrap();
    let teammate = teammate("/nowhere", "feature/alice");
    let failing = Work {
        command: FAILING.into(),
        task: String::new(),
        restart: Restart::OnFailure,
        max_runs,
        tty: false,
    };
    let runner = render_runner(&teammate, &failing, "hash").expect("the runner renders");
    std::fs::write(work.join("runner.sh"), runner).unwrap();

    let bin = world.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let sleep = which::which("sleep").expect("`sleep`");
    let shim = bin.join("sleep");
    std::fs::write(
        &shim,
        format!(
            "#!/bin/bash\nprintf '%s %s\\n' \"$PPID\" \"$*\" >>\"$SLEEPS\"\nexec {} 0.01\n",
            sleep.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
    let sleeps = world.path().join("sleeps");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = Command::new("bash")
        .arg(work.join("runner.sh"))
        .arg("outer")
        .env_clear()
        .env("HOME", &home)
        .env("PATH", path)
        .env("SLEEPS", &sleeps)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    (std::fs::read_to_string(&sleeps).unwrap(), stderr)
}

/// The half-second waits of the process that waited most, counted after each run: the
/// runner's back-off (its other sleeps are of other processes or other lengths).
fn waits_after_each_run(record: &str) -> Vec<usize> {
    let waits: Vec<(usize, &str)> = {
        let mut run = 0;
        record
            .lines()
            .filter_map(|line| {
                if line == "run" {
                    run += 1;
                    return None;
                }
                let (parent, seconds) = line.split_once(' ').expect(line);
                (seconds == "0.5").then_some((run, parent))
            })
            .collect()
    };
    let mut by_parent: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, parent) in &waits {
        *by_parent.entry(parent).or_default() += 1;
    }
    let Some((runner, _)) = by_parent.into_iter().max_by_key(|(_, count)| *count) else {
        return Vec::new();
    };
    let runs = record.lines().filter(|line| *line == "run").count();
    (1..=runs)
        .map(|run| {
            waits
                .iter()
                .filter(|(after, parent)| *after == run && *parent == runner)
                .count()
        })
        .collect()
}

#[test]
fn the_runner_backs_off_doubling_up_to_30_seconds() {
    if !(have("bash") && have("setsid")) {
        return;
    }
    let (record, stderr) = run_failing(8);
    let said: Vec<&str> = stderr
        .lines()
        .filter_map(|line| line.split("ralph-town: restarting in ").nth(1))
        .collect();
    assert_eq!(
        said,
        ["1s", "2s", "4s", "8s", "16s", "30s", "30s"],
        "{stderr}"
    );
    assert!(stderr.contains("no runs left (8 in all)"), "{stderr}");
    // Half-second waits: twice the seconds it said, and none after the last run.
    assert_eq!(
        waits_after_each_run(&record),
        [2, 4, 8, 16, 32, 60, 60, 0],
        "{record}"
    );
}
