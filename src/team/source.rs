//! Where a team file lives, as a short stable id: the `ralph-town/source` label.
//!
//! Two projects may pick one team name (`init` once wrote `my-team` everywhere); the label lets a
//! plan notice sandboxes of its team that another team file made, and refuse to touch them. The
//! id must be the same on a laptop and in CI for one checked-in file, so it is made of the
//! repository's identity (its `origin` URL, credentials stripped) and the file's path inside the
//! repository, not of absolute paths. Outside a repository the file's absolute path stands in.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The id of the team file at `path`: 16 hex digits.
pub fn source_id(path: &Path) -> String {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let path = std::fs::canonicalize(&path).unwrap_or(path);
    let identity = match repository_of(&path) {
        Some((root, remote)) => {
            let inside = path.strip_prefix(&root).unwrap_or(&path);
            let repository = remote.unwrap_or_else(|| root.display().to_string());
            format!("{repository}\n{}", inside.display())
        }
        None => path.display().to_string(),
    };
    let digest = hex::encode(Sha256::digest(identity.as_bytes()));
    digest[..16].to_string()
}

/// The work tree holding `file` and its `origin` URL (without user info), if it is in one.
fn repository_of(file: &Path) -> Option<(PathBuf, Option<String>)> {
    let root = file
        .ancestors()
        .skip(1)
        .find(|dir| dir.join(".git").exists())?;
    let git_dir = git_dir(root)?;
    let config = std::fs::read_to_string(git_dir.join("config")).ok();
    let remote = config
        .as_deref()
        .and_then(origin_url)
        .map(without_user_info);
    Some((root.to_path_buf(), remote))
}

/// `.git` itself, or the directory a `.git` file (worktrees, submodules) points to; the
/// `commondir` of a worktree holds the shared config.
fn git_dir(root: &Path) -> Option<PathBuf> {
    let dot_git = root.join(".git");
    let dir = if dot_git.is_dir() {
        dot_git
    } else {
        let text = std::fs::read_to_string(&dot_git).ok()?;
        let pointed = PathBuf::from(text.trim().strip_prefix("gitdir:")?.trim());
        if pointed.is_absolute() {
            pointed
        } else {
            root.join(pointed)
        }
    };
    match std::fs::read_to_string(dir.join("commondir")) {
        Ok(common) => Some(dir.join(common.trim())),
        Err(_) => Some(dir),
    }
}

/// The `url` of `[remote "origin"]` in a git config file.
fn origin_url(config: &str) -> Option<String> {
    let mut in_origin = false;
    for line in config.lines().map(str::trim) {
        if line.starts_with('[') {
            in_origin = line.replace(' ', "") == "[remote\"origin\"]";
        } else if in_origin
            && let Some((key, value)) = line.split_once('=')
            && key.trim() == "url"
        {
            return Some(value.trim().trim_matches('"').to_string());
        }
    }
    None
}

/// `https://user:token@host/x` as `https://host/x`: a credential never goes into a label.
fn without_user_info(url: String) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            let host = authority.rsplit('@').next().unwrap_or(authority);
            format!("{scheme}://{host}/{path}")
        }
        None => url,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_comes_from_the_remote_section_without_credentials() {
        let config = "[core]\n\tbare = false\n[remote \"upstream\"]\n\turl = https://x/y\n\
                      [remote \"origin\"]\n\turl = https://bot:ghp_secret@github.com/acme/app.git\n";
        let url = origin_url(config).map(without_user_info);
        assert_eq!(url.as_deref(), Some("https://github.com/acme/app.git"));
        assert_eq!(origin_url("[core]\n"), None);
    }

    #[test]
    fn one_checked_in_file_has_one_id_wherever_it_is_cloned() {
        let make = |dir: &Path| {
            std::fs::create_dir_all(dir.join(".git")).unwrap();
            std::fs::write(
                dir.join(".git/config"),
                "[remote \"origin\"]\n\turl = https://github.com/acme/app.git\n",
            )
            .unwrap();
            std::fs::create_dir_all(dir.join("ops")).unwrap();
            std::fs::write(dir.join("ops/team.toml"), "").unwrap();
            std::fs::write(dir.join("team.toml"), "").unwrap();
        };
        let laptop = tempfile::tempdir().unwrap();
        let ci = tempfile::tempdir().unwrap();
        make(laptop.path());
        make(ci.path());
        let id = source_id(&laptop.path().join("ops/team.toml"));
        assert_eq!(id, source_id(&ci.path().join("ops/team.toml")));
        assert_ne!(id, source_id(&laptop.path().join("team.toml")));
        assert_eq!(id.len(), 16);
    }
}
