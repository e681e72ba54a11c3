//! `ralph-town config`: the team file as ralph-town reads it (docker compose's `config`), after
//! interpolation and with the defaults merged into every teammate: TOML that loads as a team
//! file, or `--json`. Secrets appear as names (and the host variable they come from), never as
//! values; nothing is read from a provider. In the TOML every `$` is written `$$`, so that the
//! output loads back as exactly the same team.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Serialize;

use super::args::ConfigArgs;
use super::{load_team, print_json};
use crate::error::{Error, Result, exit};
use crate::team::{Team, Teammate};

/// The resolved team, keyed like a team file.
#[derive(Serialize)]
struct ResolvedTeam<'a> {
    name: Cow<'a, str>,
    provider: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    api_url: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<Cow<'a, str>>,
    teammate: Vec<ResolvedTeammate<'a>>,
}

#[derive(Serialize)]
struct ResolvedTeammate<'a> {
    name: Cow<'a, str>,
    branch: Cow<'a, str>,
    repo: Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    base_branch: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    snapshot: Option<Cow<'a, str>>,
    workdir: Cow<'a, str>,
    /// `NAME=value`, sorted by name.
    env: Vec<String>,
    /// `NAME`, or `NAME=HOST_VAR` when the host variable has another name.
    secrets: Vec<String>,
    git: BTreeMap<&'static str, Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    auto_stop: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    auto_archive: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    auto_delete: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ttl: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    resources: BTreeMap<&'static str, u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    setup: Option<String>,
}

pub(super) fn run(args: &ConfigArgs) -> Result<i32> {
    let team = load_team(&args.file.file, false)?;
    if args.json {
        print_json(&resolve(&team, false))?;
        return Ok(exit::SUCCESS);
    }
    let resolved = resolve(&team, true);
    let text = toml::to_string(&resolved).map_err(|error| {
        Error::io(
            "cannot write the team as TOML",
            std::io::Error::other(error.to_string()),
        )
    })?;
    super::sandbox::write_stdout(&text)?;
    Ok(exit::SUCCESS)
}

/// The view of `team`; `escape` writes `$` as `$$` (for TOML that loads back).
fn resolve(team: &Team, escape: bool) -> ResolvedTeam<'_> {
    ResolvedTeam {
        name: literal(&team.name, escape),
        provider: team.provider.to_string(),
        api_url: team
            .provider_settings
            .api_url
            .as_deref()
            .map(|value| literal(value, escape)),
        target: team
            .provider_settings
            .target
            .as_deref()
            .map(|value| literal(value, escape)),
        teammate: team
            .teammates
            .iter()
            .map(|teammate| resolve_teammate(teammate, escape))
            .collect(),
    }
}

fn literal(value: &str, escape: bool) -> Cow<'_, str> {
    if escape && value.contains('$') {
        Cow::Owned(value.replace('$', "$$"))
    } else {
        Cow::Borrowed(value)
    }
}

fn resolve_teammate(teammate: &Teammate, escape: bool) -> ResolvedTeammate<'_> {
    let lifecycle = teammate.lifecycle;
    let resources = [
        ("cpu", teammate.resources.cpu),
        ("memory", teammate.resources.memory),
        ("disk", teammate.resources.disk),
    ]
    .into_iter()
    .filter_map(|(key, value)| Some((key, value?)))
    .collect();
    ResolvedTeammate {
        name: literal(&teammate.name, escape),
        branch: literal(&teammate.branch, escape),
        repo: literal(&teammate.repo, escape),
        base_branch: teammate
            .base_branch
            .as_deref()
            .map(|value| literal(value, escape)),
        snapshot: teammate
            .snapshot
            .as_deref()
            .map(|value| literal(value, escape)),
        workdir: literal(&teammate.workdir, escape),
        env: teammate
            .env
            .iter()
            .map(|(name, value)| format!("{name}={}", literal(value, escape)))
            .collect(),
        secrets: teammate
            .secrets
            .iter()
            .map(|secret| {
                if secret.host_var == secret.name {
                    secret.name.clone()
                } else {
                    format!("{}={}", secret.name, secret.host_var)
                }
            })
            .collect(),
        git: BTreeMap::from([
            ("user_name", literal(&teammate.git.user_name, escape)),
            ("user_email", literal(&teammate.git.user_email, escape)),
        ]),
        auto_stop: lifecycle
            .auto_stop
            .map(|minutes| duration(i64::from(minutes))),
        auto_archive: lifecycle
            .auto_archive
            .map(|minutes| duration(i64::from(minutes))),
        auto_delete: lifecycle.auto_delete.map(|minutes| match minutes {
            ..0 => "0".to_string(),
            0 => "immediately".to_string(),
            minutes => duration(i64::from(minutes)),
        }),
        ttl: teammate
            .ttl_minutes
            .map(|minutes| duration(i64::from(minutes))),
        resources,
        setup: teammate
            .setup
            .as_ref()
            .map(|path| literal(&path.display().to_string(), escape).into_owned()),
    }
}

/// Minutes as a team-file duration (`90m`, `0`).
fn duration(minutes: i64) -> String {
    match minutes {
        0 => "0".to_string(),
        minutes => format!("{minutes}m"),
    }
}
