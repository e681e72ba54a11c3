//! Setup: the script that makes a fresh sandbox a teammate's workspace, and the check that a
//! sandbox holds no unsaved work before it goes away.
//!
//! [`render`] turns a resolved [`Teammate`] into a bash script (the built-in template or the
//! team's own `*.sh.j2`, which may extend the built-in's blocks). Templates see secret *names*
//! only: values never pass through here; the caller puts them in the environment of the one
//! process that runs the script. This module does not upload or run anything.

mod error;
mod runner;
pub mod shell;
mod worktree;

use std::path::{Path, PathBuf};

use minijinja::value::Value;
use minijinja::{Environment, ErrorKind, context};

use crate::team::Teammate;

pub use error::{SetupError, TemplateError};
pub use runner::{WORK_DIR, render_runner, work_probe_script};
pub use worktree::{RepoWork, WorkCheck, parse_worktree_check, worktree_check_script};

/// The name under which templates extend or include the built-in setup template.
pub const BUILTIN_TEMPLATE: &str = "builtin/setup.sh.j2";

const BUILTIN_SOURCE: &str = include_str!("templates/setup.sh.j2");

/// Secrets that may authenticate git over https, in order of preference. The credential line is
/// `https://x-access-token:<token>@<host>`: GitHub accepts any user name with a token, and
/// `x-access-token` is the one GitHub documents for app and action tokens.
pub const GIT_TOKEN_SECRETS: [&str; 3] = ["GH_TOKEN", "GITHUB_TOKEN", "GIT_TOKEN"];

/// Secrets the GitHub CLI accepts, in order of preference.
pub const GH_TOKEN_SECRETS: [&str; 2] = ["GH_TOKEN", "GITHUB_TOKEN"];

/// Renders the setup script for `teammate` of the team `team_name`.
///
/// Uses the teammate's `setup` template when it has one (templates it extends or includes load
/// relative to its directory; the built-in is [`BUILTIN_TEMPLATE`]), else the built-in.
pub fn render(teammate: &Teammate, team_name: &str) -> Result<String, SetupError> {
    Renderer::default().render(teammate, team_name)
}

/// The hex SHA-256 that stands for `teammate`'s setup script in its spec hash. For the built-in
/// template it is the digest of the template itself: the script it renders depends only on the
/// template and on fields the spec hash covers (names, repository, branches, workdir, git
/// identity, secret names; never `env`, which ralph-town writes apart), so a plan need not
/// render it. A team's own template may use anything, so its rendered script is hashed.
pub fn script_digest(
    teammate: &Teammate,
    renderer: &mut Renderer,
    team_name: &str,
) -> Result<String, SetupError> {
    use sha2::{Digest, Sha256};
    if teammate.setup.is_none() {
        static BUILTIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        Ok(BUILTIN
            .get_or_init(|| hex::encode(Sha256::digest(BUILTIN_SOURCE.as_bytes())))
            .clone())
    } else {
        let script = renderer.render(teammate, team_name)?;
        Ok(hex::encode(Sha256::digest(script.as_bytes())))
    }
}

/// Renders the setup scripts of many teammates, compiling each template once: one minijinja
/// environment per template file (the built-in's included), kept for the next teammate.
#[derive(Default)]
pub struct Renderer {
    environments: std::collections::HashMap<Option<PathBuf>, Environment<'static>>,
}

impl Renderer {
    /// [`render`], with the templates compiled for earlier teammates reused.
    pub fn render(&mut self, teammate: &Teammate, team_name: &str) -> Result<String, SetupError> {
        let context = context_for(teammate, team_name)?;
        let key = teammate.setup.clone();
        if !self.environments.contains_key(&key) {
            let environment = environment_for(teammate.setup.as_deref())?;
            self.environments.insert(key.clone(), environment);
        }
        let root = match &teammate.setup {
            Some(path) => path.to_string_lossy().into_owned(),
            None => BUILTIN_TEMPLATE.to_string(),
        };
        render_in(&self.environments[&key], &root, context)
    }
}

/// The environment that renders the template at `setup` (the built-in for `None`).
fn environment_for(setup: Option<&Path>) -> Result<Environment<'static>, SetupError> {
    let mut environment = shell::environment();
    match setup {
        Some(path) => {
            let name = path.to_string_lossy().into_owned();
            if !name.ends_with(".sh.j2") {
                return Err(SetupError::TemplateName {
                    path: path.to_path_buf(),
                });
            }
            let source =
                std::fs::read_to_string(path).map_err(|source| SetupError::TemplateRead {
                    path: path.to_path_buf(),
                    source,
                })?;
            let directory = path.parent().map(Path::to_path_buf).unwrap_or_default();
            environment.set_loader(move |name| load(&directory, name));
            environment
                .add_template_owned(name, source)
                .map_err(|error| SetupError::from_template(&error))?;
        }
        None => environment.set_loader(|name| load(Path::new(""), name)),
    }
    Ok(environment)
}

fn render_in(
    environment: &Environment<'_>,
    name: &str,
    context: Value,
) -> Result<String, SetupError> {
    environment
        .get_template(name)
        .and_then(|template| template.render(context))
        .map_err(|error| SetupError::from_template(&error))
}

/// Loads `name`: the built-in by its reserved name, anything else from `directory`. Only
/// `*.sh.j2` files load, so every template of a setup script is shell-quoted.
fn load(directory: &Path, name: &str) -> Result<Option<String>, minijinja::Error> {
    if name == BUILTIN_TEMPLATE {
        return Ok(Some(BUILTIN_SOURCE.to_string()));
    }
    if !name.ends_with(".sh.j2") {
        return Err(minijinja::Error::new(
            ErrorKind::InvalidOperation,
            format!("`{name}` is not a `*.sh.j2` template; only those are shell-quoted"),
        ));
    }
    let path: PathBuf = directory.join(name);
    match std::fs::read_to_string(&path) {
        Ok(source) => Ok(Some(source)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(minijinja::Error::new(
            ErrorKind::InvalidOperation,
            format!("cannot read `{}`", path.display()),
        )
        .with_source(error)),
    }
}

/// The template context. It holds no secret value: `secrets` is the list of names.
fn context_for(teammate: &Teammate, team_name: &str) -> Result<Value, SetupError> {
    let secret_names: Vec<String> = teammate
        .secrets
        .iter()
        .map(|secret| secret.name.clone())
        .collect();
    if let Some(name) = secret_names
        .iter()
        .find(|name| !crate::names::EnvName::is_valid(name))
    {
        return Err(SetupError::SecretName { name: name.clone() });
    }
    let first_of = |candidates: &[&'static str]| {
        candidates
            .iter()
            .copied()
            .find(|candidate| secret_names.iter().any(|name| name == candidate))
    };
    let git_token = first_of(&GIT_TOKEN_SECRETS);
    let gh_token = first_of(&GH_TOKEN_SECRETS);
    let repo_host = https_host(&teammate.repo);
    Ok(context! {
        teammate => context! {
            name => &teammate.name,
            repo => &teammate.repo,
            branch => &teammate.branch,
            base_branch => &teammate.base_branch,
            workdir => &teammate.workdir,
            snapshot => &teammate.snapshot,
            env => Value::from(teammate.env.clone()),
        },
        team => context! { name => team_name },
        git => context! {
            user_name => &teammate.git.user_name,
            user_email => &teammate.git.user_email,
        },
        secrets => secret_names,
        git_token => git_token,
        gh_token => gh_token,
        repo_is_https => repo_host.is_some(),
        repo_host => repo_host,
    })
}

/// Where the teammate's plain environment lives in a sandbox (relative to its home): sourced by
/// login shells (the profile setup installs) and by the teammate's command.
pub const ENV_FILE: &str = ".config/ralph-town/env.sh";

/// The contents of [`ENV_FILE`] for `env`: one `export NAME='value'` a line, values quoted.
pub fn env_file(env: &std::collections::BTreeMap<String, String>) -> String {
    let mut text = String::from("# The teammate's plain environment, written by ralph-town.\n");
    for (name, value) in env {
        text.push_str(&format!("export {name}={}\n", shell::quote(value)));
    }
    text
}

/// The `host[:port]` of an `https://` clone URL, without any user info.
pub fn https_host(repo: &str) -> Option<String> {
    let scheme = repo.get(..8)?;
    if !scheme.eq_ignore_ascii_case("https://") {
        return None;
    }
    let authority = repo[8..].split(['/', '?', '#']).next()?;
    let host = authority.rsplit('@').next()?;
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_host_keeps_port_and_drops_user_info() {
        assert_eq!(
            https_host("https://github.com/acme/app.git").as_deref(),
            Some("github.com")
        );
        assert_eq!(
            https_host("HTTPS://user@Git.Example:8443/a.git").as_deref(),
            Some("git.example:8443")
        );
        assert_eq!(https_host("git@github.com:acme/app.git"), None);
        assert_eq!(https_host("/srv/repos/app"), None);
        assert_eq!(https_host("https:///x"), None);
    }
}
