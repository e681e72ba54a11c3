//! Preview ports of a sandbox with a network of its own (see `network`): its servers listen on
//! its own loopback, which this machine's programs cannot reach. For each such port asked for,
//! a forwarder listens on an ephemeral port of this machine's loopback and carries each
//! connection into the sandbox's network, relaying both ways. `serve`'s preview proxy then
//! connects to the forwarder as it connects to a shared sandbox's port.
//!
//! A socket belongs to the network namespace it was made in, wherever it is used after. So
//! each connection is made by a child process that enters the user namespace owning the
//! sandbox's network (which root, or the ordinary user who started the sandbox, may: it is
//! theirs), then that network, connects there and hands the socket back over a socket pair.
//! The child is forked from a threaded process, so it makes system calls only, then exits.
//! A forwarder is bound to one init: once that init is gone its connections fail, and a later
//! init gets a forwarder of its own. This file relays bytes; it decides nothing about who may
//! connect.

use std::collections::HashMap;
use std::io;
use std::mem::MaybeUninit;
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddrV4, SocketAddrV6, TcpListener, TcpStream};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use rustix::net::addr::SocketAddrArg;
use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, SocketFlags, SocketType, recvmsg, sendmsg, socketpair,
};
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
    let network = rustix::fs::open(
        Path::new("/proc").join(init.to_string()).join("ns/net"),
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?;
    let owner = super::join::owner_of(&network)?;
    let namespaces = Arc::new(Namespaces { owner, network });
    let listener = TcpListener::bind(("127.0.0.1", 0))?;
    let local = listener.local_addr()?.port();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let namespaces = namespaces.clone();
            std::thread::spawn(move || relay(client, &namespaces, port));
        }
    });
    Ok(local)
}

/// A sandbox's network namespace and the user namespace that owns it.
struct Namespaces {
    owner: OwnedFd,
    network: OwnedFd,
}

/// Connects to `port` inside `namespaces` and relays `client` both ways until either closes.
fn relay(client: TcpStream, namespaces: &Namespaces, port: u16) {
    let Ok(upstream) = connect_inside(namespaces, port) else {
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

/// A connection to `port` on the loopback (IPv4, else IPv6) of `namespaces`' network, made by a
/// child that enters it (see the top of this file).
fn connect_inside(namespaces: &Namespaces, port: u16) -> io::Result<TcpStream> {
    let (ours, theirs) = socketpair(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )?;
    // SAFETY: between fork and `_exit` the child makes system calls only (no allocation, no
    // lock another thread may hold), on descriptors that stay open for that long.
    let child = unsafe { libc::fork() };
    if child < 0 {
        return Err(io::Error::last_os_error());
    }
    if child == 0 {
        let code = i32::from(enter_and_connect(namespaces, port, &theirs).is_err());
        // SAFETY: ends the child without running anything of the parent's (no destructors,
        // no exit handlers).
        unsafe { libc::_exit(code) };
    }
    drop(theirs);
    let received = receive_descriptor(&ours);
    // The child exits as soon as it has sent (or failed): reap it.
    let mut status = 0;
    // SAFETY: waits for the child forked above, which nothing else reaps.
    unsafe { libc::waitpid(child, &mut status, 0) };
    received.map(TcpStream::from)
}

/// The child's part: enter the owner, then the network, connect, and send the socket.
fn enter_and_connect(namespaces: &Namespaces, port: u16, channel: &OwnedFd) -> io::Result<()> {
    rustix::thread::move_into_link_name_space(
        namespaces.owner.as_fd(),
        Some(LinkNameSpaceType::User),
    )?;
    rustix::thread::move_into_link_name_space(
        namespaces.network.as_fd(),
        Some(LinkNameSpaceType::Network),
    )?;
    let connected = connect_to(
        AddressFamily::INET,
        &SocketAddrV4::new(Ipv4Addr::LOCALHOST, port),
    )
    .or_else(|_| {
        connect_to(
            AddressFamily::INET6,
            &SocketAddrV6::new(Ipv6Addr::LOCALHOST, port, 0, 0),
        )
    })?;
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    let descriptors = [connected.as_fd()];
    control.push(SendAncillaryMessage::ScmRights(&descriptors));
    sendmsg(
        channel,
        &[io::IoSlice::new(b"s")],
        &mut control,
        SendFlags::empty(),
    )?;
    Ok(())
}

fn connect_to(family: AddressFamily, address: &impl SocketAddrArg) -> io::Result<OwnedFd> {
    let socket = rustix::net::socket_with(family, SocketType::STREAM, SocketFlags::CLOEXEC, None)?;
    rustix::net::connect(&socket, address)?;
    Ok(socket)
}

/// The socket the child sent over `channel`; an error when it sent none (it failed).
fn receive_descriptor(channel: &OwnedFd) -> io::Result<OwnedFd> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut byte = [0u8; 1];
    recvmsg(
        channel,
        &mut [io::IoSliceMut::new(&mut byte)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )?;
    control
        .drain()
        .find_map(|message| match message {
            RecvAncillaryMessage::ScmRights(mut descriptors) => descriptors.next(),
            _ => None,
        })
        .ok_or_else(|| {
            io::Error::other("nothing listens there, or the sandbox's network could not be entered")
        })
}
