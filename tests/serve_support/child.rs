//! The real `ralph-town serve` binary as a child process, started one way for every test that
//! needs the binary rather than the in-process server: a clean environment (`PATH`, `HOME`,
//! `RALPH_TOWN_HOME`, the API key in `RALPH_TOWN_SERVE_API_KEY`, `NO_COLOR`), `--listen
//! 127.0.0.1:0` unless told otherwise, stdin from `/dev/null`, stderr always read (in the
//! background, so that a full pipe never stalls the server) and stdout read only when asked.
//! Its working directory is the test's own, outside the state root, whose processes tests count.
//!
//! [`ServeCommand::start`] (blocking) and [`ServeCommand::start_async`] (a `tokio` child) wait
//! for the announcement `serve` prints once it listens, up to its `export ...` line, and hand
//! back what it said. The child is killed and reaped on drop. Nothing here reaches beyond
//! 127.0.0.1: the tests choose the addresses.

use std::ffi::{OsStr, OsString};
use std::net::SocketAddr;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::child_output::{Announcement, Output};
use crate::common::World;

/// How long `serve` may take to announce itself, or to exit once it should.
pub(super) const DEADLINE: Duration = Duration::from_secs(120);

/// What the child `serve` runs with; see the module's documentation for the defaults.
pub(crate) struct ServeCommand {
    /// A program (and its arguments) `serve` is run through: `setpriv ... --`, `unshare ...`.
    launcher: Vec<OsString>,
    listen: String,
    args: Vec<OsString>,
    /// Set after the common environment, so that they override it.
    envs: Vec<(OsString, OsString)>,
    home: PathBuf,
    state: PathBuf,
    key: Option<String>,
    stdout: bool,
}

impl ServeCommand {
    /// `serve` with `HOME` at `home` and its state root at `state`, the key [`super::KEY`].
    pub(crate) fn new(home: &Path, state: &Path) -> ServeCommand {
        ServeCommand {
            launcher: Vec::new(),
            listen: "127.0.0.1:0".to_string(),
            args: Vec::new(),
            envs: Vec::new(),
            home: home.to_path_buf(),
            state: state.to_path_buf(),
            key: Some(super::KEY.to_string()),
            stdout: false,
        }
    }

    /// `serve` in `world`: its fake home, and its `RALPH_TOWN_HOME` as the state root.
    pub(crate) fn in_world(world: &World) -> ServeCommand {
        ServeCommand::new(&world.home(), &world.state())
    }

    /// Listens at `address` (`127.0.0.1:PORT` to come back on the port of an earlier one).
    pub(crate) fn listen(mut self, address: &str) -> ServeCommand {
        self.listen = address.to_string();
        self
    }

    /// Arguments after `serve --listen ADDRESS`.
    pub(crate) fn args<S: AsRef<OsStr>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.args
            .extend(args.into_iter().map(|arg| arg.as_ref().to_os_string()));
        self
    }

    /// One more variable, over the common ones.
    pub(crate) fn env(mut self, name: &str, value: impl AsRef<OsStr>) -> ServeCommand {
        self.envs.push((name.into(), value.as_ref().to_os_string()));
        self
    }

    /// The state root (`RALPH_TOWN_HOME`) instead of the one given to [`ServeCommand::new`].
    pub(crate) fn state(mut self, state: &Path) -> ServeCommand {
        self.state = state.to_path_buf();
        self
    }

    /// `key` in `RALPH_TOWN_SERVE_API_KEY`, or (`None`) no key at all: `serve` makes its own.
    pub(crate) fn key(mut self, key: Option<&str>) -> ServeCommand {
        self.key = key.map(str::to_string);
        self
    }

    /// Runs `serve` through `launcher` (`["unshare", "--mount", "--"]`, say).
    pub(crate) fn through<S: AsRef<OsStr>>(
        mut self,
        launcher: impl IntoIterator<Item = S>,
    ) -> Self {
        self.launcher = launcher
            .into_iter()
            .map(|arg| arg.as_ref().to_os_string())
            .collect();
        self
    }

    /// Runs `serve` as `nobody` (uid and gid 65534, through `setpriv`, which needs root), with
    /// a `PATH` of the system's directories only (root's may hold ones `nobody` cannot read).
    pub(crate) fn run_as_nobody(self) -> ServeCommand {
        let setpriv = [
            "--reuid",
            "65534",
            "--regid",
            "65534",
            "--clear-groups",
            "--",
        ];
        self.through(std::iter::once("setpriv").chain(setpriv))
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
    }

    /// Reads stdout too, into what [`Spawned::printed`] returns (after stderr's lines).
    pub(crate) fn stdout(mut self) -> ServeCommand {
        self.stdout = true;
        self
    }

    fn command(&self) -> Command {
        let binary = env!("CARGO_BIN_EXE_ralph-town");
        let mut command = match self.launcher.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(binary);
                command
            }
            None => Command::new(binary),
        };
        command
            .args(["serve", "--listen", &self.listen])
            .args(&self.args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("RALPH_TOWN_HOME", &self.state)
            .env("NO_COLOR", "1");
        if let Some(key) = &self.key {
            command.env("RALPH_TOWN_SERVE_API_KEY", key);
        }
        command
            .envs(self.envs.iter().map(|(name, value)| (name, value)))
            .stdin(Stdio::null())
            .stdout(if self.stdout {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stderr(Stdio::piped());
        command
    }

    /// Starts `serve` and waits for its announcement; fails the test, with all it said, when
    /// it exits first or takes longer than two minutes.
    pub(crate) fn start(self) -> Serve {
        let key = self.key.clone();
        let (child, output) = self.spawn();
        let mut child = Reaped(child);
        match output.announcement() {
            Ok((output, announcement)) => Spawned::new(child, key, announcement, output),
            Err(said) => {
                let _ = child.kill();
                panic!("{said}")
            }
        }
    }

    /// [`ServeCommand::start`] as a `tokio` child, killed on drop.
    pub(crate) async fn start_async(self) -> AsyncServe {
        let key = self.key.clone();
        let mut command = tokio::process::Command::from(self.command());
        let mut child = command.kill_on_drop(true).spawn().expect("serve starts");
        let stderr = child.stderr.take().unwrap().into_owned_fd().unwrap();
        let stdout = child
            .stdout
            .take()
            .map(|stdout| std::fs::File::from(stdout.into_owned_fd().unwrap()));
        let output = Output::read(std::fs::File::from(stderr), stdout);
        let announced = tokio::task::spawn_blocking(move || output.announcement())
            .await
            .unwrap();
        match announced {
            Ok((output, announcement)) => Spawned::new(child, key, announcement, output),
            Err(said) => {
                let _ = child.start_kill();
                panic!("{said}")
            }
        }
    }

    /// Starts a `serve` that must refuse to start: its exit status and all it said. Fails the
    /// test when it is still running after two minutes.
    pub(crate) fn refused(self) -> (ExitStatus, String) {
        let (child, output) = self.spawn();
        let mut child = Reaped(child);
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > DEADLINE {
                let _ = child.kill();
                panic!("serve kept running:\n{}", output.printed());
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        output.finish();
        (status, output.printed())
    }

    fn spawn(&self) -> (std::process::Child, Output) {
        let mut child = self.command().spawn().expect("serve starts");
        let stderr = child.stderr.take().unwrap();
        let stdout = child.stdout.take();
        let output = Output::read(stderr, stdout);
        (child, output)
    }
}

/// A `std` child process killed and reaped on drop.
pub(crate) struct Reaped(std::process::Child);

impl Deref for Reaped {
    type Target = std::process::Child;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl DerefMut for Reaped {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A started `serve` and what it announced.
pub(crate) struct Spawned<C> {
    pub(crate) child: C,
    /// `http://127.0.0.1:PORT/api`.
    pub(crate) api: String,
    /// Where its SSH gateway listens, when it has one.
    pub(crate) ssh: Option<SocketAddr>,
    /// The `  export DAYTONA_API_URL=... DAYTONA_API_KEY=...` line it printed for clients.
    pub(crate) export: String,
    /// The lines it said on stderr before it announced the API.
    pub(crate) said: Vec<String>,
    /// The key its clients send (none when `serve` made its own).
    key: Option<String>,
    output: Output,
}

/// A blocking `serve`.
pub(crate) type Serve = Spawned<Reaped>;
/// A `serve` for async tests.
pub(crate) type AsyncServe = Spawned<tokio::process::Child>;

impl<C> Spawned<C> {
    fn new(child: C, key: Option<String>, announcement: Announcement, output: Output) -> Self {
        Spawned {
            child,
            key,
            api: announcement.api,
            ssh: announcement.ssh,
            export: announcement.export,
            said: announcement.said,
            output,
        }
    }

    /// `http://127.0.0.1:PORT`, where the toolbox and the previews are.
    pub(crate) fn base(&self) -> &str {
        self.api.trim_end_matches("/api")
    }

    /// Everything it said so far on stderr (and stdout, when it is read).
    pub(crate) fn printed(&self) -> String {
        self.output.printed()
    }
}

/// Sends SIGTERM to process `id`.
fn terminate(id: u32) {
    let pid = rustix::process::Pid::from_raw(i32::try_from(id).unwrap()).expect("a pid");
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
}

impl Serve {
    /// Sends SIGTERM and waits for the exit: its status, and all it said by then.
    pub(crate) fn terminate(mut self) -> (ExitStatus, String) {
        terminate(self.child.id());
        let status = self.child.wait().unwrap();
        self.output.finish();
        (status, self.output.printed())
    }
}

impl AsyncServe {
    /// A request to `path`: under `/api`, or (`/toolbox/...`) beside it, with the key.
    pub(crate) fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let base = if path.starts_with("/toolbox/") {
            self.base()
        } else {
            &self.api
        };
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let request = client.request(method, format!("{base}{path}"));
        match &self.key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    }

    /// The JSON answer to `method path` with the JSON `body`.
    pub(crate) async fn json(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let response = self.request(method, path).json(&body).send().await;
        response.unwrap().json().await.unwrap()
    }

    /// Runs `command` in sandbox `id` through the toolbox: its answer.
    pub(crate) async fn exec(&self, id: &str, command: &str) -> Value {
        let path = format!("/toolbox/{id}/process/execute");
        let body = json!({ "command": command });
        self.json(reqwest::Method::POST, &path, body).await
    }

    /// `127.0.0.1:PORT`, where it listens.
    pub(crate) fn address(&self) -> &str {
        self.base().trim_start_matches("http://")
    }

    /// Sends SIGTERM, and does not wait.
    pub(crate) fn signal_stop(&self) {
        terminate(self.child.id().expect("serve runs"));
    }

    /// Its exit status once it exits, which it must within the deadline.
    pub(crate) async fn exited(&mut self) -> ExitStatus {
        tokio::time::timeout(DEADLINE, self.child.wait())
            .await
            .expect("serve exits after SIGTERM")
            .unwrap()
    }

    /// Stops it with SIGTERM; fails unless it exits 0 (well within the deadline: its grace is
    /// 10 s).
    pub(crate) async fn stop(&mut self) {
        self.signal_stop();
        let status = self.exited().await;
        assert_eq!(status.code(), Some(0), "serve's exit after SIGTERM");
    }

    /// [`Serve::terminate`], for async tests.
    pub(crate) async fn terminate(mut self) -> (ExitStatus, String) {
        self.signal_stop();
        let status = self.exited().await;
        let output = self.output;
        let printed = tokio::task::spawn_blocking(move || {
            output.finish();
            output.printed()
        });
        (status, printed.await.unwrap())
    }
}
