//! A `serve` instance in-process on `127.0.0.1:0`, over a `local` provider on a temporary state
//! root, and a small reqwest client for it. Shared by the `serve_*` test files. The server
//! requires [`KEY`] (or the key of [`Options::api_key`]), as `serve` always does.

mod child;
mod child_output;
mod sdk;

pub(crate) use child::{AsyncServe, Serve, ServeCommand};

pub(crate) use sdk::{
    node_case, python_case, run_node_script, run_python_script, run_python_script_at,
    run_python_script_through, sdk_environment, sdk_python,
};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ralph_town::provider::Provider;
use ralph_town::provider::local::{IsolationMode, LocalOptions, LocalProvider};
use ralph_town::secret::Secret;
use ralph_town::serve::{ServeOptions, Simulation};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

/// The API key of the server, and the bearer token tests send.
pub(crate) const KEY: &str = "dtn_test_key_0123456789abcdefghijklmnop";

pub(crate) struct Server {
    pub base: String,
    pub api_url: String,
    pub client: reqwest::Client,
    pub provider: Arc<LocalProvider>,
    /// Where its SSH gateway listens, when [`Options::ssh`] asked for one.
    pub ssh: Option<SocketAddr>,
    pub root: Option<tempfile::TempDir>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// What a reply carried: status, headers and the body as JSON (a string when it is not JSON).
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// Asserts Daytona's API error body and returns its message.
    #[track_caller]
    pub(crate) fn api_error(&self, status: u16) -> String {
        assert_eq!(self.status, status, "{:?}", self.body);
        let body = &self.body;
        assert_eq!(body["statusCode"], status, "{body}");
        assert!(
            body["path"]
                .as_str()
                .is_some_and(|p| p.starts_with("/api/")),
            "{body}"
        );
        assert!(
            body["timestamp"].is_string() && body["error"].is_string(),
            "{body}"
        );
        body["message"].as_str().expect("message").to_string()
    }

    /// Asserts the daemon's error body and returns its message.
    #[track_caller]
    pub(crate) fn daemon_error(&self, status: u16, code: &str) -> String {
        assert_eq!(self.status, status, "{:?}", self.body);
        let body = &self.body;
        assert_eq!(body["statusCode"], status, "{body}");
        assert_eq!(body["code"], code, "{body}");
        assert!(
            body["timestamp"].is_string() && body["method"].is_string(),
            "{body}"
        );
        assert!(
            body["path"]
                .as_str()
                .is_some_and(|p| !p.starts_with("/toolbox")),
            "{body}"
        );
        body["message"].as_str().expect("message").to_string()
    }
}

#[derive(Default)]
pub(crate) struct Options {
    pub simulation: Simulation,
    /// The server's key instead of [`KEY`].
    pub api_key: Option<String>,
    pub read_only_paths: Vec<PathBuf>,
    pub root: Option<tempfile::TempDir>,
    /// CAs the egress proxy trusts upstream (`--upstream-ca`).
    pub upstream_ca: Option<PathBuf>,
    /// The provider's isolation (bubblewrap when it works, by default).
    pub isolation: IsolationMode,
    /// An SSH gateway on a free loopback port (`--ssh-listen 127.0.0.1:0`).
    pub ssh: bool,
}

pub(crate) async fn start(simulation: &str) -> Server {
    start_with(Options {
        simulation: simulation.parse().expect("simulation"),
        ..Options::default()
    })
    .await
}

pub(crate) async fn start_with(options: Options) -> Server {
    let root = options
        .root
        .unwrap_or_else(|| tempfile::tempdir().expect("temporary directory"));
    let state_root = root.path().join("state");
    let provider = LocalProvider::with_options(
        state_root.clone(),
        LocalOptions {
            isolation: options.isolation,
            read_only_paths: options.read_only_paths,
        },
    )
    .expect("local provider");
    let provider = Arc::new(provider);
    let serve_options = ServeOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        api_key: Some(Secret::new(
            options.api_key.unwrap_or_else(|| KEY.to_string()),
        )),
        state_dir: Some(state_root),
        simulation: options.simulation,
        upstream_ca: options.upstream_ca,
        ssh_listen: options.ssh.then(|| "127.0.0.1:0".parse().unwrap()),
        // PTY sessions run programs on a terminal, which only the local provider can do.
        ..ServeOptions::default()
    };
    let dynamic: Arc<dyn Provider> = provider.clone();
    let server = ralph_town::serve::bind(serve_options, dynamic)
        .await
        .expect("bind");
    let base = format!("http://{}", server.local_addr());
    let api_url = server.api_url();
    let ssh = server.ssh_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        server
            .run(async {
                let _ = stopped.await;
            })
            .await
            .expect("serve");
    });
    Server {
        base,
        api_url,
        client: reqwest::Client::new(),
        provider,
        ssh,
        root: Some(root),
        stop: Some(stop),
        task: Some(task),
    }
}

impl Server {
    /// Shuts the server down gracefully and hands back its state root.
    pub(crate) async fn shutdown(mut self) -> tempfile::TempDir {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.expect("server task");
        self.root.take().unwrap()
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(crate) async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("body");
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Reply {
            status,
            headers,
            body,
        }
    }

    pub(crate) async fn get(&self, path: &str) -> Reply {
        self.send(self.client.get(self.url(path)).bearer_auth(KEY))
            .await
    }

    pub(crate) async fn delete(&self, path: &str) -> Reply {
        self.send(self.client.delete(self.url(path)).bearer_auth(KEY))
            .await
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(
            self.client
                .post(self.url(path))
                .bearer_auth(KEY)
                .json(&body),
        )
        .await
    }

    pub(crate) async fn put(&self, path: &str, body: Value) -> Reply {
        self.send(self.client.put(self.url(path)).bearer_auth(KEY).json(&body))
            .await
    }

    /// Creates a sandbox and waits until it is `started`.
    pub(crate) async fn create(&self, body: Value) -> Value {
        let reply = self.post("/api/sandbox", body).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        let id = reply.body["id"].as_str().unwrap().to_string();
        self.wait_state(&id, "started").await
    }

    /// Polls `GET /api/sandbox/{id}` until `state` (or fails after a generous deadline).
    pub(crate) async fn wait_state(&self, id: &str, state: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let reply = self.get(&format!("/api/sandbox/{id}")).await;
            if reply.body["state"] == state {
                return reply.body;
            }
            assert!(
                Instant::now() < deadline,
                "{id} never became {state}: {:?}",
                reply.body
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `POST /api/sandbox/{id}/{action}` (`stop`, `start`, ...), which must be accepted, then
    /// polls until the sandbox is `state`.
    pub(crate) async fn act(&self, id: &str, action: &str, state: &str) -> Value {
        let reply = self
            .post(
                &format!("/api/sandbox/{id}/{action}"),
                serde_json::json!({}),
            )
            .await;
        assert_eq!(reply.status, 200, "{action} {id}: {:?}", reply.body);
        self.wait_state(id, state).await
    }

    /// Polls until the sandbox is gone (404).
    pub(crate) async fn wait_gone(&self, id: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let reply = self.get(&format!("/api/sandbox/{id}")).await;
            if reply.status == 404 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{id} never went away: {:?}",
                reply.body
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub(crate) async fn exec(&self, id: &str, command: &str) -> Reply {
        self.post(
            &format!("/toolbox/{id}/process/execute"),
            json!({ "command": command }),
        )
        .await
    }

    /// Requests counted for one route (`METHOD /template`).
    pub(crate) async fn requests(&self, route: &str) -> u64 {
        let reply = self.get("/_ralph/stats").await;
        reply.body["routes"][route]["requests"]
            .as_u64()
            .unwrap_or(0)
    }
}

/// URL-encodes a query value.
pub(crate) fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(byte).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}
