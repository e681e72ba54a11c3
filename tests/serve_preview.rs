//! `serve`'s preview links over real local sandboxes: a web server started in a sandbox (in a
//! process session, as an agent would) is reachable through the link with its token, refused
//! without it, and refused once the sandbox has stopped; a WebSocket server (a dev server's hot
//! reload) is reached the same way; signed links carry their own token and expire; the proxy
//! reaches nothing that is not a sandbox's and opens no API route.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::have;
use crate::serve_support::{KEY, Server, start};

/// A loopback port nothing listens on now.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs `command` in the sandbox's home, in a session that outlives the call.
pub(crate) async fn run_in_background(server: &Server, id: &str, command: &str) {
    let reply = server
        .post(
            &format!("/toolbox/{id}/process/session"),
            json!({"sessionId": "web"}),
        )
        .await;
    assert!(reply.status < 300, "{:?}", reply.body);
    let reply = server
        .post(
            &format!("/toolbox/{id}/process/session/web/exec"),
            json!({"command": command, "runAsync": true}),
        )
        .await;
    assert!(reply.status < 300, "{:?}", reply.body);
}

/// A new sandbox running the node program `script`, kept as `name` in its home, with a free
/// port as its argument: the sandbox's id and that port.
pub(crate) async fn node_server(server: &Server, name: &str, script: &str) -> (String, u16) {
    let id = server.create(json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let uploaded = server
        .send(
            server
                .client
                .post(server.url(&format!("/toolbox/{id}/files/upload-v2?path={name}")))
                .bearer_auth(KEY)
                .body(script.to_string()),
        )
        .await;
    assert_eq!(uploaded.status, 200, "{:?}", uploaded.body);
    let port = free_port();
    run_in_background(server, &id, &format!("node {name} {port}")).await;
    (id, port)
}

/// Starts `python3 -m http.server` in the sandbox's home.
pub(crate) async fn serve_home(server: &Server, id: &str, port: u16) {
    let command = format!("python3 -m http.server {port} --bind 127.0.0.1");
    run_in_background(server, id, &command).await;
}

/// GETs `url` (with the preview token when given) until the server inside answers 200.
pub(crate) async fn fetch(server: &Server, url: &str, token: Option<&str>) -> (u16, String) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut request = server.client.get(url);
        if let Some(token) = token {
            request = request.header("x-daytona-preview-token", token);
        }
        let response = request.send().await.expect("proxy answers");
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        // 502 while the server inside is still starting.
        if status != 502 || Instant::now() > deadline {
            return (status, body);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub(crate) async fn link(server: &Server, id: &str, port: u16) -> Value {
    let reply = server
        .get(&format!("/api/sandbox/{id}/ports/{port}/preview-url"))
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body
}

#[tokio::test(flavor = "multi_thread")]
async fn a_web_server_in_a_sandbox_is_reachable_through_its_preview_link_with_the_token() {
    if !have("python3") {
        return;
    }
    let server = start("").await;
    let sandbox = server.create(json!({})).await;
    let id = sandbox["id"].as_str().unwrap().to_string();
    let marker = format!("preview-{}", uuid::Uuid::new_v4().simple());
    let written = server.exec(&id, &format!("echo {marker} > page.txt")).await;
    assert_eq!(written.body["exitCode"], 0, "{:?}", written.body);
    let port = free_port();
    serve_home(&server, &id, port).await;

    let preview = link(&server, &id, port).await;
    assert_eq!(preview["sandboxId"], id.as_str());
    let url = preview["url"].as_str().unwrap().to_string();
    let token = preview["token"].as_str().unwrap().to_string();
    assert_eq!(url, format!("{}/_preview/{id}/{port}", server.base));
    assert_eq!(
        link(&server, &id, port).await["token"],
        token.as_str(),
        "one token per sandbox"
    );

    let (status, body) = fetch(&server, &format!("{url}/page.txt"), Some(&token)).await;
    assert_eq!((status, body.trim()), (200, marker.as_str()));
    // The bare link redirects into the preview, whose listing links resolve inside it.
    let (status, listing) = fetch(&server, &url, Some(&token)).await;
    assert_eq!(status, 200);
    assert!(listing.contains("page.txt"), "{listing}");

    let (status, _) = fetch(&server, &format!("{url}/page.txt"), None).await;
    assert_eq!(status, 401, "no token, no preview");
    let (status, _) = fetch(&server, &format!("{url}/page.txt"), Some("wrong-token")).await;
    assert_eq!(status, 401);
    let (status, body) = fetch(&server, &format!("{url}/page.txt"), Some(KEY)).await;
    assert_eq!(status, 401, "the API key is not a preview token: {body}");

    // A signed link needs no header, and stops working once expired.
    let signed = server
        .get(&format!(
            "/api/sandbox/{id}/ports/{port}/signed-preview-url?expiresInSeconds=600"
        ))
        .await;
    assert_eq!(signed.status, 200, "{:?}", signed.body);
    assert_eq!(signed.body["port"], port);
    let signed_url = signed.body["url"].as_str().unwrap().to_string();
    let (status, body) = fetch(&server, &format!("{signed_url}/page.txt"), None).await;
    assert_eq!((status, body.trim()), (200, marker.as_str()));
    let expire = server
        .post(
            &format!(
                "/api/sandbox/{id}/ports/{port}/signed-preview-url/{}/expire",
                signed.body["token"].as_str().unwrap()
            ),
            json!({}),
        )
        .await;
    assert_eq!(expire.status, 200, "{:?}", expire.body);
    let (status, _) = fetch(&server, &format!("{signed_url}/page.txt"), None).await;
    assert_eq!(status, 401);

    // Stopped: its ports are not previewed, token or not.
    let stopped = server
        .post(&format!("/api/sandbox/{id}/stop"), json!({}))
        .await;
    assert_eq!(stopped.status, 200, "{:?}", stopped.body);
    server.wait_state(&id, "stopped").await;
    let (status, body) = fetch(&server, &format!("{url}/page.txt"), Some(&token)).await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("not started"), "{body}");
}

/// `exec` of `python3 -m http.server > log 2>&1 &`, as Daytona's SDK docs start a server: the
/// exec answers at once, the server outlives it and is reached through the preview link, and
/// it ends when the sandbox stops. It used to end with the command (each command had its own
/// pid namespace, and the command's process group was killed when it ended).
#[tokio::test(flavor = "multi_thread")]
async fn a_server_started_in_the_background_by_exec_outlives_it_until_the_sandbox_stops() {
    if !have("python3") {
        return;
    }
    let server = start("").await;
    let sandbox = server.create(json!({})).await;
    let id = sandbox["id"].as_str().unwrap().to_string();
    let marker = format!("kept-{}", uuid::Uuid::new_v4().simple());
    let port = free_port();
    let started = server
        .exec(
            &id,
            &format!(
                "echo {marker} > page.txt && python3 -m http.server {port} --bind 127.0.0.1 \
                 > /tmp/www.log 2>&1 & echo started"
            ),
        )
        .await;
    assert_eq!(
        (&started.body["exitCode"], started.body["result"].as_str()),
        (&json!(0), Some("started\n")),
        "{:?}",
        started.body
    );

    let preview = link(&server, &id, port).await;
    let url = preview["url"].as_str().unwrap().to_string();
    let token = preview["token"].as_str().unwrap().to_string();
    let (status, body) = fetch(&server, &format!("{url}/page.txt"), Some(&token)).await;
    assert_eq!((status, body.trim()), (200, marker.as_str()));
    // Later commands see it too, as one machine would.
    let seen = server
        .exec(&id, &format!("python3 -c \"import urllib.request as u; print(u.urlopen('http://127.0.0.1:{port}/page.txt').read().decode().strip())\""))
        .await;
    assert_eq!(
        seen.body["result"].as_str().map(str::trim),
        Some(marker.as_str())
    );

    let stopped = server
        .post(&format!("/api/sandbox/{id}/stop"), json!({}))
        .await;
    assert_eq!(stopped.status, 200, "{:?}", stopped.body);
    server.wait_state(&id, "stopped").await;
    let listening = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
    assert!(!listening, "the server ended with its sandbox");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_preview_proxy_reaches_only_sandbox_ports_and_no_api_route() {
    let server = start("").await;
    let sandbox = server.create(json!({})).await;
    let id = sandbox["id"].as_str().unwrap().to_string();
    let api_port: u16 = server.base.rsplit(':').next().unwrap().parse().unwrap();

    // This server's own port: refused, with or without a token.
    let preview = link(&server, &id, api_port).await;
    let token = preview["token"].as_str().unwrap().to_string();
    let (status, body) = fetch(
        &server,
        &format!("{}/api/sandbox", preview["url"].as_str().unwrap()),
        Some(&token),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    // A host process that is not a sandbox's: this test, as root, when sandbox commands run as
    // their own uid. (As an ordinary user they run as that user, whose ports look alike.)
    let host = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = host.local_addr().unwrap().port();
    let url = link(&server, &id, port).await["url"]
        .as_str()
        .unwrap()
        .to_string();
    if running_as_root() {
        let (status, _) = fetch(&server, &format!("{url}/"), Some(&token)).await;
        assert_eq!(status, 403, "a root-owned host port was proxied");
    }
    // Unknown sandboxes and bad ports.
    let (status, _) = fetch(
        &server,
        &format!("{}/_preview/nope/8080/", server.base),
        Some(&token),
    )
    .await;
    assert_eq!(status, 404);
    let reply = server
        .get(&format!("/api/sandbox/{id}/ports/0/preview-url"))
        .await;
    reply.api_error(400);
    // The preview-url route needs the key like every API route.
    let anonymous = server
        .client
        .get(server.url(&format!("/api/sandbox/{id}/ports/{port}/preview-url")))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    drop(host);
}

/// Whether this test runs as root (sandbox commands then run as their own uid).
fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|line| line.starts_with("Uid:"))
        .and_then(|line| line.split_whitespace().nth(1).map(|uid| uid == "0"))
        .unwrap_or(false)
}

/// A WebSocket echo server on node's own `http` and `crypto`: answers plain HTTP, and echoes each
/// text frame (under 126 bytes) with the path the handshake asked for.
pub(crate) const WEBSOCKET_ECHO: &str = r#"
import { createServer } from 'node:http'
import { createHash } from 'node:crypto'
const server = createServer((request, response) => response.end('plain http\n'))
server.on('upgrade', (request, socket) => {
  const accept = createHash('sha1')
    .update(request.headers['sec-websocket-key'] + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11')
    .digest('base64')
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`)
  let pending = Buffer.alloc(0)
  socket.on('data', (chunk) => {
    pending = Buffer.concat([pending, chunk])
    while (pending.length >= 6) {
      const opcode = pending[0] & 0x0f
      const length = pending[1] & 0x7f
      if (pending.length < 6 + length) return
      const payload = Buffer.from(pending.subarray(6, 6 + length)).map((byte, i) => byte ^ pending[2 + (i % 4)])
      pending = pending.subarray(6 + length)
      if (opcode === 8) return socket.end(Buffer.from([0x88, 0]))
      const reply = Buffer.from(`echo ${payload.toString()} at ${request.url}`)
      socket.write(Buffer.concat([Buffer.from([0x81, reply.length]), reply]))
    }
  })
})
server.listen(Number(process.argv[2]), '127.0.0.1')
"#;

/// A WebSocket client's connection.
pub(crate) type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a WebSocket to `url` (with the preview token when given) and trades one message, once
/// the server inside listens; the handshake's status when it is refused.
async fn echo_over_websocket(url: &str, token: Option<&str>, message: &str) -> Result<String, u16> {
    let mut socket = open_websocket(url, token).await?;
    let reply = echo(&mut socket, message).await;
    socket.close(None).await.ok();
    Ok(reply)
}

/// Sends `message` over `socket` and returns the text that comes back.
pub(crate) async fn echo(socket: &mut Socket, message: &str) -> String {
    use futures::{SinkExt as _, StreamExt as _};
    use tokio_tungstenite::tungstenite::Message;
    socket.send(Message::text(message)).await.unwrap();
    let reply = socket.next().await.expect("an answer").unwrap();
    reply.into_text().unwrap().to_string()
}

/// Opens a WebSocket to `url` (with the preview token when given), once the server inside
/// listens; the handshake's status when it is refused.
pub(crate) async fn open_websocket(url: &str, token: Option<&str>) -> Result<Socket, u16> {
    use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest as _};
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut request = url.into_client_request().unwrap();
        if let Some(token) = token {
            request
                .headers_mut()
                .insert("x-daytona-preview-token", token.parse().unwrap());
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((socket, _)) => return Ok(socket),
            // 502 while the server inside is still starting.
            Err(tungstenite::Error::Http(response))
                if response.status() != 502 || Instant::now() > deadline =>
            {
                return Err(response.status().as_u16());
            }
            Err(tungstenite::Error::Http(_)) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => panic!("the WebSocket failed: {error}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_websocket_server_in_a_sandbox_is_reachable_through_its_preview_link() {
    if !have("node") {
        return;
    }
    let server = start("").await;
    let (id, port) = node_server(&server, "ws_echo.mjs", WEBSOCKET_ECHO).await;
    let preview = link(&server, &id, port).await;
    let token = preview["token"].as_str().unwrap().to_string();
    let socket_url = preview["url"]
        .as_str()
        .unwrap()
        .replacen("http://", "ws://", 1);

    let echoed = echo_over_websocket(&format!("{socket_url}/hmr?v=1"), Some(&token), "hello").await;
    assert_eq!(echoed, Ok("echo hello at /hmr?v=1".to_string()));
    // The token is checked as for HTTP; the same port still answers plain HTTP.
    let refused = echo_over_websocket(&format!("{socket_url}/hmr"), None, "x").await;
    assert_eq!(refused, Err(401));
    let wrong = echo_over_websocket(&format!("{socket_url}/hmr"), Some(KEY), "x").await;
    assert_eq!(wrong, Err(401));
    let (status, body) = fetch(
        &server,
        &format!("{}/", preview["url"].as_str().unwrap()),
        Some(&token),
    )
    .await;
    assert_eq!((status, body.as_str()), (200, "plain http\n"));
    // A signed link carries its own token, as a browser's socket needs.
    let signed = server
        .get(&format!(
            "/api/sandbox/{id}/ports/{port}/signed-preview-url?expiresInSeconds=600"
        ))
        .await;
    let signed_url = signed.body["url"]
        .as_str()
        .unwrap()
        .replacen("http://", "ws://", 1);
    let echoed = echo_over_websocket(&format!("{signed_url}/live"), None, "signed").await;
    assert_eq!(echoed, Ok("echo signed at /live".to_string()));
}
