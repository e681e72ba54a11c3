//! The work-loss check: a script that lists, for every repository in a sandbox home, the
//! uncommitted changes and unpushed commits, and the parser of its output.
//!
//! It only reads: the script changes nothing in the sandbox, and the parser never decides what
//! to do about dirty work (that is the caller's guard). Output that did not finish is never
//! taken for clean.

use std::fmt::Write as _;

const SCRIPT: &str = include_str!("templates/worktree_check.sh");

/// How many files or commits [`WorkCheck::describe`] names per list before "and N more".
const SHOWN: usize = 5;

/// The bash script to run in a sandbox (with `HOME` set) to find unsaved work; its stdout is
/// what [`parse_worktree_check`] reads.
pub fn worktree_check_script() -> &'static str {
    SCRIPT
}

/// What a sandbox would lose if it went away now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkCheck {
    /// The sandbox home as the script saw it, used to shorten paths to `~/...`.
    pub home: Option<String>,
    /// Every repository found, clean or not, in path order.
    pub repos: Vec<RepoWork>,
    /// Whether the output ran to its `end` line; a check cut short is not clean.
    pub complete: bool,
    /// The teammate's command while it still runs (`running (run 2)`): work in progress.
    pub command: Option<String>,
}

/// One repository's unsaved work.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepoWork {
    /// The repository's directory inside the sandbox.
    pub path: String,
    /// `git status --porcelain` lines, untracked files included (`?? notes.txt`).
    pub uncommitted: Vec<String>,
    /// Commits on a local branch (or a detached HEAD) that no remote ref has, as
    /// `<hash> <subject>`, then stash entries (`stash@{0}: ...`).
    pub unpushed: Vec<String>,
    /// Why parts of the repository could not be checked; any error makes it not clean.
    pub errors: Vec<String>,
}

impl RepoWork {
    pub fn is_clean(&self) -> bool {
        self.uncommitted.is_empty() && self.unpushed.is_empty() && self.errors.is_empty()
    }
}

impl WorkCheck {
    /// True only when the check finished and no repository holds unsaved work.
    pub fn is_clean(&self) -> bool {
        self.complete && self.command.is_none() && self.repos.iter().all(RepoWork::is_clean)
    }

    /// A human summary naming the files and commits that would be lost.
    pub fn describe(&self) -> String {
        let mut text = String::new();
        if !self.complete {
            text.push_str("the work check did not finish, so unsaved work may exist\n");
        }
        if let Some(command) = &self.command {
            let _ = writeln!(
                text,
                "the teammate's command is {command} (stop it with `ralph-town stop`)"
            );
        }
        for repo in self.repos.iter().filter(|repo| !repo.is_clean()) {
            let _ = writeln!(text, "{}:", self.display_path(&repo.path));
            for (label, items) in [
                ("uncommitted", &repo.uncommitted),
                ("unpushed", &repo.unpushed),
                ("not checked", &repo.errors),
            ] {
                if !items.is_empty() {
                    let _ = writeln!(text, "  {label}: {}", shorten(items));
                }
            }
        }
        if text.is_empty() {
            text.push_str("no uncommitted changes or unpushed commits");
        }
        text.trim_end().to_string()
    }

    fn display_path(&self, path: &str) -> String {
        match self.home.as_deref() {
            Some(home) if path == home => "~".to_string(),
            Some(home) => match path
                .strip_prefix(home)
                .and_then(|rest| rest.strip_prefix('/'))
            {
                Some(rest) => format!("~/{rest}"),
                None => path.to_string(),
            },
            None => path.to_string(),
        }
    }
}

/// The first few items, then "and N more".
fn shorten(items: &[String]) -> String {
    let shown: Vec<&str> = items.iter().take(SHOWN).map(|item| item.trim()).collect();
    let mut text = shown.join(", ");
    if items.len() > SHOWN {
        let _ = write!(text, ", and {} more", items.len() - SHOWN);
    }
    text
}

/// Reads the output of [`worktree_check_script`]. Unknown record kinds are skipped, so the
/// script may add some; records before the first `repo` line other than `home` are ignored.
pub fn parse_worktree_check(output: &str) -> WorkCheck {
    let mut check = WorkCheck::default();
    let mut started = false;
    for line in output.lines() {
        let (kind, value) = line.split_once('\t').unwrap_or((line, ""));
        match kind {
            "ralph-town-work-check" => started = true,
            "home" => check.home = Some(value.to_string()),
            "command" => check.command = Some(value.to_string()),
            "repo" => check.repos.push(RepoWork {
                path: value.to_string(),
                ..RepoWork::default()
            }),
            "end" => check.complete = started,
            _ => {
                let Some(repo) = check.repos.last_mut() else {
                    continue;
                };
                match kind {
                    "uncommitted" => repo.uncommitted.push(value.to_string()),
                    "unpushed" | "stash" => repo.unpushed.push(value.to_string()),
                    "error" => repo.errors.push(value.to_string()),
                    _ => {}
                }
            }
        }
    }
    check
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = "ralph-town-work-check\t1\nhome\t/home/daytona\n\
        repo\t/home/daytona/app\nuncommitted\t M src/main.rs\nuncommitted\t?? notes.txt\n\
        unpushed\tabc1234 wip\nstash\tstash@{0}: WIP on main: 1 x\n\
        repo\t/home/daytona/clean\nend\n";

    #[test]
    fn parses_records_per_repository() {
        let check = parse_worktree_check(OUTPUT);
        assert!(check.complete);
        assert_eq!(check.repos.len(), 2);
        assert_eq!(
            check.repos[0].uncommitted,
            [" M src/main.rs", "?? notes.txt"]
        );
        assert_eq!(
            check.repos[0].unpushed,
            ["abc1234 wip", "stash@{0}: WIP on main: 1 x"]
        );
        assert!(check.repos[1].is_clean());
        assert!(!check.is_clean());
        assert_eq!(
            check.describe(),
            "~/app:\n  uncommitted: M src/main.rs, ?? notes.txt\n  \
             unpushed: abc1234 wip, stash@{0}: WIP on main: 1 x"
        );
    }

    #[test]
    fn output_without_end_is_not_clean() {
        let check = parse_worktree_check("ralph-town-work-check\t1\nhome\t/h\nrepo\t/h/app\n");
        assert!(!check.complete);
        assert!(!check.is_clean());
        assert!(check.describe().contains("did not finish"));
        assert!(!parse_worktree_check("").is_clean());
    }

    #[test]
    fn a_running_command_is_unsaved_work() {
        let check = parse_worktree_check(
            "ralph-town-work-check\t1\nhome\t/h\ncommand\trunning (run 2)\nrepo\t/h/a\nend\n",
        );
        assert!(!check.is_clean());
        assert_eq!(
            check.describe(),
            "the teammate's command is running (run 2) (stop it with `ralph-town stop`)"
        );
    }

    #[test]
    fn clean_output_is_clean() {
        let check = parse_worktree_check("ralph-town-work-check\t1\nhome\t/h\nrepo\t/h/a\nend\n");
        assert!(check.is_clean());
        assert_eq!(
            check.describe(),
            "no uncommitted changes or unpushed commits"
        );
    }

    #[test]
    fn long_lists_are_shortened() {
        let mut output = String::from("ralph-town-work-check\t1\nrepo\t/x/app\n");
        for index in 0..8 {
            output.push_str(&format!("uncommitted\t?? file{index}\n"));
        }
        output.push_str("end\n");
        let description = parse_worktree_check(&output).describe();
        assert_eq!(
            description,
            "/x/app:\n  uncommitted: ?? file0, ?? file1, ?? file2, ?? file3, ?? file4, and 3 more"
        );
    }
}
