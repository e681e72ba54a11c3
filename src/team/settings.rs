//! The settings of one table (`[defaults]` or a `[[teammate]]`), interpolated and checked.
//!
//! Each value is checked once where it is written, so a bad value in `[defaults]` is reported
//! once and not for every teammate. Merging tables and the checks that need the whole teammate
//! live in `resolve`.

use std::collections::HashMap;
use std::path::Path;

use super::duration::{self, Timer};
use super::entries::{self, EnvEntry, SecretEntry};
use super::error::ProblemKind;
use super::raw::{DurationText, Located, Settings};
use super::repo;
use super::values::{Context, Value};
use super::{Restart, work};
use crate::names::{self, BranchName, MAX_BRANCH_BYTES, RepoSource};

/// One table's settings, ready to merge. `None` = not set in this table.
#[derive(Debug, Clone, Default)]
pub(crate) struct Fields {
    pub repo: Option<Value>,
    /// `repo` is written (even if its value was bad), so its absence is not reported again.
    pub repo_written: bool,
    pub base_branch: Option<Value>,
    pub snapshot: Option<Value>,
    pub env: Vec<EnvEntry>,
    pub secrets: Vec<SecretEntry>,
    pub git_user_name: Option<Value>,
    pub git_user_email: Option<Value>,
    pub auto_stop: Option<i64>,
    pub auto_archive: Option<i64>,
    pub auto_delete: Option<i64>,
    pub ttl: Option<i64>,
    pub cpu: Option<u32>,
    pub memory: Option<u32>,
    pub disk: Option<u32>,
    pub workdir: Option<Value>,
    /// The command as written (never interpolated).
    pub command: Option<String>,
    pub restart: Option<Restart>,
    pub max_runs: Option<u32>,
    pub tty: Option<bool>,
}

impl Fields {
    /// Reads one table's settings, reporting every bad value.
    pub(crate) fn read(settings: Settings<'_>, context: &mut Context<'_>) -> Fields {
        let git = settings.git.map(super::raw::Located::value);
        if let Some(located) = settings.resources {
            // Daytona sizes a sandbox from its snapshot (it refuses resources on create unless
            // it builds an image), and `local` sandboxes share this machine: say so rather
            // than let the setting look effective.
            let diagnostic = context
                .problems
                .at(
                    ProblemKind::IgnoredSetting,
                    located.span(),
                    "not applied",
                    "`resources` is recorded but not applied by any provider yet".to_string(),
                )
                .with_help("Daytona takes a sandbox's resources from its snapshot: size the snapshot instead");
            context.problems.warn(diagnostic);
        }
        let resources = settings.resources.map(super::raw::Located::value);
        Fields {
            repo: settings.repo.and_then(|repo| read_repo(repo, context)),
            repo_written: settings.repo.is_some(),
            base_branch: settings
                .base_branch
                .and_then(|branch| read_branch(branch, context)),
            snapshot: settings
                .snapshot
                .and_then(|text| read_plain(text, "snapshot", context)),
            env: settings
                .env
                .map(|list| entries::read_env(list.value(), context))
                .unwrap_or_default(),
            secrets: settings
                .secrets
                .map(|list| entries::read_secrets(list.value(), context))
                .unwrap_or_default(),
            git_user_name: git
                .and_then(|git| git.user_name.as_ref())
                .and_then(|text| read_plain(text, "git.user_name", context)),
            git_user_email: git
                .and_then(|git| git.user_email.as_ref())
                .and_then(|text| read_plain(text, "git.user_email", context)),
            auto_stop: read_timer(settings.auto_stop, Timer::AutoStop, context),
            auto_archive: read_timer(settings.auto_archive, Timer::AutoArchive, context),
            auto_delete: read_timer(settings.auto_delete, Timer::AutoDelete, context),
            ttl: read_timer(settings.ttl, Timer::Ttl, context),
            cpu: read_amount(resources.and_then(|r| r.cpu.as_ref()), "cpu", context),
            memory: read_amount(resources.and_then(|r| r.memory.as_ref()), "memory", context),
            disk: read_amount(resources.and_then(|r| r.disk.as_ref()), "disk", context),
            workdir: settings
                .workdir
                .and_then(|workdir| read_workdir(workdir, context)),
            command: settings
                .command
                .and_then(|command| work::read_command(command, context)),
            restart: settings
                .restart
                .and_then(|restart| work::read_restart(restart, context)),
            max_runs: settings
                .max_runs
                .and_then(|max_runs| work::read_max_runs(max_runs, context)),
            tty: settings.tty.map(|tty| *tty.value()),
        }
    }

    /// These settings over `defaults`, key by key; `env` and `secrets` by variable name.
    pub(crate) fn over(&self, defaults: &Fields) -> Fields {
        fn pick<T: Clone>(own: &Option<T>, default: &Option<T>) -> Option<T> {
            own.clone().or_else(|| default.clone())
        }
        Fields {
            repo: pick(&self.repo, &defaults.repo),
            repo_written: self.repo_written || defaults.repo_written,
            base_branch: pick(&self.base_branch, &defaults.base_branch),
            snapshot: pick(&self.snapshot, &defaults.snapshot),
            env: merge_by_name(&defaults.env, &self.env, |entry| &entry.name),
            secrets: merge_by_name(&defaults.secrets, &self.secrets, |entry| &entry.name),
            git_user_name: pick(&self.git_user_name, &defaults.git_user_name),
            git_user_email: pick(&self.git_user_email, &defaults.git_user_email),
            auto_stop: self.auto_stop.or(defaults.auto_stop),
            auto_archive: self.auto_archive.or(defaults.auto_archive),
            auto_delete: self.auto_delete.or(defaults.auto_delete),
            ttl: self.ttl.or(defaults.ttl),
            cpu: self.cpu.or(defaults.cpu),
            memory: self.memory.or(defaults.memory),
            disk: self.disk.or(defaults.disk),
            workdir: pick(&self.workdir, &defaults.workdir),
            command: pick(&self.command, &defaults.command),
            restart: self.restart.or(defaults.restart),
            max_runs: self.max_runs.or(defaults.max_runs),
            tty: self.tty.or(defaults.tty),
        }
    }
}

/// `defaults` then `own`, an entry of `own` replacing the default of the same name in place.
fn merge_by_name<T: Clone>(defaults: &[T], own: &[T], name: impl Fn(&T) -> &String) -> Vec<T> {
    if own.is_empty() {
        return defaults.to_vec();
    }
    let mut merged: Vec<T> = defaults.to_vec();
    let mut index: HashMap<String, usize> = merged
        .iter()
        .enumerate()
        .map(|(position, entry)| (name(entry).clone(), position))
        .collect();
    for entry in own {
        if let Some(&position) = index.get(name(entry)) {
            merged[position] = entry.clone();
        } else {
            index.insert(name(entry).clone(), merged.len());
            merged.push(entry.clone());
        }
    }
    merged
}

fn read_repo(located: &Located<String>, context: &mut Context<'_>) -> Option<Value> {
    let mut value = context.text(located)?;
    if value.text.trim().is_empty() {
        context.invalid(
            ProblemKind::InvalidValue,
            value.place.span.clone(),
            "`repo` is empty".into(),
            "set a clone URL or a path to a local repository",
        );
        return None;
    }
    // Underline the value only when the file does not spell a credential out: a diagnostic
    // must not print it.
    let written = context.source.get(value.place.span.clone()).unwrap_or("");
    let source = match RepoSource::parse(&value.text) {
        Ok(source) => source,
        Err(violation) => {
            let range = if has_userinfo(written) {
                0..0
            } else {
                value.place.part(violation.range)
            };
            let diagnostic = context
                .problems
                .at(
                    ProblemKind::InvalidValue,
                    range,
                    violation.reason,
                    "`repo` is not a location git clones safely",
                )
                .with_help(names::REPO_ACCEPTED);
            context.problems.error(diagnostic);
            return None;
        }
    };
    if let Some(credential) = source.credential() {
        let range = if written.contains(credential) {
            0..0
        } else {
            value.place.span.clone()
        };
        context.invalid(
            ProblemKind::InvalidValue,
            range,
            "`repo` carries a credential in its URL".into(),
            "remove it from the URL and list the token in `secrets` (e.g. `GH_TOKEN`): setup \
             hands it to git without a command line",
        );
        return None;
    }
    value.text = repo::resolve(&source, context.base_dir);
    if context.require_host && !source.is_remote() && !Path::new(&value.text).is_dir() {
        let diagnostic = context
            .problems
            .at(
                ProblemKind::RepoNotFound,
                value.place.span.clone(),
                "no such directory",
                format!(
                    "the repository `{}` does not exist",
                    names::shown(&value.text, 120)
                ),
            )
            .with_help(
                "a local `repo` is a path relative to the team file: fix it, or use a clone URL",
            );
        context.problems.error(diagnostic);
        // Kept, so that the checks that compare teammates (one branch each) still run.
    }
    Some(value)
}

/// Whether a URL has `user@` or `user:password@` before its host.
fn has_userinfo(text: &str) -> bool {
    text.split_once("://").is_some_and(|(_, rest)| {
        rest.split(['/', '?', '#'])
            .next()
            .is_some_and(|authority| authority.contains('@'))
    })
}

fn read_branch(located: &Located<String>, context: &mut Context<'_>) -> Option<Value> {
    let value = context.text(located)?;
    check_branch(&value, context).then_some(value)
}

/// Reports a branch name `git check-ref-format` would refuse; true when it is valid.
pub(crate) fn check_branch(value: &Value, context: &mut Context<'_>) -> bool {
    match BranchName::check(&value.text) {
        Ok(()) => true,
        Err(violation) => {
            let range = value.place.part(violation.range);
            let diagnostic = context
                .problems
                .at(
                    ProblemKind::InvalidBranch,
                    range,
                    violation.reason.clone(),
                    format!(
                        "`{}` is not a valid branch name",
                        names::shown(&value.text, 80)
                    ),
                )
                .with_help(format!(
                    "branch names follow `git check-ref-format --branch`, e.g. `feature/login`, \
                     and have at most {MAX_BRANCH_BYTES} bytes"
                ));
            context.problems.error(diagnostic);
            false
        }
    }
}

/// A free-form value that must be non-empty and on one line.
fn read_plain(located: &Located<String>, key: &str, context: &mut Context<'_>) -> Option<Value> {
    let value = context.text(located)?;
    let problem = if value.text.trim().is_empty() {
        Some(format!("`{key}` is empty"))
    } else if let Some((_, character)) = names::hidden_character(&value.text) {
        Some(format!(
            "`{key}` contains the invisible or control character `U+{:04X}`",
            u32::from(character)
        ))
    } else {
        None
    };
    let span = value.place.span.clone();
    context
        .passes(problem, span, "leave the key out to use the default")
        .then_some(value)
}

fn read_workdir(located: &Located<String>, context: &mut Context<'_>) -> Option<Value> {
    let value = context.text(located)?;
    match repo::check_workdir(&value.text) {
        Ok(()) => Some(value),
        Err(reason) => {
            context.invalid(
                ProblemKind::InvalidValue,
                value.place.span.clone(),
                reason,
                "use a directory name such as `app` (inside the sandbox home), or an absolute path \
                 outside `/home/daytona`",
            );
            None
        }
    }
}

fn read_timer(
    located: Option<&Located<DurationText>>,
    timer: Timer,
    context: &mut Context<'_>,
) -> Option<i64> {
    let located = located?;
    let span = located.span();
    let parsed = match located.value() {
        DurationText::Minutes(minutes) => duration::from_number(*minutes, timer),
        DurationText::Text(raw) => {
            let value = context.text_at(raw, span.clone())?;
            duration::parse(&value.text, timer)
        }
    };
    parsed
        .map_err(|reason| {
            context.invalid(
                ProblemKind::InvalidDuration,
                span,
                format!("invalid `{}`: {reason}", timer.key()),
                "write a duration like \"30m\", \"4h\", \"1d\" or a number of minutes",
            );
        })
        .ok()
}

fn read_amount(
    located: Option<&Located<u32>>,
    key: &str,
    context: &mut Context<'_>,
) -> Option<u32> {
    let located = located?;
    if *located.value() == 0 {
        context.invalid(
            ProblemKind::InvalidValue,
            located.span(),
            format!("`resources.{key}` must be at least 1"),
            "leave the key out to use the provider's default",
        );
        return None;
    }
    Some(*located.value())
}
