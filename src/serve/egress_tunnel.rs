//! What a `CONNECT` tunnel of the egress proxy carries, told from the client's first bytes: a
//! TLS ClientHello (ended with a leaf of the proxy's CA), a plain HTTP request (forwarded as the
//! proxy forwards plain HTTP), or anything else, joined byte for byte to the destination.
//!
//! The bytes read to decide are replayed ahead of the rest ([`Replayed`]), so no protocol loses
//! any. A client that waits for the server to speak first (SSH, SMTP, most databases) sends
//! nothing; after [`FIRST_BYTES_WAIT`] its tunnel is opaque. An opaque tunnel is never looked
//! into: no substitution, so a placeholder sent through it reaches the destination as it is.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, ReadBuf};

/// How long a tunnel waits for its client's first bytes before taking it for a protocol whose
/// server speaks first. A TLS or HTTP client sends at once, but one starved of CPU on a busy
/// machine may not within a few hundred milliseconds, and taking its tunnel for opaque would
/// silently skip substitution; a server-first protocol's banner arrives this much later.
pub(crate) const FIRST_BYTES_WAIT: Duration = Duration::from_secs(1);

/// Enough bytes to tell a ClientHello (two) or a request's method (`OPTIONS `, eight).
const DECIDING_BYTES: usize = 8;

/// HTTP/1.1 methods, each with the space that ends it (RFC 9110 9.3, RFC 5789).
const METHODS: [&[u8]; 9] = [
    b"GET ",
    b"HEAD ",
    b"POST ",
    b"PUT ",
    b"DELETE ",
    b"OPTIONS ",
    b"PATCH ",
    b"TRACE ",
    b"CONNECT ",
];

/// What a tunnel carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Carried {
    Tls,
    Http,
    Opaque,
}

/// What `first` (the bytes read so far) shows, or `None` when more bytes could still tell.
fn classify(first: &[u8]) -> Option<Carried> {
    // A TLS record of type handshake (22), protocol major version 3 (SSL 3.0 to TLS 1.3).
    let tls: &[u8] = &[0x16, 0x03];
    let prefix = |whole: &[u8]| {
        let n = first.len().min(whole.len());
        first[..n] == whole[..n]
    };
    if first.len() >= tls.len() && first.starts_with(tls) {
        return Some(Carried::Tls);
    }
    if METHODS.iter().any(|method| first.starts_with(method)) {
        return Some(Carried::Http);
    }
    let undecided = prefix(tls) || METHODS.iter().any(|method| prefix(method));
    (!undecided || first.len() >= DECIDING_BYTES).then_some(Carried::Opaque)
}

/// Reads the client's first bytes (at most [`FIRST_BYTES_WAIT`] for them) and says what the
/// tunnel carries; the bytes read come back inside the returned stream.
pub(crate) async fn sniff<S: AsyncRead + Unpin>(mut client: S) -> (Carried, Replayed<S>) {
    let mut first = Vec::with_capacity(DECIDING_BYTES);
    let deadline = tokio::time::Instant::now() + FIRST_BYTES_WAIT;
    let carried = loop {
        let mut chunk = [0u8; DECIDING_BYTES];
        let wanted = DECIDING_BYTES - first.len();
        match tokio::time::timeout_at(deadline, client.read(&mut chunk[..wanted])).await {
            Ok(Ok(read)) if read > 0 => {
                first.extend_from_slice(&chunk[..read]);
                if let Some(carried) = classify(&first) {
                    break carried;
                }
            }
            // Closed, failed, or silent: nothing more will tell.
            _ => break Carried::Opaque,
        }
    };
    (
        carried,
        Replayed {
            first,
            offset: 0,
            inner: client,
        },
    )
}

/// A stream that yields `first` before reading on from `inner`; writes go to `inner`.
pub(crate) struct Replayed<S> {
    first: Vec<u8>,
    offset: usize,
    inner: S,
}

impl<S: AsyncRead + Unpin> AsyncRead for Replayed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if this.offset < this.first.len() {
            let rest = &this.first[this.offset..];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            this.offset += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(context, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Replayed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(context, buf)
    }

    fn poll_flush(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(context)
    }

    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(context)
    }
}

/// Joins `client` to `upstream` until either side closes.
pub(crate) async fn join<S: AsyncRead + AsyncWrite + Unpin>(
    mut client: S,
    mut upstream: tokio::net::TcpStream,
) {
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt as _;

    #[test]
    fn first_bytes_tell_tls_from_http_from_anything_else() {
        assert_eq!(classify(&[0x16, 0x03, 0x01]), Some(Carried::Tls));
        assert_eq!(classify(&[0x16]), None, "one byte of a record header");
        assert_eq!(classify(b"GET / HTTP/1.1\r\n"), Some(Carried::Http));
        assert_eq!(classify(b"OPTIO"), None);
        assert_eq!(classify(b"OPTIONS "), Some(Carried::Http));
        assert_eq!(classify(b"GETX"), Some(Carried::Opaque));
        assert_eq!(classify(b"SSH-2.0-"), Some(Carried::Opaque));
        assert_eq!(classify(b"PRI * HTTP/2.0"), Some(Carried::Opaque));
        assert_eq!(classify(&[0x16, 0x01]), Some(Carried::Opaque));
        assert_eq!(classify(b"\0\0\0\x08"), Some(Carried::Opaque));
    }

    #[tokio::test]
    async fn the_bytes_read_to_decide_are_replayed_and_a_silent_client_is_opaque() {
        let (mut sandbox, proxy) = tokio::io::duplex(64);
        sandbox.write_all(b"POST /x HTTP/1.1\r\n").await.unwrap();
        let (carried, mut replayed) = sniff(proxy).await;
        assert_eq!(carried, Carried::Http);
        let mut line = [0u8; 18];
        replayed.read_exact(&mut line).await.unwrap();
        assert_eq!(&line, b"POST /x HTTP/1.1\r\n");

        let (_quiet, proxy) = tokio::io::duplex(64);
        let (carried, _) = sniff(proxy).await;
        assert_eq!(carried, Carried::Opaque);
    }
}
