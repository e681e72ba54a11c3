//! A sandbox made from an image works in the image's `WORKDIR`: the official Python SDK
//! (`tests/sdk/workdir_test.py`) sees `get_work_dir()`, exec, a session command, code_run and
//! a terminal there and a relative `cwd` under it, against an in-process `serve`, while a
//! sandbox of an image without `WORKDIR`, or of none, works in its home. The CLI's `sandbox
//! exec` on the same state root starts there too.
//!
//! The SDK comes from `scripts/sdk-venv.sh`; without it (or bubblewrap, which builds need) the
//! test skips and says why, with `CI=true` it fails. Builds stay offline: `FROM debian:12` is
//! the host's root file system.

use crate::common::{self, World};
use crate::serve_support::{run_python_script, sdk_python, start};

#[tokio::test(flavor = "multi_thread")]
async fn a_sandbox_of_an_image_works_in_its_workdir() {
    if !common::have("bwrap") {
        return;
    }
    let Some(python) = sdk_python(&["daytona"]).await else {
        return;
    };
    let server = start("").await;
    let output = run_python_script(
        &python,
        "workdir_test.py",
        &server,
        &[],
        "sdk-workdir: done",
    )
    .await;
    let id = output
        .lines()
        .find_map(|line| line.strip_prefix("sdk-workdir: sandbox "))
        .expect("the script names its sandbox")
        .trim()
        .to_string();
    let state = server
        .root
        .as_ref()
        .expect("the server's root")
        .path()
        .join("state");
    let (plain, relative) = tokio::task::spawn_blocking(move || {
        let world = World::new();
        let home = [("RALPH_TOWN_HOME", state.to_str().expect("a UTF-8 path"))];
        let plain = world.run_with(&["sandbox", "exec", &id, "pwd"], &home);
        let relative = world.run_with(&["sandbox", "exec", &id, "--cwd", "sub", "pwd"], &home);
        (plain.success().stdout, relative.success().stdout)
    })
    .await
    .expect("the CLI runs");
    assert_eq!(plain.trim(), "/opt/app");
    assert_eq!(relative.trim(), "/opt/app/sub");
}
