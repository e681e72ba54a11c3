//! Claims of the README's command sections that no other module checks, through the real binary:
//! `status --watch` redraws until interrupted (also while a frame is probed) and then exits
//! cleanly, a second stop signal ends
//! `up` at once, `logs` colours its prefixes on a terminal unless `NO_COLOR` is set, and `ssh`
//! and `exec` against a `serve` without `--ssh-listen` end with "Connection refused" (255), and
//! a `tty = true` command in a sandbox without `tmux` fails to start, saying so.

use std::io::Read;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};

use crate::common::{Run, have};
use crate::team_support::{Shape, Squad};
use crate::work::workers;

/// Longer than any healthy exit takes on a loaded machine: reaching it means a hang.
const HANG: Duration = Duration::from_secs(60);

fn signal(child: &Child, signal: Signal) {
    kill_process(Pid::from_raw(child.id() as i32).unwrap(), signal).unwrap();
}

/// Waits for `child` to exit, failing the test if it hangs.
fn exited(child: &mut Child, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + HANG;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what} never exited");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// "`status [--watch]`" and "`--watch` redraws until interrupted": two frames, each clearing
/// the screen and showing the team, then Ctrl-C ends it with exit code 0.
#[test]
fn status_watch_redraws_until_interrupted_and_exits_cleanly() {
    let Some(world) = workers("\n[[teammate]]\nname = \"alice\"\nbranch = \"feature/alice\"\n")
    else {
        return;
    };
    world.run(&["up", "--progress", "none"]).success();
    let mut watch = world
        .command(&["status", "--watch"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = watch.stdout.take().unwrap();
    let (frames, reader) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut buffer = [0u8; 4096];
        while let Ok(read @ 1..) = stdout.read(&mut buffer) {
            seen.extend_from_slice(&buffer[..read]);
            let _ = frames.send(String::from_utf8_lossy(&seen).into_owned());
        }
    });
    let clear = "\x1b[H\x1b[2J";
    let mut seen = String::new();
    let deadline = Instant::now() + HANG;
    // A frame is complete once the next one starts.
    while seen.matches(clear).count() < 3 {
        assert!(Instant::now() < deadline, "never three frames:\n{seen}");
        if let Ok(text) = reader.recv_timeout(Duration::from_millis(200)) {
            seen = text;
        }
    }
    for frame in seen.split(clear).skip(1).take(2) {
        assert!(
            frame.starts_with("team `workers` on `local`") && frame.contains("alice"),
            "{frame:?}"
        );
    }
    signal(&watch, Signal::INT);
    let status = exited(&mut watch, "status --watch");
    let mut stderr = String::new();
    watch
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{status:?}\n{stderr}");
    world.run(&["down", "--yes"]).success();
}

/// `--watch` ends on Ctrl-C even while a frame is still being probed: against a Daytona API that
/// takes connections and never answers, the interrupt ends the watch at once with 0 and no
/// frame drawn, instead of waiting out the stalled probe.
#[test]
fn status_watch_ends_on_ctrl_c_while_a_probe_is_stalled() {
    let world = crate::common::World::new();
    world.file(
        "team.toml",
        "name = \"stalled\"\nprovider = \"daytona\"\n\n[defaults]\nrepo = \"https://example.invalid/r.git\"\n\n[[teammate]]\nname = \"alice\"\nbranch = \"feature/alice\"\n",
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let (connected, accepted) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
            let _ = connected.send(());
        }
    });
    let mut watch = world
        .command(&["status", "--watch"])
        .env("DAYTONA_API_URL", format!("http://{address}/api"))
        .env("DAYTONA_API_KEY", "stalled-key")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The probe is under way (and the interrupt listened for, which comes first) once the
    // API has a connection.
    accepted
        .recv_timeout(HANG)
        .expect("status --watch never reached the API");
    signal(&watch, Signal::INT);
    let status = exited(&mut watch, "status --watch during a stalled probe");
    let mut stdout = String::new();
    watch
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(!stdout.contains("\x1b[2J"), "a frame was drawn: {stdout:?}");
}

/// "Ctrl-C, SIGTERM and SIGHUP ... stop `up` gently ... A second signal exits at once": with a
/// setup that would run for ten minutes, the first signal lets it go on, the second ends `up`
/// with 130 before it finishes, leaving the sandbox unlabelled for the next `up`.
#[test]
fn a_second_signal_ends_up_at_once() {
    if !(have("git") && have("bash")) {
        return;
    }
    let squad = Squad::new(Shape {
        size: 1,
        before_clone: Some("  sleep 600"),
        ..Shape::default()
    });
    let mut up = squad
        .command(&["up", "--progress", "plain"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(up.stderr.take().unwrap()));
    let mut seen = String::new();
    let mut wait_for = |end: &str, seen: &mut String| {
        for line in lines.by_ref() {
            let line = line.unwrap();
            seen.push_str(&line);
            seen.push('\n');
            if line.contains(end) {
                return;
            }
        }
        panic!("`up` never said {end:?}:\n{seen}");
    };
    wait_for(": setup", &mut seen);
    signal(&up, Signal::TERM);
    wait_for("interrupt again to abort", &mut seen);
    signal(&up, Signal::INT);
    let status = exited(&mut up, "up after a second signal");
    assert_eq!(status.code(), Some(130), "{status:?}\n{seen}");
    let held = squad.held();
    assert!(
        held.len() == 1 && held[0].setup.is_none(),
        "the setup in flight was cut short, not finished\n{held:#?}\n{seen}"
    );
    squad.run(&["down", "--yes"]).success();
}

/// `logs` run on a terminal (`script` gives it one) with the test's environment, `NO_COLOR`
/// set as given.
fn logs_on_a_terminal(world: &crate::common::World, no_color: Option<&str>) -> String {
    let binary = world.command(&[]);
    let mut script = std::process::Command::new("script");
    script
        .args([
            "-qec",
            &format!("'{}' logs", binary.get_program().display()),
            "/dev/null",
        ])
        .current_dir(world.path())
        .env_clear()
        .envs(
            binary
                .get_envs()
                .filter_map(|(name, value)| Some((name, value?))),
        )
        .env_remove("NO_COLOR")
        .stdin(Stdio::null());
    if let Some(value) = no_color {
        script.env("NO_COLOR", value);
    }
    Run::from(script.output().unwrap()).success().stdout
}

/// "each line prefixed with its teammate (coloured on a terminal)" and "`NO_COLOR` turns colour
/// off": on a terminal the prefix is coloured; with `NO_COLOR` it is not (an empty one does
/// not count), and through a pipe it never is.
#[test]
fn logs_colour_their_prefixes_on_a_terminal_unless_no_color_is_set() {
    let Some(world) = workers(
        "command = \"echo hello-from-alice\"\n\n[[teammate]]\nname = \"alice\"\nbranch = \"feature/alice\"\n",
    ) else {
        return;
    };
    if !have("script") {
        return;
    }
    world
        .run(&[
            "up",
            "--wait",
            "--wait-timeout",
            "120",
            "--progress",
            "none",
        ])
        .success();
    let coloured = logs_on_a_terminal(&world, None);
    assert!(
        coloured.contains("hello-from-alice") && coloured.contains("\x1b["),
        "{coloured:?}"
    );
    let plain = logs_on_a_terminal(&world, Some("1"));
    assert!(
        plain.contains("hello-from-alice") && !plain.contains("\x1b["),
        "{plain:?}"
    );
    // An empty `NO_COLOR` is not set (https://no-color.org), as for the progress output.
    let empty = logs_on_a_terminal(&world, Some(""));
    assert!(
        empty.contains("hello-from-alice") && empty.contains("\x1b["),
        "{empty:?}"
    );
    let piped = world.run_with(&["logs"], &[]).success().stdout;
    assert!(
        piped.contains("hello-from-alice") && !piped.contains("\x1b["),
        "{piped:?}"
    );
    world.run(&["down", "--force", "--yes"]).success();
}

/// "without `--ssh-listen` nothing listens where the SSH command points, and `ssh` and `exec`
/// end with "Connection refused" (exit code 255)".
#[test]
fn ssh_and_exec_against_serve_without_ssh_listen_end_with_connection_refused() {
    if !(have("git") && have("bash") && have("ssh")) {
        return;
    }
    let squad = Squad::new(Shape {
        size: 1,
        simulate: Some(""),
        ..Shape::default()
    });
    squad.run(&["up", "--progress", "none"]).success();
    for args in [&["ssh", "t0"][..], &["exec", "t0", "--", "true"]] {
        let run = squad.run(args);
        assert_eq!(run.code, 255, "{args:?}: {}", run.all());
        assert!(
            run.all().contains("Connection refused"),
            "{args:?}: {}",
            run.all()
        );
    }
    squad.run(&["down", "--yes"]).success();
}

/// "Commands with `tty = true` need `tmux` in the sandbox; without it their start fails and says
/// so". Local sandboxes see this machine's tools, so the sandbox without `tmux` is a `serve`
/// sandbox of a snapshot whose Dockerfile deletes it (a whiteout in the snapshot's layer; the
/// host keeps its `tmux`).
#[test]
fn a_tty_command_in_a_sandbox_without_tmux_fails_to_start_and_says_so() {
    if !(have("git") && have("bash") && have("bwrap") && have("tmux")) {
        return;
    }
    let world = crate::common::World::new();
    let origin = world.origin(&[]);
    let serve = crate::team_support::Serve::spawn(&world, &origin, "");
    let client = reqwest::blocking::Client::new();
    let dockerfile =
        "FROM debian:bookworm-slim\nRUN for tool in $(which -a tmux); do rm -f \"$tool\"; done\n";
    let made = client
        .post(format!("{}/snapshots", serve.api))
        .bearer_auth(crate::team_support::KEY)
        .json(
            &serde_json::json!({"name": "no-tmux", "buildInfo": {"dockerfileContent": dockerfile}}),
        )
        .send()
        .unwrap();
    assert!(made.status().is_success(), "{:?}", made.text());
    let deadline = Instant::now() + HANG;
    loop {
        let snapshot: serde_json::Value = client
            .get(format!("{}/snapshots/no-tmux", serve.api))
            .bearer_auth(crate::team_support::KEY)
            .send()
            .unwrap()
            .json()
            .unwrap();
        if snapshot["state"] == "active" {
            break;
        }
        assert!(
            snapshot["state"] != "build_failed" && Instant::now() < deadline,
            "{snapshot}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    world.file(
        "team.toml",
        &format!(
            "name = \"notmux\"\nprovider = \"daytona\"\n\n[defaults]\nrepo = \"{}\"\n\
             base_branch = \"main\"\nsnapshot = \"no-tmux\"\ncommand = \"sleep 1\"\ntty = true\n\n\
             [[teammate]]\nname = \"alice\"\nbranch = \"feature/alice\"\n",
            origin.display()
        ),
    );
    let daytona = [
        ("DAYTONA_API_URL", serve.api.as_str()),
        ("DAYTONA_API_KEY", crate::team_support::KEY),
    ];
    let up = world.run_with(&["up", "--progress", "plain"], &daytona);
    assert_ne!(up.code, 0, "{}", up.all());
    assert!(
        up.all()
            .contains("`tmux` is not installed in the sandbox of `alice`"),
        "{}",
        up.all()
    );
    let status = world.run_with(&["status", "--json"], &daytona).success();
    let rows: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_ne!(rows[0]["command"]["state"], "running", "{rows}");
    world
        .run_with(&["down", "--yes", "--force"], &daytona)
        .success();
}
