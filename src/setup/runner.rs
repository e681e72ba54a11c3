//! The runner of a teammate's command: the script rendered from `runner.sh.j2` (the restart
//! loop that lives in the sandbox), and the fixed probe script that reads what it recorded.
//!
//! Rendering only: nothing here uploads or runs a script. The runner sees no secret value; the
//! command it runs reads the teammate's secrets from the files setup wrote.

use minijinja::context;

use super::{SetupError, shell};
use crate::team::{Teammate, Work};

/// The runner template's name (a `*.sh.j2`, so every value in it is shell-quoted).
const RUNNER_TEMPLATE: &str = "builtin/runner.sh.j2";
const RUNNER_SOURCE: &str = include_str!("templates/runner.sh.j2");
const PROBE: &str = include_str!("templates/work_probe.sh");

/// The sandbox directory of a teammate's command, relative to its home: the runner, the task,
/// the state file and the runner's signs of life.
pub const WORK_DIR: &str = ".ralph-town/work";

/// Renders the runner for `teammate`'s `work`; `hash` is its `ralph-town/command` label.
pub fn render_runner(teammate: &Teammate, work: &Work, hash: &str) -> Result<String, SetupError> {
    let mut environment = shell::environment();
    environment
        .add_template(RUNNER_TEMPLATE, RUNNER_SOURCE)
        .map_err(|error| SetupError::from_template(&error))?;
    let context = context! {
        teammate => &teammate.name,
        workdir => &teammate.workdir,
        restart => work.restart.as_str(),
        max_runs => work.max_runs,
        tty => work.tty,
        hash => hash,
        command => &work.command,
    };
    environment
        .get_template(RUNNER_TEMPLATE)
        .and_then(|template| template.render(context))
        .map_err(|error| SetupError::from_template(&error))
}

/// The bash script that reports a teammate's command and repository (see its header for the
/// output); run with the workdir, the base branch and the branch as arguments.
pub fn work_probe_script() -> &'static str {
    PROBE
}
