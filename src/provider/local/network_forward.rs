//! Preview ports of a sandbox with a network of its own (see `network`): its servers listen on
//! its own loopback, which this machine's programs cannot reach. For each such port asked for,
//! a forwarder listens on an ephemeral port of this machine's loopback and carries each
//! connection into the sandbox's network: a thread of its own enters that namespace, connects
//! there, and relays both ways. `serve`'s preview proxy then connects to the forwarder as it
//! connects to a shared sandbox's port.
//!
//! Entering a network namespace needs `CAP_SYS_ADMIN` in this process's own user namespace:
//! only root has it (an ordinary user's `serve` answers that previews need root). A forwarder
//! is bound to one init: once that init is gone its connections fail, and a later init gets a
//! forwarder of its own. This file relays bytes; it decides nothing about who may connect.

use std::collections::HashMap;
use std::io;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use rustix::thread::LinkNameSpaceType;

/// The forwarders made so far: (sandbox id, port) to (the init they enter, their own port).
#[derive(Debug, Default)]
pub(crate) struct Forwarders(Mutex<HashMap<(String, u16), (u32, u16)>>);

impl Forwarders {
    /// This machine's loopback port that reaches `port` in the network of the sandbox `id`,
    /// whose init is `init`; `None` when nothing listens there.
    pub(super) fn port(&self, id: &str, init: u32, port: u16) -> io::Result<Option<u16>> {
        if !listens(init, port) {
            return Ok(None);
        }
        let mut all = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (id.to_string(), port);
        if let Some((entered, local)) = all.get(&key)
            && *entered == init
        {
            return Ok(Some(*local));
        }
        if !rustix::process::geteuid().is_root() {
            return Err(io::Error::other(
                "previews of a sandbox with a network of its own need `serve` to run as root, which alone may enter the sandbox's network",
            ));
        }
        let local = start(init, port)?;
        all.insert(key, (init, local));
        Ok(Some(local))
    }
}

/// Whether something listens on TCP `port` in the network namespace of process `pid`.
fn listens(pid: u32, port: u16) -> bool {
    let wanted = format!(":{port:04X}");
    ["tcp", "tcp6"].iter().any(|table| {
        std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).is_ok_and(|text| {
            text.lines().skip(1).any(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                // `sl local_address rem_address st`: 0A is LISTEN.
                fields.len() > 3 && fields[1].ends_with(&wanted) && fields[3] == "0A"
            })
        })
    })
}

/// Starts a forwarder to `port` in the network of process `init`; returns its own port.
fn start(init: u32, port: u16) -> io::Result<u16> {
    let namespace = Arc::new(rustix::fs::open(
        Path::new("/proc").join(init.to_string()).join("ns/net"),
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?);
    let listener = TcpListener::bind(("127.0.0.1", 0))?;
    let local = listener.local_addr()?.port();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let namespace = namespace.clone();
            std::thread::spawn(move || relay(client, &namespace, port));
        }
    });
    Ok(local)
}

/// Connects to `port` inside `namespace` (this thread enters it for good) and relays `client`.
fn relay(client: TcpStream, namespace: &OwnedFd, port: u16) {
    if rustix::thread::move_into_link_name_space(
        namespace.as_fd(),
        Some(LinkNameSpaceType::Network),
    )
    .is_err()
    {
        return;
    }
    let Ok(upstream) =
        TcpStream::connect(("127.0.0.1", port)).or_else(|_| TcpStream::connect(("::1", port)))
    else {
        return;
    };
    let (Ok(mut client_reader), Ok(mut upstream_writer)) =
        (client.try_clone(), upstream.try_clone())
    else {
        return;
    };
    let upward = std::thread::spawn(move || {
        let _ = io::copy(&mut client_reader, &mut upstream_writer);
        let _ = upstream_writer.shutdown(Shutdown::Write);
    });
    let (mut upstream_reader, mut client_writer) = (upstream, client);
    let _ = io::copy(&mut upstream_reader, &mut client_writer);
    let _ = client_writer.shutdown(Shutdown::Write);
    let _ = upward.join();
}
