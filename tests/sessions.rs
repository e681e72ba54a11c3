//! Process sessions: persistent shells in a sandbox. One behaviour suite runs against the
//! `local` provider directly and against the `daytona` provider talking to an in-process
//! `serve`; then what only `local` promises (a session outlives its creator and is usable from
//! another provider on the same state root, delete ends the whole process group, no secret on
//! a command line), and the official Python SDK against `serve`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use ralph_town::provider::daytona::DaytonaProvider;
use ralph_town::provider::local::{IsolationMode, LocalProvider};
use ralph_town::provider::{
    CommandLogs, CreateSandbox, Provider, ProviderError, SessionExecRequest,
};

use crate::common::SENTINEL;
use crate::serve_support::{self, KEY};

const PATIENCE: Duration = Duration::from_secs(30);

fn command(text: &str) -> SessionExecRequest {
    SessionExecRequest {
        command: text.to_string(),
        ..SessionExecRequest::default()
    }
}

fn background(text: &str) -> SessionExecRequest {
    SessionExecRequest {
        run_async: true,
        ..command(text)
    }
}

async fn sandbox(provider: &dyn Provider) -> String {
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

/// Follows a command's logs to their end.
async fn follow(provider: &dyn Provider, id: &str, session: &str, command: &str) -> CommandLogs {
    let mut stream = provider
        .follow_session_command_logs(id, session, command)
        .await
        .expect("follow");
    let mut chunks = Vec::new();
    let collect = async {
        while let Some(chunk) = stream.next().await {
            chunks.push(chunk.expect("chunk"));
        }
    };
    tokio::time::timeout(PATIENCE, collect)
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

    // Two sessions followed at once, chunk by chunk as they are written.
    provider
        .create_session(id, "other")
        .await
        .expect("create other");
    let one = provider
        .session_exec(
            id,
            "work",
            &background("for n in 1 2 3; do echo one-$n; sleep 0.2; done; echo bad >&2"),
        )
        .await
        .expect("exec");
    let two = provider
        .session_exec(
            id,
            "other",
            &background("for n in 1 2 3; do echo two-$n >&2; sleep 0.3; done"),
        )
        .await
        .expect("exec");
    let (first, second) = tokio::join!(
        follow(provider, id, "work", &one.command_id),
        follow(provider, id, "other", &two.command_id)
    );
    assert_eq!(first.stdout(), "one-1\none-2\none-3\n");
    assert_eq!(first.stderr(), "bad\n");
    assert!(first.chunks.len() >= 2, "one chunk per write: {first:?}");
    assert_eq!(second.stderr(), "two-1\ntwo-2\ntwo-3\n");
    assert_eq!(second.stdout(), "");

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
struct EndSessions(PathBuf);

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

fn local(root: &Path, isolation: IsolationMode) -> Option<LocalProvider> {
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

/// Processes (not yet exited) running exactly `argv`: what a session started, seen from the
/// host (under bubblewrap the session's processes are in their own groups and pid namespace).
fn running(argv: &[&str]) -> usize {
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

/// The process groups registered for sandbox `id` (commands and session shells).
fn registered_groups(root: &Path, id: &str) -> Vec<u32> {
    std::fs::read_dir(root.join("sandboxes").join(id).join("run"))
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
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
async fn deleting_a_session_or_stopping_its_sandbox_ends_its_process_group() {
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
    // Odd durations tell this test's sleeps from any other's.
    let sleeps = ["sleep", "911.25"];
    provider
        .session_exec(&id, "doomed", &background("sleep 911.25 & sleep 911.25"))
        .await
        .expect("exec");
    until("the sleeps start", || running(&sleeps) == 2).await;
    provider
        .delete_session(&id, "doomed")
        .await
        .expect("delete");
    until("the session's processes end", || running(&sleeps) == 0).await;
    assert!(registered_groups(&state, &id).is_empty());

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
async fn the_official_python_sdk_runs_sessions_code_and_the_interpreter_against_serve() {
    let Some(python) = tokio::task::spawn_blocking(|| crate::common::sdk_python(&["daytona"]))
        .await
        .unwrap()
    else {
        return;
    };
    let server = serve_support::start("").await;
    let _end = EndSessions(server.provider.root().to_path_buf());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/sessions_test.py");
    let run = tokio::process::Command::new(python)
        .arg(script)
        .env("DAYTONA_API_URL", &server.api_url)
        .env("DAYTONA_API_KEY", KEY)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env_remove("DAYTONA_JWT_TOKEN")
        .env_remove("DAYTONA_TARGET")
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(300), run)
        .await
        .expect("the SDK script did not finish within 5 minutes")
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the SDK script failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    assert!(stdout.contains("sdk: done"), "{stdout}");
    // The SDK really went through the session routes, the follow over a WebSocket included.
    for route in [
        "POST /toolbox/{sandbox}/process/code-run",
        "POST /toolbox/{sandbox}/process/session",
        "GET /toolbox/{sandbox}/process/session",
        "POST /toolbox/{sandbox}/process/session/{session}/exec",
        "GET /toolbox/{sandbox}/process/session/{session}/command/{command}",
        "GET /toolbox/{sandbox}/process/session/{session}/command/{command}/logs",
        "POST /toolbox/{sandbox}/process/session/{session}/command/{command}/input",
        "DELETE /toolbox/{sandbox}/process/session/{session}",
        "POST /toolbox/{sandbox}/process/interpreter/context",
        "GET /toolbox/{sandbox}/process/interpreter/execute",
        "DELETE /toolbox/{sandbox}/process/interpreter/context/{context}",
    ] {
        assert!(
            server.requests(route).await >= 1,
            "{route}\n{stdout}\n{stderr}"
        );
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_run_reports_a_missing_runtime_and_an_unknown_language_in_daytonas_shape() {
    let server = serve_support::start("").await;
    let _end = EndSessions(server.provider.root().to_path_buf());
    let sandbox = server.create(serde_json::json!({})).await;
    let id = sandbox["id"].as_str().unwrap();
    let route = format!("/toolbox/{id}/process/code-run");

    // The argument and the environment reach the code; the secret never a command line.
    let code = "import os, sys\nprint(sys.argv[1], len(os.environ['CODE_SECRET']))";
    let body = serde_json::json!({
        "code": code, "language": "python", "argv": ["first"],
        "envs": { "CODE_SECRET": SENTINEL },
    });
    let reply = server.post(&route, body).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["exitCode"], 0, "{:?}", reply.body);
    assert_eq!(reply.body["result"], format!("first {}\n", SENTINEL.len()));

    // A sandbox without the runtime: exit code 127 and a result that names it.
    let body = serde_json::json!({
        "code": "print(1)", "language": "python", "envs": { "PATH": "/nowhere" },
    });
    let reply = server.post(&route, body).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["exitCode"], 127, "{:?}", reply.body);
    let result = reply.body["result"].as_str().unwrap();
    assert!(
        result.contains("python3 is not installed in this sandbox"),
        "{result}"
    );

    let reply = server
        .post(
            &route,
            serde_json::json!({ "code": "x", "language": "cobol" }),
        )
        .await;
    let message = reply.daemon_error(400, "BAD_REQUEST");
    assert!(message.contains("unsupported language: cobol"), "{message}");

    if crate::common::have("node") {
        let body = serde_json::json!({
            "code": "console.log(process.argv.slice(1).join(','))",
            "language": "javascript", "argv": ["a", "b"],
        });
        let reply = server.post(&route, body).await;
        assert_eq!(reply.body["exitCode"], 0, "{:?}", reply.body);
        assert_eq!(reply.body["result"], "a,b\n");
    }
    // The code files are gone once the runs are over.
    let left = server.provider.home_dir(id).join(".daytona/code-run");
    let files = std::fs::read_dir(&left)
        .map(|entries| entries.count())
        .unwrap_or(0);
    assert_eq!(files, 0, "code files left in {left:?}");
    server.shutdown().await;
}
