//! How `serve` takes connections and serves each one, and how it lets them go when it stops.
//!
//! A stop (SIGINT or SIGTERM) is graceful in the way of a container's: no new connection is
//! taken, every request a client has already sent is answered, an idle connection is closed,
//! and the server waits for the answers for at most [`GRACE`]. "Already sent" is taken
//! literally: a connection the kernel completed before the stop is still accepted (it waits in
//! the listen queue, and dropping the listener would reset it), and bytes that have arrived on a
//! connection are read before it is told to close (hyper closes an idle connection at once, and
//! must not take one for idle whose request it has not read yet). A client then meets only a
//! refused connection or one closed before it sent anything, which it may retry safely.
//!
//! This file holds no route logic: it hands each request to the router.

use std::future::Future;
use std::os::fd::{AsRawFd as _, BorrowedFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use tower::ServiceExt as _;

use super::state::AppState;
use super::{body_drain, middleware};

/// How long a stopping server waits for the answers in flight (and its timers) before it
/// exits anyway: the `docker stop` default, so a container manager and `serve` agree.
pub const GRACE: Duration = Duration::from_secs(10);

/// The simulated "connection dropped" failure: hyper closes the connection without a reply.
#[derive(Debug, thiserror::Error)]
#[error("connection dropped by the simulation")]
struct DroppedConnection;

/// Serves `stream` in a task of `connections` until it closes, or until `stopped` turns true,
/// after which what has arrived is read, the request in progress (if any) answered and the
/// connection closed.
pub(super) fn spawn(
    connections: &mut tokio::task::JoinSet<()>,
    stream: tokio::net::TcpStream,
    router: axum::Router,
    state: Arc<AppState>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let socket = Socket(stream.as_raw_fd());
    connections.spawn(async move {
        // A TLS handshake is told from a request line by its first byte, so the handshake is
        // awaited here, in the connection's own task.
        let tls = state.clone();
        let accepting = async move { tls.local_tls.accept(stream).await };
        tokio::pin!(accepting);
        let accepted = unless_stopped!(accepting, &mut stopped, socket).await;
        let Some(Some(stream)) = accepted else {
            return;
        };
        let service =
            hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                let (router, state) = (router.clone(), state.clone());
                async move {
                    let faultable = middleware::is_faultable(request.uri().path());
                    // The body is read to its end even when the handler does not read it, or
                    // the connection would close after this answer.
                    let response = router
                        .oneshot(request.map(body_drain::DrainedBody::new))
                        .await
                        .unwrap_or_else(|never| match never {});
                    if faultable && state.dice.roll(state.simulation.drop_rate) {
                        return Err(DroppedConnection);
                    }
                    Ok(response)
                }
            });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        tokio::pin!(connection);
        if unless_stopped!(connection, &mut stopped, socket)
            .await
            .is_some()
        {
            return;
        }
        connection.as_mut().graceful_shutdown();
        let _ = connection.await;
    });
}

/// The socket of a connection, known by its descriptor while the stream that owns it is alive.
#[derive(Clone, Copy)]
struct Socket(RawFd);

impl Socket {
    /// Whether bytes have arrived that nothing has read yet. Asked of the kernel itself: the
    /// runtime learns of them later (on its next poll of the system), and hyper through it.
    ///
    /// Only called by [`unless_stopped`] while the future that owns the stream runs.
    fn unread(self) -> bool {
        // SAFETY: the descriptor is the connection's socket, owned by the stream inside the
        // future `unless_stopped` is polling, which is neither finished nor dropped while this
        // runs, so the descriptor is open and still this socket.
        let fd = unsafe { BorrowedFd::borrow_raw(self.0) };
        let mut byte = [0u8; 1];
        let flags = rustix::net::RecvFlags::PEEK | rustix::net::RecvFlags::DONTWAIT;
        matches!(rustix::net::recv(fd, &mut byte[..], flags), Ok((read, _)) if read > 0)
    }
}

/// Polls `$work` (a pinned future that owns `$socket`) to its end, giving `Some` of its output;
/// or, once the stop is seen and the bytes that had arrived are read (hyper closes a connection
/// it takes for idle at once, and must not take one for idle whose request it has not read
/// yet), `None`. The bytes are waited for at most [`GRACE`]. A macro, not a generic `async fn`:
/// the compiler cannot prove such a function's future `Send` for hyper's connection.
macro_rules! unless_stopped {
    ($work:expr, $stopped:expr, $socket:expr) => {
        async {
            tokio::select! {
                biased;
                output = $work.as_mut() => return Some(output),
                () = stop_seen($stopped) => {}
            }
            let deadline = tokio::time::Instant::now() + GRACE;
            while $socket.unread() && tokio::time::Instant::now() < deadline {
                tokio::select! {
                    biased;
                    output = $work.as_mut() => return Some(output),
                    () = tokio::time::sleep(Duration::from_millis(5)) => {}
                }
            }
            None
        }
    };
}
use unless_stopped;

/// Completes once `stopped` is true (or its sender is gone).
async fn stop_seen(stopped: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

/// The connections the kernel has completed on `listener` and not yet handed over: taken
/// with the accept call itself (not the runtime's readiness, which may lag), until none is
/// left, or as many as a listen queue holds (clients connecting without pause must not keep
/// the server from stopping).
pub(super) fn queued(listener: &tokio::net::TcpListener) -> Vec<tokio::net::TcpStream> {
    use std::os::fd::AsFd as _;
    /// The largest listen queue a kernel allows by default (`net.core.somaxconn`); the
    /// runtime's listeners ask for 1024.
    const MOST: usize = 4096;
    let mut streams = Vec::new();
    for _ in 0..MOST {
        let flags = rustix::net::SocketFlags::NONBLOCK | rustix::net::SocketFlags::CLOEXEC;
        let Ok(socket) = rustix::net::accept_with(listener.as_fd(), flags) else {
            break;
        };
        let stream = std::net::TcpStream::from(socket);
        if let Ok(stream) = tokio::net::TcpStream::from_std(stream) {
            streams.push(stream);
        }
    }
    streams
}

/// The next connection on `listener`, or `None` once `stop` completes. A failed accept (out
/// of file descriptors and the like) backs off instead of spinning, and finished connection
/// tasks are reaped meanwhile so that `connections` does not grow without bound. Shared by the
/// HTTP server, the egress proxy and the SSH gateway.
pub(crate) async fn next_connection<T: 'static>(
    listener: &tokio::net::TcpListener,
    stop: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
    connections: &mut tokio::task::JoinSet<T>,
) -> Option<tokio::net::TcpStream> {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => return Some(stream),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            },
            () = stop.as_mut() => return None,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}
