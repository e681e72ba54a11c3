//! Linked sandboxes: the official Python SDK (`tests/sdk/linked_test.py`) creates an ephemeral
//! follower linked to an owner against an in-process `serve`, reaches a server the owner
//! started in the background by the owner's name, and meets Daytona's rules for links.
//!
//! The SDK comes from `scripts/sdk-venv.sh`; without it (or bubblewrap, which the follower's
//! `/etc/hosts` needs) the test skips and says why, with `CI=true` it fails.

use crate::common;
use crate::serve_support::{run_python_script, sdk_python, start};

#[tokio::test(flavor = "multi_thread")]
async fn a_linked_follower_reaches_its_owner_by_name() {
    if !common::have("bwrap") {
        return;
    }
    let Some(python) = sdk_python(&["daytona"]).await else {
        return;
    };
    let server = start("").await;
    run_python_script(&python, "linked_test.py", &server, &[], "sdk-linked: done").await;
    server.shutdown().await;
}
