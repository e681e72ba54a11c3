//! What an image build knows as its steps go, apart from its files: the variables (`ARG`,
//! `ENV`), the working directory, the user, the shell and the entrypoint of the current stage;
//! and, read from the Dockerfile alone, the user a sandbox of the image runs as (its final
//! `USER`) and what it runs when it starts (its final `ENTRYPOINT`).
//!
//! Everything here is pure (but for reading this machine's user database for a `USER` by
//! name): it runs nothing and writes nothing. The steps themselves are `build_steps`.

use std::collections::BTreeMap;

use super::dockerfile::{self, Command, Instruction};
use super::entrypoint;
use crate::provider::local::SandboxUser;

/// Docker's default `PATH` in a Linux image.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The build's variables and settings as the steps go.
pub(super) struct Context {
    pub(super) args: BTreeMap<String, String>,
    pub(super) env: BTreeMap<String, String>,
    /// `WORKDIR`, absolute, once the stage sets one (steps run in `/` until then).
    pub(super) workdir: Option<String>,
    /// The uid and name steps run as: root until a `USER` says otherwise.
    pub(super) user: (u32, String),
    /// Whether the stage said `USER`.
    user_said: bool,
    pub(super) shell: Vec<String>,
    /// The stage's `ENTRYPOINT` as a program and its arguments; `None` until one is set, or
    /// after `ENTRYPOINT []`.
    pub(super) entrypoint: Option<Vec<String>>,
}

impl Context {
    /// A stage's start (Docker's image defaults), with `args`; also how helper steps run.
    pub(super) fn root(args: BTreeMap<String, String>) -> Context {
        Context {
            args,
            env: BTreeMap::new(),
            workdir: None,
            user: (0, "root".to_string()),
            user_said: false,
            shell: vec!["/bin/sh".to_string(), "-c".to_string()],
            entrypoint: None,
        }
    }

    /// A `FROM`: the first one keeps the `ARG`s given before it as `globals`, which reach every
    /// stage; the rest of a stage's settings do not reach the next.
    pub(super) fn enter_stage(&mut self, globals: &mut BTreeMap<String, String>, first: bool) {
        if first {
            *globals = self.args.clone();
        } else {
            *self = Context::root(globals.clone());
        }
    }

    /// `ARG name[=default]`: a value given before wins.
    pub(super) fn arg(&mut self, name: &str, default: Option<&str>) {
        let value = default
            .map(|value| dockerfile::expand(value, &self.variables()))
            .unwrap_or_default();
        self.args.entry(name.to_string()).or_insert(value);
    }

    /// `ENV`, each value expanded with what was set before it.
    pub(super) fn set_env(&mut self, pairs: &[(String, String)]) {
        for (name, value) in pairs {
            let value = dockerfile::expand(value, &self.variables());
            self.env.insert(name.clone(), value);
        }
    }

    /// `USER spec`, expanded.
    pub(super) fn set_user(&mut self, spec: &str) -> Result<(), String> {
        self.user = user(&dockerfile::expand(spec, &self.variables()))?;
        self.user_said = true;
        Ok(())
    }

    /// `ENTRYPOINT`, as Docker keeps it: the exec form's words, or the shell form's text after
    /// the stage's `SHELL` (`/bin/sh -c` unless said otherwise). Docker expands no variables
    /// in it; the shell does, when it runs.
    pub(super) fn set_entrypoint(&mut self, command: &Command) {
        let words = match command {
            Command::Exec(words) => words.clone(),
            Command::Shell(text) => {
                let mut words = self.shell.clone();
                words.push(text.clone());
                words
            }
        };
        self.entrypoint = entrypoint::normalized(words);
    }

    /// Where steps run and relative paths resolve.
    pub(super) fn cwd(&self) -> &str {
        self.workdir.as_deref().unwrap_or("/")
    }

    pub(super) fn variables(&self) -> BTreeMap<String, String> {
        let mut variables = self.args.clone();
        variables.extend(self.env.clone());
        variables
    }

    /// The environment of a step: Docker's defaults, then `ARG`s, then `ENV`.
    pub(super) fn environment(&self) -> BTreeMap<String, String> {
        let (uid, name) = &self.user;
        let home = if *uid == 0 { "/root" } else { "/home/daytona" };
        let mut environment = BTreeMap::from([
            ("HOME".to_string(), home.to_string()),
            ("PATH".to_string(), DEFAULT_PATH.to_string()),
            ("USER".to_string(), name.clone()),
            ("LOGNAME".to_string(), name.clone()),
        ]);
        environment.extend(self.variables());
        environment
    }
}

/// `USER`: root, the sandbox user `daytona`, a uid, or a user of this machine.
fn user(spec: &str) -> Result<(u32, String), String> {
    let name = spec.split(':').next().unwrap_or_default();
    match name {
        "root" | "0" => return Ok((0, "root".to_string())),
        "daytona" => return Ok((1000, "daytona".to_string())),
        _ => {}
    }
    if let Ok(uid) = name.parse::<u32>() {
        return Ok((uid, name.to_string()));
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let user = fields.next()?;
            let uid = fields.nth(1)?.parse().ok()?;
            (user == name).then(|| (uid, user.to_string()))
        })
        .next()
        .ok_or_else(|| {
            format!("`USER {spec}`: no such user (use `root`, `daytona`, a uid or a user of this machine)")
        })
}

/// The user a sandbox of the image `dockerfile` describes runs as, as on Daytona: the one its
/// final stage's last `USER` names, when that is a user a local sandbox can be (`root` or uid
/// 0, `daytona` or uid 1000). `None` when the image says no `USER` (the sandbox's default), or
/// names another user (steps ran as it; a local sandbox cannot be it and runs as `daytona`),
/// or cannot be read (its build fails and says why).
pub(crate) fn image_user(dockerfile: &str) -> Option<SandboxUser> {
    let context = final_stage(dockerfile)?;
    if !context.user_said {
        return None;
    }
    match context.user.0 {
        0 => Some(SandboxUser::Root),
        1000 => Some(SandboxUser::Daytona),
        _ => None,
    }
}

/// What a sandbox of the image `dockerfile` describes runs when it starts: its final stage's
/// last `ENTRYPOINT` (see [`Context::set_entrypoint`]). `None` when the image has none, or
/// cannot be read (its build fails and says why).
pub(crate) fn image_entrypoint(dockerfile: &str) -> Option<Vec<String>> {
    final_stage(dockerfile)?.entrypoint
}

/// The settings of the Dockerfile's final stage once all its steps are read, without running
/// any; `None` when it cannot be read.
fn final_stage(dockerfile: &str) -> Option<Context> {
    let steps = dockerfile::parse(dockerfile).ok()?;
    let mut context = Context::root(BTreeMap::new());
    let mut globals = BTreeMap::new();
    let mut first = true;
    for step in &steps {
        match &step.instruction {
            Instruction::From { .. } => {
                context.enter_stage(&mut globals, first);
                first = false;
            }
            Instruction::Arg { name, default } => context.arg(name, default.as_deref()),
            Instruction::Env(pairs) => context.set_env(pairs),
            Instruction::User(spec) => context.set_user(spec).ok()?,
            Instruction::Shell(shell) => context.shell = shell.clone(),
            Instruction::Entrypoint(command) => context.set_entrypoint(command),
            _ => {}
        }
    }
    Some(context)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_resolve_to_ids() {
        assert_eq!(user("root").unwrap().0, 0);
        assert_eq!(user("daytona:daytona").unwrap().0, 1000);
        assert_eq!(user("1234").unwrap().0, 1234);
        assert!(user("no-such-user-here").is_err());
    }

    #[test]
    fn the_final_stage_s_last_user_is_the_sandbox_s() {
        for (dockerfile, expected) in [
            ("FROM a\nRUN true\n", None),
            ("FROM a\nUSER root\n", Some(SandboxUser::Root)),
            ("FROM a\nUSER 0:0\n", Some(SandboxUser::Root)),
            (
                "FROM a\nUSER root\nUSER daytona\n",
                Some(SandboxUser::Daytona),
            ),
            ("FROM a\nUSER 1000\n", Some(SandboxUser::Daytona)),
            ("FROM a\nUSER 1234\n", None),
            // Another stage's `USER` is not the image's.
            ("FROM a AS build\nUSER root\nFROM b\nRUN true\n", None),
            (
                "FROM a AS build\nUSER daytona\nFROM b\nUSER root\n",
                Some(SandboxUser::Root),
            ),
            // Variables expand as the build expands them.
            (
                "ARG WHO=root\nFROM a\nARG WHO\nUSER $WHO\n",
                Some(SandboxUser::Root),
            ),
            (
                "FROM a\nENV WHO=root\nUSER ${WHO}\n",
                Some(SandboxUser::Root),
            ),
            ("FROM a\nUSER no-such-user-here\n", None),
        ] {
            assert_eq!(image_user(dockerfile), expected, "{dockerfile:?}");
        }
    }

    #[test]
    fn the_final_stage_s_last_entrypoint_is_what_sandboxes_run() {
        let words = |words: &[&str]| Some(words.iter().map(ToString::to_string).collect());
        for (dockerfile, expected) in [
            ("FROM a\nCMD [\"x\"]\n", None),
            (
                "FROM a\nENTRYPOINT [\"sleep\", \"infinity\"]\n",
                words(&["sleep", "infinity"]),
            ),
            // Shell form: run by `/bin/sh -c`, or by the stage's `SHELL`, variables unexpanded.
            (
                "FROM a\nENTRYPOINT echo $HOME; sleep 1\n",
                words(&["/bin/sh", "-c", "echo $HOME; sleep 1"]),
            ),
            (
                "FROM a\nSHELL [\"/bin/bash\", \"-c\"]\nENTRYPOINT echo hi\n",
                words(&["/bin/bash", "-c", "echo hi"]),
            ),
            ("FROM a\nENTRYPOINT [\"a\"]\nENTRYPOINT []\n", None),
            (
                "FROM a\nENTRYPOINT [\"a\"]\nENTRYPOINT [\"b\"]\n",
                words(&["b"]),
            ),
            // Another stage's entrypoint is not the image's.
            ("FROM a AS build\nENTRYPOINT [\"a\"]\nFROM b\n", None),
            // Empty words go, as Daytona drops them.
            ("FROM a\nENTRYPOINT [\"\", \"run\"]\n", words(&["run"])),
            ("FROM a\nFROBNICATE\nENTRYPOINT [\"a\"]\n", None),
        ] {
            assert_eq!(image_entrypoint(dockerfile), expected, "{dockerfile:?}");
        }
    }
}
