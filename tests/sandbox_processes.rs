//! A `local` sandbox under bubblewrap is one set of processes, as a container is: what one
//! command leaves running, the next command sees and may signal by its pid, after the
//! `ralph-town` process that ran it has exited; nothing inside can end the sandbox's init; and
//! an init whose state root is removed without a delete ends with everything it holds.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::{Run, World, skip};
use crate::provider_local::unique_sleep;
use crate::sessions_local::running;

/// How long a condition polled from the host may take (a guard, not a timing assertion).
const PATIENCE: Duration = Duration::from_secs(40);

/// Host processes running exactly `sleep <argument>`, zombies left out.
fn sleepers(argument: &str) -> usize {
    running(&["sleep", argument])
}

fn until(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "gave up waiting: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A world with one sandbox, when its commands run in bubblewrap here.
fn isolated_sandbox() -> Option<(World, String)> {
    let world = World::new();
    let id = create(&world);
    // The sandbox's home is `/home/daytona` only under bubblewrap.
    let home = exec(&world, &id, "echo $HOME").success().stdout;
    if home.trim() != "/home/daytona" {
        skip("working bubblewrap (sandboxes run with reduced isolation here)");
        return None;
    }
    Some((world, id))
}

fn create(world: &World) -> String {
    let run = world
        .run(&["sandbox", "create", "--name", "crew"])
        .success();
    run.stdout.trim().to_string()
}

fn exec(world: &World, id: &str, command: &str) -> Run {
    world.run(&["sandbox", "exec", id, "--", "sh", "-c", command])
}

#[test]
fn what_one_command_leaves_running_the_next_sees_and_signals_by_its_pid() {
    let Some((world, id)) = isolated_sandbox() else {
        return;
    };
    let argument = unique_sleep();
    let started = exec(
        &world,
        &id,
        &format!("sleep {argument} >/dev/null 2>&1 & echo $!"),
    )
    .success();
    let pid = started.stdout.trim().to_string();
    assert!(pid.parse::<u32>().is_ok(), "{started:?}");
    // The `ralph-town` that started it has exited; the process runs on.
    assert_eq!(sleepers(&argument), 1);

    let seen = exec(&world, &id, &format!("tr '\\0' ' ' < /proc/{pid}/cmdline")).success();
    assert_eq!(seen.stdout.trim(), format!("sleep {argument}"), "{seen:?}");
    let listed = exec(
        &world,
        &id,
        "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f; echo; done",
    )
    .success();
    assert!(
        listed
            .stdout
            .lines()
            .any(|line| line.trim() == format!("sleep {argument}")),
        "{listed:?}"
    );

    // Nothing inside can end the sandbox's init, and with it every process.
    exec(&world, &id, "kill -KILL 1; kill -TERM 1; true").success();
    exec(&world, &id, &format!("kill -0 {pid}")).success();
    assert_eq!(sleepers(&argument), 1);

    exec(&world, &id, &format!("kill {pid}")).success();
    // Ended and reaped: the init reaps what it inherits.
    exec(
        &world,
        &id,
        &format!("i=0; while kill -0 {pid} 2>/dev/null; do i=$((i+1)); [ $i -lt 400 ] || exit 1; sleep 0.05; done"),
    )
    .success();
    assert_eq!(sleepers(&argument), 0);

    world.run(&["sandbox", "delete", &id]).success();
}

#[test]
fn deleting_a_sandbox_ends_what_its_commands_left_running() {
    let Some((world, id)) = isolated_sandbox() else {
        return;
    };
    let argument = unique_sleep();
    exec(
        &world,
        &id,
        &format!("setsid sleep {argument} >/dev/null 2>&1 &"),
    )
    .success();
    until("the sleep starts", || sleepers(&argument) == 1);
    world.run(&["sandbox", "delete", &id]).success();
    assert_eq!(sleepers(&argument), 0, "delete returns once they are gone");
}

#[test]
fn a_sandbox_whose_state_root_is_removed_ends_with_what_it_ran() {
    let Some((world, id)) = isolated_sandbox() else {
        return;
    };
    let argument = unique_sleep();
    exec(&world, &id, &format!("sleep {argument} >/dev/null 2>&1 &")).success();
    until("the sleep starts", || sleepers(&argument) == 1);
    remove(&world.state());
    until("the sandbox's processes end with its state root", || {
        sleepers(&argument) == 0
    });
}

fn remove(path: &Path) {
    std::fs::remove_dir_all(path).unwrap_or_else(|error| panic!("remove {path:?}: {error}"));
}

#[test]
fn descriptors_the_caller_left_open_reach_neither_the_sandbox_nor_its_init() {
    let world = World::new();
    // A file left open across exec, as a CI runner leaves a pipe; the sandbox's first command,
    // which starts its init, is run with it.
    let left_open = std::fs::File::open(world.path()).unwrap();
    let id = create(&world);
    let output = leaking(
        world.command(&[
            "sandbox",
            "exec",
            &id,
            "--",
            "sh",
            "-c",
            // The init reads its home's link count through a pipe of its own every 5 s,
            // for a moment: what it holds is read three times, a second apart.
            "echo $HOME; echo $(ls /proc/self/fd); for _ in 1 2 3; do echo $(ls /proc/1/fd); sleep 1; done",
        ]),
        &left_open,
    )
    .output()
    .unwrap();
    let listed = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{listed}");
    if !listed.starts_with("/home/daytona\n") {
        skip("working bubblewrap (sandboxes run with reduced isolation here)");
        return;
    }
    // `ls` holds one directory of its own (3); the init holds stdin, stdout and stderr, and
    // nothing else in every reading (a descriptor that leaked stays). One listing a line.
    let mut lines = listed.lines();
    assert_eq!(lines.next(), Some("/home/daytona"));
    assert_eq!(
        lines
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["0", "1", "2", "3"],
        "a descriptor leaked into the command: {listed}"
    );
    let readings: Vec<Vec<&str>> = lines
        .map(|line| line.split_whitespace().collect())
        .collect();
    assert_eq!(readings.len(), 3, "{listed}");
    let held = |fd: &str| readings.iter().all(|reading| reading.contains(&fd));
    assert_eq!(
        readings[0]
            .iter()
            .copied()
            .filter(|fd| held(fd))
            .collect::<Vec<_>>(),
        ["0", "1", "2"],
        "a descriptor leaked into the init: {listed}"
    );
}

/// `command`, run with `file` open across its exec.
fn leaking(mut command: std::process::Command, file: &std::fs::File) -> std::process::Command {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;

    let raw = file.as_raw_fd();
    // SAFETY: one fcntl between fork and exec.
    unsafe {
        command.pre_exec(move || {
            if libc::fcntl(raw, libc::F_SETFD, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command
}

/// The pid namespaces (other than this process's) of the host processes that see sandbox
/// `id`'s home: its init's, and that of any init started and then lost.
fn namespaces_holding(id: &str) -> std::collections::BTreeSet<std::path::PathBuf> {
    processes_holding(id)
        .into_iter()
        .map(|(namespace, _, _)| namespace)
        .collect()
}

/// (pid namespace, host pid, command line) of the processes [`namespaces_holding`] counts.
fn processes_holding(id: &str) -> Vec<(std::path::PathBuf, String, String)> {
    let needle = format!("/sandboxes/{id}/home ");
    let own = std::fs::read_link("/proc/self/ns/pid").unwrap();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| {
            std::fs::read_to_string(entry.path().join("mountinfo"))
                .is_ok_and(|mounts| mounts.contains(&needle))
        })
        .filter_map(|entry| {
            let namespace = std::fs::read_link(entry.path().join("ns/pid")).ok()?;
            let line = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let line = String::from_utf8_lossy(&line).replace('\0', " ");
            let pid = entry.file_name().to_string_lossy().into_owned();
            Some((namespace, pid, line))
        })
        .filter(|(namespace, _, _)| *namespace != own)
        .collect()
}

/// Stops and starts sandbox `id`, which ends its init; then runs a command, which starts one,
/// and kills that run at a random moment within `upto_millis`.
pub(crate) async fn restart_and_kill_a_run(
    world: &World,
    provider: &ralph_town::provider::local::LocalProvider,
    id: &str,
    upto_millis: u64,
) {
    use ralph_town::provider::Provider as _;
    provider.stop(id).await.expect("stop");
    provider.start(id).await.expect("start");
    let mut doomed = world
        .command(&["sandbox", "exec", id, "--", "true"])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(fastrand::u64(0..upto_millis)));
    let _ = doomed.kill();
    let _ = doomed.wait();
}

#[tokio::test]
async fn a_run_killed_while_it_starts_the_init_leaves_no_second_one() {
    use ralph_town::provider::local::{IsolationMode, LocalProvider};

    let Some((world, id)) = isolated_sandbox() else {
        return;
    };
    let provider =
        LocalProvider::with_isolation(world.state(), IsolationMode::Bubblewrap).expect("provider");
    for _ in 0..40 {
        restart_and_kill_a_run(&world, &provider, &id, 80).await;
        exec(&world, &id, "true").success();
        // Exactly one init: none lost (unrecorded), and none ended under the command that
        // joined it.
        let deadline = Instant::now() + PATIENCE;
        while namespaces_holding(&id).len() != 1 {
            assert!(
                Instant::now() < deadline,
                "the sandbox's pid namespaces: {:?}",
                processes_holding(&id)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    world.run(&["sandbox", "delete", &id]).success();
    assert!(namespaces_holding(&id).is_empty());
}
