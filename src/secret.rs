//! Secret values read from the host at `up` time.
//!
//! A [`Secret`] never prints its value: `Debug` and `Display` show `<secret>`, and it has no
//! `Serialize`. The only way to the value is [`Secret::expose`], used where the value enters
//! the setup process's environment. [`Redactor`] is the one place secret values are removed from
//! text on its way out (plans, results, errors, MCP answers).

use std::collections::BTreeMap;
use std::fmt;

/// A credential value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(value)
    }

    /// The value itself. Call only to hand it to a process environment.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

/// Secret values by the name they have inside the sandbox.
pub type Secrets = BTreeMap<String, Secret>;

/// What a redacted secret shows as.
pub const REDACTED_SECRET: &str = "<secret>";

/// Replaces every occurrence of known secret values in text with [`REDACTED_SECRET`]: the last
/// line of defence for text that came back from inside a sandbox or from a provider.
///
/// Occurrences are found all at once, overlapping ones included, and every byte covered by any
/// of them is replaced: a secret that contains another, or two that overlap (`abc`, `bcd` in
/// `abcd`), never leave a tail behind. Empty values are ignored (they would match everywhere).
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    values: Vec<String>,
    matcher: Option<aho_corasick::AhoCorasick>,
}

impl Redactor {
    /// A redactor for every value of `secrets`.
    pub fn of(secrets: &Secrets) -> Redactor {
        let mut redactor = Redactor::default();
        for secret in secrets.values() {
            redactor.add(secret.expose());
        }
        redactor
    }

    /// Adds a value to redact.
    pub fn add(&mut self, value: impl Into<String>) {
        let value = value.into();
        if value.is_empty() || self.values.contains(&value) {
            return;
        }
        self.values.push(value);
        // Standard match semantics: the only kind that reports overlapping matches.
        self.matcher = aho_corasick::AhoCorasick::new(&self.values).ok();
    }

    /// Whether there is nothing to redact.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// `text` with every secret occurrence replaced.
    pub fn redact(&self, text: &str) -> String {
        let Some(matcher) = &self.matcher else {
            return text.to_string();
        };
        // Merged byte ranges covered by any match, in order.
        let mut covered: Vec<(usize, usize)> = Vec::new();
        for found in matcher.find_overlapping_iter(text) {
            match covered.last_mut() {
                Some((_, end)) if found.start() <= *end => *end = (*end).max(found.end()),
                _ => covered.push((found.start(), found.end())),
            }
        }
        if covered.is_empty() {
            return text.to_string();
        }
        let mut redacted = String::with_capacity(text.len());
        let mut position = 0;
        for (start, end) in covered {
            redacted.push_str(&text[position..start]);
            redacted.push_str(REDACTED_SECRET);
            position = end;
        }
        redacted.push_str(&text[position..]);
        redacted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor(values: &[&str]) -> Redactor {
        let mut redactor = Redactor::default();
        for value in values {
            redactor.add(*value);
        }
        redactor
    }

    #[test]
    fn a_secret_containing_another_is_replaced_whole() {
        let redactor = redactor(&["abc", "abcdef"]);
        assert_eq!(redactor.redact("x abcdef y abc"), "x <secret> y <secret>");
        let reversed = self::redactor(&["abcdef", "abc"]);
        assert_eq!(reversed.redact("x abcdef y abc"), "x <secret> y <secret>");
    }

    #[test]
    fn overlapping_secrets_leave_no_tail() {
        let redactor = redactor(&["abc", "bcd"]);
        assert_eq!(redactor.redact("-abcd-"), "-<secret>-");
        assert_eq!(redactor.redact("bcdabc"), "<secret>");
        // Overlapping occurrences of one secret.
        assert_eq!(self::redactor(&["aa"]).redact("aaa b"), "<secret> b");
    }

    #[test]
    fn empty_values_and_clean_text_are_left_alone() {
        let redactor = redactor(&[""]);
        assert!(redactor.is_empty());
        assert_eq!(redactor.redact("plain"), "plain");
        assert_eq!(
            self::redactor(&["zz"]).redact("plain ünïcode"),
            "plain ünïcode"
        );
    }

    #[test]
    fn secrets_redact_from_a_secret_map() {
        let secrets = Secrets::from([
            ("A".to_string(), Secret::new("tok-123".to_string())),
            ("B".to_string(), Secret::new(String::new())),
        ]);
        assert_eq!(
            Redactor::of(&secrets).redact("got tok-123!"),
            "got <secret>!"
        );
    }
}
