//! This machine's TCP sockets as the kernel's socket diagnostics tell them over netlink
//! (`NETLINK_SOCK_DIAG`, what `ss` asks): the sockets listening on one port, and the server
//! side of one connection. `/proc/net/tcp` walks every bucket of the kernel's tables, which
//! takes milliseconds even when they are nearly empty; here a dump of listeners walks only the
//! listening table, and a connection is one hash lookup.
//!
//! It only reads, and only speaks the protocol: what a socket means to a preview is
//! [`super::tcp_table`]'s, which reads `/proc` where netlink is not offered.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::OwnedFd;

use rustix::net::netlink::{self, SocketAddrNetlink};
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};

use super::tcp_table::TcpSocket;

/// `SOCK_DIAG_BY_FAMILY`: the request and answer type.
const BY_FAMILY: u16 = 20;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_DUMP: u16 = 0x300;
/// The kernel's `TCP_LISTEN` state.
pub(super) const LISTEN: u8 = 10;
/// `sizeof(struct nlmsghdr)`.
const HEADER: usize = 16;
/// `sizeof(struct inet_diag_msg)`, the answer's fixed part.
const MESSAGE: usize = 72;
/// The request: a header and an `inet_diag_req_v2`.
const REQUEST: usize = HEADER + 56;

/// The sockets listening on `port`, IPv4 and IPv6 (the kernel picks them by port itself).
pub(super) fn listening(port: u16) -> io::Result<Vec<TcpSocket>> {
    let socket = open()?;
    let mut found = Vec::new();
    for family in [Family::V4, Family::V6] {
        let request = request(family, 1 << LISTEN, Some(port), None);
        found.extend(exchange(&socket, &request, true)?);
    }
    found.retain(|socket| socket.state == LISTEN && socket.local.port() == port);
    Ok(found)
}

/// The socket of this machine whose local address is `local` and whose peer is `remote` (the
/// server side of a connection made from `remote` to `local`), if there is one. Where no such
/// connection is, the kernel answers a listener on `local`'s port instead: that is no match.
pub(super) fn connection(local: SocketAddr, remote: SocketAddr) -> io::Result<Option<TcpSocket>> {
    let socket = open()?;
    let family = if local.is_ipv4() {
        Family::V4
    } else {
        Family::V6
    };
    let request = request(family, u32::MAX, None, Some((local, remote)));
    match exchange(&socket, &request, false) {
        Ok(found) => Ok(found
            .into_iter()
            .find(|socket| socket.local == local && socket.remote == remote)),
        Err(error) if error.raw_os_error() == Some(rustix::io::Errno::NOENT.raw_os_error()) => {
            Ok(None)
        }
        Err(error) => Err(error),
    }
}

#[derive(Clone, Copy)]
enum Family {
    V4,
    V6,
}

fn open() -> io::Result<OwnedFd> {
    let socket = rustix::net::socket_with(
        AddressFamily::NETLINK,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC,
        Some(netlink::SOCK_DIAG),
    )?;
    // Connected to the kernel: the socket then takes messages from the kernel only. Unconnected,
    // any process of this network namespace (a sandbox's, sharing it) could send it a forged
    // answer naming a socket of its choice.
    rustix::net::connect(&socket, &SocketAddrNetlink::new(0, 0))?;
    // The kernel answers at once; a bound keeps a surprise from holding a request forever.
    rustix::net::sockopt::set_socket_timeout(
        &socket,
        rustix::net::sockopt::Timeout::Recv,
        Some(std::time::Duration::from_secs(1)),
    )?;
    Ok(socket)
}

/// A `SOCK_DIAG_BY_FAMILY` request for TCP sockets of `family` in `states` (a bit per state):
/// a dump of those on local port `port`, or the one connection `exact` (local, remote).
fn request(
    family: Family,
    states: u32,
    port: Option<u16>,
    exact: Option<(SocketAddr, SocketAddr)>,
) -> [u8; REQUEST] {
    let mut bytes = [0u8; REQUEST];
    let flags = NLM_F_REQUEST | if exact.is_none() { NLM_F_DUMP } else { 0 };
    bytes[0..4].copy_from_slice(&(REQUEST as u32).to_ne_bytes());
    bytes[4..6].copy_from_slice(&BY_FAMILY.to_ne_bytes());
    bytes[6..8].copy_from_slice(&flags.to_ne_bytes());
    bytes[8..12].copy_from_slice(&1u32.to_ne_bytes());
    let body = &mut bytes[HEADER..];
    body[0] = match family {
        Family::V4 => libc::AF_INET as u8,
        Family::V6 => libc::AF_INET6 as u8,
    };
    body[1] = libc::IPPROTO_TCP as u8;
    body[4..8].copy_from_slice(&states.to_ne_bytes());
    // The socket id: ports in network order, then addresses, interface, cookie.
    let id = &mut body[8..];
    if let Some(port) = port {
        id[0..2].copy_from_slice(&port.to_be_bytes());
    }
    if let Some((local, remote)) = exact {
        id[0..2].copy_from_slice(&local.port().to_be_bytes());
        id[2..4].copy_from_slice(&remote.port().to_be_bytes());
        put_address(&mut id[4..20], local.ip());
        put_address(&mut id[20..36], remote.ip());
    }
    // No cookie: `INET_DIAG_NOCOOKIE`.
    id[40..48].fill(0xff);
    bytes
}

fn put_address(field: &mut [u8], address: IpAddr) {
    match address {
        IpAddr::V4(v4) => field[..4].copy_from_slice(&v4.octets()),
        IpAddr::V6(v6) => field.copy_from_slice(&v6.octets()),
    }
}

/// Sends `request` and reads the sockets answered, until the dump's end (`dump`) or the one
/// answer; a negative answer is the error it carries.
fn exchange(socket: &OwnedFd, request: &[u8], dump: bool) -> io::Result<Vec<TcpSocket>> {
    rustix::net::sendto(
        socket,
        request,
        SendFlags::empty(),
        &SocketAddrNetlink::new(0, 0),
    )?;
    let mut found = Vec::new();
    let mut buffer = vec![0u8; 32 << 10];
    loop {
        let (length, _) = rustix::net::recv(socket, &mut buffer[..], RecvFlags::empty())?;
        let mut rest = &buffer[..length];
        while rest.len() >= HEADER {
            let size = u32::from_ne_bytes(rest[0..4].try_into().unwrap_or_default()) as usize;
            let kind = u16::from_ne_bytes([rest[4], rest[5]]);
            if size < HEADER || size > rest.len() {
                return Err(io::Error::other("a malformed socket diagnostics answer"));
            }
            let body = &rest[HEADER..size];
            match kind {
                NLMSG_DONE | NLMSG_ERROR => {
                    let code = body.get(..4).map_or(0, |code| {
                        i32::from_ne_bytes(code.try_into().unwrap_or_default())
                    });
                    return if code < 0 {
                        Err(io::Error::from_raw_os_error(code.saturating_neg()))
                    } else {
                        Ok(found)
                    };
                }
                BY_FAMILY => found.extend(message(body)),
                _ => {}
            }
            rest = &rest[size.next_multiple_of(4).min(rest.len())..];
        }
        if !dump && !found.is_empty() {
            return Ok(found);
        }
    }
}

/// One `inet_diag_msg`.
fn message(body: &[u8]) -> Option<TcpSocket> {
    let body = body.get(..MESSAGE)?;
    let v6 = i32::from(body[0]) == libc::AF_INET6;
    let address = |field: &[u8]| -> IpAddr {
        if v6 {
            let octets: [u8; 16] = field.try_into().unwrap_or_default();
            Ipv6Addr::from(octets).to_canonical()
        } else {
            let octets: [u8; 4] = field[..4].try_into().unwrap_or_default();
            IpAddr::V4(Ipv4Addr::from(octets))
        }
    };
    let number = |at: usize| u32::from_ne_bytes(body[at..at + 4].try_into().unwrap_or_default());
    let id = &body[4..];
    Some(TcpSocket {
        local: SocketAddr::new(address(&id[4..20]), u16::from_be_bytes([id[0], id[1]])),
        remote: SocketAddr::new(address(&id[20..36]), u16::from_be_bytes([id[2], id[3]])),
        state: body[1],
        uid: number(64),
        inode: u64::from(number(68)),
    })
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use super::*;

    /// An answer that looks like the kernel's, sent by another socket of this machine, is not
    /// taken: a process sharing the network namespace must not name the sockets found.
    #[test]
    fn an_answer_from_another_process_is_not_heard() {
        let Ok(probe) = listening(0) else {
            return; // No socket diagnostics here: nothing to forge.
        };
        drop(probe);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let socket = open().unwrap();
        // Bound now (connected sockets already are) so that its port id is known.
        let _ = rustix::net::bind(&socket, &SocketAddrNetlink::new(0, 0));
        let own = rustix::net::getsockname(&socket).unwrap();
        let own = SocketAddrNetlink::try_from(own).unwrap();
        assert_ne!(own.pid(), 0);
        // A listener on the port, owned by uid 4242 with inode 4242, then the dump's end.
        let mut forged = vec![0u8; HEADER + MESSAGE + HEADER + 4];
        forged[0..4].copy_from_slice(&((HEADER + MESSAGE) as u32).to_ne_bytes());
        forged[4..6].copy_from_slice(&BY_FAMILY.to_ne_bytes());
        forged[8..12].copy_from_slice(&1u32.to_ne_bytes());
        let body = &mut forged[HEADER..HEADER + MESSAGE];
        body[0] = libc::AF_INET as u8;
        body[1] = LISTEN;
        body[4..6].copy_from_slice(&port.to_be_bytes());
        body[8..12].copy_from_slice(&[127, 0, 0, 1]);
        body[64..68].copy_from_slice(&4242u32.to_ne_bytes());
        body[68..72].copy_from_slice(&4242u32.to_ne_bytes());
        let done = &mut forged[HEADER + MESSAGE..];
        done[0..4].copy_from_slice(&((HEADER + 4) as u32).to_ne_bytes());
        done[4..6].copy_from_slice(&NLMSG_DONE.to_ne_bytes());
        let forger = rustix::net::socket_with(
            AddressFamily::NETLINK,
            SocketType::DGRAM,
            SocketFlags::CLOEXEC,
            Some(netlink::SOCK_DIAG),
        )
        .unwrap();
        // Refused once the socket is connected to the kernel; delivered (and queued ahead of
        // the kernel's answer) were it not.
        let _ = rustix::net::sendto(&forger, &forged, SendFlags::empty(), &own);
        let request = request(Family::V4, 1 << LISTEN, Some(port), None);
        let found = exchange(&socket, &request, true).unwrap();
        assert!(
            found.iter().all(|socket| socket.uid != 4242),
            "a forged answer was taken: {found:?}"
        );
        assert_eq!(found.len(), 1, "{found:?}");
    }
}
