//! `git status --porcelain=v2 --branch -z` read into the daemon's `GitStatus`: go-git's names
//! for file states, its `HEAD` for a detached head, and the newer `detached` and `upstream`.
//! Pure parsing; running git is `git_command`'s.

use crate::daytona_api::{FileStatus, GitFileState, GitStatus};

/// A porcelain v2 status letter as go-git names it.
fn file_state(letter: char) -> GitFileState {
    match letter {
        'M' | 'T' => GitFileState::Modified,
        'A' => GitFileState::Added,
        'D' => GitFileState::Deleted,
        'R' => GitFileState::Renamed,
        'C' => GitFileState::Copied,
        'U' => GitFileState::UpdatedButUnmerged,
        '?' => GitFileState::Untracked,
        _ => GitFileState::Unmodified,
    }
}

/// Parses `git status --porcelain=v2 --branch -z`.
pub(crate) fn parse_status(output: &str) -> GitStatus {
    let mut status = GitStatus {
        current_branch: String::new(),
        file_status: Vec::new(),
        ahead: 0,
        behind: 0,
        branch_published: false,
        detached: false,
        upstream: String::new(),
    };
    let mut records = output.split('\0').filter(|record| !record.is_empty());
    while let Some(record) = records.next() {
        let mut push = |xy: &str, name: &str, extra: String| {
            let mut letters = xy.chars();
            status.file_status.push(FileStatus {
                name: name.to_string(),
                extra,
                staging: file_state(letters.next().unwrap_or('.')),
                worktree: file_state(letters.next().unwrap_or('.')),
            });
        };
        if let Some(header) = record.strip_prefix("# ") {
            let (key, value) = header.split_once(' ').unwrap_or((header, ""));
            match key {
                "branch.head" if value == "(detached)" => {
                    // go-git's `Head().Name().Short()` of a detached HEAD.
                    status.current_branch = "HEAD".to_string();
                    status.detached = true;
                }
                "branch.head" => status.current_branch = value.to_string(),
                "branch.upstream" => {
                    status.upstream = value.to_string();
                    status.branch_published = true;
                }
                "branch.ab" => {
                    for count in value.split(' ') {
                        if let Some(ahead) = count.strip_prefix('+') {
                            status.ahead = ahead.parse().unwrap_or(0);
                        } else if let Some(behind) = count.strip_prefix('-') {
                            status.behind = behind.parse().unwrap_or(0);
                        }
                    }
                }
                _ => {}
            }
        } else if let Some(path) = record.strip_prefix("? ") {
            push("??", path, String::new());
        } else if let Some(rest) = record.strip_prefix("1 ") {
            let fields: Vec<&str> = rest.splitn(8, ' ').collect();
            if let [xy, .., path] = fields[..] {
                push(xy, path, String::new());
            }
        } else if let Some(rest) = record.strip_prefix("2 ") {
            // A rename or copy: the original path is the next record.
            let fields: Vec<&str> = rest.splitn(9, ' ').collect();
            let original = records.next().unwrap_or_default().to_string();
            if let [xy, .., path] = fields[..] {
                push(xy, path, original);
            }
        } else if let Some(rest) = record.strip_prefix("u ") {
            let fields: Vec<&str> = rest.splitn(10, ' ').collect();
            if let [xy, .., path] = fields[..] {
                push(xy, path, String::new());
            }
        }
    }
    status.file_status.sort_by(|a, b| a.name.cmp(&b.name));
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn porcelain_status_parses_branches_renames_and_untracked_files() {
        let output = "# branch.oid 1234\0# branch.head main\0# branch.upstream origin/main\0\
                      # branch.ab +2 -1\0\
                      1 .M N... 100644 100644 100644 aaa aaa src/a b.rs\0\
                      2 R. N... 100644 100644 100644 bbb bbb R100 new.txt\0old.txt\0\
                      1 A. N... 000000 100644 100644 000 ccc added.txt\0\
                      ? notes.md\0";
        let status = parse_status(output);
        assert_eq!(status.current_branch, "main");
        assert_eq!((status.ahead, status.behind), (2, 1));
        assert!(status.branch_published && !status.detached);
        assert_eq!(status.upstream, "origin/main");
        let names: Vec<_> = status.file_status.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["added.txt", "new.txt", "notes.md", "src/a b.rs"]);
        let renamed = &status.file_status[1];
        assert_eq!(
            (renamed.staging, renamed.worktree, renamed.extra.as_str()),
            (GitFileState::Renamed, GitFileState::Unmodified, "old.txt")
        );
        assert_eq!(status.file_status[2].worktree, GitFileState::Untracked);
        assert_eq!(status.file_status[3].worktree, GitFileState::Modified);
    }

    #[test]
    fn a_detached_head_is_reported_as_head() {
        let status = parse_status("# branch.oid 1234\0# branch.head (detached)\0");
        assert_eq!(status.current_branch, "HEAD");
        assert!(status.detached && !status.branch_published);
    }
}
