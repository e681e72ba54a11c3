//! Who may use `ralph-town serve` (the real binary): without a configured key it makes one,
//! keeps it in a 0600 file under the state root and never prints it; every route but
//! `GET /api/health` needs it; beyond loopback it refuses to start without a key of the user's
//! choosing unless told to accept any token; and a sandbox, which shares the host's network,
//! neither gets in with a made-up token nor reads the key file; and a second server on the same
//! state root refuses to start.

use crate::common;
use crate::serve_support::{self, ServeCommand};

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::World;
use reqwest::blocking::Client;
use serde_json::{Value, json};

const DEADLINE: Duration = Duration::from_secs(120);

/// A token nobody was given.
const MADE_UP: &str = "dtn_madeup0123456789abcdefghijklmn";

/// A `ralph-town serve` process, killed on drop, with everything it printed (stdout too).
struct Serve(serve_support::Serve);

impl std::ops::Deref for Serve {
    type Target = serve_support::Serve;
    fn deref(&self) -> &serve_support::Serve {
        &self.0
    }
}

/// `serve` in `world` without a key of the test's choosing, listening at `listen`.
fn command(world: &World, listen: &str) -> ServeCommand {
    ServeCommand::in_world(world)
        .key(None)
        .listen(listen)
        .stdout()
}

/// `serve` with `args` (after `serve --listen ADDR`), up and announced.
fn serve(world: &World, listen: &str, args: &[&str], env: &[(&str, &str)]) -> Serve {
    let command = env.iter().fold(
        command(world, listen).args(args),
        |command, (name, value)| command.env(name, value),
    );
    Serve(command.start())
}

impl Serve {
    /// The `http://127.0.0.1:PORT` it can be reached at, whatever address it listens on.
    fn loopback(&self) -> String {
        let port = self
            .api
            .rsplit(':')
            .next()
            .unwrap()
            .trim_end_matches("/api");
        format!("http://127.0.0.1:{port}")
    }

    /// The key file named in `DAYTONA_API_KEY="$(cat PATH)"`.
    fn key_file(&self) -> PathBuf {
        let (_, rest) = self.export.split_once("\"$(cat ").expect(&self.export);
        PathBuf::from(rest.strip_suffix(")\"").expect(&self.export))
    }

    /// Stops it with SIGTERM and waits until it has exited and said all it had to say.
    fn stop(self) -> String {
        let (status, printed) = self.0.terminate();
        assert!(status.success(), "{status:?}\n{printed}");
        printed
    }

    fn send(&self, method: reqwest::Method, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut request = Client::new().request(method, format!("{}{path}", self.loopback()));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().expect("request");
        let status = response.status().as_u16();
        let text = response.text().unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, token)
    }
}

/// Asserts a 401 in the body shape of the route: the API's, or the toolbox daemon's.
#[track_caller]
fn unauthorized((status, body): (u16, Value), path: &str) {
    assert_eq!(status, 401, "{path}: {body}");
    assert_eq!(body["statusCode"], 401, "{path}: {body}");
    if path.starts_with("/toolbox/") {
        assert_eq!(body["code"], "UNAUTHORIZED", "{body}");
        assert_eq!(body["path"], "/work-dir", "{body}");
    } else {
        assert_eq!(
            (body["path"].as_str(), body["error"].as_str()),
            (Some(path), Some("Unauthorized"))
        );
    }
}

#[test]
fn without_a_key_serve_makes_one_keeps_it_private_and_requires_it_everywhere() {
    let world = World::new();
    let server = serve(&world, "127.0.0.1:0", &[], &[]);
    let key_file = server.key_file();
    let expected = std::fs::canonicalize(world.state())
        .unwrap()
        .join("serve/api-key");
    assert_eq!(key_file, expected, "{}", server.printed());
    assert!(
        server.export.starts_with(&format!(
            "  export DAYTONA_API_URL={} DAYTONA_API_KEY=\"$(cat ",
            server.api
        )),
        "{}",
        server.export
    );
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&key_file), 0o600);
    assert_eq!(mode(key_file.parent().unwrap()), 0o700);
    let key = std::fs::read_to_string(&key_file)
        .unwrap()
        .trim()
        .to_string();
    assert!(
        key.starts_with("dtn_") && key.len() == 36,
        "not Daytona's format"
    );

    for path in ["/api/sandbox", "/toolbox/any/work-dir", "/_ralph/stats"] {
        unauthorized(server.get(path, Some(MADE_UP)), path);
        unauthorized(server.get(path, None), path);
    }
    let reset = server.send(reqwest::Method::DELETE, "/_ralph/stats", Some(MADE_UP));
    unauthorized(reset, "/_ralph/stats");
    let (status, body) = server.get("/api/health", None);
    assert_eq!((status, body), (200, json!({"status": "ok"})));

    assert_eq!(server.get("/api/sandbox", Some(&key)).0, 200);
    let (status, stats) = server.get("/_ralph/stats", Some(&key));
    assert_eq!(status, 200, "{stats}");
    assert_eq!(stats["routes"]["GET /api/sandbox"]["statuses"]["401"], 2);
    let reset = server.send(reqwest::Method::DELETE, "/_ralph/stats", Some(&key));
    assert_eq!(reset.0, 204);

    // A restart keeps the key, so configured clients keep working.
    let mut printed = server.stop();
    let again = serve(&world, "127.0.0.1:0", &[], &[]);
    assert_eq!(again.key_file(), key_file);
    assert_eq!(std::fs::read_to_string(&key_file).unwrap().trim(), key);
    assert_eq!(again.get("/api/sandbox", Some(&key)).0, 200);
    assert!(
        again.printed().contains("kept from an earlier start"),
        "{}",
        again.printed()
    );
    printed.push_str(&again.stop());
    assert!(!printed.contains(&key), "the key was printed:\n{printed}");
    assert!(
        !printed.contains(&key["dtn_".len()..]),
        "the key was printed"
    );
}

#[test]
fn beyond_loopback_serve_refuses_to_start_without_a_chosen_key() {
    let world = World::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("0.0.0.0:{port}");
    let (status, printed) = command(&world, &listen).refused();
    assert_eq!(status.code(), Some(2), "{printed}");
    assert!(
        printed.contains(&format!(
            "refusing to listen on `{listen}` without an API key"
        )),
        "{printed}"
    );
    assert!(printed.contains("--insecure-accept-any-token"), "{printed}");
    assert!(printed.contains("--api-key-file"), "{printed}");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "something listens"
    );
    assert!(
        !world.state().join("serve/api-key").exists(),
        "a key was made anyway"
    );
}

#[test]
fn the_insecure_flag_accepts_any_token_and_warns() {
    let world = World::new();
    let server = serve(&world, "0.0.0.0:0", &["--insecure-accept-any-token"], &[]);
    let printed = server.printed();
    assert!(printed.contains("warning: INSECURE"), "{printed}");
    assert!(
        printed.contains("any bearer token is accepted"),
        "{printed}"
    );
    assert!(
        server.export.ends_with("DAYTONA_API_KEY=any"),
        "{}",
        server.export
    );
    assert_eq!(server.get("/api/sandbox", Some(MADE_UP)).0, 200);
    assert_eq!(server.get("/_ralph/stats", Some(MADE_UP)).0, 200);
    assert!(!world.state().join("serve/api-key").exists());
}

#[test]
fn a_chosen_key_works_from_a_file_the_environment_or_argv_and_is_never_printed() {
    let world = World::new();
    let key = format!("dtn_{}", common::SENTINEL.replace('-', "_"));
    let key_file = world.file("secrets/serve-key", &format!("{key}\n"));
    let key_file = key_file.to_str().unwrap();
    // Arguments, environment, and what clients are told to set `DAYTONA_API_KEY` to.
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 3] = [
        (&["--api-key-file", key_file], &[], "\"$(cat "),
        (
            &[],
            &[("RALPH_TOWN_SERVE_API_KEY", &key)],
            "\"$RALPH_TOWN_SERVE_API_KEY\"",
        ),
        (
            &["--api-key", &key],
            &[],
            "DAYTONA_API_KEY=<the key given to --api-key>",
        ),
    ];
    for (args, env, client) in cases {
        let server = serve(&world, "127.0.0.1:0", args, env);
        assert!(server.export.contains(client), "{}", server.export);
        unauthorized(server.get("/api/sandbox", Some(MADE_UP)), "/api/sandbox");
        assert_eq!(server.get("/api/sandbox", Some(&key)).0, 200);
        let from_argv = args.first() == Some(&"--api-key");
        let warned = server
            .printed()
            .contains("visible to every user of this machine in `ps`");
        assert_eq!(warned, from_argv, "{}", server.printed());
        let printed = server.stop();
        assert!(!printed.contains(&key), "the key was printed:\n{printed}");
    }
    // No key of serve's own was made: the chosen one is used.
    assert!(!world.state().join("serve/api-key").exists());
}

#[test]
fn a_sandbox_cannot_use_serve_with_a_made_up_token_nor_read_the_key() {
    if !(common::have("bwrap") && common::have("bash")) {
        return;
    }
    // Outside `/tmp` (private in every sandbox) and every home directory (hidden), wherever
    // the checkout is, so that only the hiding of the state root keeps the key file out of
    // sight; a file beside the state root shows that it would be seen otherwise.
    let outside = common::seen_by_sandboxes("ralph-town-serve-auth");
    let state = outside.path().join("state");
    let control = outside.path().join("beside-the-state-root");
    std::fs::write(&control, "visible\n").unwrap();
    let world = World::new();
    let state_text = state.to_str().unwrap();
    let server = serve(
        &world,
        "127.0.0.1:0",
        &[],
        &[("RALPH_TOWN_HOME", state_text)],
    );
    if server.printed().contains("isolation is reduced") {
        common::skip("working bubblewrap");
        return;
    }
    let key_file = server.key_file();
    assert!(key_file.starts_with(std::fs::canonicalize(&state).unwrap()));
    let key = std::fs::read_to_string(&key_file)
        .unwrap()
        .trim()
        .to_string();
    let client = Client::new();
    let created: Value = client
        .post(format!("{}/sandbox", server.api))
        .bearer_auth(&key)
        .json(&json!({}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let id = created["id"].as_str().expect("a sandbox").to_string();
    let started = Instant::now();
    while server.get(&format!("/api/sandbox/{id}"), Some(&key)).1["state"] != "started" {
        assert!(started.elapsed() < DEADLINE, "the sandbox never started");
        std::thread::sleep(Duration::from_millis(50));
    }

    let port = server.loopback().rsplit(':').next().unwrap().to_string();
    let script = format!(
        r#"request() {{
  exec 3<>/dev/tcp/127.0.0.1/{port} || {{ echo "$1 $2 unreachable"; return; }}
  printf '%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nAuthorization: Bearer {MADE_UP}\r\nContent-Type: application/json\r\nContent-Length: %s\r\n\r\n%s' "$1" "$2" "${{#3}}" "$3" >&3
  read -r _ status _ <&3
  echo "$1 $2 $status"
  exec 3<&-
}}
request GET /api/health ''
request GET /api/sandbox ''
request POST /toolbox/{id}/process/execute '{{"command":"echo ran"}}'
request GET /_ralph/stats ''
cat '{key_path}' >/dev/null 2>&1 && echo "key file readable" || echo "key file hidden"
cat '{control}' >/dev/null 2>&1 && echo "beside it readable" || echo "beside it hidden""#,
        key_path = key_file.display(),
        control = control.display(),
    );
    let reply: Value = client
        .post(format!(
            "{}/toolbox/{id}/process/execute",
            server.loopback()
        ))
        .bearer_auth(&key)
        .json(&json!({ "command": format!("bash <<'PROBE'\n{script}\nPROBE\n"), "timeout": 60 }))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        reply["result"].as_str().unwrap_or_default(),
        format!(
            "GET /api/health 200\nGET /api/sandbox 401\nPOST /toolbox/{id}/process/execute 401\nGET /_ralph/stats 401\nkey file hidden\nbeside it readable\n"
        ),
        "{reply}"
    );
    let printed = server.stop();
    assert!(!printed.contains(&key), "the key was printed");
}

/// One state root, one server: a second `serve` on it (on another port) would overwrite the
/// first one's records, so it refuses to start, naming the root and the first one's pid, and
/// the first goes on serving; once the first has stopped, a server starts there again.
#[test]
fn a_second_serve_on_the_same_state_root_refuses_to_start() {
    let world = World::new();
    let first = serve(&world, "127.0.0.1:0", &[], &[]);
    let key = std::fs::read_to_string(first.key_file()).unwrap();
    let (status, said) = command(&world, "127.0.0.1:0").refused();
    assert_eq!(status.code(), Some(1), "{said}");
    assert!(
        said.contains("is in use by another `ralph-town")
            && said.contains(&format!("(pid {})", first.child.id()))
            && said.contains("RALPH_TOWN_HOME"),
        "{said}"
    );
    assert!(!said.contains("Daytona-compatible API at"), "{said}");
    assert_eq!(first.get("/api/sandbox", Some(key.trim())).0, 200);
    first.stop();
    let again = serve(&world, "127.0.0.1:0", &[], &[]);
    assert_eq!(again.get("/api/sandbox", Some(key.trim())).0, 200);
    again.stop();
}
