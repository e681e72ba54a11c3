//! `serve`'s toolbox git routes over real local sandboxes and real git repositories: status,
//! branches, add, commit, checkout, history, push and pull against a bare remote inside the
//! sandbox (seeded from a read-only repository on the host), the daemon's error codes, and
//! credentials that reach an HTTP remote on loopback without ever being on a command line.

use crate::serve_support;

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use serve_support::{Options, Server, start_with};

fn git(directory: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(directory)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .expect("git");
    assert!(output.status.success(), "git {args:?}: {output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// A host repository with `main` (`file.txt` = one) and `feature` (`file.txt` = two).
fn origin() -> tempfile::TempDir {
    let repository = tempfile::tempdir().unwrap();
    let origin = repository.path().join("origin");
    std::fs::create_dir(&origin).unwrap();
    git(&origin, &["init", "-q", "-b", "main"]);
    std::fs::write(origin.join("file.txt"), "one\n").unwrap();
    git(&origin, &["add", "."]);
    git(&origin, &["commit", "-q", "-m", "one"]);
    git(&origin, &["checkout", "-q", "-b", "feature"]);
    std::fs::write(origin.join("file.txt"), "two\n").unwrap();
    git(&origin, &["commit", "-q", "-am", "two"]);
    git(&origin, &["checkout", "-q", "main"]);
    repository
}

async fn sandbox(server: &Server) -> String {
    server.create(json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_string()
}

struct Repo<'a> {
    server: &'a Server,
    id: String,
    path: &'static str,
}

impl Repo<'_> {
    fn route(&self, route: &str) -> String {
        format!("/toolbox/{}/git/{route}", self.id)
    }

    async fn get(&self, route: &str) -> serve_support::Reply {
        self.server
            .get(&format!("{}?path={}", self.route(route), self.path))
            .await
    }

    async fn post(&self, route: &str, mut body: Value) -> serve_support::Reply {
        body["path"] = json!(self.path);
        self.server.post(&self.route(route), body).await
    }

    async fn status(&self) -> Value {
        let reply = self.get("status").await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        reply.body
    }

    async fn commit(&self, message: &str) -> String {
        let reply = self
            .post(
                "commit",
                json!({"message": message, "author": "Ann", "email": "ann@example.com"}),
            )
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        reply.body["hash"].as_str().unwrap().to_string()
    }

    async fn exec(&self, command: &str) -> String {
        let reply = self
            .server
            .exec(&self.id, &format!("cd {} && {command}", self.path))
            .await;
        assert_eq!(reply.body["exitCode"], 0, "{command}: {:?}", reply.body);
        reply.body["result"].as_str().unwrap().to_string()
    }
}

fn entry<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["fileStatus"]
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {status}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn status_add_commit_branches_checkout_history_push_and_pull_run_real_git() {
    if !crate::common::have("git") {
        return;
    }
    let repository = origin();
    let server = start_with(Options {
        read_only_paths: vec![repository.path().to_path_buf()],
        ..Options::default()
    })
    .await;
    let id = sandbox(&server).await;
    // A bare remote the sandbox may push to, seeded from the host's read-only repository.
    let seeded = server
        .exec(
            &id,
            &format!(
                "git clone -q --bare {} remote.git",
                repository.path().join("origin").display()
            ),
        )
        .await;
    assert_eq!(seeded.body["exitCode"], 0, "{:?}", seeded.body);
    for path in ["work", "other"] {
        let clone = server
            .post(
                &format!("/toolbox/{id}/git/clone"),
                json!({"url": "remote.git", "path": path}),
            )
            .await;
        assert_eq!(clone.status, 200, "{:?}", clone.body);
    }
    let work = Repo {
        server: &server,
        id: id.clone(),
        path: "work",
    };
    let other = Repo {
        server: &server,
        id: id.clone(),
        path: "other",
    };

    let clean = work.status().await;
    assert_eq!(clean["currentBranch"], "main");
    assert_eq!(clean["fileStatus"], json!([]));
    assert_eq!(
        (
            clean["branchPublished"].clone(),
            clean["ahead"].clone(),
            clean["behind"].clone()
        ),
        (json!(true), json!(0), json!(0))
    );

    work.exec("echo changed > file.txt && echo new > 'new file.txt'")
        .await;
    let dirty = work.status().await;
    assert_eq!(entry(&dirty, "file.txt")["worktree"], "Modified");
    assert_eq!(entry(&dirty, "new file.txt")["staging"], "Untracked");
    let added = work.post("add", json!({"files": ["."]})).await;
    assert_eq!(added.status, 200, "{:?}", added.body);
    let staged = work.status().await;
    assert_eq!(entry(&staged, "file.txt")["staging"], "Modified");
    assert_eq!(entry(&staged, "new file.txt")["staging"], "Added");

    let hash = work.commit("second\n\nwith a body").await;
    assert_eq!(hash.len(), 40, "{hash}");
    assert_eq!(
        work.exec("git log -1 --format=%an:%ae").await,
        "Ann:ann@example.com\n"
    );
    let history = work.get("history").await;
    assert_eq!(history.status, 200);
    let first = &history.body[0];
    assert_eq!(
        (first["hash"].as_str(), first["author"].as_str()),
        (Some(hash.as_str()), Some("Ann"))
    );
    assert!(
        first["message"]
            .as_str()
            .unwrap()
            .starts_with("second\n\nwith a body")
    );
    assert!(humantime::parse_rfc3339_weak(&first["timestamp"].as_str().unwrap()[..19]).is_ok());
    assert_eq!(history.body.as_array().unwrap().len(), 2);
    assert_eq!(work.status().await["ahead"], 1);
    let nothing = work
        .post(
            "commit",
            json!({"message": "empty", "author": "Ann", "email": "a@example.com", "allow_empty": true}),
        )
        .await;
    assert_eq!(nothing.status, 200, "{:?}", nothing.body);

    let pushed = work.post("push", json!({})).await;
    assert_eq!(pushed.status, 200, "{:?}", pushed.body);
    let remote_head = server
        .exec(&id, "git --git-dir=remote.git rev-parse main")
        .await;
    assert_eq!(
        remote_head.body["result"].as_str().unwrap().trim(),
        work.exec("git rev-parse HEAD").await.trim()
    );
    let pulled = other.post("pull", json!({})).await;
    assert_eq!(pulled.status, 200, "{:?}", pulled.body);
    assert_eq!(other.exec("cat file.txt").await, "changed\n");

    // Branches: create switches to the new one, as go-git's checkout with `Create` does.
    let created = work.post("branches", json!({"name": "topic"})).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let branches = work.get("branches").await;
    assert_eq!(branches.body["branches"], json!(["main", "topic"]));
    assert_eq!(branches.body["current"], "topic");
    work.post("branches", json!({"name": "topic"}))
        .await
        .daemon_error(409, "GIT_BRANCH_EXISTS");
    let switched = work.post("checkout", json!({"branch": "main"})).await;
    assert_eq!(switched.status, 200, "{:?}", switched.body);
    let deleted = server
        .send(
            server
                .client
                .delete(server.url(&work.route("branches")))
                .bearer_auth(serve_support::KEY)
                .json(&json!({"path": "work", "name": "topic"})),
        )
        .await;
    assert_eq!(deleted.status, 204, "{:?}", deleted.body);
    assert_eq!(work.get("branches").await.body["branches"], json!(["main"]));
    // A remote branch checks out as a tracking branch.
    let feature = work.post("checkout", json!({"branch": "feature"})).await;
    assert_eq!(feature.status, 200, "{:?}", feature.body);
    assert_eq!(work.status().await["currentBranch"], "feature");
    assert_eq!(work.exec("cat file.txt").await, "two\n");
    work.post("checkout", json!({"branch": "no-such-branch"}))
        .await
        .daemon_error(404, "GIT_BRANCH_NOT_FOUND");
    work.exec("echo local > file.txt").await;
    work.post("checkout", json!({"branch": "main"}))
        .await
        .daemon_error(409, "GIT_DIRTY_WORKTREE");
    work.exec("git checkout -q -- file.txt && git checkout -q main")
        .await;

    // Diverged histories: the push is rejected, the pull cannot fast-forward.
    other
        .exec("echo theirs > theirs.txt && git add theirs.txt")
        .await;
    other.commit("theirs").await;
    assert_eq!(other.post("push", json!({})).await.status, 200);
    work.exec("echo ours > ours.txt && git add ours.txt").await;
    work.commit("ours").await;
    let rejected = work.post("push", json!({})).await;
    rejected.daemon_error(409, "GIT_PUSH_REJECTED");
    assert_eq!(rejected.body["source"], "DAYTONA_DAEMON");
    work.post("pull", json!({}))
        .await
        .daemon_error(409, "CONFLICT");
    // Pushing another branch by name, and setting its upstream.
    work.exec("git checkout -q -b side").await;
    let side = work
        .post("push", json!({"branch": "side", "set_upstream": true}))
        .await;
    assert_eq!(side.status, 200, "{:?}", side.body);
    assert_eq!(work.status().await["upstream"], "origin/side");

    let not_a_repo = server
        .get(&format!("/toolbox/{id}/git/status?path=nowhere"))
        .await;
    not_a_repo.daemon_error(404, "GIT_REPO_NOT_FOUND");
    server
        .get(&format!("/toolbox/{id}/git/status"))
        .await
        .daemon_error(400, "BAD_REQUEST");
    let option = work.post("branches", json!({"name": "--force"})).await;
    option.daemon_error(400, "BAD_REQUEST");
}

/// A smart-HTTP git server on loopback (`git http-backend` as CGI) that wants Basic auth, and
/// that looks through every process's command line while git talks to it.
pub(crate) mod http_remote {
    use super::*;

    use axum::body::{Body, Bytes};
    use axum::extract::{Request, State};
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::Response;
    use base64::Engine as _;

    pub(crate) struct Remote {
        pub url: String,
        pub leaks: Arc<Mutex<Vec<String>>>,
        pub requests: Arc<Mutex<u32>>,
        _root: tempfile::TempDir,
    }

    #[derive(Clone)]
    struct Shared {
        root: std::path::PathBuf,
        expected: String,
        password: String,
        leaks: Arc<Mutex<Vec<String>>>,
        requests: Arc<Mutex<u32>>,
    }

    /// Every process whose command line holds `needle`.
    fn command_lines_holding(needle: &str) -> Vec<String> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            if let Ok(bytes) = std::fs::read(entry.path().join("cmdline"))
                && String::from_utf8_lossy(&bytes).contains(needle)
            {
                found.push(String::from_utf8_lossy(&bytes).replace('\0', " "));
            }
        }
        found
    }

    async fn handle(State(shared): State<Shared>, request: Request) -> Response {
        *shared.requests.lock().unwrap() += 1;
        let leaks = command_lines_holding(&shared.password);
        shared.leaks.lock().unwrap().extend(leaks);
        let (parts, body) = request.into_parts();
        let authorized = parts
            .headers
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            == Some(shared.expected.as_str());
        if !authorized {
            return Response::builder()
                .status(StatusCode::UNAUTHORIZED)
                .header("www-authenticate", "Basic realm=\"test\"")
                .body(Body::empty())
                .unwrap();
        }
        let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        let output = cgi(
            &shared.root,
            &parts.method,
            &parts.uri,
            &parts.headers,
            body,
        )
        .await;
        let split = output
            .windows(4)
            .position(|window| window == b"\r\n\r\n")
            .map(|at| (at, 4))
            .or_else(|| {
                output
                    .windows(2)
                    .position(|window| window == b"\n\n")
                    .map(|at| (at, 2))
            })
            .expect("CGI headers");
        let mut response = Response::builder();
        for line in String::from_utf8_lossy(&output[..split.0]).lines() {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            if name.eq_ignore_ascii_case("status") {
                let code: u16 = value.trim()[..3].parse().unwrap();
                response = response.status(code);
            } else {
                response = response.header(name.trim(), value.trim());
            }
        }
        response
            .body(Body::from(output[split.0 + split.1..].to_vec()))
            .unwrap()
    }

    async fn cgi(
        root: &Path,
        method: &axum::http::Method,
        uri: &axum::http::Uri,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Vec<u8> {
        use tokio::io::AsyncWriteExt as _;
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        let mut child = tokio::process::Command::new("git")
            .arg("http-backend")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("GIT_PROJECT_ROOT", root)
            .env("GIT_HTTP_EXPORT_ALL", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("REQUEST_METHOD", method.as_str())
            .env("PATH_INFO", uri.path())
            .env("QUERY_STRING", uri.query().unwrap_or_default())
            .env("CONTENT_TYPE", header("content-type"))
            .env("CONTENT_LENGTH", body.len().to_string())
            .env("HTTP_CONTENT_ENCODING", header("content-encoding"))
            .env("GIT_PROTOCOL", header("git-protocol"))
            .env("REMOTE_USER", "ann")
            .env("REMOTE_ADDR", "127.0.0.1")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("git http-backend");
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(&body).await.unwrap();
        drop(stdin);
        child.wait_with_output().await.unwrap().stdout
    }

    pub(crate) async fn start(user: &str, password: &str) -> Remote {
        let root = tempfile::tempdir().unwrap();
        let seed = root.path().join("seed");
        std::fs::create_dir(&seed).unwrap();
        git(&seed, &["init", "-q", "-b", "main"]);
        std::fs::write(seed.join("README.md"), "over http\n").unwrap();
        git(&seed, &["add", "."]);
        git(&seed, &["commit", "-q", "-m", "http"]);
        git(root.path(), &["clone", "-q", "--bare", "seed", "repo.git"]);
        git(
            &root.path().join("repo.git"),
            &["config", "http.receivepack", "true"],
        );
        let leaks = Arc::new(Mutex::new(Vec::new()));
        let requests = Arc::new(Mutex::new(0));
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        );
        let shared = Shared {
            root: root.path().to_path_buf(),
            expected,
            password: password.to_string(),
            leaks: leaks.clone(),
            requests: requests.clone(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/repo.git", listener.local_addr().unwrap());
        let app = axum::Router::new().fallback(handle).with_state(shared);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Remote {
            url,
            leaks,
            requests,
            _root: root,
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_reach_an_http_remote_through_the_environment_never_a_command_line() {
    if !crate::common::have("git") {
        return;
    }
    let password = "sentinel-git-password-5d1e";
    let remote = http_remote::start("ann", password).await;
    let server = start_with(Options::default()).await;
    let id = sandbox(&server).await;
    let clone = |password: &'static str, path: &'static str| {
        let server = &server;
        let url = remote.url.clone();
        let id = id.clone();
        async move {
            server
                .post(
                    &format!("/toolbox/{id}/git/clone"),
                    json!({"url": url, "path": path, "username": "ann", "password": password}),
                )
                .await
        }
    };
    let refused = clone("wrong-password", "refused").await;
    let message = refused.daemon_error(401, "GIT_AUTH_FAILED");
    assert!(!message.contains("wrong-password"), "{message}");
    let anonymous = server
        .post(
            &format!("/toolbox/{id}/git/clone"),
            json!({"url": remote.url, "path": "anonymous"}),
        )
        .await;
    anonymous.daemon_error(401, "GIT_AUTH_FAILED");

    let cloned = clone(password, "work").await;
    assert_eq!(cloned.status, 200, "{:?}", cloned.body);
    let write = server
        .exec(
            &id,
            "cd work && echo more >> README.md && git add README.md && \
             git -c user.name=a -c user.email=a@example.com commit -qm more",
        )
        .await;
    assert_eq!(write.body["exitCode"], 0, "{:?}", write.body);
    let pushed = server
        .post(
            &format!("/toolbox/{id}/git/push"),
            json!({"path": "work", "username": "ann", "password": password}),
        )
        .await;
    assert_eq!(pushed.status, 200, "{:?}", pushed.body);
    let pulled = server
        .post(
            &format!("/toolbox/{id}/git/pull"),
            json!({"path": "work", "username": "ann", "password": password}),
        )
        .await;
    assert_eq!(pulled.status, 200, "{:?}", pulled.body);
    let unauthenticated_push = server
        .post(&format!("/toolbox/{id}/git/push"), json!({"path": "work"}))
        .await;
    unauthenticated_push.daemon_error(401, "GIT_AUTH_FAILED");

    assert!(*remote.requests.lock().unwrap() >= 6);
    let leaks = remote.leaks.lock().unwrap().clone();
    assert!(
        leaks.is_empty(),
        "the password was on a command line: {leaks:?}"
    );
    let stored = server
        .exec(
            &id,
            "cat work/.git/config ~/.gitconfig ~/.git-credentials 2>/dev/null; true",
        )
        .await;
    assert!(
        !stored.body["result"].as_str().unwrap().contains(password),
        "{:?}",
        stored.body
    );
}
