//! `ralph-town mcp` driven by the official MCP Python SDK's stdio client
//! (`tests/mcp/mcp_client_test.py`): the real binary, a real local git origin, real sandboxes on
//! the `local` provider, and sentinel secrets that must never appear in an answer.
//!
//! The SDK comes from the virtual environment `scripts/sdk-venv.sh` makes: `$RALPH_TOWN_SDK_VENV`,
//! else `target/sdk-venv`. Without it (or without git) the tests skip and say why; with
//! `CI=true` they fail.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{SENTINEL, World, have};

/// The virtual environment's python with `mcp` installed.
fn sdk_python() -> Option<PathBuf> {
    let venv = std::env::var_os("RALPH_TOWN_SDK_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/sdk-venv"));
    let python = venv.join("bin/python");
    let found = Command::new(&python)
        .args(["-c", "import mcp"])
        .output()
        .is_ok_and(|output| output.status.success());
    if found {
        return Some(python);
    }
    let reason = format!(
        "the MCP SDK in `{}` (make it with `scripts/sdk-venv.sh`)",
        venv.display()
    );
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "the MCP test needs {reason} when CI=true"
    );
    eprintln!("skipping: {reason}");
    None
}

/// Runs one scenario of the client script in `world` with extra `env`; panics with both streams
/// when it fails.
fn scenario(python: &Path, world: &World, name: &str, env: &[(&str, &str)]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp/mcp_client_test.py");
    let mut command = Command::new(python);
    command
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_ralph-town"))
        .arg(name)
        .arg(world.path())
        .current_dir(world.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", world.home())
        .env("RALPH_TOWN_HOME", world.state())
        .env("NO_COLOR", "1");
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().expect("run python");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("mcp: done"),
        "the MCP client script failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
}

#[test]
fn team_tools_plan_up_status_and_down_a_team() {
    let Some(python) = sdk_python() else {
        return;
    };
    if !(have("git") && have("bash")) {
        return;
    }
    let world = World::new();
    let origin = world.origin(&["feature/existing"]);
    world.file(
        "team.toml",
        &format!(
            r#"name = "squad"

[defaults]
repo = "{}"
base_branch = "main"
secrets = ["GH_TOKEN"]
git = {{ user_name = "Ralph Bot", user_email = "ralph@example.com" }}

[[teammate]]
name = "alice"
branch = "feature/existing"

[[teammate]]
name = "bob"
branch = "feature/new"
"#,
            origin.display()
        ),
    );
    world.file(
        "bad.toml",
        "name = \"broken\"\n[defaults]\nrepo = \"/tmp/repo\"\n[[teammate]]\nname = \"alice\"\nbrnach = \"feature/a\"\n",
    );
    world.file(
        "needs-secret.toml",
        &format!(
            "name = \"needy\"\n[defaults]\nrepo = \"{}\"\nsecrets = [\"API_TOKEN=NOT_SET_ON_THE_HOST\"]\n[[teammate]]\nname = \"carol\"\nbranch = \"feature/c\"\n",
            origin.display()
        ),
    );
    scenario(
        &python,
        &world,
        "team",
        &[("GH_TOKEN", SENTINEL), ("SENTINEL_TEAM", SENTINEL)],
    );
    // Nothing of the team is left, and `needy` never got a sandbox.
    assert!(
        world.sandbox_dirs().is_empty(),
        "{:?}",
        world.sandbox_dirs()
    );
    world.assert_host_git_untouched();
}

#[test]
fn sandbox_tools_create_exec_and_delete_single_sandboxes() {
    let Some(python) = sdk_python() else {
        return;
    };
    if !(have("git") && have("bash")) {
        return;
    }
    let world = World::new();
    let origin = world.origin(&["feature/existing"]);
    scenario(
        &python,
        &world,
        "sandboxes",
        &[
            ("SENTINEL_SANDBOX", SENTINEL),
            ("ORIGIN", &origin.display().to_string()),
        ],
    );
    assert!(
        world.sandbox_dirs().is_empty(),
        "{:?}",
        world.sandbox_dirs()
    );
}
