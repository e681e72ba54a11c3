//! Who listens on a loopback port and who took a connection made there, from the kernel's
//! socket tables ([`super::tcp_table`]): the sockets a connection from the preview proxy would
//! reach, the address to connect to and whether the sandboxes' host user owns them all; then,
//! once connected, the socket a process accepted the connection as. Which sandbox holds a
//! socket is the provider's to say.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use axum::http::StatusCode;

use super::tcp_table::{self, Source};

/// The address of `port` on this machine's loopback and the inodes of the listening sockets a
/// connection there may reach when sandboxes' processes (host user `uid`) listen there, or why
/// not (the refusal's status and words).
pub(super) fn shared_port(
    source: Source,
    port: u16,
    uid: u32,
    sandbox: &str,
) -> Result<(IpAddr, Vec<u64>), (StatusCode, String)> {
    match listener(source, port, uid) {
        Listener::Sandbox(address, sockets) => Ok((address, sockets)),
        Listener::Other => Err((
            StatusCode::FORBIDDEN,
            format!("port {port} is served by a process that is not a sandbox's"),
        )),
        Listener::None => Err((StatusCode::BAD_GATEWAY, nothing_listens(port, sandbox))),
    }
}

pub(super) fn nothing_listens(port: u16, sandbox: &str) -> String {
    format!("nothing listens on port {port} in sandbox `{sandbox}`")
}

/// Who listens on a loopback port.
#[derive(Debug, PartialEq, Eq)]
enum Listener {
    /// Sandboxes' processes, reachable at this address, and the inodes of the sockets a
    /// connection there may reach (more than one with `SO_REUSEPORT`).
    Sandbox(IpAddr, Vec<u64>),
    /// Some other user's.
    Other,
    None,
}

/// The listening sockets a connection to `port` on loopback reaches (IPv4 loopback first, then
/// any address, then IPv6: the kernel's most specific match; all of that rank, which several
/// sockets share with `SO_REUSEPORT`), and whether `uid` owns them all.
fn listener(source: Source, port: u16, uid: u32) -> Listener {
    let mut found: Vec<(u8, IpAddr, u32, u64)> = tcp_table::listening(source, port)
        .into_iter()
        .filter_map(|socket| {
            let (rank, connect) = reached(socket.local.ip())?;
            Some((rank, connect, socket.uid, socket.inode))
        })
        .collect();
    found.sort_by_key(|(rank, ..)| *rank);
    let Some(&(best, address, ..)) = found.first() else {
        return Listener::None;
    };
    let reached = found.iter().take_while(|(rank, ..)| *rank == best);
    if reached.clone().any(|(_, _, owner, _)| *owner != uid) {
        return Listener::Other;
    }
    Listener::Sandbox(address, reached.map(|(.., socket)| *socket).collect())
}

/// Whether a loopback client reaches a socket listening at `address`, ranked (lower first), and
/// the address to connect to.
fn reached(address: IpAddr) -> Option<(u8, IpAddr)> {
    let v4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
    match address {
        IpAddr::V4(Ipv4Addr::LOCALHOST) => Some((0, v4)),
        IpAddr::V4(Ipv4Addr::UNSPECIFIED) => Some((1, v4)),
        IpAddr::V6(Ipv6Addr::UNSPECIFIED) => Some((2, v4)),
        IpAddr::V6(Ipv6Addr::LOCALHOST) => Some((3, IpAddr::V6(Ipv6Addr::LOCALHOST))),
        _ => None,
    }
}

/// How long the server side of a connection may be missing from the kernel's tables before it
/// is taken as gone (reset): a connection the kernel completes late (with SYN cookies, once a
/// listener's queue is full) is there within this.
const SETUP_GRACE: Duration = Duration::from_secs(1);

/// The longest pause between two looks at a connection that is not accepted yet (five times
/// this where the kernel's tables are read from `/proc`).
const MOST_PAUSE: Duration = Duration::from_millis(100);

/// The inode of the server side of the connection the proxy made from `client` to `server`
/// (`port` of `sandbox`), once a process has accepted it (a connection waiting in a listener's
/// queue has no inode yet), or why not (the refusal's status and words). It waits `most` for
/// that (30 s unless `--simulate preview-accept-wait=` says otherwise): a server that answers
/// one request at a time leaves the next in its listener's queue until it is done with the one
/// before, and such a server busy with a slow answer should still be previewed.
pub(super) async fn accepted(
    source: Source,
    most: Duration,
    client: SocketAddr,
    server: SocketAddr,
    sandbox: &str,
) -> Result<u64, (StatusCode, String)> {
    let port = server.port();
    let started = Instant::now();
    let mut pause = Duration::from_millis(1);
    // Read from `/proc`, a look takes milliseconds of this machine's time: it is taken off the
    // runtime's threads, and taken less often, so that requests waiting on a server that does
    // not accept do not hold up the others.
    let cheap = source == Source::Diagnostics;
    let most_pause = if cheap { MOST_PAUSE } else { MOST_PAUSE * 5 };
    let look = move || tcp_table::connection(source, server, client);
    loop {
        let found = if cheap {
            look()
        } else {
            tokio::task::spawn_blocking(look).await.unwrap_or(None)
        };
        match found {
            Some(socket) if socket.inode != 0 => return Ok(socket.inode),
            Some(socket) if matches!(socket.state, ESTABLISHED | SYN_RECV) => {}
            None if started.elapsed() < SETUP_GRACE => {}
            _ => {
                return Err((
                    StatusCode::BAD_GATEWAY,
                    format!(
                        "port {port} in sandbox `{sandbox}` closed the connection without taking it"
                    ),
                ));
            }
        }
        if started.elapsed() >= most {
            return Err((
                StatusCode::BAD_GATEWAY,
                format!(
                    "port {port} in sandbox `{sandbox}` did not accept the connection within {}",
                    humantime::format_duration(most)
                ),
            ));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(most_pause);
    }
}

/// The kernel's `TCP_ESTABLISHED` and `TCP_SYN_RECV`: a connection on its way to be accepted.
const ESTABLISHED: u8 = 1;
const SYN_RECV: u8 = 3;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loopback_client_reaches_loopback_then_any_address_then_ipv6() {
        let v4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
        assert_eq!(reached(v4), Some((0, v4)));
        assert_eq!(reached(IpAddr::V4(Ipv4Addr::UNSPECIFIED)), Some((1, v4)));
        assert_eq!(reached(IpAddr::V6(Ipv6Addr::UNSPECIFIED)), Some((2, v4)));
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        assert_eq!(reached(v6), Some((3, v6)));
        assert_eq!(reached(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))), None);
    }
}
