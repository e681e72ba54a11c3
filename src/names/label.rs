//! Team and teammate names: DNS labels (`[a-z0-9][a-z0-9-]*`, at most 63 bytes), because they
//! become the `ralph-town/team` and `ralph-town/teammate` labels, sandbox names and host
//! names. Also the name `init` derives from a directory, by the same rule.

use super::{Violation, violation};

/// The longest team or teammate name (a DNS label).
pub(crate) const MAX_NAME: usize = 63;

/// What `init` names a team when nothing usable is left of the directory's name.
const FALLBACK: &str = "team";

/// Checks a team or teammate name.
pub(crate) fn check(name: &str) -> Result<(), Violation> {
    if name.is_empty() {
        return Err(violation("the name is empty", 0..0));
    }
    if let Some((index, character)) = name
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(violation(
            format!(
                "`{}` is not allowed: use lowercase letters, digits and `-`",
                character.escape_debug()
            ),
            index..index + character.len_utf8(),
        ));
    }
    if name.starts_with('-') {
        return Err(violation("a name cannot start with `-`", 0..1));
    }
    if name.len() > MAX_NAME {
        return Err(violation(
            format!(
                "the name has {} characters, at most {MAX_NAME} are allowed",
                name.len()
            ),
            MAX_NAME..name.len(),
        ));
    }
    Ok(())
}

/// A valid name of at most `max` bytes made from a directory's name, the way docker compose
/// names a project: lowercased, each run of other characters replaced by one `-`, `-` trimmed
/// from both ends, cut to `max`; `team` when nothing is left.
pub(crate) fn from_directory(directory: &str, max: usize) -> String {
    let mut name = String::new();
    for character in directory.chars().flat_map(char::to_lowercase) {
        if character.is_ascii_lowercase() || character.is_ascii_digit() {
            name.push(character);
        } else if !name.is_empty() && !name.ends_with('-') {
            name.push('-');
        }
    }
    name.truncate(max.min(MAX_NAME));
    let name = name.trim_matches('-');
    if name.is_empty() {
        FALLBACK.to_string()
    } else {
        name.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_dns_labels() {
        for good in ["a", "alice", "auth-squad-42", "0day", &"a".repeat(63)] {
            assert_eq!(check(good), Ok(()), "{good}");
        }
        let cases = [
            ("Alice", "A"),
            ("a_b", "_"),
            ("-a", "-"),
            ("a b", " "),
            ("ünï", "ü"),
            ("a\u{202E}", "\u{202E}"),
            ("", ""),
        ];
        for (bad, underlined) in cases {
            let error = check(bad).expect_err(bad);
            assert_eq!(&bad[error.range], underlined, "{bad}");
        }
        assert!(check(&"a".repeat(64)).is_err());
    }

    #[test]
    fn directories_become_valid_names() {
        let cases = [
            ("my-app", 63, "my-app"),
            ("My App", 63, "my-app"),
            ("api_server.v2", 63, "api-server-v2"),
            ("--x--", 63, "x"),
            ("Ünïcode Straße", 63, "n-code-stra-e"),
            ("日本", 63, "team"),
            ("", 63, "team"),
            ("...", 63, "team"),
            ("123", 63, "123"),
            ("abcdef-ghij", 7, "abcdef"),
            (&"x".repeat(100), 63, &"x".repeat(63)),
            (&"x".repeat(100), 50, &"x".repeat(50)),
        ];
        for (directory, max, expected) in cases {
            let name = from_directory(directory, max);
            assert_eq!(name, expected, "{directory:?}");
            assert_eq!(check(&name), Ok(()), "{directory:?}");
        }
    }
}
