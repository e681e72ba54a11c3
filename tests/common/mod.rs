//! A test harness that drives the real `ralph-town` binary in a temporary directory with its
//! own state root, its own fake `HOME` and a real local git origin.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use tempfile::TempDir;

/// A sentinel secret: it must never show up outside the sandbox's own 0600 files.
pub(crate) const SENTINEL: &str = "SENTINEL-7f3c-do-not-print-e91a";

/// The one skip policy. A test whose prerequisite is missing calls this and returns: on a
/// user's machine it prints why and the test passes as skipped; under `CI=true`, where every
/// prerequisite is installed by `.ci/run`, a missing one is a failure.
#[track_caller]
pub(crate) fn skip(reason: &str) {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("CI=true requires {reason}");
    }
    eprintln!("skipping: this test needs {reason}");
}

/// Whether `tool` is on `PATH` (or in `/usr/sbin`, `/sbin`); when it is not, [`skip`]s.
#[track_caller]
pub(crate) fn have(tool: &str) -> bool {
    // System tools (`nft`) live in directories an ordinary user's `PATH` leaves out.
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<std::path::PathBuf> = std::env::split_paths(&path).collect();
    dirs.extend(["/usr/sbin", "/sbin"].map(std::path::PathBuf::from));
    let dirs = std::env::join_paths(dirs).unwrap_or(path);
    let found = which::which_in(tool, Some(dirs), "/").is_ok();
    if !found {
        skip(&format!("`{tool}`"));
    }
    found
}

/// The Python of the SDK virtual environment (`$RALPH_TOWN_SDK_VENV`, else `target/sdk-venv`,
/// made by `scripts/sdk-venv.sh`) when it can import every one of `modules`; else [`skip`]s.
#[track_caller]
pub(crate) fn sdk_python(modules: &[&str]) -> Option<PathBuf> {
    let venv = std::env::var_os("RALPH_TOWN_SDK_VENV").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target/sdk-venv"),
        PathBuf::from,
    );
    let python = venv.join("bin/python");
    let usable = Command::new(&python)
        .args(["-c", &format!("import {}", modules.join(", "))])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if usable {
        return Some(python);
    }
    skip(&format!(
        "the Python modules {} in `{}` (make it with `scripts/sdk-venv.sh`)",
        modules.join(", "),
        venv.display()
    ));
    None
}

/// One test's world.
pub(crate) struct World {
    pub dir: TempDir,
}

impl World {
    pub(crate) fn new() -> World {
        let world = World {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        std::fs::create_dir_all(world.home()).unwrap();
        std::fs::create_dir_all(world.state()).unwrap();
        // Host git files that must stay byte-for-byte unchanged.
        std::fs::write(world.home().join(".gitconfig"), HOST_GITCONFIG).unwrap();
        std::fs::write(world.home().join(".git-credentials"), HOST_CREDENTIALS).unwrap();
        world
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The fake host home.
    pub(crate) fn home(&self) -> PathBuf {
        self.path().join("host-home")
    }

    /// `RALPH_TOWN_HOME`.
    pub(crate) fn state(&self) -> PathBuf {
        self.path().join("state")
    }

    /// Writes `text` as `name` in the test directory and returns its path.
    pub(crate) fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, text).unwrap();
        path
    }

    /// A command for the binary with a clean environment.
    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ralph-town"));
        command
            .args(args)
            .current_dir(self.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.home())
            .env("RALPH_TOWN_HOME", self.state())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        command
    }

    /// Runs the binary to completion.
    pub(crate) fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[])
    }

    /// Runs the binary with `input` on its stdin (a pipe, never a terminal).
    pub(crate) fn run_input(&self, args: &[&str], input: &str) -> Run {
        use std::io::Write;
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run ralph-town");
        let mut stdin = child.stdin.take().unwrap();
        let input = input.as_bytes().to_vec();
        let writer = std::thread::spawn(move || {
            // A command that does not read its input closes the pipe: not a failure.
            let _ = stdin.write_all(&input);
        });
        let output = child.wait_with_output().expect("run ralph-town");
        writer.join().unwrap();
        Run::from(output)
    }

    /// Runs the binary with extra environment.
    pub(crate) fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut command = self.command(args);
        for (key, value) in env {
            command.env(key, value);
        }
        Run::from(command.output().expect("run ralph-town"))
    }

    /// Creates a real git origin with `main` (one commit) and the extra `branches`, each with
    /// a commit of its own; returns its path.
    pub(crate) fn origin(&self, branches: &[&str]) -> PathBuf {
        let origin = self.path().join("origin");
        std::fs::create_dir_all(&origin).unwrap();
        git(&origin, &["init", "-q", "-b", "main"]);
        std::fs::write(origin.join("README.md"), "origin\n").unwrap();
        git(&origin, &["add", "README.md"]);
        git(&origin, &["commit", "-q", "-m", "first"]);
        for branch in branches {
            git(&origin, &["checkout", "-q", "-b", branch]);
            std::fs::write(origin.join("branch.txt"), branch).unwrap();
            git(&origin, &["add", "branch.txt"]);
            git(&origin, &["commit", "-q", "-m", &format!("on {branch}")]);
            git(&origin, &["checkout", "-q", "main"]);
        }
        origin
    }

    /// Ids of the sandboxes in the state root.
    pub(crate) fn sandbox_dirs(&self) -> Vec<PathBuf> {
        match std::fs::read_dir(self.state().join("sandboxes")) {
            Ok(entries) => entries.map(|entry| entry.unwrap().path()).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Asserts that the host's git files are unchanged.
    pub(crate) fn assert_host_git_untouched(&self) {
        assert_eq!(
            std::fs::read_to_string(self.home().join(".gitconfig")).unwrap(),
            HOST_GITCONFIG
        );
        assert_eq!(
            std::fs::read_to_string(self.home().join(".git-credentials")).unwrap(),
            HOST_CREDENTIALS
        );
    }
}

const HOST_GITCONFIG: &str = "[user]\n\tname = Host User\n\temail = host@example.com\n";
const HOST_CREDENTIALS: &str = "https://host-user:host-token@example.com\n";

/// A directory, named `prefix…`, that sandboxes and build steps see (read-only, as they see
/// the host): under `/var/tmp`, since what a test's own temporary directories are under
/// (`/tmp`, a home, wherever the checkout is) may be hidden from them. Open to every user, so
/// that a sandbox's user reads it too.
pub(crate) fn seen_by_sandboxes(prefix: &str) -> TempDir {
    use std::os::unix::fs::PermissionsExt as _;
    let folder = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in("/var/tmp")
        .expect("a directory under /var/tmp");
    std::fs::set_permissions(folder.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    folder
}

/// Runs git in `dir` with a fixed identity and no host configuration.
pub(crate) fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .output()
        .expect("run git");
    assert!(
        output.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// A finished run.
#[derive(Debug)]
pub(crate) struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Run {
    #[track_caller]
    pub(crate) fn success(self) -> Run {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub(crate) fn code(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "expected exit {code}\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Both streams, for "never printed" checks.
    pub(crate) fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}
