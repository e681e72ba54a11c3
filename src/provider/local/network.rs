//! A sandbox's network of its own (Daytona's `networkBlockAll` and `networkAllowList`): its init
//! holds a network namespace of its own (see `init`), which every command of the sandbox joins,
//! and this file connects that namespace to this machine's network and filters what leaves it.
//!
//! - The connection is `slirp4netns`, a user-mode network stack: the sandbox sees an interface
//!   `tap0` (10.0.2.100), a gateway 10.0.2.2 that is this machine's loopback, and a name server
//!   10.0.2.3 that asks this machine's. It runs as the invoking user (as root, since only root
//!   may open `/dev/net/tun`, then confined by its own sandbox: an empty root, no capabilities)
//!   under its seccomp filter, and holds the read end of a pipe whose write end only the init
//!   holds (the tether), so that it ends with the init.
//! - The filter is an nftables table in the sandbox's namespace, written by `nft` with the
//!   network capability of the user namespace that owns it, which no command of the sandbox has
//!   (they run in a nested namespace, with an empty bounding set): the sandbox cannot lift it.
//!   Loopback always passes; then, as the sandbox's [`Network`] says, nothing more (blocked),
//!   the name server and the listed networks, or everything. What is refused is refused at once
//!   (a TCP reset, an ICMP error), not left to time out. A change replaces the table in one
//!   transaction, for running processes too.
//!
//! A blocked sandbox needs neither program: with no connection its namespace has only its
//! loopback. It is connected (for a later change) only where that works: where `slirp4netns`
//! is installed and may open `/dev/net/tun` (root's only on some machines), else it runs
//! unconnected, and a later change that would open it says why it cannot. This file decides no
//! policy; it carries out the [`Network`] it is given.

use std::fs::File;
use std::io::{self, PipeReader, PipeWriter, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use rustix::fs::{Mode, OFlags};
use rustix::thread::{CapabilitySet, LinkNameSpaceType};

use super::descriptors;
use crate::provider::Network;

/// Where the init holds the tether's write end.
pub(super) const TETHER_FD: i32 = 6;

/// The device `slirp4netns` connects a sandbox's network through.
const TAP: &str = "tap0";

/// The name server `slirp4netns` answers on, which a sandbox's `/etc/resolv.conf` names.
pub(super) const NAME_SERVER: &str = "10.0.2.3";

/// The programs a sandbox's network of its own needs beyond blocking.
const SLIRP: &str = "slirp4netns";
const NFT: &str = "nft";

/// What `slirp4netns` writes while it starts, read back when it fails.
const LOG: &str = "network.log";

/// The nftables table that holds a sandbox's filter.
const TABLE: &str = "inet ralph_town";

/// The pipe that ties a sandbox's `slirp4netns` to its init.
pub(super) struct Tether {
    reader: PipeReader,
    writer: PipeWriter,
}

impl Tether {
    pub(super) fn new() -> io::Result<Tether> {
        let (reader, writer) = io::pipe()?;
        Ok(Tether { reader, writer })
    }

    /// Hands the write end to the init's `command`, as [`TETHER_FD`].
    pub(super) fn pass(&self, command: &mut Command) {
        descriptors::pass_descriptors(command, [(self.writer.as_raw_fd(), TETHER_FD)]);
    }
}

/// Whether what a network of its own reaches can be carried out here: `Unsupported`'s words
/// when a program it needs is missing.
pub(crate) fn missing_programs(network: &Network) -> Option<String> {
    let needed: &[&str] = match network {
        Network::Blocked => &[],
        Network::Open | Network::Allowed(_) | Network::Proxied { .. } => &[SLIRP, NFT],
    };
    let missing: Vec<&str> = needed
        .iter()
        .copied()
        .filter(|program| find(program).is_none())
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "connecting a sandbox's own network needs `{}` (install the slirp4netns and nftables packages)",
            missing.join("`, `")
        )
    })
}

/// The record, in a sandbox's run directory, of what its network was last set to reach while
/// it ran: it wins over what the command starting an init read before the init's lock.
const LATEST: &str = "network.json";

/// What the network of the sandbox with this run directory was last set to reach, if it was.
pub(super) fn latest(run_dir: &Path) -> Option<Network> {
    let text = std::fs::read(run_dir.join(LATEST)).ok()?;
    serde_json::from_slice(&text).ok()
}

/// Sets what the network of a sandbox reaches: recorded in its run directory, and carried out
/// at once when its init `pid` runs. Call it holding the init's lock (`init::while_held`).
pub(super) fn change(
    run_dir: &Path,
    pid: Option<u32>,
    user: Option<u32>,
    network: &Network,
) -> io::Result<()> {
    // Unconnected (see `attach`), a running sandbox is blocked as it is, and can be nothing else.
    let connection = pid.map(connected);
    if connection == Some(false) && *network != Network::Blocked {
        return Err(io::Error::other(format!(
            "the sandbox started blocked, without a connection to this machine's network ({}): it takes this change only while stopped, and is connected when it starts again",
            missing_programs(&Network::Open).unwrap_or_else(|| {
                let said = std::fs::read_to_string(run_dir.join(LOG)).unwrap_or_default();
                format!("`{SLIRP}` could not connect it: {}", said.trim())
            })
        )));
    }
    let staged = run_dir.join(format!(".{LATEST}.new"));
    std::fs::write(&staged, serde_json::to_vec(network)?)?;
    std::fs::rename(&staged, run_dir.join(LATEST))?;
    match (pid, connection) {
        (Some(pid), Some(true)) => filter(pid, user, network),
        _ => Ok(()),
    }
}

/// Whether the network namespace of process `pid` has its connection (`slirp4netns`'s tap
/// device), as its own `/proc/<pid>/net/dev` lists.
fn connected(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/net/dev")).is_ok_and(|devices| {
        devices
            .lines()
            .any(|line| line.trim_start().starts_with(&format!("{TAP}:")))
    })
}

/// Connects and filters the network of the init `pid`, just started and not yet let live,
/// run as host id `user` where given (as root). `run_dir` holds the connection's log.
pub(super) fn attach(
    pid: u32,
    user: Option<u32>,
    network: &Network,
    tether: Tether,
    run_dir: &Path,
) -> io::Result<()> {
    let Tether { reader, writer } = tether;
    // Only the init holds the write end from here on.
    drop(writer);
    let connection = match missing_programs(&Network::Open) {
        None => connect(pid, reader, run_dir),
        Some(missing) => Err(io::Error::other(missing)),
    };
    match connection {
        Ok(()) => filter(pid, user, network),
        // Unconnected, the namespace has only its loopback: blocked as it is.
        Err(_) if *network == Network::Blocked => Ok(()),
        Err(error) => Err(error),
    }
}

/// Starts `slirp4netns` for the namespace of `pid` and waits until it has configured it.
fn connect(pid: u32, tether: PipeReader, run_dir: &Path) -> io::Result<()> {
    let owner = owner_of_network(pid)?;
    let (mut ready_reader, ready_writer) = io::pipe()?;
    let log_path = run_dir.join(LOG);
    let log = File::create(&log_path)?;
    let mut command = Command::new(program(SLIRP)?);
    command.args([
        "--configure",
        "--mtu=65520",
        "--enable-seccomp",
        "--exit-fd=3",
        "--ready-fd=4",
        // The namespace's owner: by default it would enter the init's own user namespace,
        // nested below the owner, where it holds no capability over the network.
        "--userns-path=/proc/self/fd/5",
    ]);
    // Its own empty root and no capabilities, as root; an ordinary user holds none to drop, and
    // the sandbox mode would need to be root in the namespace's owner, where that user is not.
    if rustix::process::geteuid().is_root() {
        command.arg("--enable-sandbox");
    }
    command
        .arg(pid.to_string())
        .arg(TAP)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    descriptors::close_inherited(&mut command);
    descriptors::pass_descriptors(
        &mut command,
        [
            (tether.as_raw_fd(), 3),
            (ready_writer.as_raw_fd(), 4),
            (owner.as_raw_fd(), 5),
        ],
    );
    // SAFETY: only the async-signal-safe setsid between fork and exec.
    unsafe {
        // Out of the starter's session: a ^C there must not end the sandbox's network.
        command.pre_exec(|| Ok(rustix::process::setsid().map(drop)?));
    }
    let mut child = spawn(&mut command, SLIRP)?;
    drop(command);
    drop((ready_writer, tether, owner));
    let ready = ready_reader.read_exact(&mut [0_u8; 1]).is_ok();
    // It runs on, reaped by whoever inherits it once this process is gone.
    std::thread::spawn(move || child.wait());
    if ready {
        return Ok(());
    }
    let said = std::fs::read_to_string(&log_path).unwrap_or_default();
    Err(io::Error::other(format!(
        "the sandbox's network did not start: {}",
        said.trim()
    )))
}

/// Replaces the filter of the network of the init `pid` with what `network` says, in one
/// transaction.
fn filter(pid: u32, user: Option<u32>, network: &Network) -> io::Result<()> {
    let owner = owner_of_network(pid)?;
    let namespace = open_namespace(pid, "net")?;
    let mut command = Command::new(program(NFT)?);
    command
        .args(["-f", "-"])
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    descriptors::close_inherited(&mut command);
    // SAFETY: system calls only, on descriptors opened before the fork.
    unsafe {
        command.pre_exec(move || {
            if let Some(id) = user {
                super::stage::become_user(id)?;
            }
            rustix::thread::move_into_link_name_space(
                owner.as_fd(),
                Some(LinkNameSpaceType::User),
            )?;
            rustix::thread::move_into_link_name_space(
                namespace.as_fd(),
                Some(LinkNameSpaceType::Network),
            )?;
            // Entering the owner gave every capability in it; `nft` keeps the one it needs
            // across exec, as an ambient capability.
            let mut sets = rustix::thread::capabilities(None)?;
            sets.inheritable |= CapabilitySet::NET_ADMIN;
            rustix::thread::set_capabilities(None, sets)?;
            rustix::thread::configure_capability_in_ambient_set(CapabilitySet::NET_ADMIN, true)?;
            Ok(())
        });
    }
    let mut child = spawn(&mut command, NFT)?;
    drop(command);
    let script = ruleset(network);
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(script.as_bytes())?;
    }
    let output = child.wait_with_output()?;
    if output.status.success() {
        return Ok(());
    }
    Err(io::Error::other(format!(
        "cannot filter the sandbox's network: {}",
        String::from_utf8_lossy(&output.stderr).trim()
    )))
}

/// The nftables script that makes the sandbox's filter what `network` says.
fn ruleset(network: &Network) -> String {
    let name_server =
        format!("        ip daddr {NAME_SERVER} meta l4proto {{ tcp, udp }} th dport 53 accept\n");
    let listed = |list: &crate::provider::AllowList| {
        let networks: Vec<String> = list.networks().iter().map(ToString::to_string).collect();
        format!("        ip daddr {{ {} }} accept\n", networks.join(", "))
    };
    let (allowed, redirect) = match network {
        Network::Open => ("        accept\n".to_string(), String::new()),
        Network::Blocked => (String::new(), String::new()),
        Network::Allowed(list) => (format!("{name_server}{}", listed(list)), String::new()),
        Network::Proxied { allowed, web } => {
            // A redirected packet keeps the interface it was routed to, with its new address.
            let proxy = format!(
                "        ip daddr 127.0.0.1 tcp dport {{ {}, {} }} accept\n",
                web.http, web.https
            );
            // What the allow list lets through goes there as the program chose, unredirected.
            let direct: String = allowed
                .iter()
                .flat_map(crate::provider::AllowList::networks)
                .map(|network| format!("        ip daddr {network} return\n"))
                .collect();
            let redirect = format!(
                "    chain web {{\n        type nat hook output priority -100;\n{direct}        ip daddr != 127.0.0.0/8 tcp dport 80 redirect to :{}\n        ip daddr != 127.0.0.0/8 tcp dport 443 redirect to :{}\n    }}\n",
                web.http, web.https
            );
            let networks = allowed.as_ref().map(listed).unwrap_or_default();
            (format!("{name_server}{proxy}{networks}"), redirect)
        }
    };
    // Adding before deleting makes the delete valid whether the table is there or not.
    format!(
        "add table {TABLE}\ndelete table {TABLE}\ntable {TABLE} {{\n    chain egress {{\n        type filter hook output priority 0; policy drop;\n        oifname \"lo\" accept\n{allowed}        meta l4proto tcp reject with tcp reset\n        reject with icmpx type admin-prohibited\n    }}\n{redirect}}}\n"
    )
}

/// Where `name` is on this machine's `PATH`, or in the system directories an ordinary user's
/// `PATH` leaves out (Debian's `nft` is `/usr/sbin/nft`).
fn find(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<std::path::PathBuf> = std::env::split_paths(&path).collect();
    dirs.extend(["/usr/sbin", "/sbin"].map(std::path::PathBuf::from));
    let dirs = std::env::join_paths(dirs).ok()?;
    which::which_in(name, Some(dirs), "/").ok()
}

fn program(name: &str) -> io::Result<std::path::PathBuf> {
    find(name).ok_or_else(|| io::Error::other(missing_programs(&Network::Open).unwrap_or_default()))
}

fn spawn(command: &mut Command, name: &str) -> io::Result<std::process::Child> {
    command
        .spawn()
        .map_err(|error| io::Error::new(error.kind(), format!("cannot start `{name}`: {error}")))
}

fn open_namespace(pid: u32, name: &str) -> io::Result<OwnedFd> {
    let path = Path::new("/proc")
        .join(pid.to_string())
        .join("ns")
        .join(name);
    Ok(rustix::fs::open(
        &path,
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// The user namespace that owns the network namespace of `pid`.
fn owner_of_network(pid: u32) -> io::Result<OwnedFd> {
    super::join::owner_of(&open_namespace(pid, "net")?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::AllowList;

    #[test]
    fn each_network_is_one_table_that_drops_what_it_does_not_allow() {
        let list = |text| AllowList::parse(text).unwrap().unwrap();
        let allowed = Network::Allowed(list("10.0.0.0/8,192.0.2.7/32"));
        let web = crate::provider::WebPorts {
            http: 8001,
            https: 8002,
        };
        let proxied = Network::Proxied { allowed: None, web };
        for network in [Network::Open, Network::Blocked, proxied.clone(), allowed] {
            let script = ruleset(&network);
            assert!(script.contains("policy drop;"), "{script}");
            assert!(script.contains("oifname \"lo\" accept"), "{script}");
            assert_eq!(script.matches("delete table").count(), 1, "{script}");
        }
        let blocked = ruleset(&Network::Blocked);
        assert!(!blocked.contains("daddr") && !blocked.contains("        accept"));
        let script = ruleset(&Network::Allowed(list("10.0.0.0/8")));
        assert!(
            script.contains("ip daddr { 10.0.0.0/8 } accept"),
            "{script}"
        );
        assert!(
            script.contains(&format!("ip daddr {NAME_SERVER} ")),
            "{script}"
        );
        let script = ruleset(&proxied);
        assert!(
            script.contains(&format!("ip daddr {NAME_SERVER} ")),
            "{script}"
        );
        assert!(
            script.contains("tcp dport 80 redirect to :8001"),
            "{script}"
        );
        assert!(
            script.contains("tcp dport 443 redirect to :8002"),
            "{script}"
        );
        assert!(script.contains("ip daddr 127.0.0.1 tcp dport { 8001, 8002 } accept"));
        let script = ruleset(&Network::Proxied {
            allowed: Some(list("10.0.0.0/8")),
            web,
        });
        assert!(
            script.contains("ip daddr { 10.0.0.0/8 } accept"),
            "{script}"
        );
        // The listed network's web traffic is not redirected: it returns before the redirect.
        let returned = script.find("ip daddr 10.0.0.0/8 return").expect(&script);
        assert!(returned < script.find("redirect to").unwrap(), "{script}");
        assert!(!ruleset(&Network::Blocked).contains("redirect"));
    }
}
