//! The teammates-at-work MCP tools driven by the official MCP Python SDK's stdio client
//! (`tests/mcp/mcp_work_test.py`): the real binary, real sandboxes on the `local` provider, a
//! real git origin, and a sentinel secret that must never appear in an answer.

use crate::common;
use crate::work::{ready, team};

use std::path::Path;
use std::process::Command;

use common::{SENTINEL, World};

#[test]
fn a_lead_watches_and_steers_teammates_over_mcp() {
    let Some(python) = common::sdk_python(&["mcp"]) else {
        return;
    };
    if !ready() {
        return;
    }
    let world = World::new();
    let origin = world.origin(&[]);
    team(
        &world,
        &origin,
        r#"secrets = ["GH_TOKEN"]

[[teammate]]
name = "alice"
branch = "feature/alice"
command = "echo \"token $GH_TOKEN\"; echo 'a note' > note.txt && git add note.txt && git commit -qm 'alice: note' && echo alice wrote the note"

[[teammate]]
name = "bob"
branch = "feature/bob"
command = "echo bob gives up; exit 5"

[[teammate]]
name = "dave"
branch = "feature/dave"
"#,
    );
    world
        .run_with(&["up", "--progress", "plain"], &[("GH_TOKEN", SENTINEL)])
        .success();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp/mcp_work_test.py");
    let output = Command::new(python)
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_ralph-town"))
        .arg(world.path())
        .current_dir(world.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", world.home())
        .env("RALPH_TOWN_HOME", world.state())
        .env("NO_COLOR", "1")
        .env("GH_TOKEN", SENTINEL)
        .env("SENTINEL_GH_TOKEN", SENTINEL)
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("mcp: done"),
        "the MCP client script failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    world.run(&["down", "--force"]).success();
}
