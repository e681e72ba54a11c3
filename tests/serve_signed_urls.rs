//! Signed file URLs: the official SDKs' `download_url`, `upload_url` and `rotate_signing_key`
//! (`tests/sdk/signed_urls_test.py`, `tests/sdk-ts/signed_urls_test.mjs`) used with plain HTTP
//! clients and no key, and, by hand, the contract behind them: a URL signed under a sandbox's
//! key works without the API key until it expires or the key is rotated, still works after
//! `serve` restarts on the same state root, and never reaches another route or sandbox.
//!
//! The SDKs come from `scripts/sdk-venv.sh` and `scripts/sdk-node.sh`; without them those tests
//! skip and say why, and with `CI=true` they fail. Nothing reaches beyond 127.0.0.1.

use std::os::unix::fs::PermissionsExt as _;

use base64::Engine as _;
use hmac::{Hmac, KeyInit as _, Mac as _};
use serde_json::json;
use sha2::Sha256;

use crate::serve_sdk_ts::sdk_node;
use crate::serve_support::{
    Options, Server, encode, run_node_script, run_python_script, sdk_python, start, start_with,
};

/// What the SDKs sign with: `v1_` and the base64url HMAC-SHA256 of `canonical` under `key`.
pub(crate) fn signature(key: &str, canonical: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(canonical.as_bytes());
    let digest =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("v1_{digest}")
}

/// The URL the SDKs build for `operation` (`GET` download, `POST` upload) of `path`.
pub(crate) fn signed_path(
    id: &str,
    key: &str,
    operation: &str,
    path: &str,
    expires: u64,
) -> String {
    let signature = signature(key, &format!("v1:files:{operation}:{path}:{expires}"));
    let route = if operation == "GET" {
        "download"
    } else {
        "upload-v2"
    };
    format!(
        "/toolbox/{id}/files/{route}?path={}&expires={expires}&signature={signature}",
        encode(path)
    )
}

async fn signing_key(server: &Server, id: &str) -> String {
    let reply = server.get(&format!("/api/sandbox/{id}/signing-key")).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body.as_str().expect("a JSON string").to_string()
}

/// GET `url` with no credentials: status and body.
async fn fetch(url: &str) -> (u16, String) {
    let reply = reqwest::get(url).await.expect("request");
    (reply.status().as_u16(), reply.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signed_url_outlives_a_restart_but_not_its_expiry_or_a_rotation() {
    let server = start("").await;
    let id = server.create(json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let other = server.create(json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let upload = server
        .exec(&id, "mkdir -p share && printf 'kept\\n' > share/a.txt")
        .await;
    assert_eq!(upload.body["exitCode"], 0, "{:?}", upload.body);
    let key = signing_key(&server, &id).await;
    assert_ne!(key, signing_key(&server, &other).await);
    assert!(!key.contains(crate::serve_support::KEY));
    let forever = server.url(&signed_path(&id, &key, "GET", "share/a.txt", 0));
    assert_eq!(fetch(&forever).await, (200, "kept\n".to_string()));
    // Another sandbox's toolbox with this sandbox's signature: refused.
    let elsewhere = forever.replace(&format!("/toolbox/{id}/"), &format!("/toolbox/{other}/"));
    assert_eq!(fetch(&elsewhere).await.0, 401);
    let past = server.url(&signed_path(&id, &key, "GET", "share/a.txt", 1_000_000_000));
    let (status, body) = fetch(&past).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body.contains("expired") && body.contains("DAYTONA_DAEMON"),
        "{body}"
    );
    // An upload signed for one path cannot write another.
    let put = server.url(&signed_path(&id, &key, "POST", "share/b.txt", 0));
    let client = reqwest::Client::new();
    let posted = client.post(&put).body("b\n").send().await.unwrap();
    assert_eq!(posted.status(), 200);
    let moved = put.replace("share%2Fb.txt", "share%2Fc.txt");
    let refused = client.post(&moved).body("c\n").send().await.unwrap();
    assert_eq!(refused.status(), 401);

    // The secret lives under the state root, private; the key survives a restart.
    let root = server.shutdown().await;
    let secret = root.path().join("state/serve-file-signing-secret");
    let mode = std::fs::metadata(&secret).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let server = start_with(Options {
        root: Some(root),
        ..Options::default()
    })
    .await;
    let forever = server.url(&signed_path(&id, &key, "GET", "share/b.txt", 0));
    assert_eq!(fetch(&forever).await, (200, "b\n".to_string()));
    assert_eq!(signing_key(&server, &id).await, key);

    let rotated = server
        .post(&format!("/api/sandbox/{id}/signing-key/rotate"), json!({}))
        .await;
    assert_eq!(rotated.status, 200, "{:?}", rotated.body);
    let new_key = rotated.body.as_str().unwrap().to_string();
    assert_ne!(new_key, key);
    assert_eq!(fetch(&forever).await.0, 401);
    let renewed = server.url(&signed_path(&id, &new_key, "GET", "share/b.txt", 0));
    assert_eq!(fetch(&renewed).await.0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_python_sdk_signs_download_and_upload_urls() {
    let Some(python) = sdk_python(&["daytona", "requests"]).await else {
        return;
    };
    let server = start("").await;
    run_python_script(
        &python,
        "signed_urls_test.py",
        &server,
        &[],
        "sdk-signed: done",
    )
    .await;
    for route in [
        "GET /api/sandbox/{sandbox}/signing-key",
        "POST /api/sandbox/{sandbox}/signing-key/rotate",
        "POST /toolbox/{sandbox}/files/upload-v2",
    ] {
        assert!(
            server.requests(route).await >= 1,
            "{route} was never called"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_typescript_sdk_signs_download_and_upload_urls() {
    let Some(folder) = sdk_node() else {
        return;
    };
    let server = start("").await;
    run_node_script(
        &folder,
        "signed_urls_test.mjs",
        &server,
        &[],
        "sdk-ts-signed: done",
    )
    .await;
    assert!(
        server
            .requests("POST /api/sandbox/{sandbox}/signing-key/rotate")
            .await
            >= 1
    );
}
