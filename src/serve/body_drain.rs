//! Every request's body is read to its end, whatever its handler does with it, so that the
//! connection can serve the client's next request.
//!
//! hyper answers a request whose body the handler left unread, then reads only what of the
//! body has already arrived and otherwise closes the connection. A client that reuses pooled
//! connections and sends the body after the headers (urllib3 in the Python SDK does) then meets
//! its next request on that connection closed without an answer. Many routes ignore a body
//! their clients send (`POST .../start` with `{}`), and so does every early error answer (a
//! missing key, a throttled or unknown route), so this is done once, for every request, here.
//!
//! The body is drained after the handler lets it go, not buffered before the handler runs:
//! streaming uploads stay streaming, no handler waits for a body it does not want, and a route
//! that reads its body costs nothing more. What is left is read in a task of its own, bounded
//! by [`UNREAD_LIMIT`] bytes and [`DRAIN_TIME`]: past either, the body is let go and hyper
//! closes the connection, which is right for a large upload nobody wants or a client that never
//! sends the body it announced.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Body, Bytes, Frame, Incoming, SizeHint};

/// The most of a body left unread that is still read (and thrown away) to keep the connection.
const UNREAD_LIMIT: usize = 1 << 20;

/// How long the rest of a body left unread may take to arrive.
const DRAIN_TIME: Duration = Duration::from_secs(30);

/// A request body that, when dropped before its end, reads the rest in the background.
pub(crate) struct DrainedBody {
    /// `None` only once dropped.
    inner: Option<Incoming>,
    /// Whether the end (or an error) was seen: a chunked body never says it by its hint.
    finished: bool,
}

impl DrainedBody {
    pub(crate) fn new(inner: Incoming) -> Self {
        Self {
            inner: Some(inner),
            finished: false,
        }
    }
}

impl Body for DrainedBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(inner).poll_frame(context);
        if matches!(polled, Poll::Ready(None | Some(Err(_)))) {
            this.finished = true;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.finished || self.inner.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}

impl Drop for DrainedBody {
    fn drop(&mut self) {
        let Some(inner) = self.inner.take() else {
            return;
        };
        if self.finished || inner.is_end_stream() || inner.size_hint().lower() > UNREAD_LIMIT as u64
        {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(drain(inner));
        }
    }
}

/// Reads `body` to its end, unless it holds more than [`UNREAD_LIMIT`] bytes or takes longer
/// than [`DRAIN_TIME`]; then dropping it makes hyper close the connection.
async fn drain(mut body: Incoming) {
    let read = async {
        let mut left = UNREAD_LIMIT;
        while let Some(frame) =
            std::future::poll_fn(|context| Pin::new(&mut body).poll_frame(context)).await
        {
            let Ok(frame) = frame else { return };
            let size = frame.data_ref().map_or(0, Bytes::len);
            let Some(rest) = left.checked_sub(size) else {
                return;
            };
            left = rest;
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, read).await;
}
