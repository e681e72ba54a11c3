//! Where a teammate's repository comes from and where its clone lands in the sandbox.
//!
//! [`RepoSource`] (in `crate::names`) tells URLs from paths and refuses what git would not clone
//! safely; here a local path becomes absolute against the team file's directory, by text (the
//! loader then checks that it exists), and a `workdir` is checked against the sandbox home.
//! Values are carried verbatim otherwise: they are data, never parsed by a shell.

use std::path::{Component, Path, PathBuf};

use crate::names::RepoSource;

/// The home of a sandbox, the same on every provider (`local` mounts it there too).
const SANDBOX_HOME: &str = "/home/daytona";

/// A remote stays as written; a local path becomes absolute and lexically normalized.
pub(crate) fn resolve(repo: &RepoSource, base_dir: &Path) -> String {
    match repo {
        RepoSource::Local(path) => normalize(&base_dir.join(path))
            .to_string_lossy()
            .into_owned(),
        remote => remote.as_str().to_string(),
    }
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

/// The reason a `workdir` is unusable, if it is. Setup clones into it, so it must be a new
/// directory: a path inside the sandbox home (relative, `~/...` or under `/home/daytona`) that
/// is not the home itself, or an absolute path elsewhere that is not `/`.
pub(crate) fn check_workdir(workdir: &str) -> Result<(), String> {
    if workdir.trim().is_empty() {
        return Err("the `workdir` is empty".into());
    }
    if let Some((_, character)) = crate::names::hidden_character(workdir) {
        return Err(format!(
            "the `workdir` holds the invisible or control character `U+{:04X}`",
            u32::from(character)
        ));
    }
    if workdir.split('/').any(|part| part == "..") {
        return Err("`..` is not allowed in a `workdir`: it must stay inside the sandbox".into());
    }
    let inside_home = if let Some(absolute) = workdir.strip_prefix('/') {
        let given: Vec<&str> = parts(absolute).collect();
        if given.is_empty() {
            return Err("the `workdir` is `/`: setup cannot clone into the root".into());
        }
        let home: Vec<&str> = parts(SANDBOX_HOME).collect();
        if !given.starts_with(&home) {
            return Ok(());
        }
        given.len() - home.len()
    } else if workdir == "~" || workdir.starts_with("~/") {
        parts(&workdir[1..]).count()
    } else if workdir.starts_with('~') {
        return Err("`~user` is not supported in a `workdir`: write `~/dir` or `dir`".into());
    } else {
        parts(workdir).count()
    };
    if inside_home == 0 {
        return Err(format!(
            "the `workdir` `{workdir}` is the sandbox home itself: setup cannot clone into it"
        ));
    }
    Ok(())
}

/// The path's parts without empty ones and `.`.
fn parts(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter(|part| !part.is_empty() && *part != ".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_local_paths_against_the_file() {
        let base = Path::new("/work/teams/app");
        let resolve = |text: &str| resolve(&RepoSource::parse(text).unwrap(), base);
        assert_eq!(resolve("../.."), "/work");
        assert_eq!(resolve("./repo/./x/.."), "/work/teams/app/repo");
        assert_eq!(resolve("/abs/path"), "/abs/path");
        assert_eq!(resolve("git@h:a/b.git"), "git@h:a/b.git");
        assert_eq!(
            resolve("with space $(x)"),
            "/work/teams/app/with space $(x)"
        );
    }

    #[test]
    fn workdir_is_a_new_directory_inside_the_home_or_elsewhere() {
        let good = [
            "app",
            "src/app",
            "./app",
            "~/app",
            "/home/daytona/app",
            "/home/daytonax",
            "/srv/app",
            "/tmp/x",
        ];
        for workdir in good {
            assert_eq!(check_workdir(workdir), Ok(()), "{workdir}");
        }
        let bad = [
            ("", "empty"),
            ("  ", "empty"),
            (".", "home itself"),
            ("./", "home itself"),
            ("~", "home itself"),
            ("~/", "home itself"),
            ("~/.", "home itself"),
            ("/home/daytona", "home itself"),
            ("/home/daytona/", "home itself"),
            ("/home//daytona/./", "home itself"),
            ("/", "the root"),
            ("//", "the root"),
            ("/./", "the root"),
            ("~root/x", "`~user`"),
            ("../escape", "`..`"),
            ("a/../../b", "`..`"),
            ("a\nb", "U+000A"),
            ("a\u{202E}b", "U+202E"),
        ];
        for (workdir, reason) in bad {
            let error = check_workdir(workdir).expect_err(workdir);
            assert!(error.contains(reason), "{workdir:?}: {error}");
        }
    }
}
