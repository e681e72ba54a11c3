//! `serve` run as an ordinary user: image builds, with the layer mounted in a user namespace of
//! that user's own (unprivileged overlayfs) instead of root's staging namespace, and previews
//! of a sandbox with a network of its own, whose connections are made by a child that enters
//! the sandbox's network through the user namespace that user owns. Run as root, the tests
//! start the `serve` binary again as `nobody`; as anyone else they skip (the other tests
//! already run as that user).

use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::have;
use crate::serve_support::{AsyncServe, ServeCommand};

fn unique(label: &str) -> String {
    format!("rt-{label}-{}", uuid::Uuid::new_v4().simple())
}

/// The local addresses (hex, as the kernel lists them) of the TCP sockets process `pid`
/// listens on, in this machine's network.
fn listening(pid: u32) -> Vec<String> {
    let sockets: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|entry| std::fs::read_link(entry.path()).ok())
                .filter_map(|link| {
                    let link = link.to_string_lossy().into_owned();
                    link.strip_prefix("socket:[")
                        .map(|inode| inode.trim_end_matches(']').to_string())
                })
                .collect()
        })
        .unwrap_or_default();
    let mut found: Vec<String> = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .flat_map(|table| {
            table
                .lines()
                .skip(1)
                .filter_map(|line| {
                    let fields: Vec<&str> = line.split_whitespace().collect();
                    (fields.len() > 9
                        && fields[3] == "0A"
                        && sockets.iter().any(|inode| inode == fields[9]))
                    .then(|| fields[1].to_string())
                })
                .collect::<Vec<_>>()
        })
        .collect();
    found.sort();
    found
}

/// A `serve` binary run as `nobody` on a state root of its own.
struct Nobody {
    serve: AsyncServe,
    _world: tempfile::TempDir,
}

impl std::ops::Deref for Nobody {
    type Target = AsyncServe;
    fn deref(&self) -> &AsyncServe {
        &self.serve
    }
}

impl Nobody {
    /// Started and announced; `None` unless this test runs as root with `bwrap` and `setpriv`.
    async fn start() -> Option<Nobody> {
        let root = std::fs::read_to_string("/proc/self/status")
            .unwrap_or_default()
            .lines()
            .any(|line| line.starts_with("Uid:") && line.split_whitespace().nth(1) == Some("0"));
        if !root || !have("bwrap") || !have("setpriv") {
            return None;
        }
        let world = tempfile::tempdir().unwrap();
        std::os::unix::fs::chown(world.path(), Some(65534), Some(65534)).unwrap();
        let serve = ServeCommand::new(world.path(), &world.path().join("state"))
            .run_as_nobody()
            .start_async()
            .await;
        Some(Nobody {
            serve,
            _world: world,
        })
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ordinary_user_builds_and_sees_layers_too() {
    let Some(nobody) = Nobody::start().await else {
        return;
    };
    let directory = unique("user");
    let dockerfile = format!(
        "FROM debian:12\nRUN mkdir -p /opt/{directory} && id -u > /opt/{directory}/uid && echo x > /usr/local/bin/{directory}\n"
    );
    let created = nobody
        .request(reqwest::Method::POST, "/snapshots")
        .json(&json!({"name": "mine", "buildInfo": {"dockerfileContent": dockerfile}}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let snapshot = nobody
            .json(reqwest::Method::GET, "/snapshots/mine", json!({}))
            .await;
        if snapshot["state"] == "active" {
            break;
        }
        assert_ne!(snapshot["state"], "build_failed", "{snapshot}");
        assert!(Instant::now() < deadline, "{snapshot}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sandbox = nobody
        .json(
            reqwest::Method::POST,
            "/sandbox",
            json!({"snapshot": "mine"}),
        )
        .await;
    let id = sandbox["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    let result = loop {
        let reply = nobody
            .exec(
                &id,
                &format!(
                    "cat /opt/{directory}/uid && test -f /usr/local/bin/{directory} && echo script"
                ),
            )
            .await;
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
    let mut nobody = nobody;
    let _ = nobody.serve.child.kill().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ordinary_users_preview_reaches_a_sandbox_with_a_network_of_its_own() {
    let Some(mut nobody) = Nobody::start().await else {
        return;
    };
    let sandbox = nobody
        .json(
            reqwest::Method::POST,
            "/sandbox",
            json!({"networkBlockAll": true}),
        )
        .await;
    let id = sandbox["id"].as_str().expect("created").to_string();
    let marker = unique("inside");
    // Any port: nothing else listens in a network of its own.
    let port = 8000;
    let started = nobody
        .exec(
            &id,
            &format!(
                "echo {marker} > page.txt && (python3 -m http.server {port} --bind 127.0.0.1 > /dev/null 2>&1 &)"
            ),
        )
        .await;
    assert_eq!(started["exitCode"], 0, "{started}");
    // Its network is its own: this machine's loopback (where `serve` listens) is not its.
    let api_port = nobody.serve.base().rsplit(':').next().unwrap().to_string();
    let reached = nobody
        .exec(
            &id,
            &format!("python3 -c \"import socket; socket.create_connection(('127.0.0.1', {api_port}), 3)\""),
        )
        .await;
    assert_ne!(
        reached["exitCode"], 0,
        "a blocked sandbox reached this machine's loopback"
    );

    let listening_before = listening(nobody.serve.child.id().unwrap());
    assert!(
        !listening_before.is_empty(),
        "serve's own listeners are seen"
    );
    let preview = nobody
        .json(
            reqwest::Method::GET,
            &format!("/sandbox/{id}/ports/{port}/preview-url"),
            json!({}),
        )
        .await;
    let url = preview["url"].as_str().expect("a preview link").to_string();
    let token = preview["token"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let (status, body) = loop {
        let response = client
            .get(format!("{url}/page.txt"))
            .header("x-daytona-preview-token", &token)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        // 502 while the server inside starts.
        if status != 502 || Instant::now() > deadline {
            break (status, body);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!((status, body.trim()), (200, marker.as_str()));
    // The connection was made inside the sandbox's network: no port of this machine was opened
    // for it, which anything on this machine could have reached without the token.
    assert_eq!(
        listening(nobody.serve.child.id().unwrap()),
        listening_before,
        "serve listens on no more ports after the preview"
    );

    // This machine's `/dev/net/tun` is root's: the sandbox runs unconnected, and a change that
    // would open it says why it cannot, leaving it blocked.
    let tun_is_roots = std::fs::metadata("/dev/net/tun")
        .is_ok_and(|tun| std::os::unix::fs::PermissionsExt::mode(&tun.permissions()) & 0o006 == 0);
    if tun_is_roots {
        let opened = nobody
            .request(
                reqwest::Method::POST,
                &format!("/sandbox/{id}/network-settings"),
            )
            .json(&json!({"networkBlockAll": false}))
            .send()
            .await
            .unwrap();
        let status = opened.status().as_u16();
        let said = opened.text().await.unwrap();
        assert!(status >= 400, "{status} {said}");
        assert!(said.contains("without a connection"), "{said}");
        let reached = nobody
            .exec(
                &id,
                &format!("python3 -c \"import socket; socket.create_connection(('10.0.2.2', {api_port}), 3)\""),
            )
            .await;
        assert_ne!(reached["exitCode"], 0, "still blocked");
    }
    let _ = nobody.serve.child.kill().await;
}
