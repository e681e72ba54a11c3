//! What only the `local` provider promises about sessions: a session outlives the thread,
//! runtime and provider that created it and serves a second provider on the same state root;
//! deleting it, or stopping its sandbox, ends every process it started; and a secret in its
//! environment never reaches a command line or a session file.

use std::path::Path;
use std::time::{Duration, Instant};

use ralph_town::provider::Provider;
use ralph_town::provider::local::{IsolationMode, LocalProvider};

use crate::common::SENTINEL;
use crate::sessions::{
    EndSessions, PATIENCE, background, command, local, registered_groups, sandbox,
};

/// Processes (not yet exited) running exactly `argv`: what a sandbox started, seen from the
/// host (under bubblewrap the sandbox's processes are in its own pid namespace).
pub(crate) fn running(argv: &[&str]) -> usize {
    let wanted: Vec<u8> = argv
        .iter()
        .flat_map(|arg| [arg.as_bytes(), b"\0"].concat())
        .collect();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .flatten()
        .filter(|entry| {
            std::fs::read(entry.path().join("cmdline")).is_ok_and(|line| line == wanted)
        })
        .filter(|entry| {
            std::fs::read_to_string(entry.path().join("stat")).is_ok_and(|stat| {
                stat.rfind(')')
                    .and_then(|end| stat[end + 1..].split_whitespace().next())
                    .is_some_and(|state| state != "Z")
            })
        })
        .count()
}

async fn until(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_outlives_the_thread_and_provider_that_created_it() {
    let root = tempfile::tempdir().unwrap();
    let _end = EndSessions(root.path().to_path_buf());
    if local(root.path(), IsolationMode::Bubblewrap).is_none() {
        return;
    }
    // The creator runs on its own thread and runtime, both gone before the session is used:
    // bubblewrap's `--die-with-parent` would have killed the shell with that thread.
    let path = root.path().to_path_buf();
    let id = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let creator = local(&path, IsolationMode::Bubblewrap).expect("provider");
            let id = sandbox(&creator).await;
            creator
                .create_session(&id, "lasting")
                .await
                .expect("create");
            let setup = command("export KEPT=yes; cd /tmp");
            creator
                .session_exec(&id, "lasting", &setup)
                .await
                .expect("exec");
            id
        })
    })
    .join()
    .expect("creator thread");
    let second = local(root.path(), IsolationMode::Bubblewrap).expect("provider");
    let output = second
        .session_exec(&id, "lasting", &command("echo \"$KEPT $PWD\""))
        .await
        .expect("exec from a second provider");
    assert_eq!(output.logs.stdout(), "yes /tmp\n");
    second.delete(&id).await.expect("delete sandbox");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_session_or_stopping_its_sandbox_ends_every_process_it_started() {
    let root = tempfile::tempdir().unwrap();
    let _end = EndSessions(root.path().to_path_buf());
    let Some(provider) = local(root.path(), IsolationMode::Bubblewrap) else {
        return;
    };
    let id = sandbox(&provider).await;
    let state = provider.root().to_path_buf();
    provider
        .create_session(&id, "doomed")
        .await
        .expect("create");
    assert_eq!(
        registered_groups(&state, &id).len(),
        1,
        "the shell's group is registered"
    );
    // Odd durations tell this test's sleeps from any other's. One leaves the session's
    // process group, as an X server does: it still ends with the session.
    let sleeps = ["sleep", "911.25"];
    provider
        .session_exec(
            &id,
            "doomed",
            &background("setsid sleep 911.25 & sleep 911.25"),
        )
        .await
        .expect("exec");
    until("the sleeps start", || running(&sleeps) == 2).await;
    provider
        .delete_session(&id, "doomed")
        .await
        .expect("delete");
    until("the session's processes end", || running(&sleeps) == 0).await;
    // The removal of the session's files runs as a command whose own registration goes when
    // its keeper is reaped, which a loaded machine may do a moment after the answer.
    until("no process group stays registered", || {
        registered_groups(&state, &id).is_empty()
    })
    .await;

    provider
        .create_session(&id, "stopped")
        .await
        .expect("create");
    let sleep = ["sleep", "912.5"];
    provider
        .session_exec(&id, "stopped", &background("sleep 912.5"))
        .await
        .expect("exec");
    until("the sleep starts", || running(&sleep) == 1).await;
    provider.stop(&id).await.expect("stop");
    until("the session ends with its sandbox", || running(&sleep) == 0).await;
    provider.start(&id).await.expect("start");
    assert!(provider.list_sessions(&id).await.expect("list").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_secrets_stay_off_command_lines_and_out_of_session_files() {
    let root = tempfile::tempdir().unwrap();
    let _end = EndSessions(root.path().to_path_buf());
    let Some(provider) = local(root.path(), IsolationMode::Bubblewrap) else {
        return;
    };
    let id = sandbox(&provider).await;
    let secret = [("SESSION_SECRET".to_string(), SENTINEL.to_string())].into();
    provider.set_env(&id, &secret, &[]).await.expect("set env");
    provider
        .create_session(&id, "secretive")
        .await
        .expect("create");
    // The shell has the value: its digest, computed inside, matches.
    let check = provider
        .session_exec(
            &id,
            "secretive",
            &command("printf %s \"$SESSION_SECRET\" | sha256sum"),
        )
        .await
        .expect("exec");
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(SENTINEL));
    assert!(check.logs.stdout().starts_with(&digest), "{:?}", check.logs);
    let running = provider
        .session_exec(&id, "secretive", &background("sleep 600"))
        .await
        .expect("exec");
    until("the command runs", || {
        provider_runs(&provider, &id, &running.command_id)
    })
    .await;
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            assert!(
                !String::from_utf8_lossy(&cmdline).contains(SENTINEL),
                "a command line holds the secret: {:?}",
                entry.path()
            );
        }
    }
    let sandbox_dir = provider.root().join("sandboxes").join(&id);
    for dir in [
        sandbox_dir.join("sessions"),
        sandbox_dir.join("home/.daytona"),
    ] {
        for file in walk(&dir) {
            let text = std::fs::read(&file).unwrap_or_default();
            assert!(
                !String::from_utf8_lossy(&text).contains(SENTINEL),
                "{file:?}"
            );
        }
    }
    provider.delete(&id).await.expect("delete");
}

fn provider_runs(provider: &LocalProvider, id: &str, command: &str) -> bool {
    let logs = provider
        .root()
        .join("sandboxes")
        .join(id)
        .join("home/.daytona/sessions/secretive")
        .join(command)
        .join("input.pipe");
    logs.exists()
}

/// Every regular file under `dir`.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            files.extend(walk(&entry.path()));
        } else if kind.is_file() {
            files.push(entry.path());
        }
    }
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_session_command_names_the_shell_not_a_file_of_ours() {
    let root = tempfile::tempdir().unwrap();
    let _end = EndSessions(root.path().to_path_buf());
    let Some(provider) = local(root.path(), IsolationMode::Bubblewrap) else {
        return;
    };
    let id = sandbox(&provider).await;
    provider.create_session(&id, "typo").await.expect("create");
    let failed = provider
        .session_exec(&id, "typo", &command("echo before; no-such-program-here"))
        .await
        .expect("exec");
    assert_eq!(failed.exit_code, Some(127));
    let stderr = failed.logs.stderr();
    // As when commands are written to the shell's input, as Daytona's daemon does: the shell
    // and a line of its input, never the file the command travelled in.
    assert!(
        stderr.contains("bash: line ")
            && stderr.contains(": no-such-program-here: command not found")
            && !stderr.contains(".daytona"),
        "{stderr}"
    );
    provider.delete(&id).await.expect("delete");
}
