//! `ralph-town mcp` driven by the official MCP Python SDK's stdio client
//! (`tests/mcp/mcp_client_test.py`): the real binary, a real local git origin, real sandboxes on
//! the `local` provider, and sentinel secrets that must never appear in an answer.
//!
//! The SDK comes from the virtual environment `scripts/sdk-venv.sh` makes: `$RALPH_TOWN_SDK_VENV`,
//! else `target/sdk-venv`. Without it (or without git) the tests skip and say why; with
//! `CI=true` they fail.

use crate::common;
use crate::serve_support;

use std::path::Path;
use std::process::Command;

use common::{SENTINEL, World, have};
use ralph_town::provider::{Labels, Provider};
use serve_support::{Options, start_with};

/// Runs one scenario of the client script in `world` with extra `env`; panics with both streams
/// when it fails.
fn scenario(python: &Path, world: &World, name: &str, env: &[(&str, &str)]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp/mcp_client_test.py");
    // The binary's directory first, so that `ralph-town` resolves as a client would find it.
    let binary = Path::new(env!("CARGO_BIN_EXE_ralph-town"));
    let path = std::env::join_paths(
        std::iter::once(binary.parent().unwrap().to_path_buf()).chain(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        )),
    )
    .unwrap();
    let mut command = Command::new(python);
    command
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_ralph-town"))
        .arg(name)
        .arg(world.path())
        .current_dir(world.path())
        .env_clear()
        .env("PATH", path)
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
    let Some(python) = common::sdk_python(&["mcp"]) else {
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
fn the_example_client_configuration_starts_a_working_server() {
    let Some(python) = common::sdk_python(&["mcp"]) else {
        return;
    };
    let world = World::new();
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/mcp.json");
    scenario(
        &python,
        &world,
        "example",
        &[("EXAMPLE_CONFIG", &config.display().to_string())],
    );
    assert!(
        world.sandbox_dirs().is_empty(),
        "{:?}",
        world.sandbox_dirs()
    );
}

#[test]
fn a_pathological_team_file_gets_an_error_answer() {
    let Some(python) = common::sdk_python(&["mcp"]) else {
        return;
    };
    let world = World::new();
    // A label past column 65,535 once panicked inside the tool, and the client waited forever.
    world.file(
        "wide.toml",
        &format!(
            "name = \"t\"\n[[teammate]]\nname = \"a\"\nbranch = \"b\"\nrepo = \".\"\ngit = {{ user_name = \"{}\", bogus = 1 }}\n",
            "x".repeat(70_000)
        ),
    );
    let mut many = String::from("name = \"t\"\n[defaults]\nrepo = \".\"\n");
    for index in 0..500 {
        many.push_str(&format!(
            "[[teammate]]\nname = \"Bad{index}\"\nbranch = \"b{index}\"\n"
        ));
    }
    world.file("many.toml", &many);
    world.file("huge.toml", &"#".repeat(12_000_000));
    scenario(&python, &world, "pathological", &[]);
}

#[test]
fn sandbox_tools_create_exec_and_delete_single_sandboxes() {
    let Some(python) = common::sdk_python(&["mcp"]) else {
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

#[tokio::test(flavor = "multi_thread")]
async fn tools_reach_daytona_through_serve() {
    let Some(python) = common::sdk_python(&["mcp"]) else {
        return;
    };
    if !(have("git") && have("bash")) {
        return;
    }
    let world = World::new();
    let origin = world.origin(&[]);
    world.file(
        "team.toml",
        &format!(
            "name = \"remote\"\nprovider = \"daytona\"\n[defaults]\nrepo = \"{}\"\nsecrets = [\"GH_TOKEN\"]\n[[teammate]]\nname = \"alice\"\nbranch = \"feature/a\"\n",
            origin.display()
        ),
    );
    let api_key = "dtn_SENTINEL-api-key-3b9d";
    let server = start_with(Options {
        api_key: Some(api_key.to_string()),
        read_only_paths: vec![origin.clone()],
        ..Options::default()
    })
    .await;
    let api_url = server.api_url.clone();
    tokio::task::spawn_blocking(move || {
        scenario(
            &python,
            &world,
            "daytona",
            &[
                ("RALPH_TOWN_PROVIDER", "daytona"),
                ("DAYTONA_API_URL", &api_url),
                ("DAYTONA_API_KEY", api_key),
                ("NO_PROXY", "127.0.0.1,localhost"),
                ("GH_TOKEN", SENTINEL),
                ("SENTINEL_TEAM", SENTINEL),
                ("SENTINEL_API_KEY", api_key),
            ],
        );
    })
    .await
    .unwrap();
    let left = server.provider.list(&Labels::new()).await.unwrap();
    assert!(left.is_empty(), "{left:?}");
    server.shutdown().await;
}
