//! An explicit revocation ends what was opened with it, with real clients: SSH sessions of the
//! OpenSSH client whose token is revoked (`DELETE /ssh-access`, with or without `token`) are
//! disconnected and what they ran in the sandbox ends, while sessions of other tokens stay
//! open; WebSockets and web terminals opened through a signed preview link that is expired early
//! are closed (the terminal's shell ends), while those of other links and of the preview token
//! stay open. A replaced SSH token only refuses new connections, and deleting a sandbox ends
//! its SSH sessions.

use std::process::Stdio;

use futures::StreamExt as _;
use serde_json::json;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};

use crate::common::have;
use crate::serve_preview::{WEBSOCKET_ECHO, echo, link, node_server, open_websocket};
use crate::serve_ssh::{DEADLINE, Gateway, KEY as SSH_KEY, have_ssh, start as start_gateway};
use crate::serve_support::{Server, start};
use crate::serve_web_terminal::{
    alive, open, parent_of, sandbox_with_terminal, signed_link, until,
};
use crate::sessions_local::running;

/// Seconds for a `sleep` no other process on this machine runs, so that it can be found.
pub(crate) fn unique_seconds() -> String {
    format!(
        "86{:03}.{:06}",
        fastrand::u32(..1000),
        fastrand::u32(..1_000_000)
    )
}

/// An `ssh` session whose remote shell answers every line it reads, with a `sleep` of its own
/// in the sandbox.
pub(crate) struct Echoing {
    pub(crate) child: tokio::process::Child,
    input: tokio::process::ChildStdin,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    sleeper: String,
}

impl Echoing {
    pub(crate) async fn open(gateway: &Gateway, token: &str) -> Echoing {
        let sleeper = unique_seconds();
        let port = gateway.ssh_port.to_string();
        let remote = format!(
            "sleep {sleeper} >/dev/null 2>&1 & echo started; \
             while read line; do echo \"got $line\"; done"
        );
        let mut child = tokio::process::Command::new("ssh")
            .args(["-F", "/dev/null", "-p", &port, "-o", "BatchMode=yes"])
            .args(["-o", "StrictHostKeyChecking=no", "-o", "LogLevel=ERROR"])
            .args(["-o", "UserKnownHostsFile=/dev/null"])
            .arg(format!("{token}@127.0.0.1"))
            .arg(remote)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let input = child.stdin.take().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(DEADLINE, lines.next_line()).await;
        assert_eq!(first.unwrap().unwrap().as_deref(), Some("started"));
        let session = Echoing {
            child,
            input,
            lines,
            sleeper,
        };
        until("the session's sleeper starts", || session.sleeping() == 1).await;
        session
    }

    /// How many of this session's sleepers run.
    pub(crate) fn sleeping(&self) -> usize {
        running(&["sleep", &self.sleeper])
    }

    /// Whether the remote shell still answers `probe`.
    pub(crate) async fn answers(&mut self, probe: &str) -> bool {
        if self
            .input
            .write_all(format!("{probe}\n").as_bytes())
            .await
            .is_err()
        {
            return false;
        }
        let line = tokio::time::timeout(DEADLINE, self.lines.next_line()).await;
        match line.expect("an answer or the end") {
            Ok(Some(line)) => {
                assert_eq!(line, format!("got {probe}"));
                true
            }
            Ok(None) | Err(_) => false,
        }
    }

    /// Waits (boundedly) for `ssh` to exit: whether it succeeded, and what it printed on
    /// stderr. The sandbox's end of the session must be gone too.
    async fn ended(mut self) -> (bool, String) {
        let status = tokio::time::timeout(DEADLINE, self.child.wait())
            .await
            .expect("ssh exits once disconnected")
            .unwrap();
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            use tokio::io::AsyncReadExt as _;
            let _ = pipe.read_to_string(&mut stderr).await;
        }
        until("the session's sleeper ends", || self.sleeping() == 0).await;
        (status.success(), stderr)
    }
}

/// `DELETE /sandbox/{id}/ssh-access` with `query`.
pub(crate) async fn revoke(gateway: &Gateway, id: &str, query: &str) {
    let response = gateway
        .client
        .delete(format!("{}/sandbox/{id}/ssh-access{query}", gateway.api))
        .bearer_auth(SSH_KEY)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{response:?}");
}

const REVOKED_MESSAGE: &str = "the SSH access token was revoked";

#[tokio::test(flavor = "multi_thread")]
async fn revoking_an_ssh_token_disconnects_its_sessions_and_no_others() {
    if !have_ssh() {
        return;
    }
    let gateway = start_gateway(None).await;
    let (first, second) = (gateway.sandbox().await, gateway.sandbox().await);
    let first_token = gateway.token(&first).await;
    let second_token = gateway.token(&second).await;
    let mut session = Echoing::open(&gateway, &first_token).await;
    let same_token = Echoing::open(&gateway, &first_token).await;
    let mut other = Echoing::open(&gateway, &second_token).await;
    assert!(session.answers("one").await && other.answers("one").await);

    // Revocations that name other tokens, or another sandbox's, cut nothing.
    revoke(&gateway, &first, &format!("?token={second_token}")).await;
    revoke(&gateway, &second, &format!("?token={first_token}")).await;
    revoke(&gateway, &first, "?token=notThisSandboxesToken").await;
    assert!(session.answers("two").await, "revoked by another token");

    revoke(&gateway, &first, &format!("?token={first_token}")).await;
    for ended in [session, same_token] {
        let (success, stderr) = ended.ended().await;
        assert!(!success);
        assert!(stderr.contains(REVOKED_MESSAGE), "{stderr}");
    }
    assert!(
        other.answers("three").await,
        "another sandbox's token was cut"
    );
    assert_ne!(gateway.exec(&first_token, "true", b"").await.code, 0);

    // A replaced token admits no new session but keeps its open ones.
    let replacing = gateway.token(&second).await;
    assert_ne!(gateway.exec(&second_token, "true", b"").await.code, 0);
    assert!(
        other.answers("four").await,
        "a replaced token's session was cut"
    );
    let replacing_session = Echoing::open(&gateway, &replacing).await;

    // Revoking every token of the sandbox ends them all, the replaced one's too.
    revoke(&gateway, &second, "").await;
    for ended in [other, replacing_session] {
        let (success, stderr) = ended.ended().await;
        assert!(!success);
        assert!(stderr.contains(REVOKED_MESSAGE), "{stderr}");
    }

    // A new token of a sandbox whose token was revoked works as any.
    let fresh = gateway.token(&first).await;
    let mut again = Echoing::open(&gateway, &fresh).await;
    assert!(again.answers("five").await);
    drop(again);
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_a_sandbox_ends_its_ssh_sessions() {
    if !have_ssh() {
        return;
    }
    let gateway = start_gateway(None).await;
    let id = gateway.sandbox().await;
    let token = gateway.token(&id).await;
    let mut session = Echoing::open(&gateway, &token).await;
    assert!(session.answers("before").await);
    let response = gateway
        .client
        .delete(format!("{}/sandbox/{id}", gateway.api))
        .bearer_auth(SSH_KEY)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{response:?}");
    let (success, _) = session.ended().await;
    assert!(!success);
    assert_ne!(gateway.exec(&token, "true", b"").await.code, 0);
    gateway.shutdown().await;
}

/// A signed link (10 minutes) of `port` of sandbox `id`, as a WebSocket URL, and its token.
async fn signed_socket_link(server: &Server, id: &str, port: u16) -> (String, String) {
    let signed = server
        .get(&format!(
            "/api/sandbox/{id}/ports/{port}/signed-preview-url?expiresInSeconds=600"
        ))
        .await;
    assert_eq!(signed.status, 200, "{:?}", signed.body);
    let url = signed.body["url"]
        .as_str()
        .unwrap()
        .replacen("http://", "ws://", 1);
    (url, signed.body["token"].as_str().unwrap().to_string())
}

/// `POST .../signed-preview-url/{token}/expire`.
async fn expire(server: &Server, id: &str, port: u16, token: &str) {
    let reply = server
        .post(
            &format!("/api/sandbox/{id}/ports/{port}/signed-preview-url/{token}/expire"),
            json!({}),
        )
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn expiring_a_signed_link_early_closes_the_websockets_opened_through_it() {
    if !have("node") {
        return;
    }
    let server = start("").await;
    let (id, port) = node_server(&server, "ws_echo.mjs", WEBSOCKET_ECHO).await;

    let (expiring_url, expiring) = signed_socket_link(&server, &id, port).await;
    let (kept_url, _) = signed_socket_link(&server, &id, port).await;
    let preview = link(&server, &id, port).await;
    let private_url = preview["url"]
        .as_str()
        .unwrap()
        .replacen("http://", "ws://", 1);
    let token = preview["token"].as_str().unwrap();

    let mut cut = open_websocket(&format!("{expiring_url}/hmr"), None)
        .await
        .unwrap();
    let mut also_cut = open_websocket(&format!("{expiring_url}/hmr"), None)
        .await
        .unwrap();
    let mut kept = open_websocket(&format!("{kept_url}/hmr"), None)
        .await
        .unwrap();
    let mut private = open_websocket(&format!("{private_url}/hmr"), Some(token))
        .await
        .unwrap();
    assert_eq!(echo(&mut cut, "a").await, "echo a at /hmr");

    // Expiring another sandbox's link of that token, or another port's, cuts nothing.
    let other = server.create(json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    expire(&server, &other, port, &expiring).await;
    expire(&server, &id, port ^ 1, &expiring).await;
    assert_eq!(echo(&mut cut, "b").await, "echo b at /hmr");

    expire(&server, &id, port, &expiring).await;
    for socket in [&mut cut, &mut also_cut] {
        let end = tokio::time::timeout(DEADLINE, socket.next())
            .await
            .expect("the socket closes once its link is expired");
        assert!(
            matches!(end, None | Some(Err(_))),
            "a frame after the link was expired: {end:?}"
        );
    }
    assert_eq!(echo(&mut kept, "c").await, "echo c at /hmr");
    assert_eq!(echo(&mut private, "d").await, "echo d at /hmr");
    let refused = open_websocket(&format!("{expiring_url}/hmr"), None).await;
    assert_eq!(refused.err(), Some(401));
}

#[tokio::test(flavor = "multi_thread")]
async fn expiring_a_signed_link_early_ends_the_web_terminals_opened_through_it() {
    let server = start("").await;
    let (id, _, _) = sandbox_with_terminal(&server).await;
    let expiring_url = signed_link(&server, &id).await;
    let expiring = expiring_url.rsplit('/').next().unwrap().to_string();
    let kept_url = signed_link(&server, &id).await;

    let mut terminal = open(&expiring_url, None).await.expect("a signed socket");
    terminal.ready().await;
    let seconds = unique_seconds();
    terminal.send(&format!("sleep {seconds}\r")).await;
    let sleeper = ["sleep", seconds.as_str()];
    until("the sleeper starts", || running(&sleeper) == 1).await;
    let shell = parent_of(&sleeper);
    let mut kept = open(&kept_url, None).await.expect("another signed socket");
    kept.ready().await;

    expire(&server, &id, 22222, &expiring).await;
    assert_eq!(terminal.finish().await, Some(1008), "{}", terminal.output);
    until("the sleeper ends", || running(&sleeper) == 0).await;
    until("the shell ends", || !alive(shell)).await;

    kept.send("echo kept-$((6*7))\r").await;
    kept.expect("kept-42").await;
    assert_eq!(open(&expiring_url, None).await.err(), Some(401));
}

/// A server on node's own `http` whose every answer streams a server-sent event every 200 ms
/// without end.
const TICKER: &str = r#"
import { createServer } from 'node:http'
createServer((request, response) => {
  response.writeHead(200, { 'content-type': 'text/event-stream' })
  response.write('data: first\n\n')
  setInterval(() => response.write('data: tick\n\n'), 200)
}).listen(Number(process.argv[2]), '127.0.0.1')
"#;

/// A streamed answer from `url` (once the server inside listens), after its first chunk.
async fn streaming(server: &Server, url: &str) -> reqwest::Response {
    let deadline = std::time::Instant::now() + DEADLINE;
    loop {
        let mut response = server.client.get(url).send().await.unwrap();
        // 502 while the server inside is still starting.
        if response.status() == 502 && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            continue;
        }
        assert_eq!(response.status(), 200);
        let first = response.chunk().await.unwrap().expect("a first event");
        assert!(first.starts_with(b"data: first"), "{first:?}");
        return response;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn expiring_a_signed_link_early_stops_its_answers_still_streaming() {
    if !have("node") {
        return;
    }
    let server = start("").await;
    let (id, port) = node_server(&server, "ticker.mjs", TICKER).await;
    let (expiring_url, expiring) = signed_socket_link(&server, &id, port).await;
    let (kept_url, _) = signed_socket_link(&server, &id, port).await;
    let http = |url: String| url.replacen("ws://", "http://", 1) + "/events";
    let mut cut = streaming(&server, &http(expiring_url)).await;
    let mut kept = streaming(&server, &http(kept_url)).await;

    expire(&server, &id, port, &expiring).await;
    let end = tokio::time::timeout(DEADLINE, async {
        loop {
            match cut.chunk().await {
                Ok(Some(_)) => {}
                ended => return ended,
            }
        }
    })
    .await
    .expect("the answer stops once its link is expired");
    // Cut short, not finished: the client sees the answer fail.
    assert!(end.is_err(), "{end:?}");
    let tick = kept
        .chunk()
        .await
        .unwrap()
        .expect("another link's answer goes on");
    assert!(tick.starts_with(b"data: tick"), "{tick:?}");
}
