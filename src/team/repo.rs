//! Repository locations: clone URL or local path, and the directory a clone lands in.
//!
//! A value is a URL when it has a `scheme://`, or is scp-like (`git@host:path`, `host:path`: a
//! `:` before any `/`, git's own rule). Everything else is a local path, made absolute against
//! the team file's directory without touching the filesystem, so a path that does not exist yet
//! still loads. Values are carried verbatim otherwise: they are data, never parsed by a shell.

use std::path::{Component, Path, PathBuf};

/// Whether `repo` names a remote (URL or scp-like) rather than a local path.
pub(crate) fn is_remote(repo: &str) -> bool {
    if repo.contains("://") {
        return true;
    }
    match (repo.find(':'), repo.find('/')) {
        (Some(colon), Some(slash)) => colon < slash,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// A remote stays as written; a local path becomes absolute and lexically normalized.
pub(crate) fn resolve(repo: &str, base_dir: &Path) -> String {
    if is_remote(repo) {
        return repo.to_string();
    }
    normalize(&base_dir.join(repo))
        .to_string_lossy()
        .into_owned()
}

/// An absolute form of `path` with `.` and `..` removed by text, not by the filesystem.
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut normal = PathBuf::new();
    for component in absolute.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                normal.pop();
            }
            other => normal.push(other.as_os_str()),
        }
    }
    normal
}

/// The directory name a clone of `repo` gets by default: its last path segment without `.git`.
pub(crate) fn default_workdir(repo: &str) -> Option<String> {
    let trimmed = repo.trim_end_matches('/');
    let last = trimmed.rsplit(['/', ':']).next().unwrap_or(trimmed);
    let name = last.strip_suffix(".git").unwrap_or(last);
    match name {
        "" | "." | ".." => None,
        name => Some(name.to_string()),
    }
}

/// The reason a `workdir` is unusable, if it is.
pub(crate) fn check_workdir(workdir: &str) -> Result<(), String> {
    if workdir.trim().is_empty() {
        return Err("the `workdir` is empty".into());
    }
    if workdir.chars().any(|c| c.is_control()) {
        return Err("control characters are not allowed in a `workdir`".into());
    }
    if workdir.split('/').any(|part| part == "..") {
        return Err("`..` is not allowed in a `workdir`: it must stay inside the sandbox".into());
    }
    Ok(())
}

/// The password (or token) of a URL with `user:password@`, or the user part of an
/// `http(s)://user@` URL: a credential that would end up on a command line.
pub(crate) fn embedded_credential(repo: &str) -> Option<&str> {
    let (scheme, rest) = repo.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let (userinfo, _host) = authority.rsplit_once('@')?;
    match userinfo.split_once(':') {
        Some((_, password)) if !password.is_empty() => Some(password),
        _ if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") => {
            Some(userinfo)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_remotes_from_paths() {
        for remote in [
            "https://github.com/acme/app.git",
            "ssh://git@host/acme/app",
            "file:///srv/app",
            "git@github.com:acme/app.git",
            "host:app",
        ] {
            assert!(is_remote(remote), "{remote}");
        }
        for local in ["../..", ".", "/srv/app", "app", "./a:b", "dir/with:colon"] {
            assert!(!is_remote(local), "{local}");
        }
    }

    #[test]
    fn resolves_local_paths_against_the_file() {
        let base = Path::new("/work/teams/app");
        assert_eq!(resolve("../..", base), "/work");
        assert_eq!(resolve("./repo/./x/..", base), "/work/teams/app/repo");
        assert_eq!(resolve("/abs/path", base), "/abs/path");
        assert_eq!(resolve("git@h:a/b.git", base), "git@h:a/b.git");
        assert_eq!(
            resolve("with space $(x)", base),
            "/work/teams/app/with space $(x)"
        );
    }

    #[test]
    fn workdir_is_the_repository_name() {
        let cases = [
            ("https://x/acme/app.git", Some("app")),
            ("https://x/acme/app/", Some("app")),
            ("git@github.com:acme/app.git", Some("app")),
            ("host:app", Some("app")),
            ("/path/to/app", Some("app")),
            ("/", None),
            ("https://x/acme/.git", None),
        ];
        for (repo, expected) in cases {
            assert_eq!(default_workdir(repo).as_deref(), expected, "{repo}");
        }
    }

    #[test]
    fn spots_credentials_in_urls() {
        assert_eq!(
            embedded_credential("https://user:hunter2@github.com/a/b.git"),
            Some("hunter2")
        );
        assert_eq!(
            embedded_credential("https://ghp_token@github.com/a/b.git"),
            Some("ghp_token")
        );
        assert_eq!(embedded_credential("ssh://git@github.com/a/b.git"), None);
        assert_eq!(embedded_credential("https://github.com/a@b.git"), None);
        assert_eq!(embedded_credential("git@github.com:a/b.git"), None);
    }

    #[test]
    fn workdir_stays_inside() {
        assert!(check_workdir("app").is_ok());
        assert!(check_workdir("/home/daytona/app").is_ok());
        assert!(check_workdir("../escape").is_err());
        assert!(check_workdir("").is_err());
        assert!(check_workdir("a\nb").is_err());
    }
}
