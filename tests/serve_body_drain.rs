//! A connection stays usable after a route answers without reading the request's body: the
//! client that sends the body after the headers (as urllib3 does on a pooled connection) gets
//! the answer to its next request on the same connection, instead of a connection closed
//! without an answer. A body too large to be worth reading to its end still closes the
//! connection. Raw TCP on loopback, so that the order of headers, answer and body is the test's.

use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::serve_support::{self, KEY};

/// Reads one HTTP/1.1 response with a `content-length` from `stream` and returns its status
/// line and body; `None` when the connection ends first.
async fn read_response(stream: &mut TcpStream) -> Option<(String, String)> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
            let length = head
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .expect("a content-length");
            if buffer.len() >= end + 4 + length {
                let body = String::from_utf8_lossy(&buffer[end + 4..end + 4 + length]);
                let status = head.lines().next().unwrap_or_default().to_string();
                return Some((status, body.into_owned()));
            }
        }
        match tokio::time::timeout(Duration::from_secs(30), stream.read(&mut chunk)).await {
            Ok(Ok(0) | Err(_)) => return None,
            Ok(Ok(read)) => buffer.extend_from_slice(&chunk[..read]),
            Err(_) => panic!("no answer in 30 s: {}", String::from_utf8_lossy(&buffer)),
        }
    }
}

/// The headers of a `POST` to a route that never reads its body (starting a sandbox), with a
/// body of `length` bytes announced.
fn start_headers(length: usize) -> String {
    format!(
        "POST /api/sandbox/no-such-sandbox/start HTTP/1.1\r\nHost: localhost\r\n\
         Authorization: Bearer {KEY}\r\nContent-Type: application/json\r\n\
         Content-Length: {length}\r\n\r\n"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_sent_after_the_answer_leaves_the_connection_usable() {
    let server = serve_support::start("").await;
    let address = server.base.trim_start_matches("http://").to_string();
    let mut stream = TcpStream::connect(&address).await.unwrap();
    for round in 0..3 {
        stream.write_all(start_headers(2).as_bytes()).await.unwrap();
        let (status, body) = read_response(&mut stream)
            .await
            .unwrap_or_else(|| panic!("round {round}: the start is answered"));
        assert!(status.contains(" 404 "), "{status} {body}");
        // Only now the body, as a client that sends it after the headers may.
        let written = async {
            stream.write_all(b"{}").await?;
            stream
                .write_all(b"GET /api/health HTTP/1.1\r\nHost: localhost\r\n\r\n")
                .await
        };
        let answer = match written.await {
            Ok(()) => read_response(&mut stream).await,
            Err(_) => None,
        };
        let (status, body) = answer.unwrap_or_else(|| {
            panic!("round {round}: the connection closed instead of answering the next request")
        });
        assert!(status.contains(" 200 "), "{status} {body}");
        assert!(body.contains("ok"), "{body}");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_large_unread_body_closes_the_connection() {
    let server = serve_support::start("").await;
    let address = server.base.trim_start_matches("http://").to_string();
    let mut stream = TcpStream::connect(&address).await.unwrap();
    let length = 16 << 20;
    stream
        .write_all(start_headers(length).as_bytes())
        .await
        .unwrap();
    let (status, _) = read_response(&mut stream).await.expect("answered");
    assert!(status.contains(" 404 "), "{status}");
    // The server stops reading somewhere in the body; a write may then fail, which is fine.
    let chunk = vec![b' '; 1 << 16];
    let mut sent = 0;
    while sent < length {
        if stream.write_all(&chunk).await.is_err() {
            break;
        }
        sent += chunk.len();
    }
    let _ = stream
        .write_all(b"GET /api/health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await;
    assert_eq!(
        read_response(&mut stream).await,
        None,
        "a body this large is not read to its end for a route that ignores it"
    );
    server.shutdown().await;
}
