//! Preview connections to a sandbox with a network of its own (see `network`): its servers
//! listen on its own loopback, which this machine's programs cannot reach.
//!
//! A socket belongs to the network namespace it was made in, wherever it is used after. So
//! each connection is made by a child process that enters the user namespace owning the
//! sandbox's network (which root, or the ordinary user who started the sandbox, may: it is
//! theirs), then that network, connects there and hands the socket back over a socket pair;
//! `serve`'s preview proxy speaks HTTP over it. No port is opened on this machine for it, so
//! nothing but the token-checked preview reaches in. The child is forked from a threaded
//! process, so it makes system calls only, then exits. This file makes connections; it decides
//! nothing about who may connect.

use std::io;
use std::mem::MaybeUninit;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6, TcpStream};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::net::addr::SocketAddrArg;
use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, SocketFlags, SocketType, recvmsg, sendmsg, socketpair,
};
use rustix::thread::LinkNameSpaceType;

/// A connection to TCP `port` on the loopback of the network of process `init` (a sandbox's
/// init); `None` when nothing listens there.
pub(super) fn connect(init: u32, port: u16) -> io::Result<Option<TcpStream>> {
    if !listens(init, port) {
        return Ok(None);
    }
    let network = rustix::fs::open(
        Path::new("/proc").join(init.to_string()).join("ns/net"),
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?;
    let owner = super::join::owner_of(&network)?;
    connect_inside(&Namespaces { owner, network }, port).map(Some)
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

/// A sandbox's network namespace and the user namespace that owns it.
struct Namespaces {
    owner: OwnedFd,
    network: OwnedFd,
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
