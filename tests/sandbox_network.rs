//! A `local` sandbox with a network of its own (Daytona's `networkBlockAll`,
//! `networkAllowList`): its connection (`slirp4netns`) ends with its init, and a command never
//! runs in a sandbox whose filter is not in place, however its starter is killed.
//!
//! Needs bubblewrap, `slirp4netns` and `nft`: without them the tests skip and say why, and with
//! `CI=true` they fail. The only server reached is the test's own, on this machine's loopback.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use ralph_town::provider::local::{IsolationMode, LocalProvider};
use ralph_town::provider::{AllowList, CreateSandbox, Network, Provider as _};

use crate::common::{self, Run, World};
use crate::sandbox_processes::restart_and_kill_a_run;

/// How long a condition polled from the host may take (a guard, not a timing assertion).
const PATIENCE: Duration = Duration::from_secs(40);

/// This machine's loopback, as a sandbox with a network of its own reaches it.
const GATEWAY: &str = "10.0.2.2";

fn prerequisites() -> bool {
    ["bwrap", "slirp4netns", "nft"]
        .into_iter()
        .all(common::have)
}

/// The `slirp4netns` processes of this machine, each with the pid it connects.
fn connections() -> Vec<(u32, u32)> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let line = std::fs::read(entry.path().join("cmdline")).ok()?;
            let args: Vec<String> = line
                .split(|byte| *byte == 0)
                .map(|arg| String::from_utf8_lossy(arg).into_owned())
                .collect();
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            let zombie = stat.rsplit(") ").next()?.starts_with('Z');
            (!zombie && args.first()?.ends_with("slirp4netns")).then_some(())?;
            // `... <pid> tap0`
            let target = args.iter().rev().nth(2)?.parse().ok()?;
            Some((pid, target))
        })
        .collect()
}

/// Whether process `pid` runs (and is no zombie).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit(") ")
            .next()
            .is_some_and(|rest| !rest.starts_with('Z'))
    })
}

/// A world with one sandbox whose network is `network`, and the provider that made it.
async fn sandbox(network: Network) -> (World, LocalProvider, String) {
    let world = World::new();
    let provider =
        LocalProvider::with_isolation(world.state(), IsolationMode::Bubblewrap).expect("provider");
    let sandbox = provider
        .create(&CreateSandbox {
            name: "walled".to_string(),
            network,
            ..CreateSandbox::default()
        })
        .await
        .expect("create a sandbox");
    (world, provider, sandbox.id)
}

/// Runs `script` with `sh -c` in sandbox `id`.
fn shell(world: &World, id: &str, script: &str) -> Run {
    world.run(&["sandbox", "exec", id, "--", "sh", "-c", script])
}

/// Whether a command in sandbox `id` connects to `port` of `host`.
fn reaches(world: &World, id: &str, host: &str, port: u16) -> bool {
    let probe = format!(
        "python3 -c \"import socket; socket.create_connection(('{host}', {port}), 2)\" && echo REACHED"
    );
    shell(world, id, &probe).stdout.contains("REACHED")
}

/// A server of the test's on this machine's loopback, and its port.
fn server() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

fn allow(list: &str) -> AllowList {
    list.parse().expect("an allow list")
}

fn until(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "gave up waiting: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn a_run_killed_while_it_connects_a_blocked_sandbox_leaves_no_connection_and_no_opening() {
    if !prerequisites() {
        return;
    }
    let (world, provider, id) = sandbox(Network::Blocked).await;
    let (_listener, port) = server();
    let record = world.state().join("sandboxes").join(&id).join("run/init");
    let no_orphan = || connections().iter().all(|(_, target)| alive(*target));
    for _ in 0..30 {
        // A stop ends the init and its connection: the next command starts both, and is killed
        // at a random moment while it does.
        restart_and_kill_a_run(&world, &provider, &id, 150).await;
        // Whatever init now runs is filtered: the test's server stays out of reach.
        assert!(
            !reaches(&world, &id, GATEWAY, port),
            "a blocked sandbox reached this machine"
        );
        // The init that runs is connected, once.
        let text = std::fs::read_to_string(&record).unwrap();
        let init: u32 = text.split_whitespace().next().unwrap().parse().unwrap();
        let all = connections();
        let connected = all.iter().filter(|(_, target)| *target == init).count();
        assert_eq!(connected, 1, "connections of init {init}: {all:?}");
        // No connection outlives the init it connected.
        until("every connection's init to be alive", no_orphan);
    }
    provider.delete(&id).await.expect("delete");
    until("no connection to outlive its init", no_orphan);
}

#[tokio::test]
async fn an_open_sandbox_gets_a_network_of_its_own_only_when_nothing_of_its_own_runs() {
    if !prerequisites() {
        return;
    }
    let (world, provider, id) = sandbox(Network::Open).await;
    let (_listener, port) = server();
    assert!(reaches(&world, &id, "127.0.0.1", port));
    provider
        .set_network(&id, &Network::Open)
        .await
        .expect("open stays open");
    // What a command left running would be cut off: refused, naming it, and left running.
    shell(&world, &id, "nohup sleep 319 >/dev/null 2>&1 &").success();
    let error = provider
        .set_network(&id, &Network::Blocked)
        .await
        .expect_err("a sandbox with a process of its own running keeps its network");
    assert!(error.to_string().contains("sleep 319"), "{error}");
    // (`31[9]`: the pattern, unlike the text it matches, is not in the shell's own command.)
    shell(&world, &id, "pgrep -f 'sleep 31[9]'").success();
    assert!(reaches(&world, &id, "127.0.0.1", port));
    shell(&world, &id, "pkill -f 'sleep 31[9]'").success();
    until("the sleep to end", || {
        shell(&world, &id, "pgrep -f 'sleep 31[9]'").code != 0
    });
    provider
        .set_network(&id, &Network::Blocked)
        .await
        .expect("nothing runs: the sandbox gets a network of its own");
    assert!(!reaches(&world, &id, "127.0.0.1", port) && !reaches(&world, &id, GATEWAY, port));
    provider.delete(&id).await.expect("delete");
}

#[tokio::test]
async fn a_change_reaches_a_process_that_was_already_running_and_a_stopped_sandbox_takes_one() {
    if !prerequisites() {
        return;
    }
    let (world, provider, id) = sandbox(Network::Blocked).await;
    let (_listener, port) = server();
    // One process, started before any change, tries the test's server again and again.
    let tries = format!(
        "nohup python3 -c \"
import socket, time
while True:
    try:
        socket.create_connection(('{GATEWAY}', {port}), 1).close()
        line = 'reached'
    except OSError:
        line = 'refused'
    with open('/tmp/tries', 'a') as out:
        print(line, flush=True, file=out)
    time.sleep(0.1)
\" >/dev/null 2>&1 &"
    );
    shell(&world, &id, &tries).success();
    let last = || {
        shell(&world, &id, "tail -n 1 /tmp/tries")
            .stdout
            .trim()
            .to_string()
    };
    until("the process to be refused", || last() == "refused");
    provider
        .set_network(&id, &Network::Allowed(allow("10.0.2.2/32")))
        .await
        .expect("allow the gateway");
    until("the same process to reach the server", || {
        last() == "reached"
    });
    provider
        .set_network(&id, &Network::Blocked)
        .await
        .expect("block again");
    until("the same process to be refused again", || {
        last() == "refused"
    });
    provider.delete(&id).await.expect("delete");

    // A stopped sandbox on this machine's network takes one of its own whatever it ran.
    let (world, provider, id) = sandbox(Network::Open).await;
    shell(&world, &id, "nohup sleep 321 >/dev/null 2>&1 &").success();
    provider.stop(&id).await.expect("stop");
    provider
        .set_network(&id, &Network::Blocked)
        .await
        .expect("a stopped sandbox runs nothing to cut off");
    provider.start(&id).await.expect("start");
    assert!(!reaches(&world, &id, "127.0.0.1", port));
    provider.delete(&id).await.expect("delete");
}

#[tokio::test]
async fn what_ends_by_itself_in_a_moment_does_not_keep_a_sandbox_from_a_network_of_its_own() {
    if !prerequisites() {
        return;
    }
    let (world, provider, id) = sandbox(Network::Open).await;
    // A command in flight as the change comes (as `serve`'s metrics samples are).
    shell(&world, &id, "nohup sleep 1 >/dev/null 2>&1 &").success();
    provider
        .set_network(&id, &Network::Blocked)
        .await
        .expect("a process that ends in a moment is waited for");
    shell(&world, &id, "true").success();
    provider.delete(&id).await.expect("delete");
}
