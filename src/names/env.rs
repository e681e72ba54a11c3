//! Environment variable names: `^[A-Za-z_][A-Za-z0-9_]*$`, Daytona's rule and the portable
//! shell's. The team file, `sandbox env set`, `run --env`, the setup template's `ident` filter,
//! both providers and `serve`'s toolbox all check names with [`EnvName`].

use std::fmt;
use std::str::FromStr;

use super::{Violation, violation};

/// The rule, as messages and hints quote it.
pub(crate) const ENV_NAME_RULE: &str = "^[A-Za-z_][A-Za-z0-9_]*$";

/// A valid environment variable name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct EnvName(String);

impl EnvName {
    /// Checks `text` against [`ENV_NAME_RULE`]; the violation underlines the first bad part.
    pub(crate) fn parse(text: &str) -> Result<EnvName, Violation> {
        EnvName::check(text)?;
        Ok(EnvName(text.to_string()))
    }

    /// [`EnvName::parse`] without keeping the name.
    pub(crate) fn check(text: &str) -> Result<(), Violation> {
        let Some(first) = text.chars().next() else {
            return Err(violation("the variable name is empty", 0..0));
        };
        if first.is_ascii_digit() {
            return Err(violation("a variable name cannot start with a digit", 0..1));
        }
        if let Some((index, character)) = text
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

    pub(crate) fn is_valid(text: &str) -> bool {
        EnvName::check(text).is_ok()
    }
}

impl FromStr for EnvName {
    type Err = Violation;

    fn from_str(text: &str) -> Result<EnvName, Violation> {
        EnvName::parse(text)
    }
}

impl fmt::Display for EnvName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_posix_shape() {
        for good in ["A", "_", "GH_TOKEN", "lower_case1", "_A1", "a"] {
            assert_eq!(EnvName::parse(good).map(|n| n.to_string()), Ok(good.into()));
        }
        let bad = [
            ("", ""),
            ("1A", "1"),
            ("A-B", "-"),
            ("A B", " "),
            ("A=B", "="),
            ("${A}", "$"),
            ("Ä", "Ä"),
            ("A[$(x)]", "["),
            ("A\u{202E}", "\u{202E}"),
        ];
        for (text, underlined) in bad {
            let error = EnvName::parse(text).expect_err(text);
            assert_eq!(&text[error.range], underlined, "{text:?}");
            assert!(!EnvName::is_valid(text), "{text:?}");
        }
    }
}
