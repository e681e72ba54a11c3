//! Unknown keys, found on the parsed TOML tree before it is deserialized.
//!
//! serde stops at the first unknown field and cannot suggest a spelling; this pass reports
//! every unknown key, anywhere, with a "did you mean" when a known key is close. It reads keys,
//! and the shape of the two tables people mix up (`[defaults]`, `[[teammate]]`); other types
//! are serde's business. The lists mirror the fields of `raw` (a test compares them with the
//! generated schema).

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::error::ProblemKind;
use super::problems::Problems;

pub(crate) const TOP: &[&str] = &[
    "name", "provider", "api_url", "target", "setup", "defaults", "teammate",
];
pub(crate) const SETTINGS: &[&str] = &[
    "repo",
    "base_branch",
    "snapshot",
    "env",
    "secrets",
    "git",
    "auto_stop",
    "auto_archive",
    "auto_delete",
    "ttl",
    "resources",
    "workdir",
    "command",
    "restart",
    "max_runs",
    "tty",
];
pub(crate) const TEAMMATE_OWN: &[&str] = &["name", "branch", "setup", "task", "task_file"];
pub(crate) const GIT: &[&str] = &["user_name", "user_email"];
pub(crate) const RESOURCES: &[&str] = &["cpu", "memory", "disk"];

/// Where a table sits in the file, for messages and for its list of keys.
#[derive(Clone, Copy)]
enum Place {
    Top,
    Defaults,
    Teammate,
    Git,
    Resources,
}

impl Place {
    fn accepts(self, key: &str) -> bool {
        self.candidates().any(|known| known == key)
    }

    fn candidates(self) -> impl Iterator<Item = &'static str> {
        let (first, second): (&[&str], &[&str]) = match self {
            Place::Top => (TOP, &[]),
            Place::Defaults => (SETTINGS, &[]),
            Place::Teammate => (TEAMMATE_OWN, SETTINGS),
            Place::Git => (GIT, &[]),
            Place::Resources => (RESOURCES, &[]),
        };
        first.iter().chain(second).copied()
    }

    fn describe(self) -> &'static str {
        match self {
            Place::Top => "at the top level",
            Place::Defaults => "in `[defaults]`",
            Place::Teammate => "in a `[[teammate]]`",
            Place::Git => "in `git`",
            Place::Resources => "in `resources`",
        }
    }
}

/// Reports every unknown key of the file.
pub(crate) fn check(root: &DeTable<'_>, problems: &mut Problems) {
    check_table(root, Place::Top, problems);
}

fn check_table(table: &DeTable<'_>, place: Place, problems: &mut Problems) {
    for (key, value) in table {
        let name: &str = key.get_ref();
        if !place.accepts(name) {
            unknown(key, place, problems);
            continue;
        }
        if let Some(help) = misplaced_table(place, name, value.get_ref()) {
            let diagnostic = problems
                .at(
                    ProblemKind::WrongType,
                    key.span(),
                    "wrong kind of table",
                    format!("`{name}` has the wrong shape"),
                )
                .with_help(help);
            problems.error(diagnostic);
            continue;
        }
        let nested = match (place, name) {
            (Place::Top, "defaults") => Place::Defaults,
            (Place::Top, "teammate") => Place::Teammate,
            (Place::Defaults | Place::Teammate, "git") => Place::Git,
            (Place::Defaults | Place::Teammate, "resources") => Place::Resources,
            _ => continue,
        };
        check_value(value, nested, problems);
    }
}

/// The two tables people mix up: `[defaults]` is one table, `[[teammate]]` a list of them.
fn misplaced_table(place: Place, name: &str, value: &DeValue<'_>) -> Option<&'static str> {
    match (place, name, value) {
        (Place::Top, "teammate", DeValue::Table(_)) => {
            Some("write `[[teammate]]` with two brackets: each one adds a teammate")
        }
        (Place::Top, "defaults", DeValue::Array(_)) => {
            Some("write `[defaults]` with one bracket: there is one set of defaults")
        }
        _ => None,
    }
}

fn check_value(value: &Spanned<DeValue<'_>>, place: Place, problems: &mut Problems) {
    match value.get_ref() {
        DeValue::Table(table) => check_table(table, place, problems),
        // `[[teammate]]` is an array of tables; other shapes are left to the type check.
        DeValue::Array(items) => {
            for item in items {
                if let DeValue::Table(table) = item.get_ref() {
                    check_table(table, place, problems);
                }
            }
        }
        _ => {}
    }
}

fn unknown(key: &Spanned<std::borrow::Cow<'_, str>>, place: Place, problems: &mut Problems) {
    let name: &str = key.get_ref();
    let per_teammate = matches!(place, Place::Defaults) && TEAMMATE_OWN.contains(&name);
    let suggestion = place
        .candidates()
        .map(|known| (strsim::jaro_winkler(name, known), known))
        .filter(|(score, _)| *score >= 0.8 && !per_teammate)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, known)| known);
    let (label, help) = match suggestion {
        Some(known) => (
            format!("did you mean `{known}`?"),
            format!("did you mean `{known}`?"),
        ),
        None if per_teammate => (
            "not a default".to_string(),
            format!(
                "`{name}` cannot be a default: set it in each `[[teammate]]`{}",
                if name == "setup" {
                    " or at the top level"
                } else {
                    ""
                }
            ),
        ),
        None => (
            "unknown key".to_string(),
            format!(
                "known keys {}: {}",
                place.describe(),
                place
                    .candidates()
                    .map(|known| format!("`{known}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
    };
    let diagnostic = problems
        .at(
            ProblemKind::UnknownKey,
            key.span(),
            label,
            format!(
                "unknown key `{}` {}",
                crate::names::shown(name, 60),
                place.describe()
            ),
        )
        .with_help(help);
    problems.error(diagnostic);
}
