//! The SSH gateway of `serve`, driven with the system OpenSSH client: tokens from the API as
//! user names, exec and terminal sessions in the sandbox, refusals, the persistent host key,
//! and a gateway that never logs a token.

use crate::common;
use crate::serve_support::{self, ServeCommand};

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use ralph_town::provider::local::{Isolation, LocalProvider, SANDBOX_HOME};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};

/// A generous bound so that a hanging session fails the test instead of blocking it.
pub(crate) const DEADLINE: Duration = Duration::from_secs(120);

/// The API key of every server here.
pub(crate) const KEY: &str = "dtn_ssh_test_key_0123456789abcdef";

pub(crate) struct Gateway {
    pub(crate) api: String,
    pub(crate) ssh_port: u16,
    provider: Arc<LocalProvider>,
    pub(crate) client: reqwest::Client,
    /// The in-process server; `None` for a `serve` the test runs as a process.
    server: Option<serve_support::Server>,
}

/// `serve` in-process with its SSH gateway on a free port, on `root` (a fresh one if `None`).
pub(crate) async fn start(root: Option<tempfile::TempDir>) -> Gateway {
    let server = serve_support::start_with(serve_support::Options {
        api_key: Some(KEY.to_string()),
        root,
        ssh: true,
        ..serve_support::Options::default()
    })
    .await;
    Gateway {
        api: server.api_url.clone(),
        ssh_port: server.ssh.expect("the gateway listens").port(),
        provider: server.provider.clone(),
        client: reqwest::Client::new(),
        server: Some(server),
    }
}

impl Gateway {
    pub(crate) async fn shutdown(self) -> tempfile::TempDir {
        let server = self.server.expect("an in-process server");
        server.shutdown().await
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> Value {
        let response = self
            .client
            .post(format!("{}{path}", self.api))
            .bearer_auth(KEY)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{path}: {response:?}");
        response.json().await.unwrap()
    }

    /// A started sandbox's id.
    pub(crate) async fn sandbox(&self) -> String {
        let created = self.post("/sandbox", json!({})).await;
        let id = created["id"].as_str().unwrap().to_string();
        self.wait_started(&id).await;
        id
    }

    async fn wait_started(&self, id: &str) {
        for _ in 0..1200 {
            let reply: Value = self
                .client
                .get(format!("{}/sandbox/{id}", self.api))
                .bearer_auth(KEY)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if reply["state"] == "started" {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("sandbox {id} never started");
    }

    /// `POST /sandbox/{id}/ssh-access`: the whole answer.
    pub(crate) async fn access(&self, id: &str, query: &str) -> Value {
        self.post(&format!("/sandbox/{id}/ssh-access{query}"), json!({}))
            .await
    }

    pub(crate) async fn token(&self, id: &str) -> String {
        self.access(id, "").await["token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Runs `ssh [extra] TOKEN@127.0.0.1 [command]` with `input` on its stdin.
    pub(crate) async fn ssh(
        &self,
        token: &str,
        extra: &[&str],
        command: Option<&str>,
        input: &[u8],
    ) -> Ssh {
        let port = self.ssh_port.to_string();
        let mut ssh = tokio::process::Command::new("ssh");
        // The first value of an option wins: `extra` comes before the defaults.
        ssh.args(extra)
            .args(["-F", "/dev/null", "-p", &port])
            .args(["-o", "StrictHostKeyChecking=no", "-o", "BatchMode=yes"])
            .args(["-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"])
            .arg(format!("{token}@127.0.0.1"))
            .args(command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = ssh.spawn().expect("run ssh");
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input).await.unwrap();
        drop(stdin);
        let output = tokio::time::timeout(DEADLINE, child.wait_with_output())
            .await
            .expect("ssh finished")
            .unwrap();
        Ssh {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// An ssh session that runs until killed, once it said it started; with its stdout lines.
    async fn long_session(&self, token: &str) -> (tokio::process::Child, Lines) {
        let port = self.ssh_port.to_string();
        let mut session = tokio::process::Command::new("ssh")
            .args(["-F", "/dev/null", "-p", &port, "-o", "BatchMode=yes"])
            .args(["-o", "StrictHostKeyChecking=no"])
            .args(["-o", "UserKnownHostsFile=/dev/null"])
            .arg(format!("{token}@127.0.0.1"))
            .arg("echo started; sleep 600; echo survived")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(session.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(DEADLINE, lines.next_line()).await;
        assert_eq!(first.unwrap().unwrap().as_deref(), Some("started"));
        (session, lines)
    }

    pub(crate) async fn exec(&self, token: &str, command: &str, input: &[u8]) -> Ssh {
        self.ssh(token, &[], Some(command), input).await
    }
}

type Lines = tokio::io::Lines<BufReader<tokio::process::ChildStdout>>;

#[derive(Debug)]
pub(crate) struct Ssh {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Whether the OpenSSH client is here (a failure under `CI=true`; the package is
/// `openssh-client`).
pub(crate) fn have_ssh() -> bool {
    common::have("ssh")
}

#[tokio::test(flavor = "multi_thread")]
async fn exec_streams_input_and_output_and_returns_the_exit_code() {
    if !have_ssh() {
        return;
    }
    let gateway = start(None).await;
    let id = gateway.sandbox().await;
    let token = gateway.token(&id).await;

    let exit = gateway.exec(&token, "exit 3", b"").await;
    assert_eq!(exit.code, 3, "{exit:?}");
    let cat = gateway.exec(&token, "cat", b"hi from stdin\n").await;
    assert_eq!((cat.code, cat.stdout.as_str()), (0, "hi from stdin\n"));
    let quoted = gateway
        .exec(&token, r#"printf '%s\n' "a b" 'c"d'"#, b"")
        .await;
    assert_eq!(quoted.stdout, "a b\nc\"d\n", "{quoted:?}");
    let streams = gateway
        .exec(&token, "echo out; echo err >&2; exit 7", b"")
        .await;
    assert_eq!(streams.code, 7);
    assert_eq!(streams.stdout, "out\n");
    assert_eq!(streams.stderr, "err\n");

    // Larger than the SSH windows both ways: flow control must hold.
    let big = vec![b'x'; 3 << 20];
    let count = gateway.exec(&token, "wc -c", &big).await;
    assert_eq!(count.stdout.trim(), (3 << 20).to_string(), "{count:?}");
    let produced = gateway
        .exec(&token, "head -c 3000000 /dev/zero | tr '\\0' y", b"")
        .await;
    assert_eq!(produced.stdout.len(), 3_000_000);
    assert!(produced.stdout.bytes().all(|byte| byte == b'y'));

    let home = gateway.exec(&token, "echo $HOME; pwd", b"").await;
    let expected = match gateway.provider.isolation() {
        Isolation::Bubblewrap => SANDBOX_HOME.to_string(),
        Isolation::Reduced => {
            crate::common::skip("bubblewrap for the home path check");
            gateway.provider.home_dir(&id).display().to_string()
        }
    };
    assert_eq!(home.stdout, format!("{expected}\n{expected}\n"));
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_terminal_session_runs_the_login_shell_on_a_pty() {
    if !have_ssh() {
        return;
    }
    let gateway = start(None).await;
    let id = gateway.sandbox().await;
    let token = gateway.token(&id).await;

    let shell = gateway
        .ssh(&token, &["-tt"], None, b"echo $HOME; exit 5\n")
        .await;
    assert_eq!(shell.code, 5, "{shell:?}");
    let expected = match gateway.provider.isolation() {
        Isolation::Bubblewrap => SANDBOX_HOME.to_string(),
        Isolation::Reduced => gateway.provider.home_dir(&id).display().to_string(),
    };
    // The echo of the input shows `$HOME` unexpanded; `\r\n` is the terminal's own newline.
    assert!(
        shell.stdout.contains(&format!("{expected}\r\n")),
        "{shell:?}"
    );

    let command = gateway
        .ssh(&token, &["-tt"], Some("test -t 0 && stty size"), b"")
        .await;
    assert_eq!(command.code, 0, "{command:?}");
    // Without a terminal of its own the client asks for none of a known size; any size the
    // program sees proves it runs on a terminal.
    assert!(command.stdout.trim().split(' ').count() == 2, "{command:?}");
    let piped = gateway.exec(&token, "test -t 0", b"").await;
    assert_eq!(piped.code, 1, "no terminal without -t: {piped:?}");
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_revoked_and_expired_tokens_are_refused() {
    if !have_ssh() {
        return;
    }
    let gateway = start(None).await;
    let id = gateway.sandbox().await;

    let unknown = gateway.exec("notAToken0123456789", "true", b"").await;
    assert_ne!(unknown.code, 0);
    assert!(unknown.stderr.contains("Permission denied"), "{unknown:?}");

    let first = gateway.token(&id).await;
    assert_eq!(gateway.exec(&first, "true", b"").await.code, 0);
    let second = gateway.token(&id).await;
    let revoked = gateway.exec(&first, "true", b"").await;
    assert_ne!(revoked.code, 0, "a new token revokes the old one");
    assert_eq!(gateway.exec(&second, "true", b"").await.code, 0);

    let response = gateway
        .client
        .delete(format!("{}/sandbox/{id}/ssh-access", gateway.api))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    assert_ne!(gateway.exec(&second, "true", b"").await.code, 0);

    let expired = gateway.access(&id, "?expiresInMinutes=0").await;
    let expired = expired["token"].as_str().unwrap();
    assert_ne!(gateway.exec(expired, "true", b"").await.code, 0);
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_sandbox_ends_its_sessions_and_refuses_with_daytonas_message() {
    if !have_ssh() {
        return;
    }
    let gateway = start(None).await;
    let id = gateway.sandbox().await;
    let token = gateway.token(&id).await;

    let (mut session, mut lines) = gateway.long_session(&token).await;
    gateway
        .post(&format!("/sandbox/{id}/stop"), json!({}))
        .await;
    let rest = tokio::time::timeout(DEADLINE, lines.next_line()).await;
    assert_eq!(
        rest.unwrap().unwrap(),
        None,
        "the session ended without finishing"
    );
    let status = tokio::time::timeout(DEADLINE, session.wait()).await;
    assert!(!status.unwrap().unwrap().success());

    let refused = gateway.exec(&token, "true", b"").await;
    assert_ne!(refused.code, 0);
    assert!(
        refused.stderr.contains(
            "Sandbox is not started (state: stopped). Please start the sandbox before \
             attempting to connect."
        ),
        "{refused:?}"
    );

    gateway
        .post(&format!("/sandbox/{id}/start"), json!({}))
        .await;
    gateway.wait_started(&id).await;
    let again = gateway.exec(&token, "true", b"").await;
    assert_eq!(again.code, 0, "{again:?}");
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stopping_the_server_ends_open_sessions() {
    if !have_ssh() {
        return;
    }
    let gateway = start(None).await;
    let id = gateway.sandbox().await;
    let token = gateway.token(&id).await;
    let (mut session, mut lines) = gateway.long_session(&token).await;
    tokio::time::timeout(DEADLINE, gateway.shutdown())
        .await
        .expect("the server stops with a session open");
    let rest = tokio::time::timeout(DEADLINE, lines.next_line()).await;
    assert_eq!(rest.unwrap().unwrap(), None);
    let status = tokio::time::timeout(DEADLINE, session.wait()).await;
    assert!(!status.unwrap().unwrap().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn ssh_commands_point_at_the_gateway_whose_host_key_survives_restarts() {
    if !have_ssh() {
        return;
    }
    let gateway = start(None).await;
    let id = gateway.sandbox().await;
    let access = gateway.access(&id, "").await;
    let token = access["token"].as_str().unwrap().to_string();
    assert_eq!(
        access["sshCommand"],
        format!("ssh -p {} {token}@127.0.0.1", gateway.ssh_port)
    );
    let server = gateway.server.as_ref().unwrap();
    let root = server.root.as_ref().unwrap().path().to_path_buf();
    let key = root.join("state/ssh_host_ed25519_key");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    let known_hosts = root.join("known_hosts");
    let known = format!("UserKnownHostsFile={}", known_hosts.display());
    let learn = ["-o", &known, "-o", "StrictHostKeyChecking=accept-new"];
    assert_eq!(gateway.ssh(&token, &learn, Some("true"), b"").await.code, 0);
    assert!(
        std::fs::read_to_string(&known_hosts)
            .unwrap()
            .contains("ssh-ed25519")
    );

    // Same state root, new process and port: the key, and the token, are the same.
    let gateway = start(Some(gateway.shutdown().await)).await;
    let strict = ["-o", &known, "-o", "StrictHostKeyChecking=yes"];
    // known_hosts names the host with its port, so the new port needs its own entry.
    rename_port(&known_hosts, gateway.ssh_port);
    let again = gateway.ssh(&token, &strict, Some("echo same"), b"").await;
    assert_eq!(
        (again.code, again.stdout.as_str()),
        (0, "same\n"),
        "{again:?}"
    );
    gateway.shutdown().await;
}

/// Points the `known_hosts` entry at the gateway's new port.
fn rename_port(known_hosts: &Path, port: u16) {
    let text = std::fs::read_to_string(known_hosts).unwrap();
    let (_, key) = text.trim().split_once(' ').unwrap();
    std::fs::write(known_hosts, format!("[127.0.0.1]:{port} {key}\n")).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_serve_command_never_prints_a_token() {
    if !have_ssh() {
        return;
    }
    let world = common::World::new();
    let serve = ServeCommand::in_world(&world)
        .key(Some(KEY))
        .args(["--ssh-listen", "127.0.0.1:0"])
        .stdout()
        .start_async()
        .await;
    let gateway = Gateway {
        api: serve.api.clone(),
        ssh_port: serve.ssh.expect("the gateway listens").port(),
        provider: Arc::new(LocalProvider::new(world.state()).unwrap()),
        client: reqwest::Client::new(),
        server: None,
    };
    let id = gateway.sandbox().await;
    let revoked = gateway.token(&id).await;
    let token = gateway.token(&id).await;
    assert_eq!(gateway.exec(&token, "echo ok", b"").await.stdout, "ok\n");
    assert_ne!(gateway.exec(&revoked, "true", b"").await.code, 0);
    gateway
        .post(&format!("/sandbox/{id}/stop"), json!({}))
        .await;
    assert_ne!(gateway.exec(&token, "true", b"").await.code, 0);

    // SIGTERM: the server shuts down and exits on its own.
    let (_, printed) = serve.terminate().await;
    let redacted = printed
        .replace(&token, "<token>")
        .replace(&revoked, "<revoked>")
        .replace(KEY, "<key>");
    assert_eq!(redacted, printed, "`serve` printed a token");
    assert!(printed.contains("SSH gateway at"), "{printed}");
}
