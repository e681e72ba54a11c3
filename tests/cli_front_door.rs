//! What a person meets first, tried as they would: `--help` telling the truth about exit codes,
//! errors without diagnostic codes unless `--verbose`, the orphan line naming the right file,
//! `--progress json` being only events, the reduced-isolation warning saying why (once per
//! process), and `sandbox preflight` pointing at the command that builds a missing snapshot.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::{Value, json};

use crate::common::{World, have};
use crate::serve_support;

const VALID: &str = "name = \"squad\"\nprovider = \"local\"\n[defaults]\nrepo = \"https://example.com/app.git\"\n\
                     [[teammate]]\nname = \"alice\"\nbranch = \"a\"\n";

/// `plan --help` said errors exit 1 while an invalid team file exits 3.
#[test]
fn plan_help_names_the_exit_codes_plan_really_uses() {
    let world = World::new();
    let help = world.run(&["plan", "--help"]).success().stdout;
    let flag = help
        .split("--detailed-exitcode")
        .nth(1)
        .expect("the flag is documented");
    let described: String = flag
        .split("\n\n")
        .next()
        .unwrap()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(!described.contains("1 on error"), "{described}");

    world.file("team.toml", VALID);
    let changes = world.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(changes.code, 2);
    assert!(
        described.contains("2 when there are changes"),
        "{described}"
    );
    world.file(
        "broken.toml",
        "name = \"squad\"\n[[teammate]]\nnmae = \"x\"\n",
    );
    let invalid = world.run(&["plan", "--detailed-exitcode", "broken.toml"]);
    assert!(
        described.contains(&format!("{}: the team file is invalid", invalid.code)),
        "exit {} is not what the help says: {described}",
        invalid.code
    );
}

/// Diagnostic codes such as `run::not_found` were the first line of every error.
#[test]
fn errors_show_diagnostic_codes_only_with_verbose() {
    let world = World::new();
    world.file("team.toml", VALID);
    world.file("typo.toml", &VALID.replace("branch", "brnach"));
    let cases: [(&[&str], &str, &str); 2] = [
        (&["validate", "typo.toml"], "team::", "brnach"),
        (&["ssh", "nobody"], "run::not_found", "nobody"),
    ];
    for (args, code, message) in cases {
        let plain = world.run(args);
        assert_ne!(plain.code, 0);
        assert!(plain.stderr.contains(message), "{args:?}: {}", plain.stderr);
        assert!(!plain.stderr.contains(code), "{args:?}: {}", plain.stderr);
        let mut verbose_args = args.to_vec();
        verbose_args.push("--verbose");
        let verbose = world.run(&verbose_args);
        assert_eq!(verbose.code, plain.code);
        assert!(
            verbose.stderr.contains(code),
            "{args:?}: {}",
            verbose.stderr
        );
    }
}

/// The orphan cause said "not in team.toml" for a file with another name.
#[test]
fn an_orphan_line_names_the_team_file_it_is_missing_from() {
    let world = World::new();
    world.file("squad.toml", VALID);
    world
        .run(&[
            "sandbox",
            "create",
            "--label",
            "ralph-town/team=squad",
            "--label",
            "ralph-town/teammate=zed",
        ])
        .success();
    let plan = world.run(&["plan", "squad.toml"]).success();
    assert!(
        plan.stdout.contains("orphan     not in squad.toml (kept"),
        "{}",
        plan.stdout
    );
    world.run(&["down", "squad.toml", "--force"]).success();
}

/// `--progress json` printed the human plan on stderr before its NDJSON events.
#[test]
fn progress_json_writes_the_plan_as_an_event() {
    if !have("git") {
        return;
    }
    let world = World::new();
    let origin = world.origin(&[]);
    world.file(
        "team.toml",
        &VALID.replace("https://example.com/app.git", origin.to_str().unwrap()),
    );
    let up = world
        .run(&["up", "--no-setup", "--progress", "json"])
        .success();
    assert!(!up.stderr.contains("+ alice"), "{}", up.stderr);
    let events: Vec<Value> = up
        .stderr
        .lines()
        .filter(|line| line.starts_with('{'))
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(events[0]["event"], "plan", "{}", up.stderr);
    assert_eq!(events[0]["plan"]["changes"][0]["action"], "create");
    assert_eq!(events[0]["plan"]["summary"]["create"], 1);
    assert!(events[1..].iter().any(|event| event["event"] == "phase"));
    world.run(&["down"]).success();
}

/// A directory holding a `bwrap` that is installed but cannot make a sandbox.
fn broken_bubblewrap(world: &World) -> PathBuf {
    let bin = world.path().join("broken-bwrap");
    std::fs::create_dir_all(&bin).unwrap();
    let program = bin.join("bwrap");
    std::fs::write(
        &program,
        "#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

fn path_with(first: &Path) -> String {
    format!(
        "{}:{}",
        first.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// An unusable bubblewrap was reported as "not installed".
#[test]
fn reduced_isolation_says_whether_bwrap_is_missing_or_unusable() {
    let world = World::new();
    let bin = broken_bubblewrap(&world);
    let unusable = world
        .run_with(&["sandbox", "list"], &[("PATH", &path_with(&bin))])
        .success();
    assert!(
        unusable
            .stderr
            .contains(&format!("installed at `{}`", bin.join("bwrap").display())),
        "{}",
        unusable.stderr
    );
    assert!(
        !unusable.stderr.contains("not installed"),
        "{}",
        unusable.stderr
    );

    let empty = world.path().join("no-tools");
    std::fs::create_dir_all(&empty).unwrap();
    let missing = world
        .run_with(&["sandbox", "list"], &[("PATH", empty.to_str().unwrap())])
        .success();
    assert!(
        missing
            .stderr
            .contains("`bwrap` (bubblewrap) is not installed"),
        "{}",
        missing.stderr
    );
}

/// `plan` started bubblewrap (twice) to check isolation, though it starts nothing in a sandbox:
/// it is a read. With an unusable bubblewrap the check always warns, so a `plan` without the
/// warning ran no check; the first command that works with sandboxes still checks and warns.
#[test]
fn plan_starts_no_bubblewrap_and_sandbox_commands_still_check_it() {
    let world = World::new();
    world.file("team.toml", VALID);
    let path = path_with(&broken_bubblewrap(&world));

    let plan = world.run_with(&["plan"], &[("PATH", &path)]).success();
    assert!(plan.stdout.contains("alice"), "{}", plan.stdout);
    assert!(
        !plan.stderr.contains("isolation is reduced"),
        "{}",
        plan.stderr
    );

    let list = world
        .run_with(&["sandbox", "list"], &[("PATH", &path)])
        .success();
    assert!(
        list.stderr.contains("isolation is reduced"),
        "{}",
        list.stderr
    );
}

/// The MCP server warned about bubblewrap on every tool call.
#[test]
fn the_mcp_server_warns_about_isolation_once() {
    let world = World::new();
    world.file("team.toml", VALID);
    let bin = broken_bubblewrap(&world);
    let mut server = world
        .command(&["mcp"])
        .env("PATH", path_with(&bin))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = std::cell::RefCell::new(server.stdin.take().unwrap());
    let mut output = BufReader::new(server.stdout.take().unwrap());
    let send = |message: Value| writeln!(input.borrow_mut(), "{message}").unwrap();
    let mut answer = |id: u64| -> Value {
        loop {
            let mut line = String::new();
            assert!(
                output.read_line(&mut line).unwrap() > 0,
                "the server stopped"
            );
            let message: Value = serde_json::from_str(&line).unwrap();
            if message["id"] == id {
                return message;
            }
        }
    };
    send(
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "test", "version": "0"}}}),
    );
    answer(1);
    send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    let calls = [
        ("sandbox_list", json!({})),
        ("sandbox_list", json!({})),
        ("team_plan", json!({"file": "team.toml"})),
        ("team_status", json!({"file": "team.toml"})),
    ];
    let mut answers = Vec::new();
    for (index, (tool, arguments)) in calls.into_iter().enumerate() {
        let id = 2 + index as u64;
        send(json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                    "params": {"name": tool, "arguments": arguments}}));
        answers.push(answer(id));
    }
    // End of input: the server stops.
    drop(input);
    let output = server.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let answered = serde_json::to_string(&answers).unwrap();
    let said = stderr.matches("bubblewrap").count() + answered.matches("bubblewrap").count();
    assert_eq!(said, 1, "stderr:\n{stderr}\nanswers:\n{answered}");
}

/// `sandbox preflight` against a Daytona without the snapshot only asked "Did you add it
/// through the Daytona Dashboard?".
#[tokio::test(flavor = "multi_thread")]
async fn preflight_without_the_snapshot_points_at_snapshot_create() {
    let server = serve_support::start("").await;
    let world = World::new();
    let env = [
        ("DAYTONA_API_URL", server.api_url.as_str()),
        ("DAYTONA_API_KEY", serve_support::KEY),
    ];
    let run = {
        let world = &world;
        tokio::task::block_in_place(|| {
            world.run_with(
                &[
                    "sandbox",
                    "preflight",
                    "--provider",
                    "daytona",
                    "--snapshot",
                    "team-image:1",
                ],
                &env,
            )
        })
    };
    assert_eq!(run.code, 1, "{run:?}");
    // The report wraps its lines; the words are what count.
    let said = run.stderr.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(said.contains("team-image:1 not found"), "{}", run.stderr);
    assert!(
        said.contains("ralph-town sandbox snapshot create --provider daytona --name team-image:1"),
        "{}",
        run.stderr
    );
}
