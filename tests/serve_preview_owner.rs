//! Whose process a preview's connection reaches. The proxy checks the sockets listening on the
//! port before it connects, but the connection is taken by whichever process accepts it: the
//! request goes only to a process of the sandbox, even when the listening socket it checked is
//! shared with a process outside, and a server of the sandbox that accepts late is still
//! previewed. Each case runs twice: with the kernel's sockets read over netlink socket
//! diagnostics, and from `/proc/net/tcp{,6}` as where those are missing
//! (`--simulate sock-diag=off`).

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use rustix::process::{Pid, PidfdFlags, PidfdGetfdFlags};
use serde_json::{Value, json};

use crate::common::have;
use crate::serve_preview::{free_port, link};
use crate::serve_security::run_python_app;
use crate::serve_support::{Server, start};

/// A sandbox's program that listens on a port and never accepts.
pub(crate) const IDLE_LISTENER: &str = r#"
import socket, sys, time
listener = socket.socket()
listener.bind(('127.0.0.1', int(sys.argv[1])))
listener.listen(16)
time.sleep(3600)
"#;

/// A server that listens at once (on `argv[1]`, with room in its queue for hundreds of
/// connections) but accepts only after some seconds (as a server that answers one request at a
/// time does while it is busy with another), or once a file `argv[3]` is in its directory when
/// given; then it answers `argv[2]` to every request, each on a thread of its own.
pub(crate) const LATE_SERVER: &str = r#"
import http.server, os, sys, time
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = sys.argv[2].encode()
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 256
server = Server(('127.0.0.1', int(sys.argv[1])), Handler)
if len(sys.argv) > 3:
    while not os.path.exists(sys.argv[3]):
        time.sleep(0.05)
else:
    time.sleep(3)
server.serve_forever()
"#;

/// The state (the kernel's number) and inode of every IPv4 socket of this machine whose local
/// address is `port` on loopback: its listener and the server sides of connections made to it.
pub(crate) fn loopback_sockets(port: u16) -> Vec<(u8, u64)> {
    let local = format!("0100007F:{port:04X}");
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    table
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields.get(1) == Some(&local.as_str())).then_some(())?;
            let state = u8::from_str_radix(fields.get(3)?, 16).ok()?;
            Some((state, fields.get(9)?.parse().ok()?))
        })
        .collect()
}

/// The kernel's `TCP_LISTEN`.
pub(crate) const LISTEN: u8 = 0x0A;

/// The inode of the socket listening on `port` of this machine's IPv4 loopback, once there is
/// one (30 s at most).
pub(crate) async fn listening_socket(port: u16) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let listener = loopback_sockets(port)
            .into_iter()
            .find_map(|(state, inode)| (state == LISTEN).then_some(inode));
        if let Some(inode) = listener {
            return inode;
        }
        assert!(Instant::now() < deadline, "nothing listened on port {port}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A process holding socket `inode`, and its descriptor number there.
fn holder(inode: u64) -> (i32, i32) {
    let wanted = format!("socket:[{inode}]");
    for process in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = process.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        let descriptors = std::fs::read_dir(process.path().join("fd"));
        for descriptor in descriptors.into_iter().flatten().flatten() {
            let target = std::fs::read_link(descriptor.path()).unwrap_or_default();
            if target.as_os_str() == wanted.as_str()
                && let Some(number) = descriptor.file_name().to_str().and_then(|n| n.parse().ok())
            {
                return (pid, number);
            }
        }
    }
    panic!("no process holds {wanted}");
}

/// A copy, in this process, of descriptor `number` of process `pid`.
fn steal(pid: i32, number: i32) -> TcpListener {
    let process = rustix::process::pidfd_open(Pid::from_raw(pid).unwrap(), PidfdFlags::empty())
        .expect("pidfd_open");
    let copy = rustix::process::pidfd_getfd(&process, number, PidfdGetfdFlags::empty())
        .expect("pidfd_getfd (this test runs as root, or as the sandboxes' user)");
    TcpListener::from(copy)
}

/// A server (with `simulation`) with an isolated sandbox, and a free port, where bubblewrap and
/// `python3` are.
pub(crate) async fn sandbox(simulation: &str) -> Option<(Server, String, u16)> {
    if !have("bwrap") || !have("python3") {
        return None;
    }
    let server = start(simulation).await;
    let created = server.create(json!({})).await;
    let id = created["id"].as_str().unwrap().to_string();
    Some((server, id, free_port()))
}

/// The status and body of a request through a new preview link to `port` of sandbox `id`.
pub(crate) async fn preview(server: &Server, id: &str, port: u16, upgrade: bool) -> (u16, String) {
    let link = link(server, id, port).await;
    let response = ask(server, &link, upgrade).await;
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// The answer to one request through preview link `link` (a WebSocket handshake when
/// `upgrade`). Every wait of the proxy ends well within the client's 90 s: a request still
/// unanswered then fails the test.
pub(crate) async fn ask(server: &Server, link: &Value, upgrade: bool) -> reqwest::Response {
    let mut request = server
        .client
        .get(format!("{}/", link["url"].as_str().unwrap()))
        .header("x-daytona-preview-token", link["token"].as_str().unwrap())
        .timeout(Duration::from_secs(90));
    if upgrade {
        request = request
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
    }
    request.send().await.expect("the proxy answers within 90 s")
}

/// The socket the proxy checks, listening and held by the sandbox's process, is shared with
/// a process outside the sandbox (this test, which copies the descriptor as another program
/// could have been handed it) and that process is the one that accepts: checking the listeners
/// let the request, and the answer, through. The connection's own socket is what counts.
#[tokio::test(flavor = "multi_thread")]
async fn a_connection_accepted_by_a_process_outside_the_sandbox_is_refused() {
    accepted_outside_is_refused("").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_accepted_by_a_process_outside_the_sandbox_is_refused_reading_proc() {
    accepted_outside_is_refused("sock-diag=off").await;
}

async fn accepted_outside_is_refused(simulation: &str) {
    let Some((server, id, port)) = sandbox(simulation).await else {
        return;
    };
    run_python_app(&server, &id, "idle.py", IDLE_LISTENER, &port.to_string()).await;
    let (pid, number) = holder(listening_socket(port).await);
    let outside = steal(pid, number);
    let waker = outside.try_clone().unwrap();
    let marker = format!("outside-{}", uuid::Uuid::new_v4().simple());
    let answer = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{marker}",
        marker.len()
    );
    let answering = std::thread::spawn(move || {
        let mut taken = 0;
        while let Ok((mut connection, _)) = outside.accept() {
            taken += 1;
            let mut request = [0u8; 4096];
            let _ = connection.read(&mut request);
            let _ = connection.write_all(answer.as_bytes());
        }
        taken
    });
    for upgrade in [false, true] {
        let (status, body) = preview(&server, &id, port, upgrade).await;
        assert!(
            !body.contains(&marker),
            "a process outside the sandbox answered its preview: {body}"
        );
        assert_eq!(status, 403, "{body}");
        assert!(body.contains("not sandbox"), "{body}");
    }
    // A listening socket shut for reading ends the `accept` above.
    rustix::net::shutdown(&waker, rustix::net::Shutdown::Read).unwrap();
    let taken = answering.join().unwrap();
    assert_eq!(taken, 2, "the outside process took the proxy's connections");
}

/// A server of the sandbox that leaves the proxy's connection in its listener's queue for a
/// while is previewed once it accepts, not refused for being slow.
#[tokio::test(flavor = "multi_thread")]
async fn a_sandbox_server_that_accepts_late_is_still_previewed() {
    accepts_late_is_previewed("").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sandbox_server_that_accepts_late_is_still_previewed_reading_proc() {
    accepts_late_is_previewed("sock-diag=off").await;
}

async fn accepts_late_is_previewed(simulation: &str) {
    let Some((server, id, port)) = sandbox(simulation).await else {
        return;
    };
    let marker = format!("late-{}", uuid::Uuid::new_v4().simple());
    let arguments = format!("{port} {marker}");
    run_python_app(&server, &id, "late.py", LATE_SERVER, &arguments).await;
    listening_socket(port).await;
    // One request, not retried: it waits in the queue while the server sleeps.
    let (status, body) = preview(&server, &id, port, false).await;
    assert_eq!((status, body.as_str()), (200, marker.as_str()));
}
