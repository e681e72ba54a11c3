//! How `serve` takes connections and serves each one, and how it lets them go when it stops.
//!
//! A stop (SIGINT or SIGTERM) is graceful in the way of a container's: no new connection is
//! taken, every request a client has already sent is answered, an idle connection is closed,
//! and the server waits for the answers for at most [`GRACE`]. "Already sent" is taken
//! literally: a connection the kernel completed before the stop is still accepted (it waits in
//! the listen queue, and dropping the listener would reset it), and a request whose bytes have
//! arrived is read before its connection is told to close (hyper closes an idle connection at
//! once, so the stop must not be seen before what arrived). A client then meets only a refused
//! connection or one closed before it sent anything, which it may retry safely.
//!
//! This file holds no route logic: it hands each request to the router.

use std::future::Future;
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
/// after which the request in progress (if any) is answered and the connection closed.
pub(super) fn spawn(
    connections: &mut tokio::task::JoinSet<()>,
    stream: tokio::net::TcpStream,
    router: axum::Router,
    state: Arc<AppState>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    connections.spawn(async move {
        // A TLS handshake is told from a request line by its first byte, so the handshake is
        // awaited here, in the connection's own task. `biased`: a first byte that has arrived
        // wins over a stop seen at the same moment.
        let stream = tokio::select! {
            biased;
            stream = state.local_tls.accept(stream) => match stream {
                Some(stream) => stream,
                None => return,
            },
            _ = stopped.wait_for(|stop| *stop) => return,
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
        // `biased`: the connection reads what has arrived before the stop is looked at, so a
        // request sent before the stop is under way (and answered) rather than cut.
        tokio::select! {
            biased;
            _ = connection.as_mut() => return,
            _ = stopped.wait_for(|stop| *stop) => {}
        }
        connection.as_mut().graceful_shutdown();
        let _ = connection.await;
    });
}

/// The connections the kernel has completed on `listener` and not yet handed over: taken
/// with the accept call itself (not the runtime's readiness, which may lag), until none is
/// left.
pub(super) fn queued(listener: &tokio::net::TcpListener) -> Vec<tokio::net::TcpStream> {
    use std::os::fd::AsFd as _;
    let mut streams = Vec::new();
    while let Ok(socket) = rustix::net::accept_with(
        listener.as_fd(),
        rustix::net::SocketFlags::NONBLOCK | rustix::net::SocketFlags::CLOEXEC,
    ) {
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
