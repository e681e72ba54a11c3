//! `CONNECT` tunnels through serve's egress proxy that do not carry TLS, driven from inside a
//! sandbox that mounts a secret: a python3 client there opens each tunnel by hand. A raw TCP
//! echo server gets its bytes back exactly (the placeholder among them, never the value); a
//! server that speaks first (a banner on accept) works; a plain HTTP request inside a tunnel has
//! the value substituted for an allowed host and keeps the placeholder for another. And TLS in a
//! tunnel speaks HTTP/2: `curl --http2` in the sandbox reaches an upstream that offers only `h2`,
//! with the value substituted.
//!
//! Every upstream is the test's own, on 127.0.0.1. Without python3 or curl a test skips and says
//! why, and with `CI=true` it fails.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use serde_json::json;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};

use crate::common::{self, SENTINEL};
use crate::serve_support::{Options, Server, start, start_with};
use crate::serve_upstreams::{Seen, header, http_upstream, https_upstream_offering};

/// Opens a tunnel to `sys.argv[2]` (`host:port`) through `$HTTP_PROXY` by hand, then speaks
/// `sys.argv[1]`: `echo` (send the bytes, read as many back), `banner` (read the server's line,
/// answer, read its reply) or `http` (one request for path `sys.argv[3]`).
const CLIENT: &str = r#"
import base64, os, socket, sys, urllib.parse
mode, target = sys.argv[1], sys.argv[2]
proxy = urllib.parse.urlsplit(os.environ["HTTP_PROXY"])
token = os.environ["TUNNEL_TOKEN"]
credential = base64.b64encode(f"{proxy.username}:{proxy.password}".encode()).decode()
conn = socket.create_connection((proxy.hostname, proxy.port), timeout=20)
conn.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nProxy-Authorization: Basic {credential}\r\n\r\n".encode())
head = b""
while b"\r\n\r\n" not in head:
    chunk = conn.recv(1)
    if not chunk:
        sys.exit("the proxy closed the connection")
    head += chunk
assert head.startswith(b"HTTP/1.1 200"), head
def read_line():
    line = b""
    while not line.endswith(b"\n"):
        chunk = conn.recv(1)
        if not chunk:
            break
        line += chunk
    return line.decode().strip()
if mode == "echo":
    payload = b"\x00\x01\xfe\xff raw " + token.encode() + b"\r\n" + bytes(range(256))
    conn.sendall(payload)
    back = b""
    while len(back) < len(payload):
        chunk = conn.recv(65536)
        if not chunk:
            break
        back += chunk
    print("echo", "same" if back == payload else "different", len(back))
elif mode == "banner":
    banner = read_line()
    conn.sendall(b"hello\n")
    print("banner", banner, "|", read_line())
else:
    conn.sendall(f"GET {sys.argv[3]} HTTP/1.1\r\nHost: {target}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n".encode())
    print("http", read_line())
"#;

/// A raw TCP server on loopback that echoes every byte, keeps what it received and counts the
/// connections that ended (closed or reset by the other side) in `closed`.
pub(crate) async fn echo_upstream(received: Arc<Mutex<Vec<u8>>>, closed: Arc<AtomicUsize>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let (received, closed) = (received.clone(), closed.clone());
            tokio::spawn(async move {
                let mut buffer = [0u8; 4096];
                while let Ok(read) = stream.read(&mut buffer).await {
                    if read == 0 {
                        break;
                    }
                    received.lock().unwrap().extend_from_slice(&buffer[..read]);
                    if stream.write_all(&buffer[..read]).await.is_err() {
                        break;
                    }
                }
                closed.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    port
}

/// A server that speaks first: a banner on accept, then `you said <line>` to the client's line.
async fn banner_upstream() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                if write.write_all(b"220 ralph-town banner\r\n").await.is_err() {
                    return;
                }
                let mut line = String::new();
                if BufReader::new(read).read_line(&mut line).await.is_ok() {
                    let reply = format!("you said {}\r\n", line.trim());
                    let _ = write.write_all(reply.as_bytes()).await;
                }
            });
        }
    });
    port
}

/// The client's output for `arguments`, run in sandbox `id`.
async fn client(server: &Server, id: &str, arguments: &str) -> String {
    let script = base64::engine::general_purpose::STANDARD.encode(CLIENT);
    let command = format!(
        "sh -c 'printf %s {script} | base64 -d > /tmp/tunnel.py && python3 /tmp/tunnel.py {arguments}'"
    );
    let reply = server.exec(id, &command).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["exitCode"], 0, "{arguments}: {:?}", reply.body);
    reply.body["result"].as_str().unwrap().trim().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn connect_tunnels_carry_raw_tcp_server_first_protocols_and_plain_http() {
    if !common::have("python3") {
        return;
    }
    let received = Arc::new(Mutex::new(Vec::new()));
    let echo = echo_upstream(received.clone(), Arc::default()).await;
    let banner = banner_upstream().await;
    let seen = Seen::default();
    let http = http_upstream(seen.clone()).await;
    let server = start("").await;
    let secret = json!({"name": "tunnel", "value": SENTINEL, "hosts": ["127.0.0.1"]});
    let created = server.post("/api/secret", secret).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let placeholder = created.body["placeholder"].as_str().unwrap().to_string();
    let sandbox = server
        .create(json!({"secrets": [{"TUNNEL_TOKEN": "tunnel"}]}))
        .await;
    let id = sandbox["id"].as_str().unwrap();

    // Raw bytes go through unchanged both ways, the placeholder unreplaced.
    let output = client(&server, id, &format!("echo 127.0.0.1:{echo}")).await;
    assert_eq!(
        output,
        format!("echo same {}", 4 + 5 + placeholder.len() + 2 + 256)
    );
    let bytes = received.lock().unwrap().clone();
    let mut expected = b"\x00\x01\xfe\xff raw ".to_vec();
    expected.extend_from_slice(placeholder.as_bytes());
    expected.extend_from_slice(b"\r\n");
    expected.extend((0..=255).map(|byte: u8| byte));
    assert_eq!(bytes, expected, "the echo server got other bytes");

    // The server speaks first: the client sends nothing until it has read the banner.
    let output = client(&server, id, &format!("banner 127.0.0.1:{banner}")).await;
    assert_eq!(output, "banner 220 ralph-town banner | you said hello");

    // Plain HTTP in a tunnel: substituted for the allowed host, not for `localhost`.
    let allowed = client(
        &server,
        id,
        &format!("http 127.0.0.1:{http} /tunnel-allowed"),
    )
    .await;
    assert_eq!(allowed, "http HTTP/1.1 200 OK");
    assert_eq!(
        header(&seen, "/tunnel-allowed", "authorization"),
        format!("Bearer {SENTINEL}")
    );
    let other = client(&server, id, &format!("http localhost:{http} /tunnel-other")).await;
    assert_eq!(other, "http HTTP/1.1 200 OK");
    assert_eq!(
        header(&seen, "/tunnel-other", "authorization"),
        format!("Bearer {placeholder}"),
        "the value reached a host the secret does not allow"
    );
    assert!(header(&seen, "/tunnel-other", "proxy-authorization").is_empty());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_http2_client_reaches_an_h2_only_upstream_through_the_proxy_with_the_value_put_in() {
    if !common::have("curl") {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let ca_file = root.path().join("upstream-ca.pem");
    let seen = Seen::default();
    let port = https_upstream_offering(seen.clone(), &ca_file, &["h2"]).await;
    let server = start_with(Options {
        upstream_ca: Some(ca_file),
        root: Some(root),
        ..Options::default()
    })
    .await;
    let secret = json!({"name": "h2", "value": SENTINEL, "hosts": ["127.0.0.1"]});
    assert_eq!(server.post("/api/secret", secret).await.status, 201);
    let id = server
        .create(json!({"secrets": [{"H2_TOKEN": "h2"}]}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let command = format!(
        "curl -sS --http2 -w ' %{{http_version}}' -H \"Authorization: Bearer $H2_TOKEN\" https://127.0.0.1:{port}/h2-allowed"
    );
    let reply = server.exec(&id, &command).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    // The upstream's answer, over HTTP/2 between curl and the proxy.
    assert_eq!(reply.body["result"], "ok 2", "{:?}", reply.body);
    assert_eq!(
        header(&seen, "/h2-allowed", "authorization"),
        format!("Bearer {SENTINEL}")
    );
    // An answer's trailers (how gRPC sends its status) reach the client.
    let command = format!("curl -sS --http2 -D - -o /dev/null https://127.0.0.1:{port}/trailers");
    let reply = server.exec(&id, &command).await;
    let dumped = reply.body["result"].as_str().unwrap().to_lowercase();
    assert!(dumped.contains("grpc-status: 0"), "{dumped}");
    server.shutdown().await;
}
