//! Escapes from `local` sandboxes tried for real, with root outside (as in containers and on
//! CI): remounting the host read-write, writing a host file, unmounting the tmpfs that hides
//! the state root or a host home to read another sandbox's secrets or the host's
//! `~/.git-credentials`. Each must fail, through the provider, the command line and `serve`'s
//! toolbox. Also: hidden paths stay hidden inside a read-only path that contains them, an
//! ordinary user still gets working sandboxes, files written from outside belong to the sandbox
//! user, and reduced isolation refuses a `workdir` on the host.

use crate::common::{self, Run, SENTINEL, World, have, skip};
use crate::serve_support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use ralph_town::provider::Provider;
use ralph_town::provider::local::{Isolation, IsolationMode, LocalOptions, LocalProvider};
use ralph_town::provider::{CreateSandbox, ExecRequest};

/// Whether this runs as root; skips otherwise (the escapes need root outside).
#[track_caller]
fn as_root() -> bool {
    let root = rustix::process::geteuid().is_root();
    if !root {
        skip("root outside the sandbox");
    }
    root
}

/// A provider that must use bubblewrap, or `None` (the test skips).
fn isolated(root: &Path, read_only_paths: Vec<PathBuf>) -> Option<LocalProvider> {
    let options = LocalOptions {
        isolation: IsolationMode::Bubblewrap,
        read_only_paths,
    };
    match LocalProvider::with_options(root.to_path_buf(), options) {
        Ok(provider) => Some(provider),
        Err(error) => {
            skip(&format!("working bubblewrap ({error})"));
            None
        }
    }
}

/// A directory outside `/tmp` (which every sandbox replaces with its own) that everyone may
/// read, `mode` aside: only the sandbox's mounts keep what is inside away.
fn open_dir(mode: u32) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("isolation-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(mode)).unwrap();
    dir
}

async fn create(provider: &LocalProvider) -> String {
    let request = CreateSandbox {
        name: format!("isolation-{}", crate::conformance::token()),
        ..CreateSandbox::default()
    };
    provider.create(&request).await.expect("create").id
}

async fn exec(provider: &LocalProvider, id: &str, command: &str) -> String {
    let request = ExecRequest {
        command: command.to_string(),
        ..ExecRequest::default()
    };
    provider.exec(id, &request).await.expect("exec").output
}

/// Plants the sentinel as sandbox `id`'s `secrets.env`, where setup keeps secrets, and
/// returns its host path.
async fn plant_secret(provider: &LocalProvider, id: &str) -> PathBuf {
    let path = ".config/ralph-town/secrets.env";
    let line = format!("export TOKEN='{SENTINEL}'\n");
    provider.upload(id, path, line.as_bytes()).await.unwrap();
    provider.home_dir(id).join(path)
}

/// Tries every escape through `run` (a command in one sandbox) and checks that none worked:
/// `state` is the state root, `secret` another sandbox's secret file, `probe` a host file in a
/// directory everyone may write.
async fn escapes_fail(
    run: impl AsyncFn(String) -> String,
    state: &Path,
    secret: &Path,
    probe: &Path,
) {
    let identity = run(
        "id -u; grep -E '^(CapPrm|CapEff|CapBnd|NoNewPrivs):' /proc/self/status; echo \"$USER $HOME\""
            .to_string(),
    )
    .await;
    assert_eq!(
        identity,
        "1000\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n\
         CapBnd:\t0000000000000000\nNoNewPrivs:\t1\ndaytona /home/daytona\n"
    );

    let probe = probe.display();
    let write = run(format!(
        "mount -o remount,rw / 2>&1; touch {probe} 2>&1 && echo wrote"
    ))
    .await;
    assert!(!write.contains("wrote"), "the host was written: {write}");

    let (state, secret) = (state.display(), secret.display());
    let unhidden = run(format!(
        "for hidden in {state} /root; do umount $hidden; umount -l $hidden; done 2>&1; \
         cat {secret} 2>&1; echo \"state: $(ls -A {state})\"; echo \"root: $(ls -A /root)\""
    ))
    .await;
    assert!(
        !unhidden.contains(SENTINEL),
        "another sandbox's secret: {unhidden}"
    );
    assert!(
        unhidden.ends_with("state: \nroot: \n"),
        "a hidden directory shows: {unhidden}"
    );
}

#[tokio::test]
async fn escapes_from_a_sandbox_fail_with_root_outside() {
    if !as_root() {
        return;
    }
    let (dir, writable) = (open_dir(0o755), open_dir(0o777));
    let state = dir.path().join("state");
    let Some(provider) = isolated(&state, Vec::new()) else {
        return;
    };
    let (a, b) = (create(&provider).await, create(&provider).await);
    let secret = plant_secret(&provider, &b).await;
    let probe = writable.path().join("escaped");
    let run = async |command: String| exec(&provider, &a, &command).await;
    escapes_fail(run, provider.root(), &secret, &probe).await;
    assert!(!probe.exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn escapes_through_the_serve_toolbox_fail_with_root_outside() {
    if !as_root() {
        return;
    }
    let writable = open_dir(0o777);
    let server = serve_support::start_with(serve_support::Options {
        root: Some(open_dir(0o755)),
        ..serve_support::Options::default()
    })
    .await;
    if server.provider.isolation() != Isolation::Bubblewrap {
        skip("working bubblewrap");
        return;
    }
    let a = server.create(serde_json::json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let b = server.create(serde_json::json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let secret = plant_secret(&server.provider, &b).await;
    let probe = writable.path().join("escaped");
    let run = async |command: String| {
        let reply = server.exec(&a, &command).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        reply.body["result"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    escapes_fail(run, server.provider.root(), &secret, &probe).await;
    assert!(!probe.exists());
}

#[test]
fn host_git_credentials_stay_hidden_from_a_command_run_by_root() {
    if !(as_root() && have("bwrap")) {
        return;
    }
    let world = World::new();
    let dir = open_dir(0o755);
    let home = dir.path().join("host-home");
    std::fs::create_dir(&home).unwrap();
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        home.join(".git-credentials"),
        format!("https://u:{SENTINEL}@x\n"),
    )
    .unwrap();
    let home_text = home.display();
    let script = format!(
        "cat {home_text}/.git-credentials; umount {home_text}; umount -l {home_text}; \
         cat {home_text}/.git-credentials; echo \"home: $(ls -A {home_text})\""
    );
    let run = Run::from(
        world
            .command(&["run", "--", &script])
            .env("HOME", &home)
            .env("RALPH_TOWN_HOME", dir.path().join("state"))
            .output()
            .unwrap(),
    );
    assert!(!run.all().contains(SENTINEL), "{run:?}");
    assert!(run.stdout.ends_with("home: \n"), "{run:?}");
}

/// The repository holds the state root (`repo = "."` in a team whose state lives in it, or
/// `serve --read-only` of a directory holding its state), outside `/tmp` and, root-only,
/// inside it.
fn repositories() -> Vec<tempfile::TempDir> {
    let repositories = vec![open_dir(0o755), tempfile::tempdir().unwrap()];
    for repository in &repositories {
        std::fs::write(repository.path().join("README"), "shown\n").unwrap();
    }
    repositories
}

fn assert_state_hidden(output: &str) {
    assert!(
        !output.contains(SENTINEL),
        "another sandbox's secret: {output}"
    );
    assert!(
        output.starts_with("shown\n"),
        "the repository is not shown: {output}"
    );
    assert!(
        output.ends_with("state: \n"),
        "the state root shows: {output}"
    );
}

fn look_command(repository: &Path, secret: &Path) -> String {
    format!(
        "cat {repository}/README; cat {secret} 2>&1; echo \"state: $(ls -A {repository}/state)\"",
        repository = repository.display(),
        secret = secret.display()
    )
}

#[tokio::test]
async fn state_root_inside_a_read_only_path_stays_hidden() {
    for repository in repositories() {
        let state = repository.path().join("state");
        let Some(provider) = isolated(&state, vec![repository.path().to_path_buf()]) else {
            return;
        };
        let (a, b) = (create(&provider).await, create(&provider).await);
        let secret = plant_secret(&provider, &b).await;
        let output = exec(&provider, &a, &look_command(repository.path(), &secret)).await;
        assert_state_hidden(&output);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn state_root_inside_a_read_only_path_of_serve_stays_hidden() {
    for repository in repositories() {
        let path = repository.path().to_path_buf();
        let server = serve_support::start_with(serve_support::Options {
            read_only_paths: vec![path.clone()],
            root: Some(repository),
            ..serve_support::Options::default()
        })
        .await;
        if server.provider.isolation() != Isolation::Bubblewrap {
            skip("working bubblewrap");
            return;
        }
        let a = server.create(serde_json::json!({})).await["id"]
            .as_str()
            .unwrap()
            .to_string();
        let b = server.create(serde_json::json!({})).await["id"]
            .as_str()
            .unwrap()
            .to_string();
        let secret = plant_secret(&server.provider, &b).await;
        let reply = server.exec(&a, &look_command(&path, &secret)).await;
        assert_state_hidden(reply.body["result"].as_str().unwrap_or_default());
        server.shutdown().await;
    }
}

/// A read-only path inside root's hidden home (a Python under `/root/.pyenv`, say) showed
/// nowhere when the command ran as root outside: bubblewrap, as the sandbox user, could not
/// make its mount point in the hiding tmpfs it had bound read-only ("Can't mkdir parents").
#[tokio::test]
async fn a_read_only_path_inside_roots_hidden_home_is_shown_with_root_outside() {
    if !as_root() {
        return;
    }
    let shown = tempfile::Builder::new()
        .prefix(".isolation-shown-")
        .tempdir_in("/root")
        .unwrap();
    let deep = shown.path().join("versions/3.11");
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(deep.join("python"), "shown\n").unwrap();
    std::fs::write(shown.path().join("beside"), "not shown\n").unwrap();
    let state = tempfile::tempdir().unwrap();
    let Some(provider) = isolated(state.path(), vec![deep.clone()]) else {
        return;
    };
    let id = create(&provider).await;
    let output = exec(
        &provider,
        &id,
        &format!(
            "cat {deep}/python; cat {beside} 2>&1 >/dev/null | wc -l; ls -A /root",
            deep = deep.display(),
            beside = shown.path().join("beside").display()
        ),
    )
    .await;
    let name = shown.path().file_name().unwrap().to_string_lossy();
    // The path shows; of the rest of `/root`, only the directories leading to it.
    assert_eq!(output, format!("shown\n1\n{name}\n"));
}

/// Inside bubblewrap the sandbox user is uid 1000, which the host's user database named
/// after a user of its own or not at all (`whoami` failed, shells prompted `I have no name!`):
/// it is `daytona`, at home in `/home/daytona`, as on Daytona, and the host's other users stay.
#[tokio::test]
async fn the_sandbox_user_is_named_daytona() {
    let state = tempfile::tempdir().unwrap();
    let Some(provider) = isolated(state.path(), Vec::new()) else {
        return;
    };
    let id = create(&provider).await;
    let output = exec(
        &provider,
        &id,
        "whoami; id -gn; getent passwd daytona | cut -d: -f3,4,6; getent passwd 1000 | cut -d: -f1; \
         getent passwd root | cut -d: -f1; touch owned; stat -c %U:%G owned",
    )
    .await;
    assert_eq!(
        output,
        "daytona\ndaytona\n1000:1000:/home/daytona\ndaytona\nroot\ndaytona:daytona\n"
    );
}

#[tokio::test]
async fn files_written_from_outside_belong_to_the_sandbox_user() {
    let root = tempfile::tempdir().unwrap();
    let Some(provider) = isolated(root.path(), Vec::new()) else {
        return;
    };
    let id = create(&provider).await;
    provider
        .upload(&id, "app/src/main.rs", b"fn main() {}\n")
        .await
        .unwrap();
    let output = exec(
        &provider,
        &id,
        "echo more >> app/src/main.rs && mkdir app/src/more && rm app/src/main.rs && echo changed",
    )
    .await;
    assert_eq!(output, "changed\n");
}

#[tokio::test]
async fn home_made_by_root_is_handed_over_to_the_sandbox_user() {
    if !as_root() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    // Without bubblewrap commands run as root, as every command did before.
    let reduced = LocalProvider::with_isolation(root.path().to_path_buf(), IsolationMode::Off)
        .expect("provider");
    let id = create(&reduced).await;
    exec(
        &reduced,
        &id,
        "mkdir -p old/deep && echo one > old/deep/file",
    )
    .await;
    let Some(provider) = isolated(root.path(), Vec::new()) else {
        return;
    };
    let output = exec(
        &provider,
        &id,
        "echo two >> old/deep/file && touch old/new && cat old/deep/file",
    )
    .await;
    assert_eq!(output, "one\ntwo\n");
    let owner = std::fs::metadata(provider.home_dir(&id).join("old/deep/file")).unwrap();
    assert_ne!(owner.uid(), 0);
}

#[test]
fn an_ordinary_user_runs_sandboxes_in_its_own_user_namespace() {
    if !(as_root() && have("setpriv") && have("git") && have("bwrap")) {
        return;
    }
    let id = "65530";
    let dir = open_dir(0o755);
    let origin = dir.path().join("origin");
    std::fs::create_dir(&origin).unwrap();
    common::git(&origin, &["init", "-q", "-b", "main"]);
    std::fs::write(origin.join("README.md"), "origin\n").unwrap();
    common::git(&origin, &["add", "README.md"]);
    common::git(&origin, &["commit", "-q", "-m", "first"]);
    // The state root inside the repository, which sandboxes see read-only: hidden there too.
    let (home, state) = (dir.path().join("home"), origin.join(".state"));
    std::fs::create_dir(&home).unwrap();
    std::fs::create_dir(&state).unwrap();
    let chown = Command::new("chown")
        .args(["-R", &format!("{id}:{id}")])
        .args([&origin, &home, &state])
        .status()
        .unwrap();
    assert!(chown.success());
    // The binary may sit where only root can reach it.
    let binary = dir.path().join("ralph-town");
    std::fs::copy(env!("CARGO_BIN_EXE_ralph-town"), &binary).unwrap();

    let script = format!(
        "id -u; grep '^CapEff:' /proc/self/status; cat README.md; touch ~/mine && echo wrote; \
         echo \"state: $(ls -A {})\"",
        state.display()
    );
    let mut command = Command::new("setpriv");
    command
        .args([
            &format!("--reuid={id}"),
            &format!("--regid={id}"),
            "--clear-groups",
            "--",
        ])
        .arg(&binary)
        .args(["run", "--repo"])
        .arg(&origin)
        .args(["--", &script])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("RALPH_TOWN_HOME", &state)
        .env("NO_COLOR", "1");
    // A test thread forking while the copy was being written holds it open until that child
    // execs: the copy cannot run ("Text file busy") for that moment, and nothing has run yet.
    let mut attempts = 0;
    let run = loop {
        let run = Run::from(command.output().unwrap());
        attempts += 1;
        if run.code == 0 || !run.stderr.contains("Text file busy") || attempts == 50 {
            break run.success();
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(
        run.stdout,
        "1000\nCapEff:\t0000000000000000\norigin\nwrote\nstate: \n"
    );
    assert!(!run.stderr.contains("reduced"), "{run:?}");
}

#[tokio::test]
async fn absolute_workdir_is_refused_in_reduced_isolation() {
    let root = tempfile::tempdir().unwrap();
    let reduced = LocalProvider::with_isolation(root.path().to_path_buf(), IsolationMode::Off)
        .expect("provider");
    let error = reduced
        .check_workdir("alice", "/tmp/app")
        .unwrap_err()
        .to_string();
    for part in ["`/tmp/app`", "`alice`", "bubblewrap", "relative"] {
        assert!(error.contains(part), "{error}");
    }
    for relative in ["app", "~/app", "work/app"] {
        assert!(
            reduced.check_workdir("alice", relative).is_ok(),
            "{relative}"
        );
    }
    if let Some(provider) = isolated(root.path(), Vec::new()) {
        // Inside bubblewrap `/tmp` is the sandbox's own.
        assert!(provider.check_workdir("alice", "/tmp/app").is_ok());
    }
}
