//! The naming rules, one type or function per concept: team and teammate names ([`label`]),
//! environment variable names ([`EnvName`]), branch names ([`BranchName`]), repository
//! locations ([`RepoSource`]), network allow lists ([`AllowList`]), and which variable names look like credentials.
//!
//! Every edge parses here (the team file loader, clap's value parsers, the MCP and `serve`
//! request handlers, the providers), so a rule changes in one place. Pure text checks only: no
//! filesystem, no environment, no I/O; a [`Violation`] says why and where (a byte range of the
//! text) so that a caller can underline exactly that.

mod branch;
mod env;
pub(crate) mod label;
mod network;
mod repo;

use std::fmt;
use std::ops::Range;

pub(crate) use branch::{BranchName, MAX_BRANCH_BYTES};
pub(crate) use env::{ENV_NAME_RULE, EnvName};
pub use network::{AllowList, Ipv4Network};
pub(crate) use repo::{ACCEPTED as REPO_ACCEPTED, RepoSource};

/// Why a piece of text breaks a rule, and where (byte range within the text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub(crate) struct Violation {
    pub reason: String,
    pub range: Range<usize>,
}

pub(crate) fn violation(reason: impl Into<String>, range: Range<usize>) -> Violation {
    Violation {
        reason: reason.into(),
        range,
    }
}

/// Whether a variable's name says it holds a credential (`*TOKEN*`, `*KEY*`, `*SECRET*`,
/// `*PASSWORD*`, `*PASSWD*`, in any case). `env` warns about such names, listings redact
/// their values.
pub(crate) fn looks_like_credential(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    ["TOKEN", "KEY", "SECRET", "PASSWORD", "PASSWD"]
        .iter()
        .any(|word| upper.contains(word))
}

/// The first character a reader cannot see or that reorders what they see: controls (C0, C1),
/// Unicode format characters (bidirectional overrides and isolates, zero-width joiners and
/// spaces, the byte-order mark, soft hyphen, tag characters), line and paragraph separators.
/// Such a character makes two different names look alike (the "Trojan Source" trick), so no
/// name or path of the team file may hold one.
pub(crate) fn hidden_character(text: &str) -> Option<(usize, char)> {
    text.char_indices()
        .find(|(_, character)| is_hidden(*character))
}

fn is_hidden(character: char) -> bool {
    character.is_control()
        || matches!(
            character,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{0600}'..='\u{0605}'
                | '\u{061C}'
                | '\u{06DD}'
                | '\u{070F}'
                | '\u{0890}'..='\u{0891}'
                | '\u{08E2}'
                | '\u{115F}'..='\u{1160}'
                | '\u{17B4}'..='\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF9}'..='\u{FFFB}'
                | '\u{110BD}'
                | '\u{110CD}'
                | '\u{13430}'..='\u{1343F}'
                | '\u{1BCA0}'..='\u{1BCA3}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0000}'..='\u{E0FFF}'
        )
}

/// The violation for a hidden character at `index`.
pub(crate) fn hidden_violation(index: usize, character: char) -> Violation {
    let reason = if character.is_control() {
        format!(
            "the control character {} is not allowed",
            Escaped(character)
        )
    } else {
        format!(
            "the invisible or direction-changing character {} is not allowed",
            Escaped(character)
        )
    };
    violation(reason, index..index + character.len_utf8())
}

/// A character written the way Rust and most editors spell it: `U+202E`.
struct Escaped(char);

impl fmt::Display for Escaped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`U+{:04X}`", u32::from(self.0))
    }
}

/// `text` for a message: escaped, and cut to `max` characters with `…` so that a huge value
/// cannot make a huge message.
pub(crate) fn shown(text: &str, max: usize) -> String {
    let mut out = String::new();
    for (count, character) in text.chars().enumerate() {
        if count == max {
            out.push('…');
            break;
        }
        match character {
            // Quotes are ordinary text here: `escape_debug` would show `tools' work` as
            // `tools\' work`.
            '\'' | '"' => out.push(character),
            _ => out.extend(character.escape_debug()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_text_escapes_control_characters_but_not_quotes() {
        assert_eq!(
            shown("the team tools' \"work\"", 80),
            "the team tools' \"work\""
        );
        assert_eq!(shown("a\tb\u{202e}", 80), "a\\tb\\u{202e}");
        assert_eq!(shown("abcdef", 3), "abc…");
    }

    #[test]
    fn credential_names_are_spotted() {
        for name in ["GH_TOKEN", "api_key", "DB_PASSWORD", "MY_SECRET", "passwd"] {
            assert!(looks_like_credential(name), "{name}");
        }
        for name in ["LOG_LEVEL", "CI", "HOME", "PATH"] {
            assert!(!looks_like_credential(name), "{name}");
        }
    }

    #[test]
    fn hidden_characters_are_found_where_they_are() {
        let cases = [
            ("plain", None),
            ("ünïcode/日本", None),
            ("a\u{202E}b", Some((1, '\u{202E}'))),
            ("\u{2066}x", Some((0, '\u{2066}'))),
            ("zero\u{200B}width", Some((4, '\u{200B}'))),
            ("bom\u{FEFF}", Some((3, '\u{FEFF}'))),
            ("c1\u{0085}", Some((2, '\u{0085}'))),
            ("tab\t", Some((3, '\t'))),
            ("tag\u{E0041}", Some((3, '\u{E0041}'))),
            ("soft\u{00AD}hyphen", Some((4, '\u{00AD}'))),
            ("line\u{2028}sep", Some((4, '\u{2028}'))),
        ];
        for (text, expected) in cases {
            assert_eq!(hidden_character(text), expected, "{text:?}");
        }
        let violation = hidden_violation(1, '\u{202E}');
        assert_eq!(violation.range, 1..4);
        assert!(violation.reason.contains("`U+202E`"), "{violation}");
    }

    #[test]
    fn shown_values_are_escaped_and_cut() {
        assert_eq!(shown("a\nb", 10), "a\\nb");
        assert_eq!(shown(&"x".repeat(100), 5), "xxxxx…");
        assert_eq!(shown("short", 5), "short");
    }
}
