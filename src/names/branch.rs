//! Branch names: the rules of `git check-ref-format --branch`, a length limit, and no character
//! a shell acts on or a reader cannot see. The team file (`branch`, `base_branch`) and
//! `run --branch` (the command line and the MCP tool) check branches with [`BranchName`].

use std::fmt;
use std::str::FromStr;

use super::{Violation, hidden_character, hidden_violation, violation};

/// The longest branch name, in bytes. Git keeps a ref as a file (`refs/heads/<branch>`, and
/// `refs/remotes/origin/<branch>` after a fetch) and writes `<name>.lock` beside it, so a part
/// over 250 bytes fails on file systems that allow 255-byte names; hosting services refuse
/// refs over 255 bytes. 200 leaves room for those prefixes and suffixes, and no branch a
/// person names comes near it.
pub(crate) const MAX_BRANCH_BYTES: usize = 200;

/// Characters a shell would act on; refused in branch names although git allows some, as
/// defence in depth: setup templates quote every value anyway.
const SHELL_CHARACTERS: &[char] = &['$', '`', ';', '\'', '"', '|', '&', '<', '>', '(', ')', '!'];

/// A valid branch name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct BranchName(String);

impl BranchName {
    pub(crate) fn parse(text: &str) -> Result<BranchName, Violation> {
        BranchName::check(text)?;
        Ok(BranchName(text.to_string()))
    }

    /// [`BranchName::parse`] without keeping the name.
    pub(crate) fn check(branch: &str) -> Result<(), Violation> {
        if branch.is_empty() {
            return Err(violation("the branch name is empty", 0..0));
        }
        if branch.len() > MAX_BRANCH_BYTES {
            let end = floor_char_boundary(branch, MAX_BRANCH_BYTES);
            return Err(violation(
                format!(
                    "the branch name has {} bytes, at most {MAX_BRANCH_BYTES} are allowed",
                    branch.len()
                ),
                end..branch.len(),
            ));
        }
        if branch == "@" {
            return Err(violation("`@` alone is not a branch name", 0..1));
        }
        if let Some((index, character)) = hidden_character(branch) {
            return Err(hidden_violation(index, character));
        }
        for (index, character) in branch.char_indices() {
            let range = index..index + character.len_utf8();
            let reason = match character {
                c if c.is_whitespace() => "spaces are not allowed".to_string(),
                '~' | '^' | ':' | '?' | '*' | '[' | '\\' => {
                    format!("`{character}` is not allowed in a branch name")
                }
                c if SHELL_CHARACTERS.contains(&c) => {
                    format!("`{character}` is not allowed: it has a meaning to a shell")
                }
                _ => continue,
            };
            return Err(violation(reason, range));
        }
        for (pattern, reason) in [
            ("..", "`..` is not allowed"),
            ("//", "`//` is not allowed"),
            ("@{", "`@{` is not allowed"),
        ] {
            if let Some(index) = branch.find(pattern) {
                return Err(violation(reason, index..index + 2));
            }
        }
        let last = branch.len() - 1;
        if branch.starts_with('-') {
            return Err(violation("a branch name cannot start with `-`", 0..1));
        }
        if branch.starts_with('/') {
            return Err(violation("a branch name cannot start with `/`", 0..1));
        }
        if branch.ends_with('/') {
            return Err(violation(
                "a branch name cannot end with `/`",
                last..branch.len(),
            ));
        }
        if branch.ends_with('.') {
            return Err(violation(
                "a branch name cannot end with `.`",
                last..branch.len(),
            ));
        }
        let mut start = 0;
        for component in branch.split('/') {
            if component.starts_with('.') {
                return Err(violation(
                    "a part of a branch name cannot start with `.`",
                    start..start + 1,
                ));
            }
            if component.ends_with(".lock") {
                let end = start + component.len();
                return Err(violation(
                    "a part of a branch name cannot end with `.lock`",
                    end - 5..end,
                ));
            }
            start += component.len() + 1;
        }
        Ok(())
    }
}

fn floor_char_boundary(text: &str, mut index: usize) -> usize {
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

impl FromStr for BranchName {
    type Err = Violation;

    fn from_str(text: &str) -> Result<BranchName, Violation> {
        BranchName::parse(text)
    }
}

impl fmt::Display for BranchName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branches_follow_check_ref_format() {
        let good = [
            "main",
            "feature/login",
            "fix/#123",
            "release-1.2",
            "a.b/c",
            "user@x",
            "ünïcode",
            "a{b}",
            &"b".repeat(MAX_BRANCH_BYTES),
        ];
        for branch in good {
            assert_eq!(BranchName::check(branch), Ok(()), "{branch}");
        }
        let too_long = "b".repeat(5_000);
        let long_unicode = "é".repeat(150);
        let bad = [
            ("", ""),
            ("@", "@"),
            ("a..b", ".."),
            ("a b", " "),
            ("a\tb", "\t"),
            ("a~1", "~"),
            ("a^", "^"),
            ("a:b", ":"),
            ("a?", "?"),
            ("a*", "*"),
            ("a[b", "["),
            ("a\\b", "\\"),
            ("-a", "-"),
            ("/a", "/"),
            ("a/", "/"),
            ("a.", "."),
            ("a//b", "//"),
            ("a@{b", "@{"),
            ("x.lock", ".lock"),
            ("x/y.lock/z", ".lock"),
            (".hidden", "."),
            ("a/.b", "."),
            ("x$(reboot)", "$"),
            ("a`id`", "`"),
            ("a;b", ";"),
            ("a'b", "'"),
            ("a\"b", "\""),
            ("a\nb", "\n"),
            ("a|b", "|"),
            ("a\u{7f}b", "\u{7f}"),
            ("main\u{202E}gol", "\u{202E}"),
            ("fix\u{2066}/x", "\u{2066}"),
            ("ma\u{200B}in", "\u{200B}"),
            ("a\u{00A0}b", "\u{00A0}"),
            ("\u{FEFF}main", "\u{FEFF}"),
            (too_long.as_str(), &too_long[MAX_BRANCH_BYTES..]),
            (long_unicode.as_str(), &long_unicode[200..]),
        ];
        for (branch, underlined) in bad {
            let error = BranchName::check(branch).expect_err(branch);
            assert_eq!(&branch[error.range], underlined, "{branch:?}");
            assert!(BranchName::parse(branch).is_err());
        }
        let error = BranchName::check(&too_long).unwrap_err();
        assert_eq!(
            error.reason,
            "the branch name has 5000 bytes, at most 200 are allowed"
        );
    }
}
