//! The real `ralph-town serve` SIGKILLed at a seeded moment in the middle of busy work (see
//! `serve_crash_load`), then started again on the same state root. After the restart it must
//! start; list no name twice; keep every sandbox, snapshot and volume whose create was answered
//! (unless a delete was tried) and none whose delete was answered; settle every one of them
//! (nothing stuck in a transitional state); let every sandbox start, run a command, stop and be
//! deleted; take an unanswered create again, once; and leave no process that runs for a
//! sandbox it does not list as started, and, once everything is deleted, no process, cgroup or
//! directory of any sandbox, snapshot or volume.
//!
//! Each seed picks its kill point (after how many answered calls, and how many milliseconds
//! later) and the workers' choices, and prints them, so a failing seed can be run again.
//! Needs bubblewrap; without it the test skips and says why, with `CI=true` it fails. Nothing
//! reaches beyond 127.0.0.1.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common;
use crate::serve_crash_load::{Client, Dice, Fate, Journal, work};
use crate::serve_soak::{cgroups_of, processes_under};
use crate::serve_support::{AsyncServe, ServeCommand};

pub(crate) const KEY: &str = "dtn_crash_key_0123456789abcdefghijklmnop";
/// The seeds; each kills `serve` once.
const SEEDS: [u64; 4] = [3, 17, 42, 2024];
const WORKERS: u64 = 4;

/// A running `serve` over `<world>/state`.
pub(crate) type Serve = AsyncServe;

async fn start(world: &Path) -> Serve {
    start_at(world, "127.0.0.1:0").await
}

/// A `serve` over `<world>/state` listening at `listen` (`127.0.0.1:PORT` to come back on
/// the port of an earlier one).
pub(crate) async fn start_at(world: &Path, listen: &str) -> Serve {
    ServeCommand::new(world, &world.join("state"))
        .key(Some(KEY))
        .listen(listen)
        .start_async()
        .await
}

/// A started `serve` and a checker of it.
pub(crate) async fn start_checked(world: &Path) -> (Serve, Checker) {
    let serve = start(world).await;
    let checker = Checker::of(&serve);
    (serve, checker)
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// A client of `serve` that panics when it does not answer: after the restart it must.
pub(crate) struct Checker {
    api: String,
    http: reqwest::Client,
}

impl Checker {
    /// A checker of `serve`.
    pub(crate) fn of(serve: &Serve) -> Checker {
        Checker {
            api: serve.api.clone(),
            http: http(),
        }
    }

    pub(crate) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let url = if path.starts_with("/toolbox") {
            format!("{}{path}", self.api.trim_end_matches("/api"))
        } else {
            format!("{}{path}", self.api)
        };
        let mut request = self.http.request(method.clone(), url).bearer_auth(KEY);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap_or_else(|error| {
            panic!("{method} {path} got no answer after the restart: {error}")
        });
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    pub(crate) async fn get(&self, path: &str) -> Value {
        let (status, body) = self.call(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    async fn delete(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::DELETE, path, None).await
    }

    /// Lists a kind until no item is in a transitional state; fails if one stays in one.
    async fn settled(&self, path: &str, settled: &[&str]) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let listed = self.get(path).await;
            let items = listed
                .get("items")
                .unwrap_or(&listed)
                .as_array()
                .unwrap()
                .clone();
            let moving: Vec<&Value> = items
                .iter()
                .filter(|item| !settled.contains(&item["state"].as_str().unwrap_or_default()))
                .collect();
            if moving.is_empty() {
                return items;
            }
            assert!(
                Instant::now() < deadline,
                "{path}: stuck in a transitional state after the restart: {moving:#?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub(crate) async fn wait_state(&self, id: &str, wanted: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let sandbox = self.get(&format!("/sandbox/{id}")).await;
            if sandbox["state"] == wanted {
                return;
            }
            assert!(Instant::now() < deadline, "{id} never {wanted}: {sandbox}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The names of `items`, each once; fails on a name listed twice.
fn names_once(kind: &str, items: &[Value]) -> BTreeMap<String, Value> {
    let mut names = BTreeMap::new();
    for item in items {
        let name = item["name"].as_str().unwrap().to_string();
        let twice = names.insert(name.clone(), item.clone());
        assert!(twice.is_none(), "{kind} `{name}` is listed twice");
    }
    names
}

/// Checks the journal's promises against what is listed after the restart, and returns the
/// names whose create was sent, never answered, and that are not listed: those must be taken
/// again.
fn judge(
    kind: &str,
    fates: &BTreeMap<String, Fate>,
    listed: &BTreeMap<String, Value>,
) -> Vec<String> {
    let mut retry = Vec::new();
    for (name, fate) in fates {
        let shown = listed.contains_key(name);
        assert!(
            !fate.must_exist() || shown,
            "{kind} `{name}` was made before the kill and is gone: {fate:?}"
        );
        assert!(
            !fate.must_be_gone() || !shown,
            "{kind} `{name}` was deleted before the kill and is back: {fate:?}"
        );
        if let (Some(id), Some(item)) = (&fate.id, listed.get(name)) {
            assert_eq!(
                item["id"].as_str(),
                Some(id.as_str()),
                "{kind} `{name}` changed its id"
            );
        }
        if fate.create_sent && !fate.answered && !shown {
            retry.push(name.clone());
        }
    }
    retry
}

/// The sandbox ids whose processes run now (their cgroups hold a process), and every process
/// under the state root, for the message.
pub(crate) fn running_sandboxes(world: &Path) -> BTreeSet<String> {
    cgroups_of(&world.join("state"))
        .into_iter()
        .filter(|cgroup| {
            std::fs::read_to_string(cgroup.join("cgroup.procs"))
                .is_ok_and(|procs| !procs.trim().is_empty())
        })
        .filter_map(|cgroup| Some(cgroup.file_name()?.to_string_lossy().into_owned()))
        .collect()
}

/// What is left once everything was deleted: the soak test's leftovers (processes, cgroups,
/// sandbox directories), and the directories of snapshots and volumes.
pub(crate) async fn leftovers(world: &Path) -> Vec<String> {
    let mut left = crate::serve_soak::leftovers(world).await;
    for directory in ["snapshots", "volumes"] {
        let entries = std::fs::read_dir(world.join("state").join(directory));
        left.extend(
            entries
                .into_iter()
                .flatten()
                .flatten()
                .map(|entry| format!("directory {}", entry.path().display())),
        );
    }
    left
}

async fn crash_once(seed: u64) {
    let world = tempfile::tempdir().unwrap();
    let world_path: PathBuf = world.path().to_path_buf();
    let mut serve = start(&world_path).await;
    let mut dice = Dice::new(seed);
    let kill_after = dice.below(8, 200) as usize;
    let then_ms = dice.below(0, 150);
    eprintln!("seed {seed}: SIGKILL after {kill_after} answered calls + {then_ms} ms");

    let journal = Arc::new(Journal::default());
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..WORKERS {
        let client = Client {
            api: serve.api.clone(),
            key: KEY.to_string(),
            http: http(),
            journal: journal.clone(),
        };
        workers.spawn(work(client, worker, Dice::new(seed * 1000 + worker)));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while journal.answered.load(std::sync::atomic::Ordering::SeqCst) < kill_after {
        assert!(
            Instant::now() < deadline,
            "seed {seed}: the load never got going"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(then_ms)).await;
    serve.child.start_kill().unwrap();
    serve.child.wait().await.unwrap();
    while workers.join_next().await.is_some() {}
    eprintln!("seed {seed}: {}", journal.summary());
    let errors = journal.server_errors.lock().unwrap().clone();
    assert!(
        errors.is_empty(),
        "seed {seed}: server errors before the kill: {errors:#?}"
    );

    let (serve, checker) = start_checked(&world_path).await;
    let sandbox_states = ["started", "stopped", "error", "build_failed", "archived"];
    let sandboxes = checker.settled("/sandbox", &sandbox_states).await;
    let listed = names_once("sandbox", &sandboxes);
    let fates = journal.sandboxes.lock().unwrap().clone();
    let retry = judge("sandbox", &fates, &listed);

    // A process left by the killed server runs only for a sandbox listed as started.
    let started: BTreeSet<String> = sandboxes
        .iter()
        .filter(|sandbox| sandbox["state"] == "started")
        .map(|sandbox| sandbox["id"].as_str().unwrap().to_string())
        .collect();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let stray: Vec<String> = running_sandboxes(&world_path)
            .difference(&started)
            .cloned()
            .collect();
        if stray.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "seed {seed}: processes run for sandboxes not started: {stray:?}\n{:#?}",
            processes_under(&world_path)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // An unanswered create is taken again, once.
    let mut ids: Vec<String> = sandboxes
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    for name in &retry {
        let body = json!({ "name": name, "labels": { "crash": "again" } });
        let (status, made) = checker.post("/sandbox", body.clone()).await;
        assert_eq!(status, 200, "seed {seed}: retrying `{name}`: {made}");
        ids.push(made["id"].as_str().unwrap().to_string());
        let (status, again) = checker.post("/sandbox", body).await;
        assert_eq!(status, 409, "seed {seed}: `{name}` made twice: {again}");
    }

    // Every sandbox is whole: it starts, runs a command, stops and is deleted.
    for id in &ids {
        let sandbox = checker.get(&format!("/sandbox/{id}")).await;
        if sandbox["state"] != "started" {
            let (status, body) = checker
                .post(&format!("/sandbox/{id}/start"), json!({}))
                .await;
            assert_eq!(status, 200, "seed {seed}: start {id}: {body}");
        }
        checker.wait_state(id, "started").await;
        let (status, ran) = checker
            .post(
                &format!("/toolbox/{id}/process/execute"),
                json!({ "command": "echo whole" }),
            )
            .await;
        assert_eq!(
            (status, ran["result"].as_str().map(str::trim)),
            (200, Some("whole")),
            "{id}: {ran}"
        );
        let (status, body) = checker
            .post(&format!("/sandbox/{id}/stop"), json!({}))
            .await;
        assert_eq!(status, 200, "stop {id}: {body}");
        checker.wait_state(id, "stopped").await;
        let (status, body) = checker.delete(&format!("/sandbox/{id}")).await;
        assert_eq!(status, 200, "delete {id}: {body}");
    }
    assert_eq!(
        checker.get("/sandbox").await["items"],
        json!([]),
        "seed {seed}: sandboxes left"
    );

    let snapshot_states = ["active", "inactive", "error", "build_failed"];
    let snapshots = checker
        .settled("/snapshots?limit=200", &snapshot_states)
        .await;
    let listed = names_once("snapshot", &snapshots);
    let fates = journal.snapshots.lock().unwrap().clone();
    let retry = judge("snapshot", &fates, &listed);
    if !retry.is_empty() {
        let (status, source) = checker
            .post("/sandbox", json!({ "name": "snapshot-source" }))
            .await;
        assert_eq!(status, 200, "{source}");
        let source = source["id"].as_str().unwrap();
        checker.wait_state(source, "started").await;
        for name in &retry {
            let (status, made) = checker
                .post(
                    &format!("/sandbox/{source}/snapshot"),
                    json!({ "name": name }),
                )
                .await;
            assert_eq!(
                status, 200,
                "seed {seed}: retrying snapshot `{name}`: {made}"
            );
        }
        checker.delete(&format!("/sandbox/{source}")).await;
    }
    let snapshots = checker
        .settled("/snapshots?limit=200", &snapshot_states)
        .await;
    for snapshot in snapshots.iter().filter(|s| s["general"] != true) {
        let (status, body) = checker
            .delete(&format!("/snapshots/{}", snapshot["id"].as_str().unwrap()))
            .await;
        assert_eq!(status, 200, "delete snapshot {snapshot}: {body}");
    }

    let volume_states = ["ready", "error", "deleted"];
    let volumes = checker.settled("/volumes", &volume_states).await;
    let listed = names_once("volume", &volumes);
    let fates = journal.volumes.lock().unwrap().clone();
    for name in judge("volume", &fates, &listed) {
        let (status, made) = checker.post("/volumes", json!({ "name": name })).await;
        assert_eq!(status, 200, "seed {seed}: retrying volume `{name}`: {made}");
    }
    for volume in checker.settled("/volumes", &volume_states).await {
        let (status, body) = checker
            .delete(&format!("/volumes/{}", volume["id"].as_str().unwrap()))
            .await;
        assert_eq!(status, 200, "delete volume {volume}: {body}");
    }

    let left = leftovers(&world_path).await;
    assert!(
        left.is_empty(),
        "seed {seed}: left behind after deleting everything: {left:#?}"
    );
    drop(serve);
}

/// The seeds listed in `variable` (`5,6,7`), or `default`.
pub(crate) fn seeds(variable: &str, default: &[u64]) -> Vec<u64> {
    match std::env::var(variable) {
        Ok(list) => list
            .split(',')
            .map(|seed| seed.trim().parse().unwrap())
            .collect(),
        Err(_) => default.to_vec(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_killed_under_load_loses_nothing_and_doubles_nothing() {
    if !common::have("bwrap") {
        return;
    }
    // `CRASH_SEEDS=5,6,7` runs other seeds (to look harder, or again at a failing one).
    for seed in seeds("CRASH_SEEDS", &SEEDS) {
        crash_once(seed).await;
    }
}
