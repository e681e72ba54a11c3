//! The sandbox's OS user on local sandboxes: `os_user="root"` (and an image whose final `USER`
//! is root) gives a sandbox whose every process is uid 0 of its own user namespace with
//! `/root` as its home, the same directory as `/home/daytona`, and no real privilege; an image
//! ending `USER daytona` and a default sandbox stay `daytona`; another user is a 422 that names
//! the possible ones, and without bubblewrap `root` is a 422 saying it needs it. Driven by the official Python SDK (`tests/sdk/os_user_test.py`, one case
//! per test) and the TypeScript SDK (`tests/sdk-ts/os_user_test.mjs`) against an in-process
//! `serve`. On the host, what a root sandbox wrote belongs to the sandbox's unprivileged host id
//! (when the tests run as root), never to root.
//!
//! Root sandboxes need bubblewrap; without it (or the SDKs) the tests skip and say why, with
//! `CI=true` they fail. Builds stay offline: `FROM debian:12` is the host's root file system.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use crate::common;
use ralph_town::provider::local::IsolationMode;
use serde_json::json;

use crate::serve_support::{self, Options, Server, run_node_script, run_python_script, sdk_python};

const DONE: &str = "os-user: done";

/// Runs case `case` of `tests/sdk/os_user_test.py` against a fresh server, which it returns
/// with the script's output; `None` when the test must skip.
async fn python_case(case: &str) -> Option<(Server, String)> {
    if !common::have("bwrap") {
        return None;
    }
    let python = sdk_python(&["daytona"]).await?;
    let server = serve_support::start("").await;
    let env = [("SWEEP_CASE", case)];
    let output = run_python_script(&python, "os_user_test.py", &server, &env, DONE).await;
    Some((server, output))
}

/// The host directory of the home of the sandbox the script named `label`.
fn home_of(server: &Server, output: &str, label: &str) -> PathBuf {
    let id = output
        .lines()
        .find_map(|line| line.strip_prefix(&format!("os-user: {label} ")))
        .unwrap_or_else(|| panic!("the script names its `{label}` sandbox: {output}"))
        .trim()
        .to_string();
    server.provider.home_dir(&id)
}

/// Files a root sandbox wrote (`relative` to its home) belong on the host to the id its
/// commands run as: the dedicated unprivileged one when the tests run as root (else the
/// invoking user, who is no root either).
fn assert_owned_by_the_sandbox_host_id(home: &Path, relative: &[&str]) {
    let running_as_root = std::fs::metadata("/proc/self").is_ok_and(|proc| proc.uid() == 0);
    for path in relative {
        let metadata = std::fs::metadata(home.join(path))
            .unwrap_or_else(|error| panic!("`{path}` in the sandbox's home: {error}"));
        if running_as_root {
            assert_eq!((metadata.uid(), metadata.gid()), (65520, 65520), "{path}");
        } else {
            assert_ne!(metadata.uid(), 0, "{path}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_root_sandbox_runs_every_process_as_root_of_its_own_namespace() {
    let Some((server, output)) = python_case("root").await else {
        return;
    };
    let home = home_of(&server, &output, "root");
    assert_owned_by_the_sandbox_host_id(&home, &["notes/a.txt", "b.txt", "c.txt"]);
    assert_eq!(
        std::fs::read_to_string(home.join("c.txt")).unwrap(),
        "written-inside\n"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_root_sandbox_cannot_change_its_network_filter() {
    python_case("root_blocked").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn snapshots_and_forks_of_a_root_sandbox_are_root() {
    python_case("root_copies").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_image_whose_last_user_is_root_makes_root_sandboxes() {
    let Some((server, output)) = python_case("image_root").await else {
        return;
    };
    let home = home_of(&server, &output, "image-root");
    assert_owned_by_the_sandbox_host_id(&home, &["from-image"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_image_ending_user_daytona_after_user_root_or_another_user_makes_daytona_sandboxes() {
    python_case("image_back_to_daytona").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_default_sandbox_is_still_daytona() {
    python_case("default").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn another_user_is_refused_naming_the_possible_ones_and_leaves_nothing() {
    let Some((server, _)) = python_case("refused").await else {
        return;
    };
    let sandboxes = server
        .root
        .as_ref()
        .expect("the server's root")
        .path()
        .join("state/sandboxes");
    let left: Vec<_> = std::fs::read_dir(&sandboxes)
        .map(|entries| entries.flatten().map(|entry| entry.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_bubblewrap_root_is_refused_saying_it_needs_it() {
    let server = serve_support::start_with(Options {
        isolation: IsolationMode::Off,
        ..Options::default()
    })
    .await;
    for user in ["root", "0"] {
        let reply = server.post("/api/sandbox", json!({ "user": user })).await;
        let message = reply.api_error(422);
        assert!(
            message.contains(&format!("`{user}`")) && message.contains("bubblewrap"),
            "{message}"
        );
    }
    let listed = server.get("/api/sandbox").await;
    assert_eq!(listed.status, 200, "{listed:?}");
    assert_eq!(
        listed.body["items"],
        json!([]),
        "a refused create left a sandbox"
    );
    // `daytona` is what a sandbox without bubblewrap can be.
    let sandbox = server.create(json!({ "user": "daytona" })).await;
    assert_eq!(sandbox["user"], "daytona");
    let sandbox = server.create(json!({})).await;
    assert_eq!(sandbox["user"], "daytona");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_typescript_sdk_creates_a_root_sandbox() {
    if !common::have("bwrap") {
        return;
    }
    let Some(folder) = crate::serve_sdk_ts::sdk_node() else {
        return;
    };
    let server = serve_support::start("").await;
    let output = run_node_script(&folder, "os_user_test.mjs", &server, &[], DONE).await;
    let home = home_of(&server, &output, "ts-root");
    assert_owned_by_the_sandbox_host_id(&home, &["from-ts.txt"]);
}
