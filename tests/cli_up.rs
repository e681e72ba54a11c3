//! The core loop end to end on the `local` provider: `up`, `status`, `exec`, `plan`, `down`,
//! driven through the real binary against a real git origin.

use crate::common;

use common::{SENTINEL, World, git, have};

fn ready() -> bool {
    have("git") && have("bash")
}

fn team_file(world: &World, origin: &std::path::Path, teammates: &str) -> std::path::PathBuf {
    world.file(
        "team.toml",
        &format!(
            r#"name = "squad"

[defaults]
repo = "{}"
base_branch = "main"
secrets = ["GH_TOKEN"]
git = {{ user_name = "Ralph Bot", user_email = "ralph@example.com" }}

{teammates}"#,
            origin.display()
        ),
    )
}

const TWO: &str = r#"[[teammate]]
name = "alice"
branch = "feature/existing"

[[teammate]]
name = "bob"
branch = "feature/new"
"#;

fn exec(world: &World, teammate: &str, command: &[&str]) -> String {
    let mut args = vec!["exec", teammate, "--"];
    args.extend_from_slice(command);
    world.run(&args).success().stdout.trim().to_string()
}

#[test]
fn up_creates_clones_on_branches_and_down_removes_everything() {
    if !ready() {
        return;
    }
    let world = World::new();
    let origin = world.origin(&["feature/existing"]);
    team_file(&world, &origin, TWO);
    let env = [("GH_TOKEN", SENTINEL)];

    let up = world
        .run_with(&["up", "--progress", "plain"], &env)
        .success();
    assert!(up.stderr.contains("+ alice"), "{}", up.stderr);
    assert_eq!(world.sandbox_dirs().len(), 2);

    // An existing remote branch is tracked; a new one forks from the base branch.
    assert_eq!(
        exec(
            &world,
            "alice",
            &["git", "rev-parse", "--abbrev-ref", "HEAD"]
        ),
        "feature/existing"
    );
    assert_eq!(
        exec(
            &world,
            "alice",
            &["git", "rev-parse", "--abbrev-ref", "@{upstream}"]
        ),
        "origin/feature/existing"
    );
    assert_eq!(
        exec(&world, "bob", &["git", "rev-parse", "--abbrev-ref", "HEAD"]),
        "feature/new"
    );
    assert_eq!(
        exec(&world, "bob", &["git", "rev-parse", "HEAD"]),
        git(&origin, &["rev-parse", "main"])
    );
    assert_eq!(
        exec(
            &world,
            "bob",
            &["git", "config", "--global", "credential.helper"]
        ),
        "store"
    );
    assert_eq!(
        exec(&world, "bob", &["git", "config", "--global", "user.name"]),
        "Ralph Bot"
    );

    // A second `up` has nothing to do.
    let again = world
        .run_with(&["plan", "--detailed-exitcode"], &env)
        .success();
    assert!(again.stdout.contains("keep"), "{}", again.stdout);
    world.run_with(&["up"], &env).success();
    assert_eq!(world.sandbox_dirs().len(), 2);

    let status = world.run(&["status", "--json"]).success();
    let rows: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 2);
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .all(|row| row["state"] == "started" && row["setup"] == "ok")
    );

    world.run(&["down"]).success();
    assert!(world.sandbox_dirs().is_empty());
    world.assert_host_git_untouched();
    assert!(!up.all().contains(SENTINEL));
}

#[test]
fn editing_a_branch_recreates_only_that_teammate() {
    if !ready() {
        return;
    }
    let world = World::new();
    let origin = world.origin(&["feature/existing"]);
    team_file(&world, &origin, TWO);
    let env = [("GH_TOKEN", SENTINEL)];
    world.run_with(&["up"], &env).success();
    let before = world.run(&["status", "--json"]).success().stdout;

    team_file(
        &world,
        &origin,
        &TWO.replace("feature/new", "feature/renamed"),
    );
    let plan = world
        .run_with(&["plan", "--detailed-exitcode"], &env)
        .code(2);
    assert!(plan.stdout.contains("-/+ bob"), "{}", plan.stdout);
    assert!(
        plan.stdout
            .contains("spec changed: branch feature/new -> feature/renamed"),
        "{}",
        plan.stdout
    );
    assert!(plan.stdout.contains("  alice"), "{}", plan.stdout);

    // Destructive without a terminal and without `--yes`: refused, nothing changed.
    let refused = world.run_with(&["up"], &env).code(4);
    assert!(refused.stderr.contains("--yes"), "{}", refused.stderr);
    assert_eq!(world.run(&["status", "--json"]).success().stdout, before);

    world.run_with(&["up", "--yes"], &env).success();
    let after: serde_json::Value =
        serde_json::from_str(&world.run(&["status", "--json"]).success().stdout).unwrap();
    let before: serde_json::Value = serde_json::from_str(&before).unwrap();
    let id = |rows: &serde_json::Value, name: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|row| row["teammate"] == name)
            .unwrap()["sandbox_id"]
            .clone()
    };
    assert_eq!(id(&before, "alice"), id(&after, "alice"));
    assert_ne!(id(&before, "bob"), id(&after, "bob"));
    assert_eq!(after.as_array().unwrap().len(), 2);
    assert_eq!(
        exec(&world, "bob", &["git", "rev-parse", "--abbrev-ref", "HEAD"]),
        "feature/renamed"
    );
    world.run(&["down", "--force"]).success();
}

#[test]
fn orphan_is_kept_until_prune() {
    if !ready() {
        return;
    }
    let world = World::new();
    let origin = world.origin(&[]);
    team_file(&world, &origin, TWO);
    let env = [("GH_TOKEN", SENTINEL)];
    world.run_with(&["up"], &env).success();

    team_file(
        &world,
        &origin,
        "[[teammate]]\nname = \"alice\"\nbranch = \"feature/existing\"\n",
    );
    let kept = world.run_with(&["up"], &env).success();
    assert!(kept.stderr.contains("! bob"), "{}", kept.stderr);
    assert!(kept.stderr.contains("warning"), "{}", kept.stderr);
    assert_eq!(world.sandbox_dirs().len(), 2);

    world.run_with(&["up", "--prune", "--yes"], &env).success();
    assert_eq!(world.sandbox_dirs().len(), 1);
    world.run(&["down"]).success();
    assert!(world.sandbox_dirs().is_empty());
}

#[test]
fn down_refuses_to_lose_uncommitted_work() {
    if !ready() {
        return;
    }
    let world = World::new();
    let origin = world.origin(&[]);
    team_file(&world, &origin, TWO);
    world.run_with(&["up"], &[("GH_TOKEN", SENTINEL)]).success();
    exec(
        &world,
        "alice",
        &["sh", "-c", "echo draft > notes-in-progress.txt"],
    );

    let refused = world.run(&["down"]).code(4);
    assert!(
        refused.stderr.contains("notes-in-progress.txt"),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("--force"), "{}", refused.stderr);
    assert_eq!(world.sandbox_dirs().len(), 2);

    world.run(&["down", "--force"]).success();
    assert!(world.sandbox_dirs().is_empty());
}

#[test]
fn exec_propagates_the_exit_code() {
    if !ready() {
        return;
    }
    let world = World::new();
    let origin = world.origin(&[]);
    team_file(&world, &origin, TWO);
    world
        .run_with(&["up", "--no-setup"], &[("GH_TOKEN", SENTINEL)])
        .success();
    let run = world.run(&[
        "exec",
        "alice",
        "--",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 7",
    ]);
    assert_eq!(run.code, 7);
    // As `docker compose exec -T`: the streams stay apart.
    assert_eq!(run.stdout, "out\n", "{run:?}");
    assert!(run.stderr.contains("err"), "{run:?}");
    // stdin is forwarded.
    let echoed = world.run_input(&["exec", "alice", "--", "cat"], "from stdin\n");
    assert_eq!(echoed.code, 0, "{echoed:?}");
    assert_eq!(echoed.stdout, "from stdin\n");
    // ralph-town's own failures exit 125, never a code the command could have chosen.
    let unknown = world.run(&["exec", "alcie", "--", "true"]);
    assert_eq!(unknown.code, 125, "{unknown:?}");
    assert!(
        unknown.stderr.contains("did you mean `alice`"),
        "{unknown:?}"
    );
    let slow = world.run(&["exec", "alice", "--timeout", "1", "--", "sleep", "30"]);
    assert_eq!(slow.code, 124, "{}", slow.stderr);
    assert!(slow.stderr.contains("timed out"), "{}", slow.stderr);
    world.run(&["down", "--force"]).success();
}

#[test]
fn secret_sentinel_never_leaves_the_sandbox() {
    if !ready() {
        return;
    }
    let world = World::new();
    let origin = world.origin(&[]);
    team_file(&world, &origin, TWO);
    let env = [("GH_TOKEN", SENTINEL)];
    let mut seen = String::new();
    for args in [
        vec!["validate"],
        vec!["plan"],
        vec!["plan", "--json"],
        vec!["up", "--json", "--progress", "json"],
        vec!["status"],
        vec!["status", "--json"],
    ] {
        seen.push_str(&world.run_with(&args, &env).success().all());
    }
    assert!(!seen.contains(SENTINEL));

    // The value is in the sandbox's 0600 files and nowhere else under the state root.
    let mut holders = Vec::new();
    scan(&world.state(), &mut holders);
    assert!(!holders.is_empty(), "the secret reached no sandbox");
    for path in &holders {
        let name = path.file_name().unwrap().to_string_lossy();
        assert!(
            name == ".git-credentials" || name == "secrets.env" || name == "hosts.yml",
            "secret found in {}",
            path.display()
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "{} is mode {mode:o}", path.display());
    }
    seen = world.run_with(&["down", "--json"], &env).success().all();
    assert!(!seen.contains(SENTINEL));
    world.assert_host_git_untouched();
}

fn scan(dir: &std::path::Path, holders: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            scan(&path, holders);
        } else if kind.is_file()
            && let Ok(bytes) = std::fs::read(&path)
            && bytes
                .windows(SENTINEL.len())
                .any(|window| window == SENTINEL.as_bytes())
        {
            holders.push(path);
        }
    }
}

#[test]
fn killed_up_converges_without_duplicates() {
    if !ready() {
        return;
    }
    let world = World::new();
    let origin = world.origin(&[]);
    let teammates: String = (0..6)
        .map(|i| format!("[[teammate]]\nname = \"t{i}\"\nbranch = \"feature/t{i}\"\n\n"))
        .collect();
    team_file(&world, &origin, &teammates);
    let mut child = world
        .command(&["up", "--parallel", "2", "--progress", "none"])
        .env("GH_TOKEN", SENTINEL)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it as soon as the first sandbox exists, part-way through the team.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while world.sandbox_dirs().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    world
        .run_with(&["up", "--yes"], &[("GH_TOKEN", SENTINEL)])
        .success();
    let rows: serde_json::Value =
        serde_json::from_str(&world.run(&["status", "--json"]).success().stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 6, "{rows:?}");
    assert!(rows.iter().all(|row| row["setup"] == "ok"), "{rows:?}");
    world.run(&["down", "--force"]).success();
    assert!(world.sandbox_dirs().is_empty());
}

#[test]
fn shell_metacharacters_in_values_are_inert() {
    if !ready() {
        return;
    }
    let world = World::new();
    let origin = world.origin(&[]);
    let nasty = r#"a'b"c`touch /tmp/pwned-by-backtick`$(touch pwned-by-subshell);d"#;
    let teammates = format!(
        "[[teammate]]\nname = \"alice\"\nbranch = \"feature/a\"\nenv = [{}]\n",
        toml::Value::String(format!("NASTY={nasty}"))
    );
    team_file(&world, &origin, &teammates);
    world.run_with(&["up"], &[("GH_TOKEN", SENTINEL)]).success();
    assert_eq!(exec(&world, "alice", &["printenv", "NASTY"]), nasty);
    let found = exec(
        &world,
        "alice",
        &["sh", "-c", "find \"$HOME\" -name 'pwned*' | wc -l"],
    );
    assert_eq!(found, "0");
    assert!(!std::path::Path::new("/tmp/pwned-by-backtick").exists());
    assert!(!world.path().join("pwned-by-subshell").exists());
    world.run(&["down", "--force"]).success();
}
