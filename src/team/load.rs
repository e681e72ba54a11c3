//! Loading a team file: text -> TOML tree -> unknown keys -> typed raw model -> [`Team`].
//!
//! Syntax and unknown keys stop early (nothing after them would be reliable); from then on
//! every problem is collected, so one run reports them all. The host environment comes in as
//! a lookup function: the loader never reads the process environment itself except in
//! [`load`], and never reads a secret's value unless asked to check that it is set.

use std::io::Read;
use std::ops::Range;
use std::path::Path;

use serde::Deserialize;
use toml::de::DeTable;

use super::error::{MAX_FILE_BYTES, ProblemKind, TeamError, TeamWarning};
use super::problems::Problems;
use super::raw::{self, TeamFile};
use super::resolve::{self, Inherited, TeamChecks};
use super::settings::Fields;
use super::values::Context;
use super::{ProviderSettings, Team, keys, repo};
use crate::vocabulary::ProviderKind;

/// How strictly to load.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// What `up` needs from this host: every secret's host variable set (and non-empty), and
    /// every local repository present. On for `validate` and `up`; off for `plan`, `status`,
    /// `down` and `exec`, which neither read secret values nor clone, so that a team whose
    /// local repository is gone can still be inspected and torn down.
    pub require_secrets: bool,
}

/// A loaded team and the warnings the file earned.
#[derive(Debug)]
pub struct Loaded {
    pub team: Team,
    pub warnings: Vec<TeamWarning>,
}

/// Loads `path`, interpolating from the process environment.
pub fn load(path: &Path, options: &LoadOptions) -> Result<Loaded, TeamError> {
    let source = read(path)?;
    let directory = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let base_dir = repo::normalize(directory);
    let host =
        |name: &str| std::env::var_os(name).map(|value| value.to_string_lossy().into_owned());
    let file_name = path.display().to_string();
    let mut loaded = load_str(&source, &file_name, &base_dir, &host, options)?;
    loaded.team.path = Some(path.to_path_buf());
    loaded.team.source = Some(super::source_id(path));
    Ok(loaded)
}

/// Loads team file text. `file_name` names it in diagnostics, relative paths in it resolve
/// against `base_dir`, and `env` looks host variables up (`None` = unset).
pub fn load_str(
    source: &str,
    file_name: &str,
    base_dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    options: &LoadOptions,
) -> Result<Loaded, TeamError> {
    let mut problems = Problems::new(file_name, source);
    let table = match DeTable::parse(source) {
        Ok(table) => table,
        Err(error) => {
            let diagnostic = problems
                .at(
                    ProblemKind::Syntax,
                    error_span(&error, source),
                    "here",
                    format!("invalid TOML: {}", error.message()),
                )
                .with_help("fix the TOML syntax at the label");
            problems.error(diagnostic);
            return Err(problems.into_error());
        }
    };
    keys::check(table.get_ref(), &mut problems);
    if problems.has_errors() {
        return Err(problems.into_error());
    }
    let file = match TeamFile::deserialize(toml::de::Deserializer::from(table)) {
        Ok(file) => file,
        Err(error) => {
            let diagnostic = problems
                .at(
                    ProblemKind::WrongType,
                    error_span(&error, source),
                    "wrong type",
                    error.message().to_string(),
                )
                .with_help("`ralph-town schema` shows the type of every key");
            problems.error(diagnostic);
            return Err(problems.into_error());
        }
    };
    let mut context = Context {
        source,
        base_dir,
        lookup: env,
        problems,
        require_host: options.require_secrets,
    };
    let team = build(&file, options, &mut context);
    let warnings = context.problems.finish()?;
    Ok(Loaded { team, warnings })
}

/// The file's text, refusing more than [`MAX_FILE_BYTES`] without reading it all (the path may
/// name a device or a pipe that never ends).
fn read(path: &Path) -> Result<String, TeamError> {
    let failed = |source| TeamError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(failed)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(failed)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(TeamError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    String::from_utf8(bytes).map_err(|error| {
        failed(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            error.utf8_error(),
        ))
    })
}

fn error_span(error: &toml::de::Error, source: &str) -> Range<usize> {
    error
        .span()
        .filter(|span| source.get(span.clone()).is_some())
        .unwrap_or(0..0)
}

fn build(file: &TeamFile, options: &LoadOptions, context: &mut Context<'_>) -> Team {
    let name = if let Some(name) = &file.name {
        context
            .text(name)
            .filter(|name| resolve::check_name(name, context))
    } else {
        let diagnostic = context
            .problems
            .at(
                ProblemKind::MissingKey,
                0..0,
                "no `name` in this file",
                "the team file has no `name`",
            )
            .with_help("add `name = \"my-team\"` at the top: it labels every sandbox of the team");
        context.problems.error(diagnostic);
        None
    };
    let provider = file
        .provider
        .as_ref()
        .and_then(|provider| read_provider(provider, context))
        .unwrap_or_default();
    let provider_settings = ProviderSettings {
        api_url: daytona_setting(&file.api_url, "api_url", provider, context),
        target: daytona_setting(&file.target, "target", provider, context),
    };
    if let Some(url) = &file.api_url
        && let Some(value) = &provider_settings.api_url
        && !(value.starts_with("http://") || value.starts_with("https://"))
    {
        context.invalid(
            ProblemKind::InvalidValue,
            url.span(),
            format!(
                "`api_url` `{}` is not an http(s) URL",
                crate::names::shown(value, 80)
            ),
            "write the API base URL, e.g. `https://app.daytona.io/api`",
        );
    }
    let setup = file
        .setup
        .as_ref()
        .and_then(|setup| resolve::read_setup(setup, context));
    let defaults = match &file.defaults {
        Some(defaults) => Fields::read(defaults.value().settings(), context),
        None => Fields::default(),
    };
    if file.teammate.is_empty() {
        let span = file.defaults.as_ref().map_or(0..0, raw::Located::span);
        let diagnostic = context
            .problems
            .at(
                ProblemKind::NoTeammates,
                span,
                "",
                "the team has no teammates",
            )
            .with_help("add a `[[teammate]]` table with a `name` and a `branch`");
        context.problems.error(diagnostic);
    }
    let inherited = Inherited {
        defaults: &defaults,
        setup: setup.as_ref(),
        require_secrets: options.require_secrets,
    };
    let mut checks = TeamChecks::default();
    let teammates = file
        .teammate
        .iter()
        .map(|teammate| resolve::teammate(teammate, &inherited, &mut checks, context))
        .collect();
    Team {
        name: name.map(|name| name.text).unwrap_or_default(),
        provider,
        provider_settings,
        teammates,
        path: None,
        source: None,
    }
}

fn read_provider(
    located: &raw::Located<String>,
    context: &mut Context<'_>,
) -> Option<ProviderKind> {
    let value = context.text(located)?;
    match value.text.as_str() {
        "local" => return Some(ProviderKind::Local),
        "daytona" => return Some(ProviderKind::Daytona),
        _ => {}
    }
    let help = ["local", "daytona"]
        .into_iter()
        .find(|known| strsim::jaro_winkler(&value.text, known) >= 0.8)
        .map_or_else(
            || "use `local` or `daytona`".to_string(),
            |known| format!("did you mean `{known}`?"),
        );
    context.invalid(
        ProblemKind::InvalidValue,
        value.place.span.clone(),
        format!(
            "unknown provider `{}`",
            crate::names::shown(&value.text, 60)
        ),
        &help,
    );
    None
}

/// A Daytona-only setting; a warning when the provider does not use it.
fn daytona_setting(
    located: &Option<raw::Located<String>>,
    key: &str,
    provider: ProviderKind,
    context: &mut Context<'_>,
) -> Option<String> {
    let located = located.as_ref()?;
    let value = context.text(located)?;
    if provider != ProviderKind::Daytona {
        let diagnostic = context
            .problems
            .at(
                ProblemKind::IgnoredSetting,
                located.span(),
                "ignored",
                format!("`{key}` is ignored by the `{provider}` provider"),
            )
            .with_help("remove it, or set `provider = \"daytona\"`");
        context.problems.warn(diagnostic);
    }
    Some(value.text)
}
