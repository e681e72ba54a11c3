//! One resolved [`Teammate`]: its table over `[defaults]`, plus the checks that span teammates.
//!
//! Per-value checks happened in `settings`; here are the ones that need the merged teammate
//! (a required `repo`, `env` against `secrets`, secrets on the host) or the whole team
//! (duplicate names, two teammates on one branch). Each problem is reported once, even when it
//! comes from `[defaults]` and so touches every teammate. Work per teammate is linear in its
//! entries; team-wide checks use hash maps, so a large team stays fast.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;
use std::path::PathBuf;

use super::error::ProblemKind;
use super::raw::{self, Located};
use super::settings::{self, Fields};
use super::values::{Context, Value};
use super::{GitIdentity, SecretRef, Teammate, repo, work};
use crate::names::{self, RepoSource};
use crate::vocabulary::{Lifecycle, Resources};

pub(crate) const DEFAULT_GIT_NAME: &str = "ralph-town";
pub(crate) const DEFAULT_GIT_EMAIL: &str = "ralph-town@localhost";

/// What the checks across teammates remember.
#[derive(Default)]
pub(crate) struct TeamChecks {
    names: HashMap<String, Range<usize>>,
    branches: HashMap<(String, String), Range<usize>>,
    /// Problems that come from `[defaults]` are reported once, keyed by the spans involved.
    reported: HashSet<(ProblemKind, usize, usize)>,
}

impl TeamChecks {
    fn first_report(&mut self, kind: ProblemKind, first: usize, second: usize) -> bool {
        self.reported.insert((kind, first, second))
    }
}

/// Everything the team level hands down to each teammate.
pub(crate) struct Inherited<'a> {
    pub defaults: &'a Fields,
    pub setup: Option<&'a PathBuf>,
    pub require_secrets: bool,
}

pub(crate) fn teammate(
    located: &Located<raw::Teammate>,
    inherited: &Inherited<'_>,
    checks: &mut TeamChecks,
    context: &mut Context<'_>,
) -> Teammate {
    let header = located.span();
    let table = located.value();
    let merged = Fields::read(table.settings(), context).over(inherited.defaults);

    let name = required(&table.name, "name", &header, context)
        .filter(|name| check_name(name, context))
        .inspect(|name| unique_name(name, checks, context));
    let branch = required(&table.branch, "branch", &header, context)
        .filter(|branch| settings::check_branch(branch, context));
    let repo = match (&merged.repo, merged.repo_written) {
        (Some(repo), _) => Some(repo.clone()),
        (None, true) => None,
        (None, false) => {
            missing(
                &header,
                "repo",
                "set `repo` in this teammate or in `[defaults]`",
                context,
            );
            None
        }
    };
    if let (Some(repo), Some(branch)) = (&repo, &branch) {
        unique_branch(repo, branch, checks, context);
    }
    let workdir = match (&merged.workdir, &repo) {
        (Some(workdir), _) => workdir.text.clone(),
        (None, Some(repo)) => directory_name(&repo.text).unwrap_or_else(|| {
            context.invalid(
                ProblemKind::InvalidValue,
                repo.place.span.clone(),
                format!(
                    "cannot name a directory after the repository `{}`",
                    repo.text
                ),
                "set `workdir` to the directory the repository is cloned into",
            );
            String::new()
        }),
        (None, None) => String::new(),
    };
    let setup = match &table.setup {
        Some(setup) => read_setup(setup, context),
        None => inherited.setup.cloned(),
    };
    let (env, secrets) = env_and_secrets(&merged, inherited.require_secrets, checks, context);
    let env_from_host = merged
        .env
        .iter()
        .filter(|entry| entry.from_host && entry.value.is_some())
        .map(|entry| entry.name.clone())
        .collect();
    let work = work::resolve(table, &merged, context);

    Teammate {
        name: name.map(|value| value.text).unwrap_or_default(),
        repo: repo.map(|value| value.text).unwrap_or_default(),
        branch: branch.map(|value| value.text).unwrap_or_default(),
        base_branch: merged.base_branch.map(|value| value.text),
        snapshot: merged.snapshot.map(|value| value.text),
        env,
        env_from_host,
        secrets,
        git: GitIdentity {
            user_name: merged
                .git_user_name
                .map_or_else(|| DEFAULT_GIT_NAME.to_string(), |value| value.text),
            user_email: merged
                .git_user_email
                .map_or_else(|| DEFAULT_GIT_EMAIL.to_string(), |value| value.text),
        },
        // Durations were range-checked when read, so these conversions cannot fail.
        lifecycle: Lifecycle {
            auto_stop: merged
                .auto_stop
                .and_then(|minutes| u32::try_from(minutes).ok()),
            auto_archive: merged
                .auto_archive
                .and_then(|minutes| u32::try_from(minutes).ok()),
            auto_delete: merged
                .auto_delete
                .and_then(|minutes| i32::try_from(minutes).ok()),
        },
        ttl_minutes: merged
            .ttl
            .filter(|minutes| *minutes > 0)
            .and_then(|minutes| u32::try_from(minutes).ok()),
        resources: Resources {
            cpu: merged.cpu,
            memory: merged.memory,
            disk: merged.disk,
        },
        workdir,
        setup,
        work,
    }
}

/// The directory a clone of a resolved `repo` lands in by default.
fn directory_name(repo: &str) -> Option<String> {
    RepoSource::parse(repo).ok()?.directory_name()
}

/// A setup template path, resolved against the team file's directory; it must exist.
pub(crate) fn read_setup(located: &Located<String>, context: &mut Context<'_>) -> Option<PathBuf> {
    let value = context.text(located)?;
    let path = repo::normalize(&context.base_dir.join(&value.text));
    if path.is_file() {
        return Some(path);
    }
    context.invalid(
        ProblemKind::SetupNotFound,
        value.place.span.clone(),
        format!("setup template `{}` not found", path.display()),
        "the path is relative to the team file; leave `setup` out to use the built-in template",
    );
    None
}

fn required(
    located: &Option<Located<String>>,
    key: &str,
    header: &Range<usize>,
    context: &mut Context<'_>,
) -> Option<Value> {
    if let Some(located) = located {
        context.text(located)
    } else {
        missing(
            header,
            key,
            &format!("add `{key} = \"...\"` to this teammate"),
            context,
        );
        None
    }
}

fn missing(header: &Range<usize>, key: &str, help: &str, context: &mut Context<'_>) {
    let diagnostic = context
        .problems
        .at(
            ProblemKind::MissingKey,
            header.clone(),
            format!("this teammate has no `{key}`"),
            format!("teammate without `{key}`"),
        )
        .with_help(help);
    context.problems.error(diagnostic);
}

/// Reports a team or teammate name that is not a DNS label; true when it is valid.
pub(crate) fn check_name(value: &Value, context: &mut Context<'_>) -> bool {
    let Err(violation) = names::label::check(&value.text) else {
        return true;
    };
    let range = if violation.range.is_empty() {
        value.place.span.clone()
    } else {
        value.place.part(violation.range)
    };
    let diagnostic = context
        .problems
        .at(
            ProblemKind::InvalidName,
            range,
            violation.reason,
            format!("`{}` is not a valid name", names::shown(&value.text, 80)),
        )
        .with_help("names use lowercase letters, digits and `-`, start with a letter or digit, and have at most 63 characters");
    context.problems.error(diagnostic);
    false
}

fn unique_name(name: &Value, checks: &mut TeamChecks, context: &mut Context<'_>) {
    let span = name.place.span.clone();
    let Some(first) = checks.names.get(&name.text) else {
        checks.names.insert(name.text.clone(), span);
        return;
    };
    let diagnostic = context
        .problems
        .at(
            ProblemKind::DuplicateTeammate,
            span,
            "declared again here",
            format!("teammate `{}` is declared twice", name.text),
        )
        .with_label(first.clone(), "first declared here")
        .with_help("give each teammate its own name");
    context.problems.error(diagnostic);
}

fn unique_branch(repo: &Value, branch: &Value, checks: &mut TeamChecks, context: &mut Context<'_>) {
    let span = branch.place.span.clone();
    let key = (repo.text.clone(), branch.text.clone());
    let Some(first) = checks.branches.get(&key) else {
        checks.branches.insert(key, span);
        return;
    };
    let diagnostic = context
        .problems
        .at(
            ProblemKind::DuplicateBranch,
            span,
            "used again here",
            format!("two teammates work on branch `{}`", branch.text),
        )
        .with_label(first.clone(), "first used here")
        .with_help("give each teammate its own branch: their pushes would collide");
    context.problems.error(diagnostic);
}

fn env_and_secrets(
    merged: &Fields,
    require_secrets: bool,
    checks: &mut TeamChecks,
    context: &mut Context<'_>,
) -> (BTreeMap<String, String>, Vec<SecretRef>) {
    let env_spans: HashMap<&str, &Range<usize>> = merged
        .env
        .iter()
        .map(|entry| (entry.name.as_str(), &entry.span))
        .collect();
    let mut secrets = Vec::with_capacity(merged.secrets.len());
    for secret in &merged.secrets {
        if let Some(env_span) = env_spans.get(secret.name.as_str())
            && checks.first_report(ProblemKind::EnvAndSecret, env_span.start, secret.span.start)
        {
            let diagnostic = context
                .problems
                .at(
                    ProblemKind::EnvAndSecret,
                    secret.span.clone(),
                    "a secret here",
                    format!("`{}` is both in `env` and in `secrets`", secret.name),
                )
                .with_label((*env_span).clone(), "plain environment here")
                .with_help("keep it in `secrets` only if it is a credential, else in `env` only");
            context.problems.error(diagnostic);
        }
        let value_missing = (context.lookup)(&secret.host_var).is_none_or(|v| v.is_empty());
        if require_secrets
            && value_missing
            && checks.first_report(ProblemKind::SecretNotSet, secret.span.start, 0)
        {
            let diagnostic = context
                .problems
                .at(
                    ProblemKind::SecretNotSet,
                    secret.span.clone(),
                    format!("`{}` is not set on this host", secret.host_var),
                    format!(
                        "secret `{}` has no value: `{}` is not set",
                        secret.name, secret.host_var
                    ),
                )
                .with_help(format!(
                    "export `{}` before running ralph-town",
                    secret.host_var
                ));
            context.problems.error(diagnostic);
        }
        secrets.push(SecretRef {
            name: secret.name.clone(),
            host_var: secret.host_var.clone(),
        });
    }
    secrets.sort();
    let env = merged
        .env
        .iter()
        .filter_map(|entry| Some((entry.name.clone(), entry.value.clone()?)))
        .collect();
    (env, secrets)
}
