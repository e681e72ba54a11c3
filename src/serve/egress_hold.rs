//! How the egress proxy holds the connections it keeps open for a sandbox (opaque `CONNECT`
//! tunnels, tunnels and redirected connections whose requests it forwards, answers still
//! streaming, joined WebSockets) to the sandbox's network settings: each waits on the sandbox's
//! [`Changes`] beside its work, and when they change it asks the sandbox's route again whether
//! its destination is still admitted; one that is not is closed at once (both sides see the
//! connection end), one that is goes on. When the sandbox stops or is deleted, every one of its
//! connections is closed, admitted or not.
//!
//! A request is routed by the settings of its moment (`egress_route`); this file only ends what
//! those settings no longer admit. It decides nothing itself.

use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::body::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::sync::watch;

use super::egress_route::Route;
use super::state::AppState;

/// Each sandbox's change count, by sandbox id: bumped when its network settings may have
/// changed, and dropped (which every waiting connection sees) when it stops or goes. The `std`
/// mutex is never held across an await.
#[derive(Default)]
pub(crate) struct Changes {
    senders: Mutex<HashMap<String, watch::Sender<u64>>>,
}

impl Changes {
    fn senders(&self) -> std::sync::MutexGuard<'_, HashMap<String, watch::Sender<u64>>> {
        self.senders
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// What a connection of sandbox `id` waits on. Taken before the sandbox's settings are read,
    /// so that a change made after the reading is seen.
    pub(crate) fn watch(&self, id: &str) -> watch::Receiver<u64> {
        self.senders()
            .entry(id.to_string())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    /// Sandbox `id`'s network settings may have changed: its open connections check theirs.
    pub(crate) fn changed(&self, id: &str) {
        if let Some(sender) = self.senders().get(id) {
            sender.send_modify(|count| *count += 1);
        }
    }

    /// Sandbox `id` stopped or went: its open connections are closed.
    pub(crate) fn ended(&self, id: &str) {
        self.senders().remove(id);
    }
}

/// One open connection of `sandbox` to `host`, and what it waits on.
pub(crate) struct Held {
    pub(crate) state: Arc<AppState>,
    pub(crate) sandbox: String,
    pub(crate) changes: watch::Receiver<u64>,
    pub(crate) host: String,
    /// The address it went to, when the proxy connected there itself (or named it to an
    /// outbound proxy): then that address must stay admitted, not only the name.
    pub(crate) at: Option<IpAddr>,
}

impl Held {
    /// Completes when the connection is no longer admitted: the sandbox's settings changed and
    /// do not admit it, or the sandbox stopped or went.
    pub(crate) async fn refused(mut self) {
        loop {
            if self.changes.changed().await.is_err() {
                return;
            }
            let route = Route::now(&self.state, &self.sandbox);
            if !route.still_admits(&self.host, self.at).await {
                return;
            }
        }
    }

    /// Runs `work` (the connection's copying or serving) until it ends, or until the connection
    /// is no longer admitted: `None` then, and `work` is dropped, closing what it held.
    pub(crate) async fn run<T>(self, work: impl Future<Output = T>) -> Option<T> {
        tokio::select! {
            done = work => Some(done),
            () = self.refused() => None,
        }
    }

    /// `body` (an answer streaming to the sandbox), ended with an error when the connection is
    /// no longer admitted: the sandbox sees its answer cut off, not complete.
    pub(crate) fn body<B>(self, body: B) -> axum::body::Body
    where
        B: Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<axum::BoxError>,
    {
        axum::body::Body::new(HeldBody {
            body,
            refused: Some(Box::pin(self.refused())),
        })
    }
}

/// A body that ends with an error once `refused` completes (`None` after that: the error was
/// given, and the body ends).
struct HeldBody<B> {
    body: B,
    refused: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl<B> Body for HeldBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::BoxError>>> {
        let Some(refused) = self.refused.as_mut() else {
            return Poll::Ready(None);
        };
        if refused.as_mut().poll(context).is_ready() {
            self.refused = None;
            return Poll::Ready(Some(Err(
                "the sandbox's network settings no longer admit this destination".into(),
            )));
        }
        Pin::new(&mut self.body)
            .poll_frame(context)
            .map(|frame| frame.map(|frame| frame.map_err(Into::into)))
    }

    fn is_end_stream(&self) -> bool {
        self.refused.is_none() || self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_connection_hears_of_a_change_and_of_its_sandbox_ending() {
        let changes = Changes::default();
        let mut first = changes.watch("a");
        let mut other = changes.watch("b");
        changes.changed("a");
        assert!(first.has_changed().unwrap());
        assert!(!other.has_changed().unwrap());
        first.mark_unchanged();
        changes.ended("a");
        assert!(
            first.changed().await.is_err(),
            "an ended sandbox's wait ends"
        );
        // A sandbox started again is waited on afresh; another is untouched.
        let again = changes.watch("a");
        assert!(!again.has_changed().unwrap());
        changes.changed("b");
        assert!(other.changed().await.is_ok());
    }
}
