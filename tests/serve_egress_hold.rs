//! Connections a sandbox keeps open through `serve`'s egress proxy do not outlive a change of
//! its network settings that no longer admits their destination: an opaque `CONNECT` tunnel to
//! a raw TCP echo server goes on working across a change that still admits it, and is closed
//! at once when the sandbox is blocked (the client in the sandbox sees the end, and so does the
//! echo server), after which a new one is refused; a tunnel carrying plain HTTP is closed as
//! well, and nothing sent in it after the block reaches its server.
//!
//! Needs what `serve_egress_network` needs, and python3. The only servers reached are the
//! test's own, on 127.0.0.1.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use serde_json::json;

use crate::common;
use crate::serve_egress_network::{GATEWAY, id, prerequisites, run};
use crate::serve_egress_tunnel::echo_upstream;
use crate::serve_support::{Server, start};
use crate::serve_upstreams::{Seen, http_upstream};

/// Opens a tunnel to `sys.argv[1]` (`host:port`) through `$HTTP_PROXY`, has `one` echoed, then
/// waits: when the file `sys.argv[2]` appears it has `two` echoed, and when the tunnel closes
/// it says so. Each step is a line of output.
pub(crate) const HOLDER: &str = r#"
import base64, os, select, socket, sys, time, urllib.parse
target, go = sys.argv[1], sys.argv[2]
proxy = urllib.parse.urlsplit(os.environ["HTTP_PROXY"])
credential = base64.b64encode(f"{proxy.username}:{proxy.password}".encode()).decode()
conn = socket.create_connection((proxy.hostname, proxy.port), timeout=30)
conn.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nProxy-Authorization: Basic {credential}\r\n\r\n".encode())
head = b""
while b"\r\n\r\n" not in head:
    chunk = conn.recv(1)
    if not chunk:
        break
    head += chunk
if not head.startswith(b"HTTP/1.1 200"):
    print("refused", head.split(b"\r\n")[0].decode(), flush=True)
    sys.exit()
def echoed(word):
    conn.sendall(word + b"\n")
    back = b""
    while not back.endswith(b"\n"):
        chunk = conn.recv(64)
        if not chunk:
            break
        back += chunk
    return back.decode().strip()
print("open", echoed(b"one"), flush=True)
asked = False
deadline = time.time() + 60
while time.time() < deadline:
    if not asked and os.path.exists(go):
        asked = True
        print("still", echoed(b"two"), flush=True)
    if select.select([conn], [], [], 0.1)[0]:
        try:
            data = conn.recv(64)
        except OSError:
            data = b""
        print("closed" if not data else f"unexpected {data!r}", flush=True)
        sys.exit()
print("timeout", flush=True)
"#;

/// Writes `script` into sandbox `id` as `/tmp/<name>.py` and starts it in the background with
/// `arguments`, its output going to `/tmp/<name>.out`.
pub(crate) async fn launch(server: &Server, id: &str, name: &str, script: &str, arguments: &str) {
    let encoded = base64::engine::general_purpose::STANDARD.encode(script);
    run(
        server,
        id,
        &format!(
            "echo {encoded} | base64 -d > /tmp/{name}.py; nohup python3 /tmp/{name}.py {arguments} > /tmp/{name}.out 2>&1 < /dev/null &"
        ),
    )
    .await;
}

/// What the script `name` in sandbox `id` printed, once it holds `needle` (or after 20 s).
pub(crate) async fn printed(server: &Server, id: &str, name: &str, needle: &str) -> String {
    let mut output = String::new();
    for _ in 0..200 {
        output = run(server, id, &format!("cat /tmp/{name}.out")).await.1;
        if output.contains(needle) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    output
}

/// Sets sandbox `id`'s network settings to `settings`.
async fn change(server: &Server, id: &str, settings: serde_json::Value) {
    let changed = server
        .post(&format!("/api/sandbox/{id}/network-settings"), settings)
        .await;
    assert_eq!(changed.status, 200, "{:?}", changed.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_opaque_tunnel_lasts_while_its_destination_is_admitted_and_is_closed_by_a_block() {
    if !prerequisites() || !common::have("python3") {
        return;
    }
    let closed = Arc::new(AtomicUsize::new(0));
    let echo = echo_upstream(Arc::new(Mutex::new(Vec::new())), closed.clone()).await;
    let server = start("").await;
    // A domain list gives the sandbox the proxy; its networks list lets it reach the echo server.
    let sandbox = server
        .create(json!({"networkAllowList": "127.0.0.0/8", "domainAllowList": "example.invalid"}))
        .await;
    let id = id(&sandbox);
    let target = format!("127.0.0.1:{echo}");
    launch(&server, &id, "holder", HOLDER, &format!("{target} /tmp/go")).await;
    let output = printed(&server, &id, "holder", "open").await;
    assert_eq!(output.trim(), "open one");

    // A change that still admits the echo server: the tunnel goes on.
    change(
        &server,
        &id,
        json!({"networkAllowList": "127.0.0.1/32", "domainAllowList": "example.invalid"}),
    )
    .await;
    run(&server, &id, "touch /tmp/go").await;
    let output = printed(&server, &id, "holder", "still").await;
    assert_eq!(output.trim(), "open one\nstill two");
    assert_eq!(
        closed.load(Ordering::SeqCst),
        0,
        "the echo server was cut off"
    );

    // Blocked: the tunnel is closed at once, on both sides, without the client sending more.
    change(&server, &id, json!({"networkBlockAll": true})).await;
    let output = printed(&server, &id, "holder", "closed").await;
    assert_eq!(output.trim(), "open one\nstill two\nclosed");
    for _ in 0..200 {
        if closed.load(Ordering::SeqCst) == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        closed.load(Ordering::SeqCst),
        1,
        "the echo server saw no close"
    );

    // And nothing reaches the echo server any more: the blocked sandbox has no proxy left to
    // ask, and its own connection to this machine goes nowhere.
    let direct = format!(
        "python3 -c 'import socket; socket.create_connection((\"{GATEWAY}\", {echo}), timeout=3)' 2>/dev/null && echo reached || echo refused"
    );
    assert_eq!(run(&server, &id, &direct).await.1.trim(), "refused");
    let (_, proxy) = run(&server, &id, "printenv HTTP_PROXY || echo none").await;
    assert_eq!(proxy.trim(), "none");
}

/// A tunnel carrying plain HTTP kept open across a block: it is closed, so a request sent in it
/// afterwards reaches nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_tunnel_kept_open_does_not_outlive_a_block() {
    if !prerequisites() || !common::have("python3") {
        return;
    }
    let seen = Seen::default();
    let port = http_upstream(seen.clone()).await;
    let server = start("").await;
    let sandbox = server
        .create(json!({"networkAllowList": "127.0.0.0/8", "domainAllowList": "example.invalid"}))
        .await;
    let id = id(&sandbox);
    // One connection: a CONNECT, a request, a wait for the block, another request.
    let script = format!(
        r#"
import base64, os, socket, time, urllib.parse
u = urllib.parse.urlsplit(os.environ["HTTP_PROXY"])
cred = base64.b64encode(f"{{u.username}}:{{u.password}}".encode()).decode()
s = socket.create_connection((u.hostname, u.port))
s.sendall(f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nProxy-Authorization: Basic {{cred}}\r\n\r\n".encode())
s.recv(4096)
def get(path):
    try:
        s.sendall(f"GET {{path}} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        answer = s.recv(65536).split(b"\r\n")[0].decode()
    except OSError:
        answer = ""
    print(path, answer or "closed", flush=True)
get("/kept-before")
while not os.path.exists("/tmp/blocked"):
    time.sleep(0.1)
get("/kept-after")
"#
    );
    launch(&server, &id, "kept", &script, "").await;
    let before = printed(&server, &id, "kept", "/kept-before").await;
    assert!(before.contains("/kept-before HTTP/1.1 200"), "{before}");
    change(&server, &id, json!({"networkBlockAll": true})).await;
    run(&server, &id, "touch /tmp/blocked").await;
    let after = printed(&server, &id, "kept", "/kept-after").await;
    assert!(after.contains("/kept-after closed"), "{after}");
    assert!(seen.lock().unwrap().contains_key("/kept-before"));
    assert!(!seen.lock().unwrap().contains_key("/kept-after"));
}
