//! The organisation's secret vault in `ralph-town serve`, driven by the official Python SDK
//! (`tests/sdk/secrets_test.py`) against a `serve` child process: vault CRUD and pages, secrets
//! mounted on create and by update, the placeholder a sandbox sees, and the egress proxy putting
//! the value into requests to the test's own loopback upstreams (HTTP, and HTTPS through the
//! proxy's CA) only for the hosts a secret allows. The sentinel value must then be nowhere but
//! the vault file: not in an answer, serve's stderr, a record, a sandbox's files or environment.
//! The TypeScript SDK (`tests/sdk-ts/secrets_test.mjs`) goes through the same routes against an
//! in-process `serve`.
//!
//! Everything stays on 127.0.0.1. Without an SDK or curl a test skips and says why, and with
//! `CI=true` it fails.

use std::path::Path;

use serde_json::{Value, json};

use crate::common::{self, SENTINEL, World};
use crate::serve_sdk_ts::sdk_node;
use crate::serve_support::{
    Options, run_node_script, run_python_script_at, sdk_python, start, start_with,
};
use crate::serve_upstreams::{Seen, header, http_upstream, https_upstream};
use crate::work_daytona::{KEY, serve_with};

/// The child serve (`base` is `http://host:port`), called with its key.
struct Api {
    base: String,
    client: reqwest::Client,
}

impl Api {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, String) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(KEY);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let reply = request.send().await.unwrap();
        (reply.status().as_u16(), reply.text().await.unwrap())
    }

    async fn get(&self, path: &str) -> Value {
        let path = format!("/api{path}");
        let (status, text) = self.call(reqwest::Method::GET, &path, None).await;
        assert_eq!(status, 200, "GET {path}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// The output of `command` in sandbox `id`.
    async fn exec(&self, id: &str, command: &str) -> String {
        let path = format!("/toolbox/{id}/process/execute");
        let body = json!({"command": command});
        let (status, text) = self.call(reqwest::Method::POST, &path, Some(body)).await;
        assert_eq!(status, 200, "{command}: {text}");
        let reply: Value = serde_json::from_str(&text).unwrap();
        reply["result"].as_str().unwrap_or_default().to_string()
    }
}

/// The status of a GET of `url` through the egress proxy at `proxy` (credential included).
async fn through(proxy: &str, url: &str) -> u16 {
    let client = reqwest::Client::builder()
        .proxy(reqwest::Proxy::all(proxy).unwrap())
        .build()
        .unwrap();
    client.get(url).send().await.unwrap().status().as_u16()
}

/// Every regular file under `dir` but `except` that holds `needle`.
pub(crate) fn files_holding(dir: &Path, except: &str, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            found.extend(files_holding(&path, except, needle));
        } else if kind.is_file()
            && path.file_name().is_some_and(|name| name != except)
            && std::fs::read(&path)
                .is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
        {
            found.push(path.display().to_string());
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_reach_allowed_hosts_through_the_egress_proxy_and_nowhere_else() {
    let Some(python) = sdk_python(&["daytona"]).await else {
        return;
    };
    if !common::have("curl") {
        return common::skip("curl is needed inside the sandbox");
    }
    let world = World::new();
    let seen = Seen::default();
    let ca_file = world.path().join("upstream-ca.pem");
    let http = http_upstream(seen.clone()).await;
    let https = https_upstream(seen.clone(), &ca_file).await;
    let readable = world.path().join("readable");
    std::fs::create_dir_all(&readable).unwrap();
    let serve = serve_with(
        &world,
        &readable,
        &["--upstream-ca", ca_file.to_str().unwrap()],
    );
    let (http_url, https_url) = (
        format!("http://127.0.0.1:{http}"),
        format!("https://127.0.0.1:{https}"),
    );
    let ports = format!("{http},{https}");
    let stdout = run_python_script_at(
        &python,
        "secrets_test.py",
        (&serve.api, KEY),
        &[
            ("SECRET_VALUE", SENTINEL),
            ("UPSTREAM_HTTP", &http_url),
            ("UPSTREAM_HTTPS", &https_url),
            ("UPSTREAM_PORTS", &ports),
        ],
        "sdk-secrets: done",
    )
    .await;
    let api = Api {
        base: serve.base().to_string(),
        client: reqwest::Client::builder().no_proxy().build().unwrap(),
    };
    let secrets = api.get("/secret").await;
    let placeholder = |name: &str| {
        secrets
            .as_array()
            .unwrap()
            .iter()
            .find(|secret| secret["name"] == name)
            .map(|secret| secret["placeholder"].as_str().unwrap().to_string())
            .unwrap()
    };
    let (token, other) = (placeholder("upstream_token"), placeholder("other-host"));

    // The value goes only where the secret allows: `127.0.0.1`, not `localhost`, and never a
    // secret's that allows other hosts; a secret without hosts goes anywhere.
    for scheme in ["http", "https"] {
        let allowed = format!("/{scheme}-allowed");
        assert_eq!(
            header(&seen, &allowed, "authorization"),
            format!("Bearer {SENTINEL}")
        );
        assert_eq!(header(&seen, &allowed, "x-other"), other);
        let by_name = format!("/{scheme}-by-name");
        assert_eq!(
            header(&seen, &by_name, "authorization"),
            format!("Bearer {token}")
        );
        assert!(header(&seen, &by_name, "proxy-authorization").is_empty());
    }
    // The requests of a sandbox with an allow list went through the proxy on its own loopback;
    // none directly, and none once it was blocked.
    for path in ["/http-blocked", "/https-blocked"] {
        assert_eq!(
            header(&seen, path, "authorization"),
            format!("Bearer {SENTINEL}"),
            "{path}"
        );
    }
    assert!(!seen.lock().unwrap().contains_key("/direct"));
    assert!(!seen.lock().unwrap().contains_key("/http-refused"));
    let later = "/http-mounted-later";
    assert_eq!(
        header(&seen, later, "authorization"),
        format!("Bearer {SENTINEL}-free")
    );
    assert_eq!(
        header(&seen, later, "x-old"),
        token,
        "an unmounted secret was substituted"
    );

    // A WebSocket through the proxy: the upgrade's headers were substituted and the two sides
    // joined (the script read the echo).
    for path in ["/ws", "/wss"] {
        assert_eq!(
            header(&seen, path, "authorization"),
            format!("Bearer {SENTINEL}-free"),
            "{path}"
        );
    }

    // A fork's own credential puts the value into its requests.
    assert_eq!(
        header(&seen, "/http-forked", "authorization"),
        format!("Bearer {SENTINEL}-free")
    );

    // Who may use the proxy: only a sandbox's own credential.
    let id = stdout
        .lines()
        .find_map(|line| line.strip_prefix("sandbox "))
        .unwrap()
        .trim()
        .to_string();
    let proxy = api.exec(&id, "printf %s \"$HTTP_PROXY\"").await;
    let address = proxy.rsplit_once('@').unwrap().1.to_string();
    let stranger = format!("http://{id}:wrong-token@{address}");
    assert_eq!(
        through(&stranger, &format!("{http_url}/stranger")).await,
        407
    );
    assert!(!seen.lock().unwrap().contains_key("/stranger"));

    // What the sandbox mounts, as the SDK's model reads it, without the value.
    let mounted = api.get(&format!("/sandbox/{id}/secrets")).await;
    assert_eq!(mounted[0]["env"], "FREE_TOKEN");
    assert!(mounted[0].get("value").is_none(), "{mounted}");

    // The sentinel: in no answer, no line of serve's, no file but the vault, no sandbox env.
    let environment = api.exec(&id, "env").await;
    assert!(environment.contains(&placeholder("free")), "{environment}");
    assert!(
        !environment.contains(SENTINEL),
        "the value is in the sandbox's environment"
    );
    for path in [
        "/secret".to_string(),
        "/secret/paginated".to_string(),
        "/sandbox".to_string(),
        format!("/sandbox/{id}"),
        format!("/sandbox/{id}/secrets"),
    ] {
        let answer = api.get(&path).await.to_string();
        assert!(!answer.contains(SENTINEL), "GET {path} shows the value");
    }
    let (status, answer) = api
        .call(
            reqwest::Method::POST,
            "/api/secret",
            Some(json!({"name": "upstream_token", "value": SENTINEL})),
        )
        .await;
    assert_eq!(status, 409);
    assert!(!answer.contains(SENTINEL), "{answer}");
    assert!(!stdout.contains(SENTINEL));
    let state = world.path().join("serve-state");
    let vault = files_holding(&state, "", SENTINEL);
    assert!(
        vault
            .iter()
            .any(|path| path.ends_with("serve-secrets.json")),
        "the value is not in the vault file: {vault:?}"
    );
    let elsewhere = files_holding(&state, "serve-secrets.json", SENTINEL);
    assert!(elsewhere.is_empty(), "the value is in {elsewhere:?}");

    // A deleted sandbox's credential stops working.
    assert_eq!(
        through(&proxy, &format!("{http_url}/before-delete")).await,
        200
    );
    let (status, _) = api
        .call(reqwest::Method::DELETE, &format!("/api/sandbox/{id}"), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        through(&proxy, &format!("{http_url}/after-delete")).await,
        407
    );
    let log = serve.printed();
    assert!(!log.contains(SENTINEL), "serve's stderr shows the value");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_typescript_sdk_mounts_vault_secrets_that_reach_an_allowed_host() {
    let Some(folder) = sdk_node() else {
        return;
    };
    if !common::have("curl") {
        return common::skip("curl is needed inside the sandbox");
    }
    let seen = Seen::default();
    let upstream = format!("http://127.0.0.1:{}", http_upstream(seen.clone()).await);
    let server = start("").await;
    let env = [
        ("SECRET_VALUE", SENTINEL),
        ("UPSTREAM_HTTP", upstream.as_str()),
    ];
    let stdout = run_node_script(
        &folder,
        "secrets_test.mjs",
        &server,
        &env,
        "sdk-ts-secrets: done",
    )
    .await;
    assert!(!stdout.contains(SENTINEL));
    assert_eq!(
        header(&seen, "/ts-allowed", "authorization"),
        format!("Bearer {SENTINEL}")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_serve_keeps_the_vault_and_its_sandboxes_keep_reaching_the_proxy() {
    if !common::have("curl") {
        return common::skip("curl is needed inside the sandbox");
    }
    let seen = Seen::default();
    let upstream = format!("http://127.0.0.1:{}", http_upstream(seen.clone()).await);
    let server = start("").await;
    let secret = json!({"name": "kept", "value": SENTINEL, "hosts": ["127.0.0.1"]});
    assert_eq!(server.post("/api/secret", secret).await.status, 201);
    let id = server.create(json!({"secrets": [{"KEPT": "kept"}]})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    server.wait_state(&id, "started").await;
    let root = server.shutdown().await;
    let server = start_with(Options {
        root: Some(root),
        ..Options::default()
    })
    .await;
    let listed = server.get("/api/secret").await.body;
    assert_eq!(listed[0]["name"], "kept", "{listed}");
    let curl = |path: &str| {
        format!(
            "curl -sS -o /dev/null -w '%{{http_code}}' -H \"Authorization: Bearer $KEPT\" {upstream}{path}"
        )
    };
    let reply = server.exec(&id, &curl("/after-restart")).await;
    assert_eq!(reply.body["result"], "200", "{:?}", reply.body);
    // When the proxy's port is taken meanwhile, the sandbox is given the new one.
    let proxy = server.exec(&id, "printf %s \"$HTTP_PROXY\"").await.body["result"]
        .as_str()
        .unwrap()
        .to_string();
    let root = server.shutdown().await;
    let taken = std::net::TcpListener::bind(proxy.rsplit_once('@').unwrap().1).unwrap();
    let server = start_with(Options {
        root: Some(root),
        ..Options::default()
    })
    .await;
    let moved = server.exec(&id, "printf %s \"$HTTP_PROXY\"").await.body["result"].clone();
    assert_ne!(moved, proxy.as_str());
    let reply = server.exec(&id, &curl("/after-move")).await;
    assert_eq!(reply.body["result"], "200", "{:?}", reply.body);
    drop(taken);
    for path in ["/after-restart", "/after-move"] {
        assert_eq!(
            header(&seen, path, "authorization"),
            format!("Bearer {SENTINEL}")
        );
    }
}
