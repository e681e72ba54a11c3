//! How long, and for how many requests at once, the preview proxy waits for a sandbox's server
//! to accept its connection: a server that never accepts is answered a 502 naming the port once
//! the wait (`--simulate preview-accept-wait=`, 30 s by default) is over, and its connection is
//! closed; past the cap of connections waiting for one sandbox, a request is answered 503 at
//! once, and requests are served again once the server accepts.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::serve_preview::link;
use crate::serve_preview_owner::{
    IDLE_LISTENER, LATE_SERVER, LISTEN, ask, listening_socket, loopback_sockets, preview, sandbox,
};
use crate::serve_security::run_python_app;
use crate::serve_support::{KEY, Server};

/// The proxy's cap on one sandbox's connections waiting to be accepted (`MOST_WAITING`).
const MOST_WAITING: usize = 64;

/// The kernel's `TCP_ESTABLISHED` and `TCP_CLOSE_WAIT`.
const ESTABLISHED: u8 = 1;
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
/// the bound the requests would hang past the client's 90 s and fail.
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

/// With the cap of connections waiting for one sandbox's server reached, one more request is
/// answered 503 at once, before any of those waiting is; once the server accepts, the waiting
/// requests are served and so is the next.
#[tokio::test(flavor = "multi_thread")]
async fn a_request_past_the_cap_of_accept_waits_is_answered_503_at_once() {
    // Waits longer than filling the cap may take on a loaded machine: none ends before the
    // server is told to accept.
    let Some((server, id, port)) = sandbox("preview-accept-wait=80s").await else {
        return;
    };
    let marker = format!("told-{}", uuid::Uuid::new_v4().simple());
    let arguments = format!("{port} {marker} go");
    run_python_app(&server, &id, "told.py", LATE_SERVER, &arguments).await;
    listening_socket(port).await;
    let link = link(&server, &id, port).await;
    let answered = AtomicUsize::new(0);
    let waiting = (0..MOST_WAITING).map(|_| async {
        let response = ask(&server, &link, false).await;
        answered.fetch_add(1, Ordering::SeqCst);
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    });
    let extra = async {
        // Every waiting request holds its place before it connects: once all are queued in
        // the server's listener, the cap is reached.
        until(
            port,
            "the requests did not all reach the server",
            |states| {
                states.len() == MOST_WAITING && states.iter().all(|&state| state == ESTABLISHED)
            },
        )
        .await;
        let response = ask(&server, &link, false).await;
        let order = answered.load(Ordering::SeqCst);
        let retry = response.headers().get("retry-after").cloned();
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        assert_eq!(status, 503, "{body}");
        assert!(body.contains(&format!("port {port} ")), "{body}");
        assert!(body.contains("not accepting connections"), "{body}");
        assert!(retry.is_some(), "a 503 without Retry-After");
        assert_eq!(
            order, 0,
            "a waiting request was answered before the one past the cap"
        );
        tell(&server, &id).await;
    };
    let (answers, ()) = tokio::join!(futures::future::join_all(waiting), extra);
    for (status, body) in answers {
        assert_eq!((status, body.as_str()), (200, marker.as_str()));
    }
    let (status, body) = preview(&server, &id, port, false).await;
    assert_eq!((status, body.as_str()), (200, marker.as_str()));
}

/// Writes the file `go` in the sandbox's home, which [`LATE_SERVER`] is told to wait for.
async fn tell(server: &Server, id: &str) {
    let upload = server
        .client
        .post(server.url(&format!("/toolbox/{id}/files/upload-v2?path=go")))
        .bearer_auth(KEY)
        .body("go")
        .send()
        .await
        .unwrap();
    assert!(upload.status().is_success(), "{:?}", upload.text().await);
}
