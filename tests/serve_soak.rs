//! `serve` under a busy load: `tests/sdk/soak_test.py` drives one in-process server with many
//! Python SDK clients at once (threads sharing one client, an async client gathering, a lister,
//! requests racing on one sandbox) for a bounded number of rounds, and
//! `tests/sdk-ts/soak_test.mjs` does the same with the TypeScript SDK (async workers gathered
//! with `Promise.all`, a lister, twin creates); each fails on any transport error, 5xx, wrong
//! answer or sandbox listed twice. Afterwards nothing may be left of any sandbox: no record, no
//! process whose working directory or command line is under the state root, no cgroup, no
//! directory.
//!
//! Needs bubblewrap, git and the SDKs; without them the tests skip and say why, with `CI=true`
//! they fail. Nothing reaches beyond 127.0.0.1.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common;
use crate::local_cgroup::state_root_cgroups;
use crate::serve_support::{self, Options, run_node_script, run_python_script, sdk_python};

const DONE: &str = "soak: done";

/// Processes whose working directory or command line is under `root`, as `pid: what`.
pub(crate) fn processes_under(root: &Path) -> Vec<String> {
    let root_text = root.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|byte| byte.is_ascii_digit()) {
            continue;
        }
        let cwd = std::fs::read_link(entry.path().join("cwd")).unwrap_or_default();
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cwd.starts_with(root) || cmdline.contains(&root_text) {
            found.push(format!("{name}: cwd {} cmd {cmdline}", cwd.display()));
        }
    }
    found
}

/// The cgroups left of the sandboxes of `state_root` (`ralph-town/<digest>/<id>` in any
/// hierarchy; the digest as `provider::local::cgroup` makes it).
pub(crate) fn cgroups_of(state_root: &Path) -> Vec<PathBuf> {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(state_root.as_os_str().as_encoded_bytes());
    let digest = hex::encode(&digest[..6]);
    state_root_cgroups()
        .into_iter()
        .filter(|cgroup| cgroup.ends_with(&digest))
        .flat_map(|cgroup| std::fs::read_dir(cgroup).into_iter().flatten().flatten())
        .map(|entry| entry.path())
        .filter(|path| path.is_dir())
        .collect()
}

/// What is left of any sandbox under the server's state root: processes, cgroups and
/// sandbox directories; polled for a while, since a delete's last processes die after it.
pub(crate) async fn leftovers(root: &Path) -> Vec<String> {
    let state_root = root.join("state");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let mut left = processes_under(root);
        left.extend(
            cgroups_of(&state_root)
                .iter()
                .map(|cgroup| format!("cgroup {}", cgroup.display())),
        );
        let sandboxes = std::fs::read_dir(state_root.join("sandboxes"));
        left.extend(
            sandboxes
                .into_iter()
                .flatten()
                .flatten()
                .map(|entry| format!("directory {}", entry.path().display())),
        );
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A server for a soak run, whose sandboxes see a directory for the repository to clone.
async fn soak_server() -> (serve_support::Server, tempfile::TempDir) {
    let repos = tempfile::tempdir().unwrap();
    let server = serve_support::start_with(Options {
        read_only_paths: vec![repos.path().to_path_buf()],
        ..Options::default()
    })
    .await;
    (server, repos)
}

/// After a soak: no sandbox listed, no 5xx answered by any route, nothing left on the host.
async fn nothing_left(server: serve_support::Server) {
    let root = server.root.as_ref().unwrap().path().to_path_buf();
    let listed = server.get("/api/sandbox").await;
    assert_eq!(
        listed.body["items"],
        serde_json::json!([]),
        "sandboxes left"
    );
    let stats = server.get("/_ralph/stats").await.body;
    for (route, counts) in stats["routes"].as_object().unwrap() {
        for (status, count) in counts["statuses"].as_object().into_iter().flatten() {
            assert!(
                !status.starts_with('5'),
                "{route} answered {status} {count} times"
            );
        }
    }
    let left = leftovers(&root).await;
    assert!(left.is_empty(), "left behind: {left:#?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn many_clients_at_once_lose_no_connection_and_leave_nothing_behind() {
    if !common::have("bwrap") || !common::have("git") {
        return;
    }
    let Some(python) = sdk_python(&["daytona"]).await else {
        return;
    };
    let (server, repos) = soak_server().await;
    let env = [("SOAK_REPOS", repos.path().to_str().unwrap())];
    run_python_script(&python, "soak_test.py", &server, &env, DONE).await;
    nothing_left(server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn many_typescript_clients_at_once_lose_no_connection_and_leave_nothing_behind() {
    if !common::have("bwrap") || !common::have("git") {
        return;
    }
    let Some(folder) = crate::serve_sdk_ts::sdk_node() else {
        return;
    };
    let (server, repos) = soak_server().await;
    let env = [("SOAK_REPOS", repos.path().to_str().unwrap())];
    run_node_script(&folder, "soak_test.mjs", &server, &env, "soak-ts: done").await;
    nothing_left(server).await;
}
