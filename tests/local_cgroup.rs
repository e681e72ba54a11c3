//! A `local` sandbox's memory, enforced and measured through its cgroup: a process over the
//! sandbox's memory is killed (exit 137), with or without bubblewrap, through `serve` or the
//! CLI; a resize changes the limit of the processes already running; the limit outlives a
//! restart; the metrics count every process of the sandbox (not only those of the measuring
//! command's PID namespace); delete removes the cgroup, and garbage collection removes one a
//! dying delete left behind. The machine must let this process write a cgroup memory
//! controller (root on cgroup v1 or v2, or a delegated v2 slice); without one these tests
//! skip, and fail under `CI=true`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use ralph_town::provider::local::{Isolation, IsolationMode, LocalProvider};
use ralph_town::provider::{CreateSandbox, ExecRequest, Provider, Resources};

use crate::common::{World, have, skip};
use crate::serve_support::{Options, Server, start, start_with};

const MIB: u64 = 1 << 20;

/// Allocates and touches `mib` MiB, then exits 0.
fn allocate(mib: u64) -> String {
    format!("python3 -c \"x = b'x' * ({mib} << 20); print(len(x) >> 20)\"")
}

/// A server whose sandboxes' memory is enforced, or `None` (after a skip).
async fn enforcing_server() -> Option<Server> {
    if !have("python3") {
        return None;
    }
    let server = start("").await;
    if !server.provider.enforces_memory() {
        skip("a cgroup memory controller this process may write");
        server.shutdown().await;
        return None;
    }
    Some(server)
}

async fn exit_code(server: &Server, id: &str, command: &str) -> i64 {
    let reply = server.exec(id, command).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body["exitCode"].as_i64().unwrap()
}

async fn resize(server: &Server, id: &str, memory: u32, then: &str) {
    let reply = server
        .post(
            &format!("/api/sandbox/{id}/resize"),
            json!({ "memory": memory }),
        )
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    server.wait_state(id, then).await;
}

/// Runs `command` in the background in a new process session `session` of sandbox `id`.
async fn start_in_session(server: &Server, id: &str, session: &str, command: &str) {
    let sessions = format!("/toolbox/{id}/process/session");
    let reply = server.post(&sessions, json!({"sessionId": session})).await;
    assert!(reply.status < 300, "{:?}", reply.body);
    let reply = server
        .post(
            &format!("{sessions}/{session}/exec"),
            json!({"command": command, "runAsync": true}),
        )
        .await;
    assert!(reply.status < 300, "{:?}", reply.body);
}

/// The directories below `dir`.
fn child_dirs(dir: PathBuf) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.is_dir())
        .collect()
}

/// The directories of every state root's sandbox cgroups, `<hierarchy>/ralph-town/<digest>`
/// (v1: in each hierarchy; v2: in the one).
pub(crate) fn state_root_cgroups() -> Vec<PathBuf> {
    let mut tops = vec![PathBuf::from("/sys/fs/cgroup")];
    tops.extend(child_dirs(PathBuf::from("/sys/fs/cgroup")));
    tops.into_iter()
        .flat_map(|top| child_dirs(top.join("ralph-town")))
        .collect()
}

/// The cgroup directories named after sandbox `id` (v1: one per hierarchy; v2: one).
fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    state_root_cgroups()
        .into_iter()
        .map(|root| root.join(id))
        .filter(|dir| dir.is_dir())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_process_over_the_sandbox_memory_is_killed_until_a_resize_and_after_a_restart() {
    let Some(server) = enforcing_server().await else {
        return;
    };
    let created = server.create(json!({})).await;
    assert_eq!(created["memory"], 1, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(
        exit_code(&server, &id, &allocate(512)).await,
        0,
        "0.5 GiB fits"
    );
    assert_eq!(
        exit_code(&server, &id, &allocate(1536)).await,
        137,
        "1.5 GiB is killed in a 1 GiB sandbox"
    );
    // The CLI on the same state root puts the sandbox's commands in the same cgroup.
    let state = server.root.as_ref().unwrap().path().join("state");
    World::new()
        .run_with(
            &["sandbox", "exec", &id, &allocate(1536)],
            &[("RALPH_TOWN_HOME", state.to_str().unwrap())],
        )
        .code(137);

    // A process already running gets the new limit: it allocates only once the resize is
    // done, told by a file the host writes (no command of the sandbox starts meanwhile).
    let waiting = format!(
        "for i in $(seq 1200); do [ -e go ] && break; sleep 0.05; done; {}; echo \"exit $?\" > done",
        allocate(1536)
    );
    start_in_session(&server, &id, "waiting", &waiting).await;
    resize(&server, &id, 2, "started").await;
    let home = server.provider.home_dir(&id);
    std::fs::write(home.join("go"), "").unwrap();
    let done = home.join("done");
    let deadline = Instant::now() + Duration::from_secs(60);
    // The shell creates `done` before it writes the line: the line's end says it is whole.
    let written = || std::fs::read_to_string(&done).unwrap_or_default();
    while !written().ends_with('\n') {
        assert!(
            Instant::now() < deadline,
            "the waiting process never finished"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        written().trim(),
        "exit 0",
        "a running process may use 1.5 GiB once the sandbox has 2"
    );
    assert_eq!(exit_code(&server, &id, &allocate(1536)).await, 0);

    // The limit is the cgroup's, which a restart keeps and the record sets again.
    let root = server.shutdown().await;
    let server = start_with(Options {
        root: Some(root),
        ..Options::default()
    })
    .await;
    assert_eq!(exit_code(&server, &id, &allocate(1536)).await, 0);
    assert_eq!(
        exit_code(&server, &id, &allocate(2560)).await,
        137,
        "2.5 GiB is killed in a 2 GiB sandbox after a restart"
    );

    // Down needs a stopped sandbox, as on Daytona.
    server
        .post(&format!("/api/sandbox/{id}/stop"), json!({}))
        .await;
    server.wait_state(&id, "stopped").await;
    resize(&server, &id, 1, "stopped").await;
    server
        .post(&format!("/api/sandbox/{id}/start"), json!({}))
        .await;
    server.wait_state(&id, "started").await;
    assert_eq!(exit_code(&server, &id, &allocate(1536)).await, 137);
    let reply = server.delete(&format!("/api/sandbox/{id}")).await;
    assert!(reply.status < 300, "{:?}", reply.body);
    server.shutdown().await;
}

async fn metrics(server: &Server, id: &str) -> Value {
    let reply = server.get(&format!("/toolbox/{id}/system/metrics")).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body
}

/// Samples the metrics until `reached` holds for one, or fails with the last.
async fn until_metrics(server: &Server, id: &str, what: &str, reached: impl Fn(&Value) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let sample = metrics(server, id).await;
        if reached(&sample) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {sample}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_every_process_of_the_sandbox_and_delete_removes_its_cgroup() {
    let Some(server) = enforcing_server().await else {
        return;
    };
    if server.provider.isolation() != Isolation::Bubblewrap {
        skip("bubblewrap");
        server.shutdown().await;
        return;
    }
    let id = server.create(json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Bounded, as a failing test leaves its sandbox behind. A session's shell has its own PID namespace: a script measuring `/proc` from another
    // command cannot see this process.
    let holding = "python3 -c \"import time; x = b'x' * (300 << 20); time.sleep(120)\"";
    start_in_session(&server, &id, "holding", holding).await;
    until_metrics(&server, &id, "300 MiB held by a session", |sample| {
        sample["memUsed"].as_u64().unwrap_or(0) >= 300 * MIB
    })
    .await;

    // A session runs one command at a time: the loop gets a session of its own.
    let busy = "timeout 120 sh -c 'while :; do :; done'";
    start_in_session(&server, &id, "busy", busy).await;
    until_metrics(&server, &id, "a busy loop's CPU", |sample| {
        sample["cpuUsedPct"].as_f64().unwrap_or(0.0) > 30.0
    })
    .await;

    let dirs = cgroup_dirs(&id);
    assert!(!dirs.is_empty(), "sandbox `{id}` has no cgroup");
    let reply = server.delete(&format!("/api/sandbox/{id}")).await;
    assert!(reply.status < 300, "{:?}", reply.body);
    server.wait_gone(&id).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while dirs.iter().any(|dir| dir.exists()) {
        assert!(Instant::now() < deadline, "{dirs:?} outlived the sandbox");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_bubblewrap_too_and_gc_removes_the_cgroup_a_dying_delete_left() {
    if !have("python3") {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let state = root.path().join("state");
    let provider = LocalProvider::with_isolation(state.clone(), IsolationMode::Off).unwrap();
    if !provider.enforces_memory() {
        skip("a cgroup memory controller this process may write");
        return;
    }
    let request = CreateSandbox {
        name: "small".to_string(),
        resources: Resources {
            memory: Some(1),
            ..Resources::default()
        },
        ..CreateSandbox::default()
    };
    let id = provider.create(&request).await.unwrap().id;
    let run = |mib: u64| {
        let request = ExecRequest {
            command: allocate(mib),
            ..ExecRequest::default()
        };
        let provider = provider.clone();
        let id = id.clone();
        async move { provider.exec(&id, &request).await.unwrap().exit_code }
    };
    assert_eq!(run(512).await, 0);
    assert_eq!(run(1536).await, 137, "a host process is limited too");

    // A delete that died after it moved the sandbox out of sight left its cgroup behind.
    let dirs = cgroup_dirs(&id);
    assert!(!dirs.is_empty(), "sandbox `{id}` has no cgroup");
    std::fs::rename(
        state.join("sandboxes").join(&id),
        state.join("trash").join(format!("{id}-dead")),
    )
    .unwrap();
    provider
        .collect_garbage(Duration::from_secs(3600))
        .await
        .unwrap();
    assert!(
        dirs.iter().all(|dir| !dir.exists()),
        "{dirs:?} outlived the sandbox"
    );
}

/// Without bubblewrap a `setsid` daemon leaves the process group its command was registered
/// by, so stop, which killed only those groups, left it running; the sandbox's cgroup holds
/// it all the same, and stop now empties the cgroup.
#[tokio::test(flavor = "multi_thread")]
async fn stop_ends_a_daemon_that_left_its_command_group() {
    let root = tempfile::tempdir().unwrap();
    let provider =
        LocalProvider::with_isolation(root.path().join("state"), IsolationMode::Off).unwrap();
    if !provider.enforces_memory() {
        skip("a cgroup memory controller this process may write");
        return;
    }
    let id = provider
        .create(&CreateSandbox {
            name: "daemons".to_string(),
            ..CreateSandbox::default()
        })
        .await
        .unwrap()
        .id;
    let marker = format!("86{:06}", uuid::Uuid::new_v4().as_u128() % 1_000_000);
    let request = ExecRequest {
        command: format!("setsid sleep {marker} >/dev/null 2>&1 < /dev/null &"),
        ..ExecRequest::default()
    };
    assert_eq!(provider.exec(&id, &request).await.unwrap().exit_code, 0);
    let daemons = || {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|entry| std::fs::read(entry.path().join("cmdline")).ok())
            .filter(|line| *line == format!("sleep\0{marker}\0").into_bytes())
            .count()
    };
    // `setsid` may not have become `sleep` yet when the command answers.
    let until = async |count: usize| {
        for _ in 0..200 {
            if daemons() == count {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        daemons()
    };
    assert_eq!(until(1).await, 1, "the daemon runs after its command");
    provider.stop(&id).await.unwrap();
    assert_eq!(until(0).await, 0, "stop ended the daemon");
    provider.delete(&id).await.unwrap();
}
