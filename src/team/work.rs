//! The keys of a teammate's command: `command`, `restart`, `max_runs`, `tty`, and its task
//! (`task` or `task_file`), read and checked where they are written.
//!
//! `command` and `task` are shell text and prose: they are never interpolated (their `$` is the
//! shell's). A `task_file` is read here, relative to the team file, so that a missing one is an
//! error at its span before anything is created. Nothing here runs a command.

use std::io::Read;

use super::error::ProblemKind;
use super::raw::{self, Located};
use super::repo;
use super::settings::Fields;
use super::values::Context;
use super::{Restart, Work};

/// The most runs a restarting command gets when the file does not say.
pub(crate) const DEFAULT_MAX_RUNS: u32 = 10;
/// A larger `max_runs` is refused: a crash loop must stay bounded.
const MAX_MAX_RUNS: i64 = 100_000;
/// The largest task (text or file) taken, in bytes: a task is prose, not a data set.
const MAX_TASK_BYTES: u64 = 1024 * 1024;

pub(crate) fn read_command(located: &Located<String>, context: &mut Context<'_>) -> Option<String> {
    let text = located.value();
    let problem = if text.trim().is_empty() {
        Some("`command` is empty")
    } else if text.contains('\0') {
        Some("`command` contains a NUL character")
    } else {
        None
    };
    context
        .passes(
            problem.map(str::to_string),
            located.span(),
            "write the shell command the teammate runs, or leave `command` out",
        )
        .then(|| text.clone())
}

pub(crate) fn read_restart(
    located: &Located<String>,
    context: &mut Context<'_>,
) -> Option<Restart> {
    let value = context.text(located)?;
    match value.text.as_str() {
        "no" => Some(Restart::No),
        "on-failure" => Some(Restart::OnFailure),
        "always" => Some(Restart::Always),
        other => {
            let known = ["no", "on-failure", "always"];
            let help = known
                .into_iter()
                .find(|known| strsim::jaro_winkler(other, known) >= 0.8)
                .map_or_else(
                    || "use `no`, `on-failure` or `always`".to_string(),
                    |known| format!("did you mean `{known}`?"),
                );
            context.invalid(
                ProblemKind::InvalidValue,
                value.place.span.clone(),
                format!(
                    "unknown restart policy `{}`",
                    crate::names::shown(other, 40)
                ),
                &help,
            );
            None
        }
    }
}

pub(crate) fn read_max_runs(located: &Located<i64>, context: &mut Context<'_>) -> Option<u32> {
    let runs = *located.value();
    if (1..=MAX_MAX_RUNS).contains(&runs) {
        return u32::try_from(runs).ok();
    }
    context.invalid(
        ProblemKind::InvalidValue,
        located.span(),
        format!("`max_runs` must be between 1 and {MAX_MAX_RUNS}, not {runs}"),
        "`max_runs` bounds a crash loop: the command runs at most this many times in all",
    );
    None
}

/// The teammate's work, when it declares a command; its task from `task` or `task_file`.
pub(crate) fn resolve(
    table: &raw::Teammate,
    merged: &Fields,
    context: &mut Context<'_>,
) -> Option<Work> {
    let task = task(table, context);
    let Some(command) = &merged.command else {
        if let Some(located) = table.task.as_ref().or(table.task_file.as_ref()) {
            let diagnostic = context
                .problems
                .at(
                    ProblemKind::IgnoredSetting,
                    located.span(),
                    "no command reads it",
                    "this teammate has a task but no `command`",
                )
                .with_help("set `command` here or in `[defaults]`; the task is handed to it");
            context.problems.warn(diagnostic);
        }
        return None;
    };
    let restart = merged.restart.unwrap_or_default();
    let max_runs = match restart {
        Restart::No => 1,
        Restart::OnFailure | Restart::Always => merged.max_runs.unwrap_or(DEFAULT_MAX_RUNS),
    };
    Some(Work {
        command: command.clone(),
        task: task.unwrap_or_default(),
        restart,
        max_runs,
        tty: merged.tty.unwrap_or(false),
    })
}

/// The task text: `task` as written, or the contents of `task_file`; both is an error.
fn task(table: &raw::Teammate, context: &mut Context<'_>) -> Option<String> {
    match (&table.task, &table.task_file) {
        (Some(task), Some(file)) => {
            let diagnostic = context
                .problems
                .at(
                    ProblemKind::InvalidValue,
                    file.span(),
                    "a task file here",
                    "a teammate has both `task` and `task_file`",
                )
                .with_label(task.span(), "a task here")
                .with_help("keep one of them: `task` holds the text, `task_file` names a file");
            context.problems.error(diagnostic);
            None
        }
        (Some(task), None) => {
            if task.value().len() as u64 > MAX_TASK_BYTES {
                context.invalid(
                    ProblemKind::InvalidValue,
                    task.span(),
                    "`task` is larger than 1 MiB".to_string(),
                    "a task is prose for the command; put data in the repository",
                );
                return None;
            }
            Some(task.value().clone())
        }
        (None, Some(file)) => read_task_file(file, context),
        (None, None) => None,
    }
}

fn read_task_file(located: &Located<String>, context: &mut Context<'_>) -> Option<String> {
    let value = context.text(located)?;
    let path = repo::normalize(&context.base_dir.join(&value.text));
    let read = std::fs::File::open(&path).and_then(|file| {
        let mut bytes = Vec::new();
        file.take(MAX_TASK_BYTES + 1).read_to_end(&mut bytes)?;
        Ok(bytes)
    });
    let problem = match read {
        Ok(bytes) if bytes.len() as u64 > MAX_TASK_BYTES => {
            format!("task file `{}` is larger than 1 MiB", path.display())
        }
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => return Some(text),
            Err(_) => format!("task file `{}` is not UTF-8 text", path.display()),
        },
        Err(error) => format!("task file `{}` cannot be read: {error}", path.display()),
    };
    let diagnostic = context
        .problems
        .at(
            ProblemKind::TaskNotFound,
            value.place.span.clone(),
            "cannot read this file",
            problem,
        )
        .with_help("the path is relative to the team file; or write the task inline with `task`");
    context.problems.error(diagnostic);
    None
}

/// The `ralph-town/command` label: `c1:` + hex SHA-256 over everything that decides what runs
/// (command, task, restart, max_runs, tty), each length-prefixed. A change of any of them
/// restarts the command in place. No secret value is in a [`Work`], so none is in the hash.
pub fn command_hash(work: &Work) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    let max_runs = work.max_runs.to_string();
    for (name, value) in [
        ("format", "ralph-town/command/v1"),
        ("command", work.command.as_str()),
        ("task", work.task.as_str()),
        ("restart", work.restart.as_str()),
        ("max_runs", max_runs.as_str()),
        ("tty", if work.tty { "true" } else { "false" }),
    ] {
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update((value.len() as u64).to_le_bytes());
        hasher.update(value.as_bytes());
    }
    format!("c1:{}", hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::team::{LoadOptions, ProblemKind, TeamError, load_str};

    const HEAD: &str = "name = \"t\"\n[defaults]\nrepo = \"https://example.com/a.git\"\n";

    fn load(source: &str, base: &Path) -> Result<crate::team::Loaded, TeamError> {
        let none = |_: &str| None;
        load_str(source, "team.toml", base, &none, &LoadOptions::default())
    }

    /// The kind and the underlined text of each problem.
    fn problems(source: &str) -> Vec<(ProblemKind, String)> {
        let error = load(source, Path::new("/nonexistent")).unwrap_err();
        error
            .diagnostics()
            .iter()
            .map(|problem| {
                let span = problem.labels[0].0.clone();
                (problem.kind, source[span].to_string())
            })
            .collect()
    }

    #[test]
    fn defaults_are_merged_per_key_and_restart_sets_the_runs() {
        let source = format!(
            "{HEAD}command = \"run $X\"\nrestart = \"on-failure\"\ntty = true\n\
             [[teammate]]\nname = \"a\"\nbranch = \"a\"\ntask = \"do ${{it}}\"\n\
             [[teammate]]\nname = \"b\"\nbranch = \"b\"\nrestart = \"no\"\nmax_runs = 4\n\
             [[teammate]]\nname = \"c\"\nbranch = \"c\"\nmax_runs = 4\ntty = false\n"
        );
        let team = load(&source, Path::new("/")).unwrap().team;
        let work = |index: usize| team.teammates[index].work.clone().unwrap();
        // Neither `command` nor `task` is interpolated: `$` is the shell's.
        assert_eq!(work(0).command, "run $X");
        assert_eq!(work(0).task, "do ${it}");
        assert_eq!(
            (work(0).restart, work(0).max_runs, work(0).tty),
            (Restart::OnFailure, DEFAULT_MAX_RUNS, true)
        );
        assert_eq!((work(1).restart, work(1).max_runs), (Restart::No, 1));
        assert_eq!((work(2).max_runs, work(2).tty), (4, false));
        assert_ne!(command_hash(&work(0)), command_hash(&work(2)));
    }

    #[test]
    fn task_file_is_read_relative_to_the_team_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("tasks")).unwrap();
        std::fs::write(dir.path().join("tasks/a.md"), "the task\n").unwrap();
        let source = format!(
            "{HEAD}command = \"x\"\n[[teammate]]\nname = \"a\"\nbranch = \"a\"\ntask_file = \"tasks/a.md\"\n"
        );
        let team = load(&source, dir.path()).unwrap().team;
        assert_eq!(team.teammates[0].work.as_ref().unwrap().task, "the task\n");
    }

    #[test]
    fn bad_values_are_errors_at_their_span() {
        let mate = "[[teammate]]\nname = \"a\"\nbranch = \"a\"\n";
        assert_eq!(
            problems(&format!(
                "{HEAD}command = \"x\"\n{mate}task_file = \"missing.md\"\n"
            )),
            [(ProblemKind::TaskNotFound, "\"missing.md\"".to_string())]
        );
        assert_eq!(
            problems(&format!(
                "{HEAD}command = \"x\"\n{mate}task = \"t\"\ntask_file = \"t.md\"\n"
            )),
            [(ProblemKind::InvalidValue, "\"t.md\"".to_string())]
        );
        assert_eq!(
            problems(&format!("{HEAD}restart = \"on-falure\"\n{mate}")),
            [(ProblemKind::InvalidValue, "\"on-falure\"".to_string())]
        );
        assert_eq!(
            problems(&format!("{HEAD}max_runs = 0\n{mate}")),
            [(ProblemKind::InvalidValue, "0".to_string())]
        );
        assert_eq!(
            problems(&format!("{HEAD}command = \"  \"\n{mate}")),
            [(ProblemKind::InvalidValue, "\"  \"".to_string())]
        );
        let unknown = problems(&format!("{HEAD}{mate}comand = \"x\"\n"));
        assert_eq!(unknown[0].0, ProblemKind::UnknownKey);
    }
}
