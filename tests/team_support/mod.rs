//! A team of N teammates on a real git origin, driven through the real binary: on `local`, or on
//! `daytona` against a spawned `ralph-town serve` (its own state root, its key in its
//! environment, `--simulate` as the test asks). What the provider holds for the team is read
//! from the provider's own state root, never through the API: a test may be making the API
//! faulty, and the check must not be.
//!
//! Nothing here reaches beyond 127.0.0.1.

use std::ffi::OsStr;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common::{Run, World, git};
use crate::serve_support::{self, ServeCommand};

/// The API key the spawned `serve` gets from its environment, and its clients send.
pub(crate) const KEY: &str = "dtn_team_support_key_0123456789abcdef";

/// A `ralph-town serve` child process, killed on drop, and its state root: its sandboxes are
/// the `local` provider's, under `sandboxes/`.
pub(crate) struct Serve {
    serve: serve_support::Serve,
    pub state: PathBuf,
}

impl std::ops::Deref for Serve {
    type Target = serve_support::Serve;
    fn deref(&self) -> &serve_support::Serve {
        &self.serve
    }
}

impl Serve {
    /// `serve` on a free loopback port, its sandboxes allowed to read `readable`.
    pub(crate) fn spawn(world: &World, readable: &Path, simulate: &str) -> Serve {
        let state = world.path().join("serve-state");
        let mut command = ServeCommand::in_world(world)
            .state(&state)
            .key(Some(KEY))
            .args([OsStr::new("--read-only"), readable.as_os_str()]);
        if !simulate.is_empty() {
            command = command.args(["--simulate", simulate]);
        }
        Serve {
            serve: command.start(),
            state,
        }
    }
}

impl Squad {
    /// How many creates the spawned `serve` refused because the name was taken (409): the
    /// races a test meant to provoke really happened. `None` on `local`.
    pub(crate) fn refused_creates(&self) -> Option<u64> {
        let serve = self.serve.as_ref()?;
        let stats: serde_json::Value = reqwest::blocking::Client::new()
            .get(serve.api.replace("/api", "/_ralph/stats"))
            .bearer_auth(KEY)
            .send()
            .expect("serve's stats")
            .json()
            .expect("serve's stats as JSON");
        Some(
            stats["routes"]["POST /api/sandbox"]["statuses"]["409"]
                .as_u64()
                .unwrap_or(0),
        )
    }
}

/// One sandbox of the team as the provider's state root records it.
#[derive(Debug, Clone)]
pub(crate) struct Held {
    pub id: String,
    pub teammate: Option<String>,
    pub setup: Option<String>,
    pub branch: Option<String>,
    /// The branch checked out in its clone (`None`: no finished clone).
    pub checked_out: Option<String>,
}

/// The team, its world and (on `daytona`) its server.
pub(crate) struct Squad {
    pub world: World,
    pub name: String,
    pub teammates: Vec<String>,
    /// Declared after `world`, so it is dropped (killed) before the world's directory goes.
    serve: Option<Serve>,
}

/// How the team is made.
pub(crate) struct Shape<'a> {
    pub size: usize,
    /// `None`: `local`; `Some(settings)`: `daytona` against `serve --simulate settings`.
    pub simulate: Option<&'a str>,
    /// Shell lines run by setup before the built-in clone (to widen a window a test aims at).
    pub before_clone: Option<&'a str>,
    /// Megabytes of incompressible files in the origin, so that a clone takes a while.
    pub origin_megabytes: usize,
}

impl Default for Shape<'_> {
    fn default() -> Self {
        Shape {
            size: 3,
            simulate: None,
            before_clone: None,
            origin_megabytes: 0,
        }
    }
}

impl Squad {
    pub(crate) fn new(shape: Shape<'_>) -> Squad {
        let world = World::new();
        let origin = world.origin(&[]);
        if shape.origin_megabytes > 0 {
            let mut random = fastrand::Rng::with_seed(7);
            for index in 0..shape.origin_megabytes {
                let mut bytes = vec![0u8; 1 << 20];
                random.fill(&mut bytes);
                std::fs::write(origin.join(format!("blob-{index}.bin")), bytes).unwrap();
            }
            git(&origin, &["add", "."]);
            git(&origin, &["commit", "-q", "-m", "blobs"]);
        }
        let serve = shape
            .simulate
            .map(|simulate| Serve::spawn(&world, &origin, simulate));
        let name = "squad".to_string();
        let teammates: Vec<String> = (0..shape.size).map(|index| format!("t{index}")).collect();
        let mut text = format!("name = \"{name}\"\n");
        if serve.is_some() {
            text.push_str("provider = \"daytona\"\n");
        }
        if let Some(lines) = shape.before_clone {
            world.file(
                "setup.sh.j2",
                &format!(
                    "{{% extends \"builtin/setup.sh.j2\" %}}\n{{% block clone %}}\n{lines}\n{{{{ super() }}}}{{% endblock %}}\n"
                ),
            );
            text.push_str("setup = \"setup.sh.j2\"\n");
        }
        text.push_str(&format!(
            "\n[defaults]\nrepo = \"{}\"\nbase_branch = \"main\"\nsecrets = [\"GH_TOKEN\"]\n",
            origin.display()
        ));
        for teammate in &teammates {
            text.push_str(&format!(
                "\n[[teammate]]\nname = \"{teammate}\"\nbranch = \"feature/{teammate}\"\n"
            ));
        }
        world.file("team.toml", &text);
        Squad {
            world,
            name,
            teammates,
            serve,
        }
    }

    /// The binary with the team's environment (the secret, and on `daytona` the server).
    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut command = self.world.command(args);
        command.env("GH_TOKEN", crate::common::SENTINEL);
        if let Some(serve) = &self.serve {
            command
                .env("DAYTONA_API_URL", &serve.api)
                .env("DAYTONA_API_KEY", KEY);
        }
        command
    }

    /// Runs the binary to completion.
    pub(crate) fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command(args).output().expect("run ralph-town"))
    }

    /// Runs the binary to completion; a run still going after `limit` is killed and fails the
    /// test as hung (a hang detector, not a measure of speed).
    #[track_caller]
    pub(crate) fn run_within(&self, args: &[&str], limit: std::time::Duration) -> Run {
        let mut child = self
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start ralph-town");
        let (stdout, stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
        let read = |mut pipe: Box<dyn std::io::Read + Send>| {
            std::thread::spawn(move || {
                let mut text = String::new();
                let _ = pipe.read_to_string(&mut text);
                text
            })
        };
        let (stdout, stderr) = (read(Box::new(stdout)), read(Box::new(stderr)));
        let deadline = std::time::Instant::now() + limit;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if std::time::Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "`ralph-town {}` hung for {limit:?}\n{}",
                    args.join(" "),
                    stderr.join().unwrap()
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        Run {
            code: status.code().unwrap_or(-1),
            stdout: stdout.join().unwrap(),
            stderr: stderr.join().unwrap(),
        }
    }

    /// The state root of the provider that holds the sandboxes.
    fn provider_state(&self) -> PathBuf {
        match &self.serve {
            Some(serve) => serve.state.clone(),
            None => self.world.state(),
        }
    }

    /// The directory of a sandbox in the provider's state root (`sandbox.json`, `home/`).
    pub(crate) fn sandbox_directory(&self, id: &str) -> PathBuf {
        self.provider_state().join("sandboxes").join(id)
    }

    /// Every sandbox of the team in the provider's state root.
    pub(crate) fn held(&self) -> Vec<Held> {
        let Ok(entries) = std::fs::read_dir(self.provider_state().join("sandboxes")) else {
            return Vec::new();
        };
        let mut held = Vec::new();
        for entry in entries {
            let directory = entry.unwrap().path();
            let Ok(text) = std::fs::read_to_string(directory.join("sandbox.json")) else {
                continue;
            };
            let record: serde_json::Value = serde_json::from_str(&text).unwrap();
            let label = |key: &str| record["labels"][key].as_str().map(str::to_string);
            if label("ralph-town/team").as_deref() != Some(&self.name) {
                continue;
            }
            let head = std::fs::read_to_string(directory.join("home/origin/.git/HEAD")).ok();
            held.push(Held {
                id: record["id"].as_str().unwrap().to_string(),
                teammate: label("ralph-town/teammate"),
                setup: label("ralph-town/setup"),
                branch: label("ralph-town/branch"),
                checked_out: head.and_then(|head| {
                    head.trim()
                        .strip_prefix("ref: refs/heads/")
                        .map(str::to_string)
                }),
            });
        }
        held.sort_by(|a, b| (&a.teammate, &a.id).cmp(&(&b.teammate, &b.id)));
        held
    }

    /// Exactly one sandbox per teammate, nothing else of the team, each set up (`ok`) with its
    /// clone on its branch.
    #[track_caller]
    pub(crate) fn assert_converged(&self, context: &str) {
        let held = self.held();
        let teammates: Vec<Option<String>> = held.iter().map(|h| h.teammate.clone()).collect();
        let wanted: Vec<Option<String>> = self.teammates.iter().cloned().map(Some).collect();
        assert_eq!(
            teammates, wanted,
            "{context}: one sandbox per teammate\n{held:#?}"
        );
        for sandbox in &held {
            let teammate = sandbox.teammate.as_deref().unwrap();
            let branch = format!("feature/{teammate}");
            assert_eq!(
                sandbox.setup.as_deref(),
                Some("ok"),
                "{context}: {sandbox:?}"
            );
            assert_eq!(
                sandbox.branch.as_deref(),
                Some(branch.as_str()),
                "{context}"
            );
            assert_eq!(
                sandbox.checked_out.as_deref(),
                Some(branch.as_str()),
                "{context}: {sandbox:?}"
            );
        }
    }

    /// Nothing of the team is left.
    #[track_caller]
    pub(crate) fn assert_empty(&self, context: &str) {
        let held = self.held();
        assert!(held.is_empty(), "{context}: left over\n{held:#?}");
    }
}

/// A seeded choice of moments: the same seed gives the same moments on every machine.
pub(crate) fn moments(seed: u64, count: usize, lines: u32, delay_ms: u32) -> Vec<(u32, u32)> {
    let mut random = fastrand::Rng::with_seed(seed);
    (0..count)
        .map(|_| (random.u32(1..=lines), random.u32(0..=delay_ms)))
        .collect()
}

/// Starts `command` with stderr piped, and SIGKILLs it once it has written `line` lines to
/// stderr and `delay_ms` more have passed (or lets it finish if it ends before). Returns
/// whether it was killed, and what it wrote.
pub(crate) fn kill_after(mut command: Command, line: u32, delay_ms: u32) -> (bool, String) {
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ralph-town");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = String::new();
    let mut count = 0;
    while count < line {
        match lines.next() {
            Some(Ok(text)) => {
                seen.push_str(&text);
                seen.push('\n');
                count += 1;
            }
            _ => break,
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(u64::from(delay_ms)));
    let killed = matches!(child.try_wait(), Ok(None)) && child.kill().is_ok();
    child.wait().unwrap();
    (killed, seen)
}
