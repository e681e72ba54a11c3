//! The busy work `serve_crash` kills `serve` in the middle of: a few workers, each creating
//! named, labelled sandboxes one after another and, on each, a seeded mix of stops and starts,
//! commands, uploads, label updates, session commands (some left running), snapshots and
//! volumes, and most of the time a delete. A [`Journal`] records every call that changes
//! something and whether it was answered, which is what the checks after the restart judge by.
//!
//! The workers stop at their first call that gets no answer (the server is gone).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

/// A small reproducible generator (SplitMix64): a seed gives the same choices every run.
pub(crate) struct Dice(u64);

impl Dice {
    pub(crate) fn new(seed: u64) -> Dice {
        Dice(seed)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `low..high`.
    pub(crate) fn below(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low)
    }
}

/// What happened to one name (a sandbox's, a snapshot's or a volume's).
#[derive(Debug, Clone, Default)]
pub(crate) struct Fate {
    /// A create was answered, and whether it made the thing.
    pub(crate) answered: bool,
    pub(crate) made: bool,
    /// The id the create's answer gave it (a snapshot's create answers with its sandbox).
    pub(crate) id: Option<String>,
    /// A create was sent.
    pub(crate) create_sent: bool,
    /// A delete was sent, and whether it was answered.
    pub(crate) delete_sent: bool,
    pub(crate) delete_answered: bool,
}

impl Fate {
    /// Whether it must be listed after the restart: made, and no delete was even tried.
    pub(crate) fn must_exist(&self) -> bool {
        self.made && !self.delete_sent
    }

    /// Whether it must not be listed: its delete was answered.
    pub(crate) fn must_be_gone(&self) -> bool {
        self.delete_answered
    }
}

/// Every change the workers asked for, by kind and name, and the answers' statuses.
#[derive(Default)]
pub(crate) struct Journal {
    pub(crate) sandboxes: Mutex<BTreeMap<String, Fate>>,
    pub(crate) snapshots: Mutex<BTreeMap<String, Fate>>,
    pub(crate) volumes: Mutex<BTreeMap<String, Fate>>,
    /// Calls answered so far: the kill point counts these.
    pub(crate) answered: AtomicUsize,
    /// `METHOD path -> status` of every answer of 500 or more, which must not happen.
    pub(crate) server_errors: Mutex<Vec<String>>,
}

impl Journal {
    /// How many creates and deletes of each kind were sent and answered, for the log.
    pub(crate) fn summary(&self) -> String {
        let count = |fates: &Mutex<BTreeMap<String, Fate>>| {
            let fates = fates.lock().unwrap();
            let made = fates.values().filter(|fate| fate.made).count();
            let unanswered = fates
                .values()
                .filter(|f| f.create_sent && !f.answered)
                .count();
            let deleted = fates.values().filter(|fate| fate.delete_answered).count();
            let cut = fates
                .values()
                .filter(|fate| fate.delete_sent && !fate.delete_answered)
                .count();
            format!("{made} made, {unanswered} creates cut, {deleted} deleted, {cut} deletes cut")
        };
        format!(
            "{} answered calls; sandboxes: {}; snapshots: {}; volumes: {}",
            self.answered.load(Ordering::SeqCst),
            count(&self.sandboxes),
            count(&self.snapshots),
            count(&self.volumes)
        )
    }
}

/// One worker's way to the server.
pub(crate) struct Client {
    pub(crate) api: String,
    pub(crate) key: String,
    pub(crate) http: reqwest::Client,
    pub(crate) journal: Arc<Journal>,
}

/// An answer, or `None` when the server did not answer (it was killed).
type Answer = Option<(u16, Value)>;

impl Client {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Answer {
        let url = if path.starts_with("/toolbox") {
            format!("{}{path}", self.api.trim_end_matches("/api"))
        } else {
            format!("{}{path}", self.api)
        };
        let mut request = self
            .http
            .request(method.clone(), url)
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.finish(&method, path, request).await
    }

    async fn finish(
        &self,
        method: &reqwest::Method,
        path: &str,
        request: reqwest::RequestBuilder,
    ) -> Answer {
        let response = request.send().await.ok()?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.ok()?;
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        self.journal.answered.fetch_add(1, Ordering::SeqCst);
        if status >= 500 {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            (self.journal.server_errors.lock().unwrap())
                .push(format!("{method} {path} -> {status}: {text}"));
        }
        Some((status, body))
    }

    async fn upload(&self, id: &str, path: &str, contents: &[u8]) -> Answer {
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(contents.to_vec()).file_name("file"),
        );
        let route = format!("/toolbox/{id}/files/upload?path={path}");
        let url = format!("{}{route}", self.api.trim_end_matches("/api"));
        let request = self.http.post(url).bearer_auth(&self.key).multipart(form);
        self.finish(&reqwest::Method::POST, &route, request).await
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> Answer {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    pub(crate) async fn delete(&self, path: &str) -> Answer {
        self.call(reqwest::Method::DELETE, path, None).await
    }

    async fn put(&self, path: &str, body: Value) -> Answer {
        self.call(reqwest::Method::PUT, path, Some(body)).await
    }
}

/// Sends a create for `name` of one kind, recording that it was sent and, once answered with
/// 200, its id.
async fn create(
    client: &Client,
    fates: &Mutex<BTreeMap<String, Fate>>,
    name: &str,
    path: &str,
    body: Value,
) -> Option<Option<String>> {
    fates
        .lock()
        .unwrap()
        .entry(name.to_string())
        .or_default()
        .create_sent = true;
    let (status, answer) = client.post(path, body).await?;
    fates.lock().unwrap().get_mut(name).unwrap().answered = true;
    if status != 200 {
        eprintln!("create `{name}` refused: {status} {answer}");
    }
    let id = (status == 200)
        .then(|| answer["id"].as_str().map(str::to_string))
        .flatten();
    if let Some(id) = &id {
        let mut fates = fates.lock().unwrap();
        let fate = fates.get_mut(name).unwrap();
        fate.made = true;
        fate.id = (answer["name"] == name).then(|| id.clone());
    }
    Some(id)
}

/// Sends a delete for `name` of one kind, recording that it was sent and whether it was done.
async fn delete(client: &Client, fates: &Mutex<BTreeMap<String, Fate>>, name: &str, path: &str) {
    fates.lock().unwrap().get_mut(name).unwrap().delete_sent = true;
    if let Some((status, _)) = client.delete(path).await
        && status < 300
    {
        fates.lock().unwrap().get_mut(name).unwrap().delete_answered = true;
    }
}

/// Waits (briefly) until sandbox `id` is `started` or `stopped`; `None` once the server is gone.
async fn settle(client: &Client, id: &str) -> Option<()> {
    for _ in 0..200 {
        let (_, body) = client
            .call(reqwest::Method::GET, &format!("/sandbox/{id}"), None)
            .await?;
        if body["state"] == "started" || body["state"] == "stopped" {
            return Some(());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Some(())
}

/// One worker: sandboxes `crash-<worker>-<n>` until the server stops answering.
pub(crate) async fn work(client: Client, worker: u64, mut dice: Dice) {
    let journal = client.journal.clone();
    for round in 0.. {
        let name = format!("crash-{worker}-{round}");
        let body = json!({
            "name": name,
            "labels": { "crash": "yes", "worker": worker.to_string() },
            "autoStopInterval": 0,
        });
        let Some(created) = create(&client, &journal.sandboxes, &name, "/sandbox", body).await
        else {
            return;
        };
        let Some(id) = created else { continue };
        for step in 0..dice.below(2, 6) {
            if step_on(&client, &id, &name, step, &mut dice)
                .await
                .is_none()
            {
                return;
            }
        }
        if dice.below(0, 4) != 0 {
            delete(
                &client,
                &journal.sandboxes,
                &name,
                &format!("/sandbox/{id}"),
            )
            .await;
        }
    }
}

/// One seeded change on sandbox `id`; `None` once the server is gone.
async fn step_on(client: &Client, id: &str, name: &str, step: u64, dice: &mut Dice) -> Option<()> {
    let journal = &client.journal;
    let toolbox = format!("/toolbox/{id}");
    match dice.below(0, 7) {
        0 => {
            client
                .post(&format!("/sandbox/{id}/stop"), json!({}))
                .await?;
            settle(client, id).await?;
            client
                .post(&format!("/sandbox/{id}/start"), json!({}))
                .await?;
            settle(client, id).await?;
        }
        1 => {
            let command = json!({ "command": "sh -c 'echo ran > ran.txt; cat ran.txt'" });
            client
                .post(&format!("{toolbox}/process/execute"), command)
                .await?;
        }
        2 => {
            let contents = vec![b'x'; 64 * 1024];
            client
                .upload(id, &format!("upload-{step}.bin"), &contents)
                .await?;
        }
        3 => {
            let labels = json!({ "labels": { "crash": "yes", "step": step.to_string() } });
            client.put(&format!("/sandbox/{id}/labels"), labels).await?;
        }
        4 => {
            // A command left running: the restart must end it with its sandbox, or adopt it.
            let session = format!("session-{step}");
            let body = json!({ "sessionId": session });
            client
                .post(&format!("{toolbox}/process/session"), body)
                .await?;
            let run = json!({ "command": "sleep 600", "runAsync": true });
            let path = format!("{toolbox}/process/session/{session}/exec");
            client.post(&path, run).await?;
        }
        5 => {
            let snapshot = format!("{name}-snapshot-{step}");
            let path = format!("/sandbox/{id}/snapshot");
            let body = json!({ "name": snapshot });
            let made = create(client, &journal.snapshots, &snapshot, &path, body).await?;
            if made.is_some() && dice.below(0, 2) == 0 {
                let found = client
                    .call(
                        reqwest::Method::GET,
                        &format!("/snapshots/{snapshot}"),
                        None,
                    )
                    .await?;
                if let Some(snapshot_id) = found.1["id"].as_str() {
                    let path = format!("/snapshots/{snapshot_id}");
                    delete(client, &journal.snapshots, &snapshot, &path).await;
                }
            }
        }
        _ => {
            let volume = format!("{name}-volume-{step}");
            let body = json!({ "name": volume });
            let made = create(client, &journal.volumes, &volume, "/volumes", body).await?;
            if let Some(volume_id) = made
                && dice.below(0, 2) == 0
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
                let path = format!("/volumes/{volume_id}");
                delete(client, &journal.volumes, &volume, &path).await;
            }
        }
    }
    Some(())
}
