//! Who listens on a loopback port, from the kernel's tables (`/proc/net/tcp{,6}`): the sockets a
//! connection from the preview proxy would reach, the address to connect to, and whether the
//! sandboxes' host user owns them all. Which sandbox holds them is the provider's to say.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use axum::http::StatusCode;

/// The address of `port` on this machine's loopback and the inodes of the listening sockets a
/// connection there may reach when sandboxes' processes (host user `uid`) listen there, or why
/// not (the refusal's status and words).
pub(super) fn shared_port(
    port: u16,
    uid: u32,
    sandbox: &str,
) -> Result<(IpAddr, Vec<u64>), (StatusCode, String)> {
    match listener(port, uid) {
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
fn listener(port: u16, uid: u32) -> Listener {
    let mut found: Vec<(u8, IpAddr, u32, u64)> = Vec::new();
    for (file, v6) in [("/proc/net/tcp", false), ("/proc/net/tcp6", true)] {
        let Ok(table) = std::fs::read_to_string(file) else {
            continue;
        };
        found.extend(
            table
                .lines()
                .skip(1)
                .filter_map(|line| listening(line, v6, port)),
        );
    }
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

/// One line of `/proc/net/tcp{,6}`: a socket listening on `port` where a loopback client
/// reaches it, ranked, with the address to connect to, its owner's uid and its inode.
fn listening(line: &str, v6: bool, port: u16) -> Option<(u8, IpAddr, u32, u64)> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let (local, state, uid) = (fields.get(1)?, fields.get(3)?, fields.get(7)?);
    let socket = fields.get(9)?.parse().ok()?;
    if *state != "0A" {
        return None;
    }
    let (address, local_port) = local.split_once(':')?;
    if u16::from_str_radix(local_port, 16).ok()? != port {
        return None;
    }
    let uid = uid.parse().ok()?;
    let (rank, connect) = if v6 {
        match address {
            "00000000000000000000000000000000" => (2, IpAddr::V4(Ipv4Addr::LOCALHOST)),
            "00000000000000000000000001000000" => (3, IpAddr::V6(Ipv6Addr::LOCALHOST)),
            "0000000000000000FFFF00000100007F" => (0, IpAddr::V4(Ipv4Addr::LOCALHOST)),
            _ => return None,
        }
    } else {
        match address {
            "0100007F" => (0, IpAddr::V4(Ipv4Addr::LOCALHOST)),
            "00000000" => (1, IpAddr::V4(Ipv4Addr::LOCALHOST)),
            _ => return None,
        }
    };
    Some((rank, connect, uid, socket))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_sockets_are_read_from_the_kernel_table() {
        let v4 = "   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 65520        0 12345 1 0000000000000000 100 0 0 10 0";
        assert_eq!(
            listening(v4, false, 8080),
            Some((0, IpAddr::V4(Ipv4Addr::LOCALHOST), 65520, 12345))
        );
        assert_eq!(listening(v4, false, 8081), None);
        let established = v4.replace(" 0A ", " 01 ");
        assert_eq!(listening(&established, false, 8080), None);
        let any6 = "   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0";
        assert_eq!(
            listening(any6, true, 8080),
            Some((2, IpAddr::V4(Ipv4Addr::LOCALHOST), 0, 1))
        );
    }
}
