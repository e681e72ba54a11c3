//! Runs the rendered built-in setup script with bash against real git repositories in temp
//! dirs, the way a sandbox runs it: a clean environment with HOME, PATH and the secrets only.
//! Every git command here has HOME pointing at a temp dir; the host's own config is untouched.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ralph_town::setup;
use ralph_town::team::{GitIdentity, SecretRef, Teammate};

const SENTINEL: &str = "SENTINEL-s3cr3t-9f8e";
const HOSTILE: &str = "q'uote \"dq\" `touch pwned` $(touch pwned) ; touch pwned\nline2 \\ $HOME";
const FAKE_HOST: &str = "git.example.test";

fn tools() -> bool {
    crate::common::have("git") && crate::common::have("bash")
}

/// A command with a clean environment: HOME, PATH, no system git config.
fn clean(program: &str, home: &Path) -> Command {
    let mut command = Command::new(program);
    command
        .env_clear()
        .env("HOME", home)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("LANG", "C.UTF-8");
    command
}

fn git(home: &Path, directory: &Path, arguments: &[&str]) -> String {
    let output = clean("git", home)
        .current_dir(directory)
        .args(arguments)
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git {arguments:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// A temp world: `origin.git` (bare; `main`, `develop` one commit ahead, `feature/x` with its
/// own commit), an empty sandbox `home`, and a `bin` directory put first on PATH.
struct World {
    root: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        let world = World {
            root: tempfile::tempdir().unwrap(),
        };
        for directory in ["home", "bin", "seed", "run", "scratch"] {
            std::fs::create_dir(world.path(directory)).unwrap();
        }
        let seed = world.path("seed");
        let scratch = world.path("scratch");
        git(&scratch, &seed, &["init", "-q", "-b", "main"]);
        std::fs::write(seed.join("README.md"), "hello\n").unwrap();
        git(&scratch, &seed, &["add", "."]);
        git(&scratch, &seed, &["commit", "-qm", "initial"]);
        git(&scratch, &seed, &["checkout", "-qb", "develop"]);
        git(
            &scratch,
            &seed,
            &["commit", "-q", "--allow-empty", "-m", "develop work"],
        );
        git(&scratch, &seed, &["checkout", "-qb", "feature/x", "main"]);
        git(
            &scratch,
            &seed,
            &["commit", "-q", "--allow-empty", "-m", "feature work"],
        );
        git(&scratch, &seed, &["checkout", "-q", "main"]);
        let origin = world.path("origin.git");
        git(
            &scratch,
            world.root.path(),
            &[
                "clone",
                "-q",
                "--bare",
                seed.to_str().unwrap(),
                origin.to_str().unwrap(),
            ],
        );
        world
    }

    fn path(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }

    fn home(&self) -> PathBuf {
        self.path("home")
    }

    fn origin(&self) -> String {
        self.path("origin.git").to_string_lossy().into_owned()
    }

    /// Makes `https://git.example.test/acme/app.git` clone from the local origin, so the https
    /// credential path runs without a network.
    fn map_https_origin(&self) -> String {
        let url = format!("https://{FAKE_HOST}/acme/app.git");
        git(
            &self.home(),
            &self.home(),
            &[
                "config",
                "--global",
                &format!("url.{}.insteadOf", self.origin()),
                &url,
            ],
        );
        url
    }

    /// A fake `gh` that records its arguments, its stdin and whether it saw a token variable.
    fn fake_gh(&self) {
        let script = format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{run}/gh.args'\ncat > '{run}/gh.stdin'\n\
             env > '{run}/gh.env'\n",
            run = self.path("run").display()
        );
        let path = self.path("bin/gh");
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// Writes the script to `run/setup.sh` and runs `bash` on it from `run`, with `secrets`.
    fn run(&self, script: &str, secrets: &[(&str, &str)]) -> Output {
        let path = self.path("run/setup.sh");
        std::fs::write(&path, script).unwrap();
        let mut command = clean("bash", &self.home());
        let search = format!(
            "{}:{}",
            self.path("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        command
            .env("PATH", search)
            .current_dir(self.path("run"))
            .arg(&path);
        for (name, value) in secrets {
            command.env(name, value);
        }
        command.output().unwrap()
    }

    fn in_clone(&self, workdir: &str, arguments: &[&str]) -> String {
        git(&self.home(), &self.home().join(workdir), arguments)
    }
}

/// `alice`, working in `app`, on `branch` of `repo`.
pub(crate) fn teammate(repo: &str, branch: &str) -> Teammate {
    Teammate {
        name: "alice".into(),
        repo: repo.into(),
        branch: branch.into(),
        base_branch: None,
        snapshot: None,
        env: BTreeMap::new(),
        env_from_host: Default::default(),
        secrets: Vec::new(),
        git: GitIdentity {
            user_name: "Ralph Bot".into(),
            user_email: "ralph@example.com".into(),
        },
        lifecycle: Default::default(),
        ttl_minutes: None,
        resources: Default::default(),
        workdir: "app".into(),
        setup: None,
        work: None,
    }
}

fn secret(name: &str) -> SecretRef {
    SecretRef {
        name: name.into(),
        host_var: name.into(),
    }
}

#[track_caller]
fn assert_success(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "setup failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Every regular file under `directory` (symlinks not followed).
fn files(directory: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(directory).unwrap() {
        let entry = entry.unwrap();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            found.extend(files(&entry.path()));
        } else if kind.is_file() {
            found.push(entry.path());
        }
    }
    found
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

/// Prints variable `name` as seen by `shell` after sourcing `file`.
fn sourced(shell: &str, home: &Path, file: &Path, name: &str) -> String {
    let output = clean(shell, home)
        .arg("-c")
        .arg(format!(". \"$1\"; printf '%s' \"${name}\""))
        .arg(shell)
        .arg(file)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn existing_remote_branch_is_tracked_and_secrets_stay_in_their_files() {
    if !tools() {
        return;
    }
    let world = World::new();
    let url = world.map_https_origin();
    world.fake_gh();
    let mut teammate = teammate(&url, "feature/x");
    teammate.secrets = vec![secret("GH_TOKEN"), secret("ANTHROPIC_API_KEY")];
    let other = format!("{SENTINEL}-{HOSTILE}");
    let secrets = [
        ("GH_TOKEN", SENTINEL),
        ("ANTHROPIC_API_KEY", other.as_str()),
    ];
    let script = setup::render(&teammate, "squad").unwrap();
    assert!(!script.contains(SENTINEL));

    let output = world.run(&script, &secrets);
    let stdout = assert_success(&output);
    let home = world.home();
    let workdir = home.join("app");
    assert_eq!(
        stdout.lines().last().unwrap(),
        format!("setup: ready feature/x in {}", workdir.display())
    );
    assert!(!contains(&output.stdout, SENTINEL) && !contains(&output.stderr, SENTINEL));

    assert_eq!(
        world.in_clone("app", &["rev-parse", "--abbrev-ref", "HEAD"]),
        "feature/x"
    );
    assert_eq!(
        world.in_clone("app", &["rev-parse", "--abbrev-ref", "@{u}"]),
        "origin/feature/x"
    );
    assert_eq!(
        world.in_clone("app", &["config", "--get", "remote.origin.url"]),
        url
    );
    assert_eq!(
        git(&home, &home, &["config", "--global", "credential.helper"]),
        "store"
    );
    assert_eq!(
        git(&home, &home, &["config", "--global", "user.name"]),
        "Ralph Bot"
    );

    // git itself finds the token for the repository's host through the store helper.
    let credential_file = home.join(".git-credentials");
    let secrets_file = home.join(".config/ralph-town/secrets.env");
    assert_eq!(mode(&credential_file), 0o600);
    assert_eq!(mode(&secrets_file), 0o600);
    assert_eq!(mode(&home.join(".ralph-town/setup.log")), 0o600);
    let filled = clean("git", &home)
        .args(["credential", "fill"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(format!("protocol=https\nhost={FAKE_HOST}\n\n").as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    let filled = String::from_utf8(filled.stdout).unwrap();
    assert!(filled.contains("username=x-access-token\n"), "{filled}");
    assert!(filled.contains(&format!("password={SENTINEL}\n")));

    // gh got the token on stdin only, without the token variables in its environment.
    let run = world.path("run");
    assert_eq!(
        std::fs::read_to_string(run.join("gh.stdin")).unwrap(),
        SENTINEL
    );
    let gh_args = std::fs::read_to_string(run.join("gh.args")).unwrap();
    assert_eq!(
        gh_args,
        format!("auth\nlogin\n--hostname\n{FAKE_HOST}\n--with-token\n")
    );
    let gh_environment = std::fs::read_to_string(run.join("gh.env")).unwrap();
    assert!(
        !gh_environment
            .lines()
            .any(|line| line.starts_with("GH_TOKEN="))
    );

    // The secrets file reads back exactly, in bash, in dash-like sh, and through a login shell.
    assert_eq!(
        sourced("bash", &home, &secrets_file, "ANTHROPIC_API_KEY"),
        other
    );
    assert_eq!(
        sourced("sh", &home, &secrets_file, "ANTHROPIC_API_KEY"),
        other
    );
    let login = clean("bash", &home)
        .args(["-lc", "printf '%s' \"$GH_TOKEN\""])
        .current_dir(&home)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(login.stdout).unwrap(), SENTINEL);

    for file in files(&home) {
        if file == credential_file || file == secrets_file {
            continue;
        }
        assert!(
            !contains(&std::fs::read(&file).unwrap(), SENTINEL),
            "secret in {}",
            file.display()
        );
    }
    assert!(
        files(world.root.path())
            .iter()
            .all(|file| file.file_name().unwrap() != "pwned")
    );

    // A rerun converges to the same state instead of failing on the existing clone.
    let again = world.run(&script, &secrets);
    assert_success(&again);
    assert_eq!(
        world.in_clone("app", &["rev-parse", "--abbrev-ref", "@{u}"]),
        "origin/feature/x"
    );
    let hook_lines = std::fs::read_to_string(home.join(".profile"))
        .unwrap()
        .matches("ralph-town/profile.sh")
        .count();
    assert_eq!(
        hook_lines, 2,
        "the hook line is added once (it names the file twice)"
    );
    let stored = std::fs::read_to_string(&credential_file).unwrap();
    assert_eq!(
        stored,
        format!("https://x-access-token:{SENTINEL}@{FAKE_HOST}\n")
    );
}

#[test]
fn new_branch_forks_from_base_branch() {
    if !tools() {
        return;
    }
    let world = World::new();
    let mut teammate = teammate(&world.origin(), "feature/new");
    teammate.base_branch = Some("develop".into());
    teammate.workdir = "src/project".into();
    let output = world.run(&setup::render(&teammate, "squad").unwrap(), &[]);
    assert_success(&output);
    let clone = "src/project";
    assert_eq!(
        world.in_clone(clone, &["rev-parse", "--abbrev-ref", "HEAD"]),
        "feature/new"
    );
    assert_eq!(
        world.in_clone(clone, &["rev-parse", "HEAD"]),
        world.in_clone(clone, &["rev-parse", "origin/develop"])
    );
    assert_ne!(
        world.in_clone(clone, &["rev-parse", "HEAD"]),
        world.in_clone(clone, &["rev-parse", "origin/main"])
    );

    // No token: the helper is still `store`, over an empty private file.
    let home = world.home();
    assert_eq!(
        git(&home, &home, &["config", "--global", "credential.helper"]),
        "store"
    );
    let credential_file = home.join(".git-credentials");
    assert_eq!(mode(&credential_file), 0o600);
    assert_eq!(std::fs::read_to_string(credential_file).unwrap(), "");
    assert_success(&world.run(&setup::render(&teammate, "squad").unwrap(), &[]));
}

#[test]
fn new_branch_without_base_forks_from_the_remote_default() {
    if !tools() {
        return;
    }
    let world = World::new();
    let mut teammate = teammate(&world.origin(), "feature/fresh");
    teammate.workdir = world.path("elsewhere").to_string_lossy().into_owned();
    assert_success(&world.run(&setup::render(&teammate, "squad").unwrap(), &[]));
    let head = git(
        &world.home(),
        &world.path("elsewhere"),
        &["rev-parse", "HEAD"],
    );
    let main = git(
        &world.home(),
        &world.path("elsewhere"),
        &["rev-parse", "origin/main"],
    );
    assert_eq!(head, main);
}

#[test]
fn hostile_values_are_inert_and_read_back_exactly() {
    if !tools() {
        return;
    }
    let world = World::new();
    let branch = "x$(touch${IFS}pwned)`touch${IFS}pwned`';touch${IFS}pwned;'\"";
    let check = clean("git", &world.home())
        .args(["check-ref-format", "--branch", branch])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "the test branch must be a valid ref"
    );
    let mut teammate = teammate(&world.origin(), branch);
    teammate.workdir = "w$(touch pwned);'x".into();
    teammate.git.user_name = HOSTILE.into();
    teammate.env = BTreeMap::from([
        ("HOSTILE".into(), HOSTILE.into()),
        ("PLAIN".into(), "1".into()),
    ]);
    teammate.secrets = vec![secret("API_KEY")];
    let script = setup::render(&teammate, "team$(touch pwned)").unwrap();
    // `apply` writes the plain environment before setup, as here.
    let env_file = world.home().join(setup::ENV_FILE);
    std::fs::create_dir_all(env_file.parent().unwrap()).unwrap();
    std::fs::write(&env_file, setup::env_file(&teammate.env)).unwrap();

    let output = world.run(&script, &[("API_KEY", HOSTILE)]);
    assert_success(&output);
    assert!(
        files(world.root.path())
            .iter()
            .all(|file| file.file_name().unwrap() != "pwned")
    );

    let home = world.home();
    let workdir = teammate.workdir.as_str();
    assert!(home.join(workdir).join(".git").is_dir());
    assert_eq!(
        world.in_clone(workdir, &["rev-parse", "--abbrev-ref", "HEAD"]),
        branch
    );
    assert_eq!(
        git(&home, &home, &["config", "--global", "user.name"]),
        HOSTILE
    );
    let config = home.join(".config/ralph-town");
    assert_eq!(
        sourced("bash", &home, &config.join("env.sh"), "HOSTILE"),
        HOSTILE
    );
    assert_eq!(sourced("sh", &home, &config.join("env.sh"), "PLAIN"), "1");
    assert_eq!(
        sourced("bash", &home, &config.join("secrets.env"), "API_KEY"),
        HOSTILE
    );
    assert!(
        files(world.root.path())
            .iter()
            .all(|file| file.file_name().unwrap() != "pwned")
    );
}

#[test]
fn missing_secret_fails_naming_it_in_output_and_log() {
    if !tools() {
        return;
    }
    let world = World::new();
    let mut teammate = teammate(&world.origin(), "feature/x");
    teammate.secrets = vec![secret("ANTHROPIC_API_KEY")];
    let output = world.run(&setup::render(&teammate, "squad").unwrap(), &[]);
    assert!(!output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let expected = "setup: error: secret `ANTHROPIC_API_KEY` is not in the environment";
    assert!(stdout.contains(expected), "{stdout}");
    let log = std::fs::read_to_string(world.home().join(".ralph-town/setup.log")).unwrap();
    assert!(log.contains(expected), "{log}");
}

#[test]
fn clone_of_another_repository_in_workdir_is_refused() {
    if !tools() {
        return;
    }
    let world = World::new();
    let other = world.home().join("app");
    git(
        &world.home(),
        &world.home(),
        &["init", "-q", other.to_str().unwrap()],
    );
    git(
        &world.home(),
        &other,
        &["remote", "add", "origin", "/somewhere/else"],
    );
    let output = world.run(
        &setup::render(&teammate(&world.origin(), "feature/x"), "squad").unwrap(),
        &[],
    );
    assert!(!output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("is a clone of `/somewhere/else`"),
        "{stdout}"
    );
}

#[test]
fn extended_template_runs_its_own_block() {
    if !tools() {
        return;
    }
    let world = World::new();
    let template = world.path("run/team.sh.j2");
    std::fs::write(
        &template,
        "{% extends \"builtin/setup.sh.j2\" %}\n{% block extra %}\n  \
         printf '%s\\n' {{ teammate.name }} > \"$HOME/extra\"\n{% endblock %}\n",
    )
    .unwrap();
    let mut teammate = teammate(&world.origin(), "feature/x");
    teammate.name = "a'b$(touch pwned)".into();
    teammate.setup = Some(template);
    assert_success(&world.run(&setup::render(&teammate, "squad").unwrap(), &[]));
    assert_eq!(
        std::fs::read_to_string(world.home().join("extra")).unwrap(),
        "a'b$(touch pwned)\n"
    );
}

#[test]
fn failing_command_is_named_in_the_output_tail() {
    if !tools() {
        return;
    }
    let world = World::new();
    let missing = world.path("no-such-origin");
    let teammate = teammate(missing.to_str().unwrap(), "feature/x");
    let output = world.run(&setup::render(&teammate, "squad").unwrap(), &[]);
    assert!(!output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    assert!(last.starts_with("setup: failed at line "), "{stdout}");
    assert!(last.contains("git clone"), "{stdout}");
}

#[test]
fn missing_base_branch_fails_with_its_name() {
    if !tools() {
        return;
    }
    let world = World::new();
    let mut teammate = teammate(&world.origin(), "feature/new");
    teammate.base_branch = Some("release".into());
    let output = world.run(&setup::render(&teammate, "squad").unwrap(), &[]);
    assert!(!output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("setup: error: base branch `release` is not on the remote"),
        "{stdout}"
    );
}
