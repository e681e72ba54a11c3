//! The Python SDK's build contexts (`Image.add_local_file`, `add_local_dir`) against a child
//! `serve`: its uploader takes only HTTPS storage that this machine's CA bundle vouches for, so
//! `serve` also speaks HTTPS on its own port, with a certificate of its loopback CA, and sends
//! the Python SDK there once the bundle holds that CA.
//!
//! A test must not change what this machine trusts, so `serve` and the SDK run in a mount
//! namespace of their own (`unshare`, `nsenter`: root only) whose CA bundle is a copy the test
//! controls: first without the loopback CA (the create is refused with the CA to trust), then
//! with it, as after `update-ca-certificates` (the files reach the sandbox). Nothing reaches
//! beyond 127.0.0.1.

use std::ffi::OsStr;
use std::path::Path;

use crate::common::{self, World};
use crate::serve_support::{KEY, ServeCommand, run_python_script_through, sdk_python};

/// Where this machine's TLS clients read the CAs they trust, the Python SDK's uploader included.
const BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

#[tokio::test(flavor = "multi_thread")]
async fn the_python_sdk_uploads_build_contexts_once_this_machine_trusts_the_loopback_ca() {
    let Some(python) = sdk_python(&["daytona"]).await else {
        return;
    };
    if !rustix::process::geteuid().is_root() {
        return common::skip("a mount namespace with a CA bundle of the test's own needs root");
    }
    for tool in ["unshare", "nsenter", "mount"] {
        if !common::have(tool) {
            return common::skip(&format!("`{tool}` (util-linux) is needed"));
        }
    }
    if !Path::new(BUNDLE).is_file() {
        return common::skip(&format!("this machine has no CA bundle at `{BUNDLE}`"));
    }
    let world = World::new();
    let bundle = world.path().join("bundle.pem");
    std::fs::copy(BUNDLE, &bundle).unwrap();
    let mount = format!(r#"mount --bind "$0" {BUNDLE} && exec "$@""#);
    let launcher = [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "--",
        "sh",
        "-c",
    ];
    let mut serve = ServeCommand::in_world(&world)
        .through(
            launcher
                .map(OsStr::new)
                .into_iter()
                .chain([OsStr::new(&mount), bundle.as_os_str()]),
        )
        .start_async()
        .await;
    let pid = serve.child.id().expect("serve runs").to_string();
    let api = serve.api.clone();
    let ca = world.state().join("serve-loopback-ca.pem");
    let ca_pem = std::fs::read(&ca).expect("serve keeps its loopback CA under the state root");

    // One port, both ways: plain HTTP as before, and TLS with the loopback CA's leaf.
    let port = api.trim_end_matches("/api").rsplit(':').next().unwrap();
    let trusting = reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only(reqwest::Certificate::from_pem_bundle(&ca_pem).unwrap())
        .build()
        .unwrap();
    for host in ["127.0.0.1", "localhost"] {
        let health = trusting
            .get(format!("https://{host}:{port}/api/health"))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status(), 200, "{host}");
    }
    let plain = reqwest::Client::builder().no_proxy().build().unwrap();
    let health = plain.get(format!("{api}/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);

    let launcher = ["nsenter", "--mount", "--target", pid.as_str(), "--"];
    let ca_path = ca.to_str().unwrap();
    let case = |name: &'static str| [("SWEEP_CASE", name), ("LOOPBACK_CA", ca_path)];
    let untrusted = case("untrusted");
    run_python_script_through(
        &launcher,
        &python,
        "contexts_test.py",
        (&api, KEY),
        &untrusted,
        "contexts: done",
    )
    .await;
    // As `update-ca-certificates` would: the bundle, in place, now ends with the loopback CA.
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&bundle)
        .unwrap();
    std::io::Write::write_all(&mut file, b"\n").unwrap();
    std::io::Write::write_all(&mut file, &ca_pem).unwrap();
    drop(file);
    let trusted = case("trusted");
    run_python_script_through(
        &launcher,
        &python,
        "contexts_test.py",
        (&api, KEY),
        &trusted,
        "contexts: done",
    )
    .await;
    let _ = serve.child.kill().await;
}
