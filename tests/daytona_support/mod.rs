//! A `DaytonaProvider` wired to `ralph-town serve`, run in-process on loopback over a `local`
//! provider in a temporary state root. Optionally a recording proxy sits in front of the
//! server, so tests can see every request the client sent (method, URL, headers, body) and
//! what the server answered (status, content type, body); the server's own records point the
//! toolbox through that proxy too.
//!
//! Nothing here reaches beyond 127.0.0.1.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use ralph_town::provider::daytona::{DaytonaProvider, DaytonaSettings, RetryPolicy};
use ralph_town::provider::local::{IsolationMode, LocalProvider};
use ralph_town::secret::Secret;
use ralph_town::serve::{ServeOptions, Simulation};
use ralph_town::team::ProviderSettings;

/// The key the client sends unless a test chooses another.
pub(crate) const KEY: &str = "dtn_test_key";

/// What a test server looks like.
pub(crate) struct Options {
    pub simulation: Simulation,
    /// The key the server insists on; `None`: the client's.
    pub pinned_key: Option<String>,
    /// The key the client sends as `DAYTONA_API_KEY`.
    pub client_key: String,
    /// Put a recording proxy between the client and the server.
    pub record: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            simulation: Simulation::default(),
            pinned_key: None,
            client_key: KEY.to_string(),
            record: false,
        }
    }
}

/// One request as the client sent it, and the server's answer.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub method: String,
    /// Path and query.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The answer; `None` when the server could not be reached.
    pub response: Option<RecordedResponse>,
}

/// What the server answered.
#[derive(Debug, Clone)]
pub(crate) struct RecordedResponse {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

pub(crate) struct Harness {
    pub provider: Arc<DaytonaProvider>,
    /// The server's base URL (`http://127.0.0.1:PORT`), where `/_ralph/stats` is.
    pub server_url: String,
    /// The server's key.
    pub key: String,
    /// What the client was told `DAYTONA_API_URL` is.
    pub api_url: String,
    pub recorded: Arc<Mutex<Vec<Recorded>>>,
    shutdown: Vec<tokio::sync::oneshot::Sender<()>>,
    _root: tempfile::TempDir,
}

impl Drop for Harness {
    fn drop(&mut self) {
        for shutdown in self.shutdown.drain(..) {
            let _ = shutdown.send(());
        }
    }
}

/// A random token for names and label values.
pub(crate) fn token() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..10].to_string()
}

/// Retries quick enough for tests, with the default attempt counts.
pub(crate) fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(100),
        ..RetryPolicy::default()
    }
}

/// Settings for a client of `api_url` holding `key`, as `from_env` would resolve them.
pub(crate) fn settings(api_url: &str, key: &str) -> DaytonaSettings {
    let lookup = |name: &str| match name {
        "DAYTONA_API_KEY" => Some(key.to_string()),
        "DAYTONA_API_URL" => Some(api_url.to_string()),
        _ => None,
    };
    let mut settings =
        DaytonaSettings::from_env(&ProviderSettings::default(), &lookup).expect("settings");
    settings.retry = fast_retry();
    settings
}

pub(crate) async fn start(options: Options) -> Harness {
    let root = tempfile::tempdir().expect("temporary state root");
    let local = LocalProvider::with_isolation(root.path().join("local"), IsolationMode::Off)
        .map(Arc::new)
        .expect("local provider");
    let state_dir = root.path().join("serve");
    std::fs::create_dir_all(&state_dir).expect("serve state directory");
    let recorded = Arc::new(Mutex::new(Vec::new()));
    let mut shutdown = Vec::new();

    // The proxy's port must be known before the server binds: records carry it.
    let proxy = if options.record {
        Some(
            tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("proxy listener"),
        )
    } else {
        None
    };
    let public_url = proxy
        .as_ref()
        .map(|proxy| format!("http://{}", proxy.local_addr().unwrap()));
    let key = options
        .pinned_key
        .unwrap_or_else(|| options.client_key.clone());
    let serve_options = ServeOptions {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        api_key: Some(Secret::new(key.clone())),
        public_url: public_url.clone(),
        state_dir: Some(state_dir),
        simulation: options.simulation,
        ..ServeOptions::default()
    };
    let server = ralph_town::serve::bind(serve_options, local)
        .await
        .expect("serve binds");
    let server_url = format!("http://{}", server.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    shutdown.push(stop);
    tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));

    let base_url = match proxy {
        Some(listener) => {
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            shutdown.push(stop);
            let state = Arc::new(ProxyState {
                upstream: server_url.clone(),
                client: reqwest::Client::new(),
                recorded: recorded.clone(),
            });
            let app = axum::Router::new().fallback(forward).with_state(state);
            tokio::spawn(async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stopped.await;
                    })
                    .await
            });
            public_url.unwrap()
        }
        None => server_url.clone(),
    };
    let api_url = format!("{base_url}/api");
    let provider = DaytonaProvider::new(settings(&api_url, &options.client_key)).expect("provider");
    Harness {
        provider: Arc::new(provider),
        server_url,
        key,
        api_url,
        recorded,
        shutdown,
        _root: root,
    }
}

impl Harness {
    /// The server's request counters: `{"total": N, "routes": {"POST /api/sandbox":
    /// {"requests": 1, "statuses": {"200": 1}}}}`.
    pub(crate) async fn stats(&self) -> serde_json::Value {
        reqwest::Client::new()
            .get(format!("{}/_ralph/stats", self.server_url))
            .bearer_auth(&self.key)
            .send()
            .await
            .expect("stats")
            .json()
            .await
            .expect("stats JSON")
    }

    /// How many requests to `route` the server answered with `status`.
    pub(crate) async fn count(&self, route: &str, status: u16) -> u64 {
        let stats = self.stats().await;
        stats["routes"][route]["statuses"][status.to_string()]
            .as_u64()
            .unwrap_or(0)
    }

    /// How many requests to `route` the server received.
    pub(crate) async fn requests(&self, route: &str) -> u64 {
        self.stats().await["routes"][route]["requests"]
            .as_u64()
            .unwrap_or(0)
    }

    pub(crate) fn recorded(&self) -> Vec<Recorded> {
        self.recorded.lock().unwrap().clone()
    }
}

struct ProxyState {
    upstream: String,
    client: reqwest::Client,
    recorded: Arc<Mutex<Vec<Recorded>>>,
}

/// Records the request, then passes it to the server unchanged and its answer back.
async fn forward(State(state): State<Arc<ProxyState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .expect("request body");
    let target = parts
        .uri
        .path_and_query()
        .map(std::string::ToString::to_string)
        .unwrap_or_default();
    let mut recorded = Recorded {
        method: parts.method.to_string(),
        target: target.clone(),
        headers: parts
            .headers
            .iter()
            .map(|(name, value)| {
                (
                    name.to_string(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.to_vec(),
        response: None,
    };
    let mut headers = parts.headers.clone();
    headers.remove(axum::http::header::HOST);
    headers.remove(axum::http::header::CONTENT_LENGTH);
    let upstream = state
        .client
        .request(parts.method, format!("{}{target}", state.upstream))
        .headers(headers)
        .body(body)
        .send()
        .await;
    let Ok(upstream) = upstream else {
        state.recorded.lock().unwrap().push(recorded);
        return Response::builder()
            .status(502)
            .body(Body::from("the test proxy could not reach the server"))
            .unwrap();
    };
    let status = upstream.status();
    let mut response = Response::builder().status(status);
    for (name, value) in upstream.headers() {
        if name != axum::http::header::TRANSFER_ENCODING
            && name != axum::http::header::CONTENT_LENGTH
        {
            response = response.header(name, value);
        }
    }
    let content_type = upstream
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(str::to_string);
    let bytes = upstream.bytes().await.unwrap_or_default();
    recorded.response = Some(RecordedResponse {
        status: status.as_u16(),
        content_type,
        body: bytes.to_vec(),
    });
    state.recorded.lock().unwrap().push(recorded);
    response.body(Body::from(bytes)).unwrap()
}
