//! How `local` reads its state root, with real processes: every listing sees each sandbox's
//! record whole and current while other processes rewrite records (smaller and larger than one
//! read takes), after a writer was killed mid-way, and after a record was removed or edited by
//! hand; and a provider that only lists and reads never starts bubblewrap to probe it.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use ralph_town::provider::local::{IsolationMode, LocalProvider};
use ralph_town::provider::{CreateSandbox, Labels, Provider, Sandbox};

const KEY: &str = "ralph-town-test/store";
const PAD: &str = "ralph-town-test/pad";
/// A record with this label is larger than one read of a record takes (16 KiB).
const LARGE: usize = 40_000;
const SMALL: usize = 10;
/// The names of the sandboxes the creating child makes and deletes.
const PASSING: &str = "passing-";

fn reduced(root: &Path) -> LocalProvider {
    LocalProvider::with_isolation(root.to_path_buf(), IsolationMode::Off).expect("provider")
}

fn selector() -> Labels {
    [(KEY.to_string(), "yes".to_string())].into()
}

fn labels(pad: usize) -> Labels {
    [
        (KEY.to_string(), "yes".to_string()),
        (PAD.to_string(), "x".repeat(pad)),
    ]
    .into()
}

async fn create(provider: &LocalProvider, name: &str) -> Sandbox {
    let request = CreateSandbox {
        name: name.to_string(),
        labels: labels(SMALL),
        ..CreateSandbox::default()
    };
    provider.create(&request).await.expect("create")
}

/// A fresh state root with a sandbox of each name, and their ids.
async fn state_root_with(names: &[&str]) -> (tempfile::TempDir, LocalProvider, Vec<String>) {
    let root = tempfile::tempdir().unwrap();
    let provider = reduced(root.path());
    let mut ids = Vec::new();
    for name in names {
        ids.push(create(&provider, name).await.id);
    }
    (root, provider, ids)
}

/// The sandboxes the listing shows, each checked to be a whole record as some writer wrote it.
async fn listed(provider: &LocalProvider) -> Vec<String> {
    let sandboxes = provider.list(&selector()).await.expect("list");
    for sandbox in &sandboxes {
        let pad = &sandbox.labels[PAD];
        assert!(
            (pad.len() == SMALL || pad.len() == LARGE) && pad.bytes().all(|byte| byte == b'x'),
            "a record of `{}` read part-way: a pad of {} bytes",
            sandbox.name,
            pad.len()
        );
    }
    let mut names: Vec<_> = sandboxes.into_iter().map(|sandbox| sandbox.name).collect();
    names.sort();
    names
}

/// This test binary running the ignored test `name` in a process of its own, on `root`, with
/// `env`.
fn child(name: &str, root: &Path, env: &[(&str, &str)]) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", name, "--nocapture", "--quiet"])
        .env("RALPH_TOWN_TEST_ROOT", root)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

fn test_root() -> PathBuf {
    PathBuf::from(std::env::var_os("RALPH_TOWN_TEST_ROOT").expect("RALPH_TOWN_TEST_ROOT"))
}

/// Child side of the rewriting tests: rewrites every sandbox's record, small then larger than
/// one read, `RALPH_TOWN_TEST_ROUNDS` times (for ever without it), saying `rewriting` once the
/// first round is written.
#[tokio::test]
#[ignore = "run as a child process by the tests of store_reads"]
async fn child_rewrites_records() {
    let provider = reduced(&test_root());
    let rounds = std::env::var("RALPH_TOWN_TEST_ROUNDS")
        .ok()
        .map_or(usize::MAX, |rounds| rounds.parse().unwrap());
    let ids: Vec<_> = provider
        .list(&selector())
        .await
        .unwrap()
        .into_iter()
        // The creating child's sandboxes come and go: rewriting one could find it deleted.
        .filter(|sandbox| !sandbox.name.starts_with(PASSING))
        .map(|sandbox| sandbox.id)
        .collect();
    for round in 0..rounds {
        let pad = if round % 2 == 0 { LARGE } else { SMALL };
        for id in &ids {
            provider.set_labels(id, &labels(pad)).await.unwrap();
        }
        if round == 0 {
            println!("rewriting");
        }
    }
}

/// Child side of [`listings_see_whole_records_while_other_processes_rewrite_them`]: creates and
/// deletes a sandbox of its own, again and again.
#[tokio::test]
#[ignore = "run as a child process by the tests of store_reads"]
async fn child_creates_and_deletes() {
    let provider = reduced(&test_root());
    for round in 0..30 {
        let sandbox = create(&provider, &format!("{PASSING}{round}")).await;
        provider.delete(&sandbox.id).await.unwrap();
    }
}

#[tokio::test]
async fn listings_see_whole_records_while_other_processes_rewrite_them() {
    let (root, provider, _) = state_root_with(&["a", "b", "c", "d"]).await;
    let rewriter = || {
        let rounds = [("RALPH_TOWN_TEST_ROUNDS", "40")];
        child("store_reads::child_rewrites_records", root.path(), &rounds)
    };
    let mut children = vec![
        child("store_reads::child_creates_and_deletes", root.path(), &[]),
        rewriter(),
        rewriter(),
    ];
    let mut listings = 0;
    while !children.is_empty() {
        // Sandboxes of the creating child come and go; the four stay, each one whole.
        let names = listed(&provider).await;
        let stable: Vec<_> = names
            .iter()
            .filter(|name| !name.starts_with(PASSING))
            .collect();
        assert_eq!(stable, ["a", "b", "c", "d"]);
        listings += 1;
        let mut running = Vec::new();
        for mut child in children {
            match child.try_wait().unwrap() {
                Some(status) => assert!(status.success(), "a writer failed"),
                None => running.push(child),
            }
        }
        children = running;
    }
    assert!(listings > 0);
    assert_eq!(listed(&provider).await, ["a", "b", "c", "d"]);
}

#[tokio::test]
async fn a_killed_writer_leaves_records_every_listing_reads() {
    let (root, provider, ids) = state_root_with(&["a", "b", "c"]).await;
    let mut writer = child("store_reads::child_rewrites_records", root.path(), &[]);
    // The harness prints lines of its own before the child's.
    let rewriting = BufReader::new(writer.stdout.take().unwrap())
        .lines()
        .any(|line| line.unwrap() == "rewriting");
    assert!(rewriting, "the writer ended before it rewrote anything");
    writer.kill().unwrap();
    writer.wait().unwrap();

    // What a writer killed before its rename leaves: a temporary file beside a record, half
    // written, and a sandbox half built in `staging/`.
    let records = root.path().join("sandboxes");
    std::fs::write(
        records.join(&ids[0]).join(".sandbox.json.0123abcd.tmp"),
        "{\"id\": \"",
    )
    .unwrap();
    let staged = root.path().join("staging").join("0123456789ab");
    std::fs::create_dir_all(&staged).unwrap();
    std::fs::write(staged.join("sandbox.json"), "{").unwrap();

    assert_eq!(listed(&provider).await, ["a", "b", "c"]);
    for id in &ids {
        assert_eq!(&provider.get(id).await.unwrap().id, id);
    }
}

#[tokio::test]
async fn a_record_removed_or_edited_by_hand_shows_in_the_next_listing() {
    let (root, provider, ids) = state_root_with(&["a", "b", "c"]).await;
    assert_eq!(listed(&provider).await, ["a", "b", "c"]);

    let records = root.path().join("sandboxes");
    std::fs::remove_dir_all(records.join(&ids[0])).unwrap();
    // Edited in place, not replaced: the same file with other contents.
    let path = records.join(&ids[1]).join("sandbox.json");
    let mut record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    record["name"] = "renamed".into();
    record["labels"][PAD] = "x".repeat(LARGE).into();
    std::fs::write(&path, serde_json::to_vec(&record).unwrap()).unwrap();

    assert_eq!(listed(&provider).await, ["c", "renamed"]);
    let edited = provider.get(&ids[1]).await.unwrap();
    assert_eq!(edited.labels[PAD].len(), LARGE);
    assert!(provider.get(&ids[0]).await.is_err());
}

/// Minor page faults of this process's children that have ended: zero until one has run.
fn children_faults() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // The fields after the command name, which is in parentheses: `cminflt` is the 11th field
    // of the line, the 9th after the name.
    let after_name = stat.rsplit_once(')').unwrap().1;
    after_name
        .split_whitespace()
        .nth(8)
        .unwrap()
        .parse()
        .unwrap()
}

/// Child side of [`listing_never_starts_bubblewrap`].
#[tokio::test]
#[ignore = "run as a child process by listing_never_starts_bubblewrap"]
async fn child_lists_then_asks_for_isolation() {
    // Creating needs to know who owns a sandbox's files, so another provider creates.
    let sandbox = create(&reduced(&test_root()), "looked-at").await;
    let provider = LocalProvider::new(test_root()).unwrap();
    assert_eq!(listed(&provider).await, ["looked-at"]);
    provider.get(&sandbox.id).await.unwrap();
    assert_eq!(children_faults(), 0, "a command was started to list");
    provider.isolation();
    assert!(children_faults() > 0, "bubblewrap was never tried");
}

/// `plan` paid for a bubblewrap probe (two processes) though it never starts a sandbox.
#[test]
fn listing_never_starts_bubblewrap() {
    if !crate::common::have("bwrap") {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let output = child(
        "store_reads::child_lists_then_asks_for_isolation",
        root.path(),
        &[],
    )
    .wait_with_output()
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}
