//! Sockets inside a sandbox's network of its own (see `network`), for this machine's programs,
//! which cannot reach its loopback: connections to its servers (previews), and a listening
//! socket on its loopback (`serve`'s egress proxy, reached from inside).
//!
//! A socket belongs to the network namespace it was made in, wherever it is used after. So
//! each socket is made by a child process that enters the user namespace owning the
//! sandbox's network (which root, or the ordinary user who started the sandbox, may: it is
//! theirs), then that network, makes the socket there and hands it back over a socket pair.
//! No port is opened on this machine for either, so nothing but the token-checked preview
//! reaches in, and only the sandbox reaches the listener. The child is forked from a threaded
//! process, so it makes system calls only, then exits. This file makes sockets; it decides
//! nothing about who may use them.

use std::io;
use std::mem::MaybeUninit;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6, TcpListener, TcpStream};
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
    inside(&Namespaces::of(init)?, port, connect_loopback).map(|socket| Some(socket.into()))
}

/// A socket listening on TCP `port` of the IPv4 loopback of the network of process `init` (a
/// sandbox's init), and that network's identity (see [`identity`]).
pub(super) fn listen(init: u32, port: u16) -> io::Result<(TcpListener, u64)> {
    let namespaces = Namespaces::of(init)?;
    let network = rustix::fs::fstat(&namespaces.network)?.st_ino;
    let listener = inside(&namespaces, port, listen_loopback)?;
    Ok((listener.into(), network))
}

/// What tells one network namespace from another while it lives: its inode. A namespace lives
/// on while a socket made in it is open, so a listener's identity is never given to another.
pub(super) fn identity(init: u32) -> io::Result<u64> {
    Ok(rustix::fs::fstat(&open_network(init)?)?.st_ino)
}

fn open_network(init: u32) -> io::Result<OwnedFd> {
    Ok(rustix::fs::open(
        Path::new("/proc").join(init.to_string()).join("ns/net"),
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?)
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

impl Namespaces {
    fn of(init: u32) -> io::Result<Namespaces> {
        let network = open_network(init)?;
        let owner = super::join::owner_of(&network)?;
        Ok(Namespaces { owner, network })
    }
}

/// The socket `make` makes for `port` in `namespaces`' network, made by a child that enters it
/// (see the top of this file). `make` runs in the forked child: system calls only.
fn inside(
    namespaces: &Namespaces,
    port: u16,
    make: fn(u16) -> io::Result<OwnedFd>,
) -> io::Result<OwnedFd> {
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
        let code = i32::from(enter_and_make(namespaces, port, make, &theirs).is_err());
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
    received
}

/// The child's part: enter the owner, then the network, make the socket, and send it.
fn enter_and_make(
    namespaces: &Namespaces,
    port: u16,
    make: fn(u16) -> io::Result<OwnedFd>,
    channel: &OwnedFd,
) -> io::Result<()> {
    rustix::thread::move_into_link_name_space(
        namespaces.owner.as_fd(),
        Some(LinkNameSpaceType::User),
    )?;
    rustix::thread::move_into_link_name_space(
        namespaces.network.as_fd(),
        Some(LinkNameSpaceType::Network),
    )?;
    let made = make(port)?;
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    let descriptors = [made.as_fd()];
    control.push(SendAncillaryMessage::ScmRights(&descriptors));
    sendmsg(
        channel,
        &[io::IoSlice::new(b"s")],
        &mut control,
        SendFlags::empty(),
    )?;
    Ok(())
}

/// A connection to `port` on the loopback, IPv4 else IPv6.
fn connect_loopback(port: u16) -> io::Result<OwnedFd> {
    connect_to(
        AddressFamily::INET,
        &SocketAddrV4::new(Ipv4Addr::LOCALHOST, port),
    )
    .or_else(|_| {
        connect_to(
            AddressFamily::INET6,
            &SocketAddrV6::new(Ipv6Addr::LOCALHOST, port, 0, 0),
        )
    })
}

/// A socket listening on `port` of the IPv4 loopback, non-blocking (for an async runtime).
fn listen_loopback(port: u16) -> io::Result<OwnedFd> {
    let socket = rustix::net::socket_with(
        AddressFamily::INET,
        SocketType::STREAM,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )?;
    // A listener of a former `serve` may leave connections in TIME_WAIT on the port.
    rustix::net::sockopt::set_socket_reuseaddr(&socket, true)?;
    rustix::net::bind(&socket, &SocketAddrV4::new(Ipv4Addr::LOCALHOST, port))?;
    rustix::net::listen(&socket, 128)?;
    Ok(socket)
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
            io::Error::other(
                "nothing listens there, the port is taken, or the sandbox's network could not be entered",
            )
        })
}
