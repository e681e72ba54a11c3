//! The `local` provider on real directories and real processes: the shared conformance suite
//! with and without bubblewrap, then what only `local` promises (clean environment, isolation,
//! no secret on a command line or on disk, safe concurrent use of one state root).

use crate::conformance;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ralph_town::provider::local::{
    Isolation, IsolationMode, LocalOptions, LocalProvider, SANDBOX_HOME,
};
use ralph_town::provider::{
    CreateSandbox, ExecOutput, ExecRequest, Labels, Provider, ProviderError, Sandbox,
};

/// A provider that must use bubblewrap, or `None` (the test skips) where bubblewrap is missing;
/// with `CI=true` a missing bubblewrap fails the test.
fn isolated(root: &Path) -> Option<LocalProvider> {
    match LocalProvider::with_isolation(root.to_path_buf(), IsolationMode::Bubblewrap) {
        Ok(provider) => {
            assert_eq!(provider.isolation(), Isolation::Bubblewrap);
            Some(provider)
        }
        Err(error) => {
            crate::common::skip(&format!("working bubblewrap ({error})"));
            None
        }
    }
}

fn reduced(root: &Path) -> LocalProvider {
    let provider =
        LocalProvider::with_isolation(root.to_path_buf(), IsolationMode::Off).expect("provider");
    assert_eq!(provider.isolation(), Isolation::Reduced);
    provider
}

async fn sandbox(provider: &LocalProvider, env: &[(&str, &str)]) -> Sandbox {
    let request = CreateSandbox {
        name: format!("local-{}", conformance::token()),
        labels: [("ralph-town-test/local".to_string(), "yes".to_string())].into(),
        env: env
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect(),
        ..CreateSandbox::default()
    };
    provider.create(&request).await.expect("create")
}

async fn run(provider: &LocalProvider, id: &str, command: &str) -> ExecOutput {
    let request = ExecRequest {
        command: command.to_string(),
        ..ExecRequest::default()
    };
    provider.exec(id, &request).await.expect("exec")
}

/// The home path a command in the sandbox sees.
fn inside_home(provider: &LocalProvider, id: &str) -> String {
    match provider.isolation() {
        Isolation::Bubblewrap => SANDBOX_HOME.to_string(),
        Isolation::Reduced => provider.home_dir(id).to_string_lossy().into_owned(),
    }
}

/// Command lines of live processes that contain `needle`.
fn command_lines_containing(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        if let Ok(bytes) = std::fs::read(entry.path().join("cmdline")) {
            let line = String::from_utf8_lossy(&bytes).replace('\0', " ");
            if line.contains(needle) {
                found.push(line);
            }
        }
    }
    found
}

/// How many `sleep ARGUMENT` processes are alive.
fn sleepers(argument: &str) -> usize {
    let expected = format!("sleep {argument} ");
    command_lines_containing(argument)
        .iter()
        .filter(|line| **line == expected)
        .count()
}

/// Polls `condition` (a guard against hanging, not a timing assertion).
async fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    for _ in 0..600 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("gave up waiting for {what}");
}

/// A `sleep` argument no other process on the machine uses.
pub(crate) fn unique_sleep() -> String {
    format!("86{:06}", uuid::Uuid::new_v4().as_u128() % 1_000_000)
}

#[tokio::test]
async fn conformance_with_bubblewrap() {
    let root = tempfile::tempdir().unwrap();
    let Some(provider) = isolated(root.path()) else {
        return;
    };
    conformance::run_all(Arc::new(provider)).await;
}

#[tokio::test]
async fn conformance_without_bubblewrap() {
    let root = tempfile::tempdir().unwrap();
    conformance::run_all(Arc::new(reduced(root.path()))).await;
}

async fn environment_is_clean_and_home_is_the_sandbox_home(provider: LocalProvider) {
    let created = sandbox(&provider, &[("PLAIN", "plain value")]).await;
    let home = inside_home(&provider, &created.id);
    let output = run(
        &provider,
        &created.id,
        "echo \"$HOME|$PWD|$USER|$PATH\"; env",
    )
    .await;
    let mut lines = output.output.lines();
    assert_eq!(
        lines.next(),
        Some(
            format!(
                "{home}|{home}|daytona|/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
            )
            .as_str()
        )
    );
    let allowed = [
        "HOME", "PATH", "USER", "LOGNAME", "LANG", "SHELL", "PWD", "OLDPWD", "SHLVL", "_", "PLAIN",
    ];
    for line in lines {
        let name = line.split('=').next().unwrap_or_default();
        assert!(
            allowed.contains(&name),
            "host variable `{name}` leaked into the sandbox: {output:?}"
        );
    }
    assert!(output.output.contains("PLAIN=plain value\n"), "{output:?}");

    // Git's global configuration is the sandbox's, never the host's.
    if which::which("git").is_ok() {
        let host_config = std::env::home_dir().map(|home| home.join(".gitconfig"));
        let before = host_config
            .as_ref()
            .and_then(|path| std::fs::read(path).ok());
        let output = run(
            &provider,
            &created.id,
            "git config --global user.name 'Sandbox Person' && git config --global --get user.name",
        )
        .await;
        assert_eq!(output.output, "Sandbox Person\n", "{output:?}");
        let sandbox_config =
            std::fs::read_to_string(provider.home_dir(&created.id).join(".gitconfig")).unwrap();
        assert!(sandbox_config.contains("Sandbox Person"));
        assert_eq!(
            host_config
                .as_ref()
                .and_then(|path| std::fs::read(path).ok()),
            before
        );
    }
    provider.delete(&created.id).await.unwrap();
}

#[tokio::test]
async fn environment_is_clean_with_bubblewrap() {
    let root = tempfile::tempdir().unwrap();
    let Some(provider) = isolated(root.path()) else {
        return;
    };
    environment_is_clean_and_home_is_the_sandbox_home(provider).await;
}

#[tokio::test]
async fn environment_is_clean_without_bubblewrap() {
    let root = tempfile::tempdir().unwrap();
    environment_is_clean_and_home_is_the_sandbox_home(reduced(root.path())).await;
}

async fn secret_reaches_the_process_but_no_command_line_or_file(provider: LocalProvider) {
    let sentinel = format!("sentinel-secret-{}", conformance::token());
    let created = sandbox(&provider, &[]).await;
    let home = provider.home_dir(&created.id);
    let request = ExecRequest {
        command: "touch ready; while [ ! -e go ]; do sleep 0.05; done; printf %s \"$SANDBOX_SECRET\" | wc -c".to_string(),
        env: [("SANDBOX_SECRET".to_string(), sentinel.clone())].into(),
        ..ExecRequest::default()
    };
    let task = {
        let (provider, id) = (provider.clone(), created.id.clone());
        tokio::spawn(async move { provider.exec(&id, &request).await })
    };
    wait_for("the command to start", || home.join("ready").exists()).await;
    let leaks = command_lines_containing(&sentinel);
    std::fs::write(home.join("go"), "").unwrap();
    let output = task.await.unwrap().expect("exec");
    assert!(
        leaks.is_empty(),
        "the secret is on a command line: {leaks:?}"
    );
    assert_eq!(output.output.trim(), sentinel.len().to_string());

    // A timed-out command with a secret: the error does not carry it either.
    let request = ExecRequest {
        command: "sleep 30".to_string(),
        env: [("SANDBOX_SECRET".to_string(), sentinel.clone())].into(),
        timeout: Some(Duration::from_millis(300)),
        ..ExecRequest::default()
    };
    let error = provider.exec(&created.id, &request).await.unwrap_err();
    assert!(!format!("{error} {error:?}").contains(&sentinel));

    let mut pending = vec![provider.root().to_path_buf()];
    while let Some(path) = pending.pop() {
        if path.is_dir() {
            pending.extend(
                std::fs::read_dir(&path)
                    .unwrap()
                    .flatten()
                    .map(|entry| entry.path()),
            );
        } else if let Ok(contents) = std::fs::read(&path) {
            assert!(
                !String::from_utf8_lossy(&contents).contains(&sentinel),
                "the secret was written to `{}`",
                path.display()
            );
        }
    }
    provider.delete(&created.id).await.unwrap();
}

#[tokio::test]
async fn secret_stays_off_command_lines_with_bubblewrap() {
    let root = tempfile::tempdir().unwrap();
    let Some(provider) = isolated(root.path()) else {
        return;
    };
    secret_reaches_the_process_but_no_command_line_or_file(provider).await;
}

#[tokio::test]
async fn secret_stays_off_command_lines_without_bubblewrap() {
    let root = tempfile::tempdir().unwrap();
    secret_reaches_the_process_but_no_command_line_or_file(reduced(root.path())).await;
}

async fn commands_end_with_their_sandbox(provider: LocalProvider) {
    let created = sandbox(&provider, &[]).await;
    let id = created.id.clone();

    // A command that outlives its timeout takes its background children with it.
    let sleep = unique_sleep();
    let request = ExecRequest {
        command: format!("sleep {sleep} & sleep {sleep}"),
        timeout: Some(Duration::from_millis(500)),
        ..ExecRequest::default()
    };
    assert!(matches!(
        provider.exec(&id, &request).await,
        Err(ProviderError::Timeout { .. })
    ));
    wait_for("timed-out processes to end", || {
        command_lines_containing(&sleep).is_empty()
    })
    .await;

    // A finished command answers with its own exit code and output, and what it started in
    // the background lives on (as a server started with `&` does on Daytona) until the
    // sandbox stops, whether it let go of the output or still holds it.
    let detached = unique_sleep();
    let output = run(
        &provider,
        &id,
        &format!("sleep {detached} >/dev/null 2>&1 & echo done; exit 3"),
    )
    .await;
    assert_eq!((output.exit_code, output.output.as_str()), (3, "done\n"));
    let holding = unique_sleep();
    let output = run(&provider, &id, &format!("sleep {holding} & echo done")).await;
    assert_eq!((output.exit_code, output.output.as_str()), (0, "done\n"));
    assert_eq!(
        (sleepers(&detached), sleepers(&holding)),
        (1, 1),
        "background processes outlive the commands that started them"
    );

    let output = run(&provider, &id, "kill -9 $$").await;
    assert_eq!(
        output.exit_code,
        128 + 9,
        "a signalled command reports 128 + signal"
    );

    // Stop ends running commands and refuses new ones with a clear message.
    let sleep = unique_sleep();
    let running = {
        let (provider, id, command) = (
            provider.clone(),
            id.clone(),
            format!("sleep {sleep} & sleep {sleep}"),
        );
        tokio::spawn(async move { run(&provider, &id, &command).await })
    };
    wait_for("the command to start", || sleepers(&sleep) >= 2).await;
    provider.stop(&id).await.unwrap();
    let stopped = tokio::time::timeout(Duration::from_secs(60), running)
        .await
        .expect("stop ends the command");
    assert_ne!(stopped.unwrap().exit_code, 0);
    wait_for("stopped processes to end", || {
        [&sleep, &detached, &holding]
            .iter()
            .all(|argument| command_lines_containing(argument).is_empty())
    })
    .await;
    match provider
        .exec(
            &id,
            &ExecRequest {
                command: "true".into(),
                ..ExecRequest::default()
            },
        )
        .await
    {
        Err(ProviderError::Conflict { message }) => {
            assert_eq!(
                message,
                format!("sandbox `{}` is not started (state: stopped)", created.name)
            );
        }
        other => panic!("exec in a stopped sandbox: {other:?}"),
    }
    assert!(matches!(
        provider.shell_command(&id, None).await,
        Err(ProviderError::Conflict { .. })
    ));
    provider.start(&id).await.unwrap();

    // Delete ends running commands, and leaves nothing on disk.
    let sleep = unique_sleep();
    let running = {
        let (provider, id, command) = (
            provider.clone(),
            id.clone(),
            format!("sleep {sleep} & sleep {sleep}"),
        );
        tokio::spawn(async move {
            provider
                .exec(
                    &id,
                    &ExecRequest {
                        command,
                        ..ExecRequest::default()
                    },
                )
                .await
        })
    };
    wait_for("the command to start", || sleepers(&sleep) >= 2).await;
    provider.delete(&id).await.unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(60), running)
        .await
        .expect("delete ends the command");
    assert!(ended.unwrap().is_ok_and(|output| output.exit_code != 0));
    wait_for("deleted processes to end", || {
        command_lines_containing(&sleep).is_empty()
    })
    .await;
    assert!(!provider.root().join("sandboxes").join(&id).exists());
    assert_eq!(
        std::fs::read_dir(provider.root().join("trash"))
            .unwrap()
            .count(),
        0
    );
}

#[tokio::test]
async fn commands_end_with_their_sandbox_with_bubblewrap() {
    let root = tempfile::tempdir().unwrap();
    let Some(provider) = isolated(root.path()) else {
        return;
    };
    commands_end_with_their_sandbox(provider).await;
}

#[tokio::test]
async fn commands_end_with_their_sandbox_without_bubblewrap() {
    let root = tempfile::tempdir().unwrap();
    commands_end_with_their_sandbox(reduced(root.path())).await;
}

async fn paths_map_into_the_home_and_files_stay_inside(provider: LocalProvider) {
    let created = sandbox(&provider, &[]).await;
    let id = created.id.as_str();
    let home = inside_home(&provider, id);
    assert_eq!(
        run(&provider, id, "mkdir -p a/b && echo ok").await.output,
        "ok\n"
    );
    for cwd in [
        "a/b",
        "~/a/b",
        "/home/daytona/a/b",
        "/home/daytona/x/../a/b",
    ] {
        let request = ExecRequest {
            command: "pwd".to_string(),
            cwd: Some(cwd.to_string()),
            ..ExecRequest::default()
        };
        let output = provider.exec(id, &request).await.expect("exec");
        assert_eq!(output.output, format!("{home}/a/b\n"), "cwd {cwd:?}");
    }
    let missing = ExecRequest {
        command: "pwd".to_string(),
        cwd: Some("no/such/dir".to_string()),
        ..ExecRequest::default()
    };
    assert!(matches!(
        provider.exec(id, &missing).await,
        Err(ProviderError::Api { .. })
    ));

    provider
        .upload(id, "/home/daytona/mapped/file.txt", b"mapped")
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(provider.home_dir(id).join("mapped/file.txt")).unwrap(),
        b"mapped"
    );
    provider.upload(id, "~/tilde.txt", b"tilde").await.unwrap();
    assert_eq!(run(&provider, id, "cat tilde.txt").await.output, "tilde");

    let probe = format!("ralph-town-probe-{}", conformance::token());
    for outside in [
        format!("/etc/{probe}"),
        format!("../../{probe}"),
        format!("/home/daytona/../{probe}"),
    ] {
        let result = provider.upload(id, &outside, b"x").await;
        assert!(
            matches!(result, Err(ProviderError::Api { .. })),
            "upload to `{outside}`: {result:?}"
        );
    }
    assert!(provider.download(id, "/etc/hostname").await.is_err());
    // A symlink made inside must not lead host-side file access out of the sandbox.
    assert_eq!(
        run(&provider, id, "ln -s /etc escape && echo linked")
            .await
            .output,
        "linked\n"
    );
    assert!(
        provider
            .upload(id, &format!("escape/{probe}"), b"x")
            .await
            .is_err()
    );
    assert!(!Path::new("/etc").join(&probe).exists());
    assert!(provider.download(id, "escape/passwd").await.is_err());
    provider.delete(id).await.unwrap();
}

#[tokio::test]
async fn paths_stay_inside_with_bubblewrap() {
    let root = tempfile::tempdir().unwrap();
    let Some(provider) = isolated(root.path()) else {
        return;
    };
    paths_map_into_the_home_and_files_stay_inside(provider).await;
}

#[tokio::test]
async fn paths_stay_inside_without_bubblewrap() {
    let root = tempfile::tempdir().unwrap();
    let provider = reduced(root.path());
    let created = sandbox(&provider, &[]).await;
    // Without bubblewrap `/tmp` is the host's, so files cannot go there.
    assert!(matches!(
        provider.upload(&created.id, "/tmp/x", b"x").await,
        Err(ProviderError::Api { .. })
    ));
    paths_map_into_the_home_and_files_stay_inside(provider).await;
}

#[tokio::test]
async fn host_is_read_only_and_sandboxes_are_apart_with_bubblewrap() {
    let root = tempfile::tempdir().unwrap();
    let Some(provider) = isolated(root.path()) else {
        return;
    };
    let (a, b) = (sandbox(&provider, &[]).await, sandbox(&provider, &[]).await);
    let probe = format!("ralph-town-probe-{}", conformance::token());

    let output = run(
        &provider,
        &a.id,
        &format!("touch /usr/{probe} || touch /etc/{probe} || echo refused"),
    )
    .await;
    assert!(output.output.ends_with("refused\n"), "{output:?}");
    assert!(!Path::new("/usr").join(&probe).exists() && !Path::new("/etc").join(&probe).exists());
    assert_eq!(
        run(&provider, &a.id, "touch ~/mine && echo ok")
            .await
            .output,
        "ok\n"
    );
    assert!(provider.home_dir(&a.id).join("mine").exists());

    provider
        .upload(&b.id, "secret-of-b.txt", b"b only")
        .await
        .unwrap();
    let b_home = provider.home_dir(&b.id);
    let look = format!(
        "cat {home}/secret-of-b.txt 2>&1 || echo hidden; ls -A /home; ls -A {root} 2>/dev/null",
        home = b_home.display(),
        root = provider.root().display()
    );
    let output = run(&provider, &a.id, &look).await;
    assert!(
        output.output.ends_with("hidden\ndaytona\n"),
        "sandbox `a` sees too much: {output:?}"
    );

    // `/tmp` is private to a sandbox and lasts across its commands.
    let output = run(
        &provider,
        &a.id,
        &format!("echo from-a > /tmp/{probe} && cat /tmp/{probe}"),
    )
    .await;
    assert_eq!(output.output, "from-a\n");
    assert_eq!(
        run(&provider, &a.id, &format!("cat /tmp/{probe}"))
            .await
            .output,
        "from-a\n"
    );
    assert_eq!(
        run(
            &provider,
            &b.id,
            &format!("test -e /tmp/{probe} || echo absent")
        )
        .await
        .output,
        "absent\n"
    );
    assert!(!Path::new("/tmp").join(&probe).exists());
    provider
        .upload(&a.id, "/tmp/uploaded.sh", b"echo uploaded")
        .await
        .unwrap();
    assert_eq!(
        run(&provider, &a.id, "sh /tmp/uploaded.sh").await.output,
        "uploaded\n"
    );
    assert_eq!(
        provider
            .download(&a.id, &format!("/tmp/{probe}"))
            .await
            .unwrap(),
        b"from-a\n"
    );
}

#[tokio::test]
async fn read_only_paths_are_visible_but_not_writable_with_bubblewrap() {
    let root = tempfile::tempdir().unwrap();
    let Some(_) = isolated(root.path()) else {
        return;
    };
    let shared = tempfile::tempdir().unwrap();
    std::fs::write(shared.path().join("README"), "shared repo\n").unwrap();
    let options = LocalOptions {
        isolation: IsolationMode::Bubblewrap,
        read_only_paths: vec![shared.path().to_path_buf()],
    };
    let provider = LocalProvider::with_options(root.path().to_path_buf(), options).unwrap();
    let created = sandbox(&provider, &[]).await;
    let command = format!(
        "cat {dir}/README; touch {dir}/new || echo refused",
        dir = shared.path().display()
    );
    let output = run(&provider, &created.id, &command).await;
    assert!(
        output.output.starts_with("shared repo\n") && output.output.ends_with("refused\n"),
        "{output:?}"
    );
    assert!(!shared.path().join("new").exists());
}

#[tokio::test]
async fn shell_opens_a_login_shell_inside_the_sandbox() {
    let root = tempfile::tempdir().unwrap();
    let mut providers = vec![reduced(root.path())];
    providers.extend(isolated(root.path()));
    for provider in providers {
        let created = sandbox(&provider, &[("PLAIN", "shell")]).await;
        let home = inside_home(&provider, &created.id);
        let expected = format!("{home}|{home}|shell");
        let script = "echo \"$HOME|$PWD|$PLAIN\"; exit\n";

        let command = provider.shell_command(&created.id, None).await.unwrap();
        assert_eq!(run_interactive(command, script), expected);

        // The access a user is handed is our own command: the environment never rides along on
        // a command line.
        let ralph_town::provider::ShellAccess::Local {
            sandbox_id,
            command,
        } = provider.shell_access(&created.id, None, 60).await.unwrap()
        else {
            panic!("local shell access is a command of ours")
        };
        assert_eq!(sandbox_id, created.id);
        assert!(
            command.starts_with("ralph-town sandbox ssh ") && !command.contains("shell"),
            "{command}"
        );
        provider.delete(&created.id).await.unwrap();
    }
}

/// Feeds `script` to a shell command and returns the last line it printed.
fn run_interactive(mut command: std::process::Command, script: &str) -> String {
    use std::io::Write;
    let mut child = command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn shell");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string()
}

/// Creates from `count` threads at once, each with its own provider (and lock file handle) on
/// one root, as separate `ralph-town` processes would.
fn create_concurrently(
    root: &Path,
    names: Vec<String>,
    label: &str,
) -> Vec<Result<Sandbox, ProviderError>> {
    let barrier = Arc::new(std::sync::Barrier::new(names.len()));
    let threads: Vec<_> = names
        .into_iter()
        .map(|name| {
            let (root, barrier, label) = (root.to_path_buf(), barrier.clone(), label.to_string());
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                let provider = LocalProvider::with_isolation(root, IsolationMode::Off).unwrap();
                let request = CreateSandbox {
                    name,
                    labels: [("ralph-town-test/race".to_string(), label)].into(),
                    ..CreateSandbox::default()
                };
                barrier.wait();
                runtime.block_on(provider.create(&request))
            })
        })
        .collect();
    threads
        .into_iter()
        .map(|thread| thread.join().unwrap())
        .collect()
}

#[tokio::test]
async fn concurrent_creates_with_distinct_names_all_succeed() {
    let root = tempfile::tempdir().unwrap();
    let names: Vec<String> = (0..8).map(|index| format!("racer-{index}")).collect();
    let results = create_concurrently(root.path(), names, "distinct");
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let provider = reduced(root.path());
    let filter: Labels = [("ralph-town-test/race".to_string(), "distinct".to_string())].into();
    let mut listed: Vec<String> = provider
        .list(&filter)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        (0..8)
            .map(|index| format!("racer-{index}"))
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn concurrent_creates_with_one_name_leave_exactly_one_sandbox() {
    let root = tempfile::tempdir().unwrap();
    let results = create_concurrently(root.path(), vec!["contested".to_string(); 8], "same");
    let winners = results.iter().filter(|result| result.is_ok()).count();
    let conflicts = results
        .iter()
        .filter(|result| matches!(result, Err(ProviderError::Conflict { .. })))
        .count();
    assert_eq!((winners, conflicts), (1, 7), "{results:?}");
    let provider = reduced(root.path());
    let filter: Labels = [("ralph-town-test/race".to_string(), "same".to_string())].into();
    assert_eq!(provider.list(&filter).await.unwrap().len(), 1);
}

/// Child side of [`separate_processes_racing_for_one_name_leave_exactly_one_sandbox`]: run
/// only by that test, in its own process.
#[tokio::test]
#[ignore = "run as a child process by separate_processes_racing_for_one_name_leave_exactly_one_sandbox"]
async fn child_creates_the_contested_sandbox() {
    let root =
        PathBuf::from(std::env::var_os("RALPH_TOWN_TEST_ROOT").expect("RALPH_TOWN_TEST_ROOT"));
    let provider = reduced(&root);
    wait_for("the start signal", || root.join("go").exists()).await;
    let request = CreateSandbox {
        name: "contested".to_string(),
        ..CreateSandbox::default()
    };
    match provider.create(&request).await {
        Ok(_) => println!("outcome=created"),
        Err(ProviderError::Conflict { .. }) => println!("outcome=conflict"),
        Err(error) => panic!("unexpected error: {error}"),
    }
}

#[test]
fn separate_processes_racing_for_one_name_leave_exactly_one_sandbox() {
    let root = tempfile::tempdir().unwrap();
    let children: Vec<_> = (0..4)
        .map(|_| {
            std::process::Command::new(std::env::current_exe().unwrap())
                .args([
                    "--ignored",
                    "--exact",
                    "provider_local::child_creates_the_contested_sandbox",
                    "--nocapture",
                ])
                .env("RALPH_TOWN_TEST_ROOT", root.path())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    std::fs::write(root.path().join("go"), "").unwrap();
    let mut outcomes = BTreeMap::<String, usize>::new();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "a child failed");
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            if let Some(outcome) = line.strip_prefix("outcome=") {
                *outcomes.entry(outcome.to_string()).or_default() += 1;
            }
        }
    }
    assert_eq!(
        outcomes,
        BTreeMap::from([("conflict".to_string(), 3), ("created".to_string(), 1)])
    );
    let sandboxes = std::fs::read_dir(root.path().join("sandboxes"))
        .unwrap()
        .count();
    assert_eq!(sandboxes, 1);
}
