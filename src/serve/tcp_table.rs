//! This machine's TCP sockets as the preview proxy needs them: those listening on a port, and
//! the server side of one connection, each with its owner's uid and its inode (how a process's
//! descriptors name it, `socket:[inode]`; 0 while no process has accepted a connection). From
//! the kernel's socket diagnostics ([`super::sock_diag`]) where they answer, else from
//! `/proc/net/tcp{,6}` (gVisor, a kernel without `tcp_diag`). It only reads; whom a socket
//! may be previewed for is its callers' to decide.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::OnceLock;

use super::sock_diag::{self, LISTEN};

/// One TCP socket of this machine. Addresses are canonical: an IPv6 socket's IPv4-mapped
/// address (`::ffff:127.0.0.1`) is the IPv4 address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TcpSocket {
    pub(super) local: SocketAddr,
    /// The peer; unspecified for a listener.
    pub(super) remote: SocketAddr,
    /// The kernel's state number (`TCP_ESTABLISHED` is 1, `TCP_SYN_RECV` 3, `TCP_LISTEN` 10).
    pub(super) state: u8,
    pub(super) uid: u32,
    /// 0 for a connection still in its listener's queue (or a closing one nobody holds).
    pub(super) inode: u64,
}

/// Where the tables are read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Source {
    /// The kernel's socket diagnostics, with `/proc` where a request fails.
    Diagnostics,
    /// `/proc/net/tcp{,6}` only.
    Proc,
}

impl Source {
    /// The kernel's socket diagnostics where they answer on this machine (asked once), unless
    /// `sock_diag` is off (`--simulate sock-diag=off`): a look at one connection then costs
    /// microseconds, where the `/proc` tables cost milliseconds.
    pub(super) fn pick(sock_diag: bool) -> Source {
        static ANSWERS: OnceLock<bool> = OnceLock::new();
        if sock_diag && *ANSWERS.get_or_init(|| sock_diag::listening(0).is_ok()) {
            Source::Diagnostics
        } else {
            Source::Proc
        }
    }
}

/// The sockets listening on `port`, at any address.
pub(super) fn listening(source: Source, port: u16) -> Vec<TcpSocket> {
    if source == Source::Diagnostics
        && let Ok(found) = sock_diag::listening(port)
    {
        return found;
    }
    from_proc(|socket| socket.state == LISTEN && socket.local.port() == port)
}

/// The socket whose address is `local` and whose peer is `remote`: the server side of a
/// connection made from `remote` to `local` on this machine, if it is there.
pub(super) fn connection(
    source: Source,
    local: SocketAddr,
    remote: SocketAddr,
) -> Option<TcpSocket> {
    let (local, remote) = (canonical(local), canonical(remote));
    if source == Source::Diagnostics
        && let Ok(found) = sock_diag::connection(local, remote)
    {
        return found;
    }
    from_proc(|socket| socket.local == local && socket.remote == remote)
        .into_iter()
        .next()
}

fn canonical(address: SocketAddr) -> SocketAddr {
    SocketAddr::new(address.ip().to_canonical(), address.port())
}

/// The sockets of `/proc/net/tcp{,6}` that `keep` keeps (a table that cannot be read has none).
fn from_proc(keep: impl Fn(&TcpSocket) -> bool) -> Vec<TcpSocket> {
    let mut found = Vec::new();
    for (file, v6) in [("/proc/net/tcp", false), ("/proc/net/tcp6", true)] {
        let Ok(table) = std::fs::read_to_string(file) else {
            continue;
        };
        found.extend(
            table
                .lines()
                .skip(1)
                .filter_map(|line| parse(line, v6))
                .filter(&keep),
        );
    }
    found
}

/// One line of `/proc/net/tcp{,6}`.
fn parse(line: &str, v6: bool) -> Option<TcpSocket> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    Some(TcpSocket {
        local: endpoint(fields.get(1)?, v6)?,
        remote: endpoint(fields.get(2)?, v6)?,
        state: u8::from_str_radix(fields.get(3)?, 16).ok()?,
        uid: fields.get(7)?.parse().ok()?,
        inode: fields.get(9)?.parse().ok()?,
    })
}

/// `ADDRESS:PORT` in hexadecimal; the address is printed as 32-bit words in this machine's
/// byte order, each holding four bytes of the address in network order.
fn endpoint(field: &str, v6: bool) -> Option<SocketAddr> {
    let (address, port) = field.split_once(':')?;
    let mut octets = Vec::with_capacity(16);
    for at in (0..address.len()).step_by(8) {
        let word = u32::from_str_radix(address.get(at..at + 8)?, 16).ok()?;
        octets.extend_from_slice(&word.to_ne_bytes());
    }
    let address = match (v6, octets.len()) {
        (false, 4) => IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(octets).ok()?)),
        (true, 16) => Ipv6Addr::from(<[u8; 16]>::try_from(octets).ok()?).to_canonical(),
        _ => return None,
    };
    Some(SocketAddr::new(
        address,
        u16::from_str_radix(port, 16).ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Write as _};
    use std::net::{TcpListener, TcpStream};

    use super::*;

    #[test]
    fn lines_of_the_proc_tables_are_read_with_their_addresses() {
        let v4 = "   1: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000 65520        0 12345 1 0000000000000000 100 0 0 10 0";
        let socket = parse(v4, false).expect("an IPv4 line");
        assert_eq!(socket.local, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(socket.remote, "127.0.0.1:54321".parse().unwrap());
        assert_eq!((socket.state, socket.uid, socket.inode), (1, 65520, 12345));
        let mapped = "   0: 0000000000000000FFFF00000100007F:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 7 1 0 100 0 0 10 0";
        let socket = parse(mapped, true).expect("an IPv6 line");
        assert_eq!(socket.local, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(socket.remote, "[::]:0".parse().unwrap());
        assert_eq!(socket.state, LISTEN);
        let loopback6 = "   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 7 1 0 100 0 0 10 0";
        let socket = parse(loopback6, true).expect("an IPv6 line");
        assert_eq!(socket.local, "[::1]:8080".parse().unwrap());
        assert_eq!(parse("  sl  local_address rem_address   st", false), None);
    }

    /// The inode of socket descriptor `descriptor` of this process.
    fn inode(descriptor: &impl std::os::fd::AsRawFd) -> u64 {
        let target = std::fs::read_link(format!("/proc/self/fd/{}", descriptor.as_raw_fd()));
        let target = target.unwrap().into_os_string().into_string().unwrap();
        target["socket:[".len()..target.len() - 1].parse().unwrap()
    }

    /// Both sources, the kernel's socket diagnostics and the `/proc` tables, find a listener and
    /// the server side of a connection to it, with inode 0 until it is accepted and the accepted
    /// socket's inode after.
    #[test]
    fn a_connection_has_no_inode_until_it_is_accepted() {
        assert_eq!(Source::pick(false), Source::Proc);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (client_side, server) = (client.local_addr().unwrap(), client.peer_addr().unwrap());
        let proc_connection = || {
            from_proc(|socket| socket.local == server && socket.remote == client_side)
                .into_iter()
                .next()
        };
        let listeners = from_proc(|socket| socket.state == LISTEN && socket.local.port() == port);
        assert_eq!(listeners.len(), 1, "{listeners:?}");
        assert_eq!(listeners[0].inode, inode(&listener));
        // Before the accept the kernel may still hold a half-made connection: inode 0 either way.
        assert_eq!(proc_connection().map(|socket| socket.inode), Some(0));
        if Source::pick(true) == Source::Diagnostics {
            assert_eq!(sock_diag::listening(port).unwrap(), listeners);
            let queued = sock_diag::connection(server, client_side).unwrap();
            assert_eq!(queued.map(|socket| socket.inode), Some(0));
        }
        let (mut accepted, _) = listener.accept().unwrap();
        let found =
            connection(Source::pick(true), server, client_side).expect("the accepted connection");
        assert_eq!(found.inode, inode(&accepted));
        assert_eq!(proc_connection(), Some(found.clone()));
        if Source::pick(true) == Source::Diagnostics {
            assert_eq!(
                sock_diag::connection(server, client_side).unwrap(),
                Some(found)
            );
        }
        // The client's own socket is not the server side.
        assert_eq!(
            connection(Source::pick(true), client_side, server).map(|s| s.inode),
            Some(inode(&client))
        );
        client.write_all(b"x").unwrap();
        let mut byte = [0u8];
        accepted.read_exact(&mut byte).unwrap();
    }

    /// An IPv6 listener on any address takes IPv4 connections too: its accepted socket is an
    /// IPv6 one with IPv4-mapped addresses, found by the IPv4 addresses the client sees.
    #[test]
    fn a_connection_to_an_ipv6_listener_over_ipv4_is_found_by_its_ipv4_addresses() {
        let Ok(listener) = TcpListener::bind("[::]:0") else {
            return;
        };
        let port = listener.local_addr().unwrap().port();
        let client = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (client_side, server) = (client.local_addr().unwrap(), client.peer_addr().unwrap());
        let (accepted, _) = listener.accept().unwrap();
        let found =
            connection(Source::pick(true), server, client_side).expect("the accepted connection");
        assert_eq!(found.inode, inode(&accepted));
        if Source::pick(true) == Source::Diagnostics {
            let diagnosed = sock_diag::connection(server, client_side).unwrap();
            assert_eq!(diagnosed.as_ref(), Some(&found));
        }
        let from_tables =
            from_proc(|socket| socket.local == server && socket.remote == client_side);
        assert_eq!(from_tables, vec![found]);
    }
}
