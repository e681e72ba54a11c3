//! A revocation ends an SSH session even when its client does not cooperate: an OpenSSH client
//! frozen with SIGSTOP before its token is revoked reads nothing, neither the disconnect nor
//! anything after it, so only `serve` can end the connection. It must drop it on its own (after
//! the 5 s it gives a client to close), which closes the TCP connection (seen in this machine's
//! socket table while the client is still frozen) and ends what the session ran in the sandbox.

use std::time::Duration;

use crate::serve_revoke::{Echoing, revoke};
use crate::serve_ssh::{DEADLINE, have_ssh, start as start_gateway};
use crate::serve_web_terminal::until;

/// One row of this machine's IPv4 and IPv6 TCP tables: local and remote port, and the inode
/// of the socket's file (0 once no process holds it).
struct Row {
    local: u16,
    remote: u16,
    inode: String,
}

fn tcp_table() -> Vec<Row> {
    let port = |address: &str| {
        let hex = address.rsplit(':').next().unwrap_or_default();
        u16::from_str_radix(hex, 16).unwrap_or_default()
    };
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .flat_map(|table| {
            let text = std::fs::read_to_string(table).unwrap_or_default();
            text.lines()
                .skip(1)
                .filter_map(|line| {
                    let fields: Vec<&str> = line.split_whitespace().collect();
                    Some(Row {
                        local: port(fields.get(1)?),
                        remote: port(fields.get(2)?),
                        inode: (*fields.get(9)?).to_string(),
                    })
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The local port of the connection process `pid` holds to `port`.
fn client_port(pid: u32, port: u16) -> u16 {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter_map(|target| {
            let target = target.to_string_lossy().into_owned();
            Some(
                target
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .to_string(),
            )
        })
        .collect();
    tcp_table()
        .into_iter()
        .find(|row| row.remote == port && inodes.contains(&row.inode))
        .map(|row| row.local)
        .expect("the client's connection to the gateway is in the socket table")
}

/// Whether a process (`serve`) still holds its end of the gateway's connection to the client
/// at `client`: a socket that has sent its FIN stays in the table after it is closed, for the
/// kernel to finish with, but no longer belongs to a file (inode 0).
fn held(gateway: u16, client: u16) -> bool {
    tcp_table()
        .iter()
        .any(|row| row.local == gateway && row.remote == client && row.inode != "0")
}

fn signal(pid: u32, signal: rustix::process::Signal) {
    let pid = rustix::process::Pid::from_raw(pid as i32).unwrap();
    rustix::process::kill_process(pid, signal).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_frozen_ssh_client_whose_token_is_revoked_is_dropped_and_its_command_ends() {
    if !have_ssh() {
        return;
    }
    let gateway = start_gateway(None).await;
    let id = gateway.sandbox().await;
    let token = gateway.token(&id).await;
    let mut session = Echoing::open(&gateway, &token).await;
    assert!(session.answers("before").await);
    let pid = session.child.id().expect("ssh runs");
    let port = client_port(pid, gateway.ssh_port);
    assert!(held(gateway.ssh_port, port), "serve holds its end");

    signal(pid, rustix::process::Signal::STOP);
    revoke(&gateway, &id, &format!("?token={token}")).await;
    // Bounded well above the 5 s a client is given to close.
    until("serve closes the frozen client's connection", || {
        !held(gateway.ssh_port, port)
    })
    .await;
    until("the session's command ends in the sandbox", || {
        session.sleeping() == 0
    })
    .await;

    signal(pid, rustix::process::Signal::CONT);
    let status = tokio::time::timeout(DEADLINE, session.child.wait())
        .await
        .expect("ssh exits once it runs again")
        .unwrap();
    assert!(!status.success());
    // The token is gone: no new session.
    assert_ne!(gateway.exec(&token, "true", b"").await.code, 0);
    tokio::time::timeout(Duration::from_secs(60), gateway.shutdown())
        .await
        .expect("the server stops");
}
