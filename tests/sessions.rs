//! Process sessions: persistent shells in a sandbox. One behaviour suite runs against the
//! `local` provider directly and against the `daytona` provider talking to an in-process
//! `serve`. What only `local` promises (a session outlives its creator and is usable from
//! another provider on the same state root, delete ends the whole process group, no secret on
//! a command line) is in `sessions_local.rs`, the official Python SDK against `serve` in
//! `sessions_sdk.rs`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use ralph_town::provider::daytona::DaytonaProvider;
use ralph_town::provider::local::{IsolationMode, LocalProvider};
use ralph_town::provider::{
    CommandLogs, CreateSandbox, LogChunk, Provider, ProviderError, SessionExecRequest,
};

use crate::serve_support::{self, KEY};

pub(crate) const PATIENCE: Duration = Duration::from_secs(30);

pub(crate) fn command(text: &str) -> SessionExecRequest {
    SessionExecRequest {
        command: text.to_string(),
        ..SessionExecRequest::default()
    }
}

pub(crate) fn background(text: &str) -> SessionExecRequest {
    SessionExecRequest {
        run_async: true,
        ..command(text)
    }
}

pub(crate) async fn sandbox(provider: &dyn Provider) -> String {
    let request = CreateSandbox {
        name: format!("sessions-{}", crate::conformance::token()),
        ..CreateSandbox::default()
    };
    provider.create(&request).await.expect("create").id
}

/// Polls a command until it has an exit code.
async fn exit_code(provider: &dyn Provider, id: &str, session: &str, command: &str) -> i32 {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let status = provider
            .session_command(id, session, command)
            .await
            .expect("command status");
        if let Some(code) = status.exit_code {
            return code;
        }
        assert!(Instant::now() < deadline, "`{command}` never ended");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Follows a command that writes `first`, then waits for a line of input: checks that `first`
/// arrives while the command still runs, sends the input, and follows to the end.
async fn follow_live(
    provider: &dyn Provider,
    id: &str,
    session: &str,
    command: &str,
    first: LogChunk,
) -> CommandLogs {
    let mut stream = provider
        .follow_session_command_logs(id, session, command)
        .await
        .expect("follow");
    let chunk = tokio::time::timeout(PATIENCE, stream.next())
        .await
        .expect("the first output arrives")
        .expect("a chunk")
        .expect("a readable chunk");
    assert_eq!(chunk, first);
    let status = provider
        .session_command(id, session, command)
        .await
        .expect("status");
    assert_eq!(status.exit_code, None, "the command waits for its input");
    provider
        .send_session_input(id, session, command, "go")
        .await
        .expect("input");
    let mut chunks = vec![chunk];
    let rest = async {
        while let Some(chunk) = stream.next().await {
            chunks.push(chunk.expect("chunk"));
        }
    };
    tokio::time::timeout(PATIENCE, rest)
        .await
        .expect("the followed logs end with the command");
    CommandLogs { chunks }
}

/// What every provider with sessions does, on a started sandbox `id`.
async fn behaviours(provider: &dyn Provider, id: &str) {
    provider.create_session(id, "work").await.expect("create");
    let error = provider.create_session(id, "work").await.unwrap_err();
    assert!(matches!(error, ProviderError::Conflict { .. }), "{error:?}");

    // One shell: the directory and the variable carry over to the next command.
    let first = provider
        .session_exec(
            id,
            "work",
            &command("mkdir -p deep/er && cd deep/er && export CARRIED=over"),
        )
        .await
        .expect("exec");
    assert_eq!(first.exit_code, Some(0));
    let second = provider
        .session_exec(
            id,
            "work",
            &command(
                "echo \"$PWD $CARRIED\"; echo oops >&2; exit_code_of_a_subshell=$(false); (exit 3)",
            ),
        )
        .await
        .expect("exec");
    assert_eq!(second.exit_code, Some(3));
    assert!(
        second.logs.stdout().ends_with("/deep/er over\n"),
        "{:?}",
        second.logs
    );
    assert_eq!(second.logs.stderr(), "oops\n");

    // Async: answered at once, running meanwhile, and its status and logs once it ends.
    let started = provider
        .session_exec(
            id,
            "work",
            &background("echo begun; sleep 1; echo done >&2; (exit 4)"),
        )
        .await
        .expect("exec async");
    assert_eq!(started.exit_code, None);
    let running = provider
        .session_command(id, "work", &started.command_id)
        .await
        .expect("status");
    assert_eq!(running.exit_code, None, "still running");
    assert_eq!(
        exit_code(provider, id, "work", &started.command_id).await,
        4
    );
    let logs = provider
        .session_command_logs(id, "work", &started.command_id)
        .await
        .expect("logs");
    assert_eq!(
        (logs.stdout().as_str(), logs.stderr().as_str()),
        ("begun\n", "done\n")
    );

    // Two sessions followed at once. Each command writes, then waits for input: what the
    // follower gets before it sends that input was delivered while the command ran.
    provider
        .create_session(id, "other")
        .await
        .expect("create other");
    let one = provider
        .session_exec(
            id,
            "work",
            &background("echo one-1; read -r go; for n in 2 3; do echo one-$n; done; echo bad >&2"),
        )
        .await
        .expect("exec");
    let two = provider
        .session_exec(
            id,
            "other",
            &background("echo two-1 >&2; read -r go; echo two-2 >&2"),
        )
        .await
        .expect("exec");
    let (first, second) = tokio::join!(
        follow_live(
            provider,
            id,
            "work",
            &one.command_id,
            LogChunk::Stdout(b"one-1\n".to_vec())
        ),
        follow_live(
            provider,
            id,
            "other",
            &two.command_id,
            LogChunk::Stderr(b"two-1\n".to_vec())
        )
    );
    assert_eq!(first.stdout(), "one-1\ngo\none-2\none-3\n");
    assert_eq!(first.stderr(), "bad\n");
    assert_eq!(second.stderr(), "two-1\ntwo-2\n");
    assert_eq!(second.stdout(), "go\n", "the echoed input");

    // Input reaches a command waiting in `read`, and is echoed into its logs.
    let reader = provider
        .session_exec(
            id,
            "other",
            &background("read -r line; echo \"got [$line]\""),
        )
        .await
        .expect("exec read");
    provider
        .send_session_input(id, "other", &reader.command_id, "hello there")
        .await
        .expect("input");
    assert_eq!(
        exit_code(provider, id, "other", &reader.command_id).await,
        0
    );
    let logs = provider
        .session_command_logs(id, "other", &reader.command_id)
        .await
        .expect("logs");
    assert_eq!(logs.stdout(), "hello there\ngot [hello there]\n");
    let error = provider
        .send_session_input(id, "other", &reader.command_id, "late")
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            ProviderError::Conflict { .. } | ProviderError::Api { .. }
        ),
        "{error:?}"
    );

    // Listing, then deleting one session; the other stays usable.
    let mut listed: Vec<String> = provider
        .list_sessions(id)
        .await
        .expect("list")
        .into_iter()
        .map(|session| session.id)
        .collect();
    listed.sort();
    assert_eq!(listed, ["other", "work"]);
    let work = provider.get_session(id, "work").await.expect("get");
    assert_eq!(work.commands.len(), 4);
    assert_eq!(work.commands[1].exit_code, Some(3));
    provider.delete_session(id, "work").await.expect("delete");
    let error = provider.get_session(id, "work").await.unwrap_err();
    assert!(matches!(error, ProviderError::NotFound { .. }), "{error:?}");
    let error = provider
        .session_exec(id, "work", &command("true"))
        .await
        .unwrap_err();
    assert!(matches!(error, ProviderError::NotFound { .. }), "{error:?}");
    let still = provider
        .session_exec(id, "other", &command("echo alive"))
        .await
        .expect("exec");
    assert_eq!(still.logs.stdout(), "alive\n");
    let error = provider.create_session(id, "../escape").await.unwrap_err();
    assert!(matches!(error, ProviderError::Api { .. }), "{error:?}");
    // Deleting the sandbox ends its sessions too.
    provider.delete(id).await.expect("delete sandbox");
}

/// Kills, when dropped, every process group registered under a state root, so that a failing
/// test leaves no session shell behind (deleting the sandbox does it when the test passes).
pub(crate) struct EndSessions(pub(crate) PathBuf);

impl Drop for EndSessions {
    fn drop(&mut self) {
        let sandboxes = std::fs::read_dir(self.0.join("sandboxes"))
            .into_iter()
            .flatten();
        for sandbox in sandboxes.flatten() {
            let id = sandbox.file_name().to_string_lossy().into_owned();
            for pgid in registered_groups(&self.0, &id) {
                if let Some(pid) = i32::try_from(pgid)
                    .ok()
                    .and_then(rustix::process::Pid::from_raw)
                {
                    let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
                }
            }
        }
    }
}

pub(crate) fn local(root: &Path, isolation: IsolationMode) -> Option<LocalProvider> {
    match LocalProvider::with_isolation(root.to_path_buf(), isolation) {
        Ok(provider) => Some(provider),
        Err(error) => {
            crate::common::skip(&format!("working bubblewrap ({error})"));
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_sessions_keep_shell_state_run_async_follow_and_take_input() {
    let root = tempfile::tempdir().unwrap();
    let _end = EndSessions(root.path().to_path_buf());
    let Some(provider) = local(root.path(), IsolationMode::Bubblewrap) else {
        return;
    };
    let id = sandbox(&provider).await;
    behaviours(&provider, &id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_sessions_work_without_bubblewrap_too() {
    let root = tempfile::tempdir().unwrap();
    let _end = EndSessions(root.path().to_path_buf());
    let provider = local(root.path(), IsolationMode::Off).expect("provider");
    let id = sandbox(&provider).await;
    behaviours(&provider, &id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_through_the_daytona_provider_against_serve() {
    let server = serve_support::start("").await;
    let _end = EndSessions(server.provider.root().to_path_buf());
    let settings = crate::daytona_support::settings(&server.api_url, KEY);
    let provider = DaytonaProvider::new(settings).expect("provider");
    let id = sandbox(&provider).await;
    behaviours(&provider, &id).await;
    server.shutdown().await;
}

/// The process groups registered for sandbox `id` (commands and session shells).
pub(crate) fn registered_groups(root: &Path, id: &str) -> Vec<u32> {
    std::fs::read_dir(root.join("sandboxes").join(id).join("run"))
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}
