//! How long the preview proxy waits for a sandbox's server to accept its connection: a server
//! that never accepts is answered a 502 naming the port once the wait
//! (`--simulate preview-accept-wait=`, 30 s by default) is over, and its connection is closed.

use std::time::{Duration, Instant};

use crate::serve_preview_owner::{
    IDLE_LISTENER, LISTEN, listening_socket, loopback_sockets, preview, sandbox,
};
use crate::serve_security::run_python_app;

/// The kernel's `TCP_CLOSE_WAIT`.
const CLOSE_WAIT: u8 = 8;

/// The states of the server sides of connections made to `port` (its sockets but the listener).
fn connections(port: u16) -> Vec<u8> {
    loopback_sockets(port)
        .into_iter()
        .map(|(state, _)| state)
        .filter(|&state| state != LISTEN)
        .collect()
}

/// Polls `connections(port)` until `done` holds of them (30 s at most), and returns them.
async fn until(port: u16, what: &str, done: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found = connections(port);
        if done(&found) {
            return found;
        }
        assert!(Instant::now() < deadline, "{what}: {found:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A server of the sandbox that listens and never accepts is answered, for an HTTP request and
/// a WebSocket handshake alike, a 502 naming the port once the accept wait is over; the proxy's
/// connection is then closed (the sandbox's end of it is left half closed in its queue). Without
/// the bound the requests would hang past the client's 20 s and fail.
#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_never_accepts_is_answered_502_naming_the_port() {
    let Some((server, id, port)) = sandbox("preview-accept-wait=1s").await else {
        return;
    };
    run_python_app(&server, &id, "idle.py", IDLE_LISTENER, &port.to_string()).await;
    listening_socket(port).await;
    for upgrade in [false, true] {
        let (status, body) = preview(&server, &id, port, upgrade).await;
        assert_eq!(status, 502, "{body}");
        assert!(body.contains(&format!("port {port} ")), "{body}");
        assert!(body.contains("did not accept the connection"), "{body}");
    }
    // Both connections are closed by the proxy: the sandbox's ends wait in CLOSE_WAIT.
    until(port, "the proxy's connections stay open", |states| {
        states.len() == 2 && states.iter().all(|&state| state == CLOSE_WAIT)
    })
    .await;
}
