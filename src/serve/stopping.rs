//! Whether `serve` has begun to stop: one signal, set once by `Server::run` when it stops
//! taking connections, never cleared. What must not begin after it (a PTY session, a web
//! terminal, a language server) asks [`Stopping::begun`] and is refused with
//! [`Stopping::refusal`]; what would otherwise outlast it (a connection, a followed build log,
//! a language server's start waiting for its answer to `initialize`) waits on
//! [`Stopping::begins`].
//!
//! It holds no logic of what a stop ends: `Server::run` decides that.

use axum::http::StatusCode;
use tokio::sync::watch;

use super::error::DaemonError;

/// The stop signal of one server.
pub(crate) struct Stopping(watch::Sender<bool>);

impl Default for Stopping {
    fn default() -> Self {
        Stopping(watch::Sender::new(false))
    }
}

impl Stopping {
    /// Begins the stop: every waiter wakes, and [`Stopping::begun`] is true from now on.
    pub(crate) fn begin(&self) {
        self.0.send_replace(true);
    }

    /// Whether the stop has begun. The value is read under the channel's lock, so a check made
    /// under a registry's lock that reads `false` comes before a `begin` that is followed by a
    /// look at that registry: what registered then is seen by the stop.
    pub(crate) fn begun(&self) -> bool {
        *self.0.borrow()
    }

    /// Completes once the stop has begun (at once if it has).
    pub(crate) async fn begins(&self) {
        let _ = self.subscribe().wait_for(|begun| *begun).await;
    }

    /// A receiver of the signal, for a task that does not hold the server's state.
    pub(crate) fn subscribe(&self) -> watch::Receiver<bool> {
        self.0.subscribe()
    }

    /// The answer to a start that comes after the stop began: 503 `the server is stopping`.
    pub(crate) fn refusal() -> DaemonError {
        DaemonError::new(StatusCode::SERVICE_UNAVAILABLE, "the server is stopping")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_begun_stop_wakes_its_waiters_and_stays_begun() {
        let stopping = Stopping::default();
        assert!(!stopping.begun());
        let mut receiver = stopping.subscribe();
        let waiting = tokio::spawn(async move {
            let _ = receiver.wait_for(|begun| *begun).await;
        });
        stopping.begin();
        waiting.await.unwrap();
        assert!(stopping.begun());
        // A waiter that comes after the stop began completes at once.
        stopping.begins().await;
    }
}
