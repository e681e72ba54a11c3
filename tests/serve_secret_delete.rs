//! Deleting an organisation secret that started sandboxes mount, against an in-process `serve`:
//! the delete answers 204 as Daytona's does; the variable leaves each sandbox's environment and
//! its mounted list; the egress proxy puts the value into no request any more (the old
//! placeholder reaches the test's loopback upstream as it is); a secret the sandbox still mounts
//! keeps working; a sandbox left with no secret loses its proxy variables and its credential; a
//! secret made later under the same name is not mounted by the old mapping.
//!
//! Everything stays on 127.0.0.1. Without curl the test skips and says why, and with `CI=true`
//! it fails.

use serde_json::json;

use crate::common::{self, SENTINEL};
use crate::serve_support::Server;
use crate::serve_support::start;
use crate::serve_upstreams::{Seen, header, http_upstream};

/// The output of a command in sandbox `id`, trimmed.
async fn run(server: &Server, id: &str, command: &str) -> String {
    let reply = server.exec(id, command).await;
    assert_eq!(reply.status, 200, "{command}: {:?}", reply.body);
    reply.body["result"].as_str().unwrap().trim().to_string()
}

/// A GET of `upstream{path}` from sandbox `id` carrying `value` as its bearer token (a shell
/// word: `$VAR` or a literal), answering curl's status code.
async fn curl(server: &Server, id: &str, upstream: &str, path: &str, value: &str) -> String {
    let command = format!(
        "curl -sS -o /dev/null -w '%{{http_code}}' -H \"Authorization: Bearer {value}\" {upstream}{path}"
    );
    run(server, id, &command).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_secret_leaves_the_sandboxes_that_mounted_it_and_is_substituted_nowhere() {
    if !common::have("curl") {
        return;
    }
    let seen = Seen::default();
    let upstream = format!("http://127.0.0.1:{}", http_upstream(seen.clone()).await);
    let server = start("").await;
    let mut secrets = Vec::new();
    for (name, value) in [
        ("gone", SENTINEL.to_string()),
        ("stays", format!("{SENTINEL}-stays")),
    ] {
        let body = json!({"name": name, "value": value, "hosts": ["127.0.0.1"]});
        let reply = server.post("/api/secret", body).await;
        assert_eq!(reply.status, 201, "{:?}", reply.body);
        secrets.push(reply.body);
    }
    let (gone, placeholder) = (
        secrets[0]["id"].as_str().unwrap(),
        secrets[0]["placeholder"].as_str().unwrap(),
    );
    let both = server
        .create(json!({"secrets": [{"GONE": "gone", "STAYS": "stays"}]}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let only = server.create(json!({"secrets": [{"GONE": "gone"}]})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let old_proxy = run(&server, &only, "printf %s \"$HTTP_PROXY\"").await;
    assert_eq!(
        curl(&server, &both, &upstream, "/before", "$GONE").await,
        "200"
    );
    assert_eq!(
        header(&seen, "/before", "authorization"),
        format!("Bearer {SENTINEL}")
    );

    let reply = server.delete(&format!("/api/secret/{gone}")).await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);
    assert_eq!(server.get(&format!("/api/secret/{gone}")).await.status, 404);

    // The sandbox that mounts another secret: the variable is gone, the other still works.
    assert_eq!(
        run(&server, &both, "printenv GONE || echo unset").await,
        "unset"
    );
    assert_eq!(
        curl(&server, &both, &upstream, "/old", placeholder).await,
        "200"
    );
    assert_eq!(
        header(&seen, "/old", "authorization"),
        format!("Bearer {placeholder}"),
        "a deleted secret's value was substituted"
    );
    assert_eq!(
        curl(&server, &both, &upstream, "/stays", "$STAYS").await,
        "200"
    );
    assert_eq!(
        header(&seen, "/stays", "authorization"),
        format!("Bearer {SENTINEL}-stays")
    );
    let mounted = server
        .get(&format!("/api/sandbox/{both}/secrets"))
        .await
        .body;
    assert_eq!(
        mounted.as_array().unwrap().len(),
        1,
        "still listed: {mounted}"
    );
    assert_eq!(mounted[0]["env"], "STAYS");

    // The sandbox that mounted only it: no proxy variables, and its old credential is refused.
    let environment = run(&server, &only, "env").await;
    for variable in ["GONE=", "HTTP_PROXY=", "https_proxy=", "SSL_CERT_FILE="] {
        assert!(!environment.contains(variable), "{variable} is still set");
    }
    let client = reqwest::Client::builder()
        .proxy(reqwest::Proxy::all(&old_proxy).unwrap())
        .build()
        .unwrap();
    let status = client
        .get(format!("{upstream}/stale-credential"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 407);

    // A secret made later under the name is not mounted by the old mapping.
    let again = json!({"name": "gone", "value": format!("{SENTINEL}-again")});
    assert_eq!(server.post("/api/secret", again).await.status, 201);
    let mounted = server
        .get(&format!("/api/sandbox/{both}/secrets"))
        .await
        .body;
    assert_eq!(mounted.as_array().unwrap().len(), 1, "{mounted}");
    server.shutdown().await;
}
