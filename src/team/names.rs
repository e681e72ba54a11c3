//! The naming rules of the team file: team and teammate names, variable names, branch names.
//!
//! Pure checks on text that return the reason and the byte range of the offending part, so the
//! caller can underline exactly that. Branch names follow `git check-ref-format --branch` and
//! also refuse characters that mean something to a shell, as defence in depth: setup templates
//! quote every value anyway.

use std::ops::Range;

/// Why a piece of text breaks a rule, and where (byte range within the text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Violation {
    pub reason: String,
    pub range: Range<usize>,
}

fn violation(reason: impl Into<String>, range: Range<usize>) -> Violation {
    Violation {
        reason: reason.into(),
        range,
    }
}

/// Team and teammate names: `[a-z0-9][a-z0-9-]*`, at most 63 bytes (a DNS label).
pub(crate) fn check_name(name: &str) -> Result<(), Violation> {
    if name.is_empty() {
        return Err(violation("the name is empty", 0..0));
    }
    if let Some((index, character)) = name
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(violation(
            format!("`{character}` is not allowed: use lowercase letters, digits and `-`"),
            index..index + character.len_utf8(),
        ));
    }
    if name.starts_with('-') {
        return Err(violation("a name cannot start with `-`", 0..1));
    }
    if name.len() > 63 {
        return Err(violation(
            format!(
                "the name has {} characters, at most 63 are allowed",
                name.len()
            ),
            63..name.len(),
        ));
    }
    Ok(())
}

/// Environment and secret names: `^[A-Za-z_][A-Za-z0-9_]*$`.
pub(crate) fn check_variable(name: &str) -> Result<(), Violation> {
    let Some(first) = name.chars().next() else {
        return Err(violation("the variable name is empty", 0..0));
    };
    if first.is_ascii_digit() {
        return Err(violation("a variable name cannot start with a digit", 0..1));
    }
    if let Some((index, character)) = name
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
    {
        return Err(violation(
            format!(
                "`{}` is not allowed in a variable name",
                character.escape_debug()
            ),
            index..index + character.len_utf8(),
        ));
    }
    Ok(())
}

/// Whether an `env` name looks like it holds a credential.
pub(crate) fn looks_like_credential(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    ["TOKEN", "KEY", "SECRET", "PASSWORD", "PASSWD"]
        .iter()
        .any(|word| upper.contains(word))
}

/// Characters a shell would act on; refused in branch names although git allows some.
const SHELL_CHARACTERS: &[char] = &['$', '`', ';', '\'', '"', '|', '&', '<', '>', '(', ')', '!'];

/// A branch name by the rules of `git check-ref-format --branch`, plus [`SHELL_CHARACTERS`].
pub(crate) fn check_branch(branch: &str) -> Result<(), Violation> {
    if branch.is_empty() {
        return Err(violation("the branch name is empty", 0..0));
    }
    if branch == "@" {
        return Err(violation("`@` alone is not a branch name", 0..1));
    }
    for (index, character) in branch.char_indices() {
        let range = index..index + character.len_utf8();
        let reason = match character {
            c if c.is_ascii_control() => "control characters are not allowed".to_string(),
            ' ' => "spaces are not allowed".to_string(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_dns_labels() {
        for good in ["a", "alice", "auth-squad-42", "0day", &"a".repeat(63)] {
            assert_eq!(check_name(good), Ok(()), "{good}");
        }
        let cases = [
            ("Alice", "A"),
            ("a_b", "_"),
            ("-a", "-"),
            ("a b", " "),
            ("ünï", "ü"),
            ("", ""),
        ];
        for (bad, underlined) in cases {
            let error = check_name(bad).expect_err(bad);
            assert_eq!(&bad[error.range], underlined, "{bad}");
        }
        assert!(check_name(&"a".repeat(64)).is_err());
    }

    #[test]
    fn variables_follow_the_posix_shape() {
        for good in ["A", "_", "GH_TOKEN", "lower_case1"] {
            assert_eq!(check_variable(good), Ok(()), "{good}");
        }
        for bad in ["", "1A", "A-B", "A B", "A=B", "${A}", "Ä"] {
            assert!(check_variable(bad).is_err(), "{bad}");
        }
    }

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
        ];
        for branch in good {
            assert_eq!(check_branch(branch), Ok(()), "{branch}");
        }
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
        ];
        for (branch, underlined) in bad {
            let error = check_branch(branch).expect_err(branch);
            assert_eq!(&branch[error.range], underlined, "{branch:?}");
        }
    }

    #[test]
    fn credential_names_are_spotted() {
        for name in ["GH_TOKEN", "api_key", "DB_PASSWORD", "MY_SECRET"] {
            assert!(looks_like_credential(name), "{name}");
        }
        for name in ["LOG_LEVEL", "CI", "HOME"] {
            assert!(!looks_like_credential(name), "{name}");
        }
    }
}
