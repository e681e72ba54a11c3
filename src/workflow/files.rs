//! A teammate's workdir, from the outside: run a command there, read, write and edit its files,
//! list them, and diff the branch against its base. The tools a lead uses on a teammate's work.
//!
//! Every path is relative to the teammate's workdir and must stay inside it: `..` and absolute
//! paths outside it are refused before anything reaches the sandbox. Nothing here decides what
//! to do with the answers; the caller redacts them.

use serde::Serialize;

use super::TeammateSandbox;
use crate::error::{Error, Result};
use crate::provider::{ExecOutput, ExecRequest, Provider};
use crate::setup::shell::quote;

/// The largest file read or edited, in bytes.
const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;
/// Where the sandbox home is on every provider (the workdir's absolute form starts here).
const HOME: &str = "/home/daytona";

/// A path inside the teammate's workdir, as the provider's file calls take it (relative paths
/// are under the sandbox home), or a refusal naming the rule.
pub fn inside_workdir(workdir: &str, path: &str) -> Result<String> {
    let workdir = workdir.trim_start_matches("~/").trim_end_matches('/');
    let absolute_workdir = if workdir.starts_with('/') {
        workdir.to_string()
    } else {
        format!("{HOME}/{workdir}")
    };
    let relative = if let Some(rest) = path.strip_prefix('/') {
        match format!("/{rest}").strip_prefix(&format!("{absolute_workdir}/")) {
            Some(inner) => inner.to_string(),
            None if format!("/{rest}") == absolute_workdir => String::new(),
            None => return Err(outside(path)),
        }
    } else {
        path.to_string()
    };
    let mut parts = Vec::new();
    for part in relative.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(outside(path)),
            part if part.contains('\0') => return Err(outside(path)),
            part => parts.push(part),
        }
    }
    let mut joined = workdir.to_string();
    for part in parts {
        joined.push('/');
        joined.push_str(part);
    }
    Ok(joined)
}

fn outside(path: &str) -> Error {
    Error::Refused {
        message: format!(
            "the path `{}` is outside the teammate's workdir",
            crate::names::shown(path, 200)
        ),
        hint: Some("give a path relative to the workdir, without `..`".to_string()),
    }
}

/// `cd` into `dir` (relative ones are under the home), as shell text.
fn cd(dir: &str) -> String {
    if dir.starts_with('/') {
        format!("cd {}", quote(dir))
    } else {
        format!("cd \"$HOME\"/{}", quote(dir))
    }
}

/// Runs shell text `command` in the teammate's workdir.
pub async fn exec(
    provider: &dyn Provider,
    found: &TeammateSandbox,
    command: &str,
    timeout: Option<std::time::Duration>,
) -> Result<ExecOutput> {
    let request = ExecRequest {
        command: format!("{} && {{\n{command}\n}}", cd(&found.teammate.workdir)),
        timeout,
        ..ExecRequest::default()
    };
    Ok(provider.exec(&found.sandbox.id, &request).await?)
}

/// The text of a file of the workdir.
pub async fn read_file(
    provider: &dyn Provider,
    found: &TeammateSandbox,
    path: &str,
) -> Result<String> {
    let inside = inside_workdir(&found.teammate.workdir, path)?;
    let bytes = provider.download(&found.sandbox.id, &inside).await?;
    if bytes.len() > MAX_FILE_BYTES {
        return Err(Error::Refused {
            message: format!(
                "`{path}` is larger than {} MiB",
                MAX_FILE_BYTES / 1024 / 1024
            ),
            hint: Some("read a part of it with `teammate_exec` (`head`, `sed -n`)".to_string()),
        });
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Writes a file of the workdir (its directories made).
pub async fn write_file(
    provider: &dyn Provider,
    found: &TeammateSandbox,
    path: &str,
    contents: &str,
) -> Result<()> {
    let inside = inside_workdir(&found.teammate.workdir, path)?;
    provider
        .upload(&found.sandbox.id, &inside, contents.as_bytes())
        .await?;
    Ok(())
}

/// Replaces `old` with `new` in a file of the workdir; `old` must occur exactly once.
pub async fn edit_file(
    provider: &dyn Provider,
    found: &TeammateSandbox,
    path: &str,
    old: &str,
    new: &str,
) -> Result<()> {
    if old.is_empty() {
        return Err(Error::usage("the text to replace is empty", None));
    }
    let text = read_file(provider, found, path).await?;
    let count = text.matches(old).count();
    if count != 1 {
        return Err(Error::NotFound {
            message: format!(
                "the text to replace occurs {count} times in `{path}`, not exactly once"
            ),
            hint: Some("give a longer piece of text that occurs only once".to_string()),
        });
    }
    write_file(provider, found, path, &text.replacen(old, new, 1)).await
}

/// Files and directories under `path` of the workdir (`.git` left out), at most `depth` deep.
#[derive(Debug, Clone, Serialize)]
pub struct Listing {
    /// `d ` for a directory, `f ` for a file, `l ` for a link, then the path.
    pub entries: Vec<String>,
}

pub async fn list_files(
    provider: &dyn Provider,
    found: &TeammateSandbox,
    path: &str,
    depth: u32,
) -> Result<Listing> {
    let inside = inside_workdir(&found.teammate.workdir, path)?;
    let command = format!(
        "{} && find . -mindepth 1 -maxdepth {} -name .git -prune -o -printf '%y %P\\n' | sort -k2 | head -n 5000",
        cd(&inside),
        depth.clamp(1, 20)
    );
    let output = provider
        .exec(
            &found.sandbox.id,
            &ExecRequest {
                command,
                ..ExecRequest::default()
            },
        )
        .await?;
    if output.exit_code != 0 {
        return Err(Error::NotFound {
            message: format!("cannot list `{path}`: {}", output.output.trim()),
            hint: None,
        });
    }
    Ok(Listing {
        entries: output.output.lines().map(str::to_string).collect(),
    })
}

/// The teammate's branch against its base: every change since they forked (committed or not),
/// as `git diff` prints it, after a `--stat` summary.
pub async fn diff(provider: &dyn Provider, found: &TeammateSandbox) -> Result<ExecOutput> {
    let base = match &found.teammate.base_branch {
        Some(base) => quote(&format!("refs/remotes/origin/{base}")),
        None => "refs/remotes/origin/HEAD".to_string(),
    };
    let command = format!(
        "base=$(git merge-base HEAD {base}) || exit 1\ngit --no-pager diff --stat \"$base\" && git --no-pager diff \"$base\""
    );
    exec(provider, found, &command, None).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_workdir() {
        assert_eq!(
            inside_workdir("app", "src/main.rs").unwrap(),
            "app/src/main.rs"
        );
        assert_eq!(inside_workdir("app", "./a//b/").unwrap(), "app/a/b");
        assert_eq!(inside_workdir("~/app", "x").unwrap(), "app/x");
        assert_eq!(
            inside_workdir("app", "/home/daytona/app/x").unwrap(),
            "app/x"
        );
        assert_eq!(inside_workdir("/srv/w", "/srv/w/y").unwrap(), "/srv/w/y");
        assert_eq!(inside_workdir("app", "").unwrap(), "app");
        for bad in [
            "../x",
            "a/../../x",
            "/etc/passwd",
            "/home/daytona/app2/x",
            "a/..",
        ] {
            assert!(inside_workdir("app", bad).is_err(), "{bad}");
        }
    }
}
