//! `env` and `secrets` entries: `NAME=value`, `NAME`, `NAME=HOST_VAR`.
//!
//! In `env` only the value after the first `=` is interpolated, so a variable can never
//! change which name is set. `secrets` entries are variable names and are not interpolated.
//! Secret values are never read here: only `read_secrets` in `secrets.rs` touches them.

use std::collections::HashMap;
use std::ops::Range;

use super::error::ProblemKind;
use super::raw::Located;
use super::values::{Context, Place};
use crate::names::{self, EnvName, Violation};

/// One plain environment entry.
#[derive(Debug, Clone)]
pub(crate) struct EnvEntry {
    pub name: String,
    /// `None`: copied from a host variable that is unset, so left out.
    pub value: Option<String>,
    /// The value depends on this host (`NAME` copied from it, or a `${VAR}` in the value), so
    /// it may differ between a laptop and CI: plans say so.
    pub from_host: bool,
    /// The whole entry in the file.
    pub span: Range<usize>,
}

/// One secret entry: the name in the sandbox and the host variable holding the value.
#[derive(Debug, Clone)]
pub(crate) struct SecretEntry {
    pub name: String,
    pub host_var: String,
    pub span: Range<usize>,
}

pub(crate) fn read_env(list: &[Located<String>], context: &mut Context<'_>) -> Vec<EnvEntry> {
    let mut seen = HashMap::new();
    let mut entries = Vec::with_capacity(list.len());
    for entry in list {
        let raw = entry.value();
        let place = context.place(raw, entry.span());
        let (name, value) = match raw.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (raw.as_str(), None),
        };
        if !check_name(name, 0, &place, "env", context)
            || !first_in_list(name, &entry.span(), &mut seen, "env", context)
        {
            continue;
        }
        if names::looks_like_credential(name) {
            let diagnostic = context
                .problems
                .at(
                    ProblemKind::CredentialInEnv,
                    place.part(0..name.len()),
                    "looks like a credential",
                    format!("`{name}` looks like a credential but is in `env`"),
                )
                .with_help(format!(
                    "`env` is visible in the provider's API; move it to `secrets = [\"{name}\"]`"
                ));
            context.problems.warn(diagnostic);
        }
        let from_host = value.is_none_or(|value| value.replace("$$", "").contains('$'));
        let value = if let Some(value) = value {
            let value_place = place.after(name.len() + 1);
            match context.interpolate_at(value, &value_place) {
                Some(value) => Some(value.text),
                None => continue,
            }
        } else {
            let host = (context.lookup)(name);
            if host.is_none() {
                let diagnostic = context
                    .problems
                    .at(
                        ProblemKind::HostVariableUnset,
                        entry.span(),
                        "not set on this host",
                        format!("`{name}` is copied from the host but is not set; it is left out"),
                    )
                    .with_help(format!("export `{name}`, or write `{name}=value`"));
                context.problems.warn(diagnostic);
            }
            host
        };
        entries.push(EnvEntry {
            name: name.to_string(),
            value,
            from_host,
            span: entry.span(),
        });
    }
    entries
}

pub(crate) fn read_secrets(
    list: &[Located<String>],
    context: &mut Context<'_>,
) -> Vec<SecretEntry> {
    let mut seen = HashMap::new();
    let mut entries = Vec::with_capacity(list.len());
    for entry in list {
        let raw = entry.value();
        let place = context.place(raw, entry.span());
        let (name, host_var) = raw.split_once('=').unwrap_or((raw, raw));
        let host_offset = if host_var.len() == raw.len() {
            0
        } else {
            name.len() + 1
        };
        if !check_name(name, 0, &place, "secrets", context)
            || !check_name(host_var, host_offset, &place, "secrets", context)
            || !first_in_list(name, &entry.span(), &mut seen, "secrets", context)
        {
            continue;
        }
        entries.push(SecretEntry {
            name: name.to_string(),
            host_var: host_var.to_string(),
            span: entry.span(),
        });
    }
    entries
}

/// Reports a bad variable name at `offset` in the entry; true when the name is valid.
fn check_name(
    name: &str,
    offset: usize,
    place: &Place,
    key: &str,
    context: &mut Context<'_>,
) -> bool {
    let Err(Violation { reason, range }) = EnvName::check(name) else {
        return true;
    };
    let range = if range.is_empty() {
        place.span.clone()
    } else {
        place.part(range.start + offset..range.end + offset)
    };
    let help = if key == "env" {
        "write `NAME=value`, or `NAME` to copy the host's value; names match `[A-Za-z_][A-Za-z0-9_]*`"
    } else {
        "write `NAME`, or `NAME=HOST_VAR`; names match `[A-Za-z_][A-Za-z0-9_]*` and are not interpolated"
    };
    let diagnostic = context
        .problems
        .at(
            ProblemKind::InvalidEntry,
            range,
            reason,
            format!("invalid `{key}` entry"),
        )
        .with_help(help);
    context.problems.error(diagnostic);
    false
}

/// Reports a name listed twice in one list; true for its first occurrence.
fn first_in_list(
    name: &str,
    span: &Range<usize>,
    seen: &mut HashMap<String, Range<usize>>,
    key: &str,
    context: &mut Context<'_>,
) -> bool {
    let Some(first) = seen.get(name) else {
        seen.insert(name.to_string(), span.clone());
        return true;
    };
    let diagnostic = context
        .problems
        .at(
            ProblemKind::DuplicateEntry,
            span.clone(),
            "listed again here",
            format!("`{name}` is listed twice in `{key}`"),
        )
        .with_label(first.clone(), "first listed here")
        .with_help("keep one entry per name");
    context.problems.error(diagnostic);
    false
}
