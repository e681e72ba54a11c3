//! Image builds when `serve` runs as an ordinary user: the same build, with the layer mounted
//! in a user namespace of that user's own (unprivileged overlayfs) instead of root's staging
//! namespace, and its sandboxes see it. Run as root, the test starts the `serve` binary again as
//! `nobody`; as anyone else it skips (the other build tests already run as that user).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::have;
use crate::serve_support::KEY;

fn unique(label: &str) -> String {
    format!("rt-{label}-{}", uuid::Uuid::new_v4().simple())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ordinary_user_builds_and_sees_layers_too() {
    // As root, `serve` runs again as `nobody`: the layer is then mounted in a user namespace
    // of that user's own (unprivileged overlayfs) instead of in root's staging namespace.
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|line| line.starts_with("Uid:") && line.split_whitespace().nth(1) == Some("0"));
    if !root || !have("bwrap") || !have("setpriv") {
        return;
    }
    let world = tempfile::tempdir().unwrap();
    std::os::unix::fs::chown(world.path(), Some(65534), Some(65534)).unwrap();
    let mut serve = tokio::process::Command::new("setpriv")
        .args([
            "--reuid",
            "65534",
            "--regid",
            "65534",
            "--clear-groups",
            "--",
        ])
        .arg(env!("CARGO_BIN_EXE_ralph-town"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", world.path())
        .env("RALPH_TOWN_HOME", world.path().join("state"))
        .env("RALPH_TOWN_SERVE_API_KEY", KEY)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("serve starts");
    let mut lines =
        tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(serve.stderr.take().unwrap()));
    let api = loop {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("serve says where it listens")
            .unwrap()
            .expect("serve exited early");
        if let Some(api) = line.strip_prefix("Daytona-compatible API at ") {
            break api.to_string();
        }
    };
    let client = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str, body: Value| {
        client
            .request(method, format!("{api}{path}"))
            .bearer_auth(KEY)
            .json(&body)
    };
    let directory = unique("user");
    let dockerfile = format!(
        "FROM debian:12\nRUN mkdir -p /opt/{directory} && id -u > /opt/{directory}/uid && echo x > /usr/local/bin/{directory}\n"
    );
    let created = call(
        reqwest::Method::POST,
        "/snapshots",
        json!({"name": "mine", "buildInfo": {"dockerfileContent": dockerfile}}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(created.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let snapshot: Value = call(reqwest::Method::GET, "/snapshots/mine", json!({}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if snapshot["state"] == "active" {
            break;
        }
        assert_ne!(snapshot["state"], "build_failed", "{snapshot}");
        assert!(Instant::now() < deadline, "{snapshot}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sandbox: Value = call(
        reqwest::Method::POST,
        "/sandbox",
        json!({"snapshot": "mine"}),
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let id = sandbox["id"].as_str().unwrap().to_string();
    let toolbox = api.replace("/api", &format!("/toolbox/{id}"));
    let deadline = Instant::now() + Duration::from_secs(30);
    let result = loop {
        let reply: Value = client
            .post(format!("{toolbox}/process/execute"))
            .bearer_auth(KEY)
            .json(&json!({"command": format!("cat /opt/{directory}/uid && test -f /usr/local/bin/{directory} && echo script")}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if reply["exitCode"] == 0 || Instant::now() > deadline {
            break reply;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(result["exitCode"], 0, "{result}");
    assert_eq!(
        result["result"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["0", "script"]
    );
    assert!(std::fs::symlink_metadata(format!("/opt/{directory}")).is_err());
    let _ = serve.kill().await;
}
