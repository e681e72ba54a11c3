//! Variable interpolation in string values, with docker compose's rules.
//!
//! `${VAR}`, `${VAR:-default}` (unset or empty), `${VAR-default}` (unset), `${VAR:?message}`,
//! `${VAR?message}`, `${VAR:+alternative}`, `${VAR+alternative}`, `$VAR`, and `$$` for a literal
//! `$`. A `$` followed by anything else is kept as it is, so values such as `$(date)` pass
//! through. Substituted values are data: they are never scanned again, so a variable holding
//! `${OTHER}` or `$(cmd)` stays that text. Defaults and messages come from the file itself and
//! may nest, as in compose. Errors carry the byte range of the offending `${...}` in the input.

use std::ops::Range;

/// Looks a host variable up: `None` when it is unset.
pub(crate) type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Nested defaults deeper than this are refused rather than recursed into.
const MAX_DEPTH: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum InterpolationError {
    /// A variable without a default is unset.
    Missing { name: String, range: Range<usize> },
    /// `${VAR:?message}` or `${VAR?message}` failed.
    Required {
        name: String,
        message: String,
        range: Range<usize>,
    },
    /// Malformed: no closing brace, a bad name, an unknown operator, too deep.
    Invalid { reason: String, range: Range<usize> },
}

impl InterpolationError {
    pub(crate) fn range(&self) -> Range<usize> {
        match self {
            InterpolationError::Missing { range, .. }
            | InterpolationError::Required { range, .. }
            | InterpolationError::Invalid { range, .. } => range.clone(),
        }
    }

    fn shifted(mut self, by: usize) -> Self {
        let (InterpolationError::Missing { range, .. }
        | InterpolationError::Required { range, .. }
        | InterpolationError::Invalid { range, .. }) = &mut self;
        *range = range.start + by..range.end + by;
        self
    }
}

/// Expands every variable reference in `text`.
pub(crate) fn interpolate(text: &str, lookup: Lookup) -> Result<String, InterpolationError> {
    expand(text, lookup, 0)
}

fn expand(text: &str, lookup: Lookup, depth: usize) -> Result<String, InterpolationError> {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] != b'$' {
            index += 1;
            continue;
        }
        out.push_str(&text[copied..index]);
        let start = index;
        match bytes.get(index + 1) {
            Some(b'$') => {
                out.push('$');
                index += 2;
            }
            Some(b'{') => {
                let end =
                    closing_brace(bytes, index + 2).ok_or_else(|| InterpolationError::Invalid {
                        reason: "`${` has no closing `}`".into(),
                        range: start..text.len(),
                    })?;
                let body = &text[index + 2..end];
                let value = braced(body, lookup, depth)
                    .map_err(|error| error.into_range(start..end + 1, index + 2))?;
                out.push_str(&value);
                index = end + 1;
            }
            Some(&next) if next == b'_' || next.is_ascii_alphabetic() => {
                let name_end = name_end(bytes, index + 1);
                let name = &text[index + 1..name_end];
                let value = lookup(name).ok_or_else(|| InterpolationError::Missing {
                    name: name.to_string(),
                    range: start..name_end,
                })?;
                out.push_str(&value);
                index = name_end;
            }
            _ => {
                out.push('$');
                index += 1;
            }
        }
        copied = index;
    }
    out.push_str(&text[copied..]);
    Ok(out)
}

/// An error inside `${...}` before its position is known.
enum BodyError {
    /// Applies to the whole reference.
    Whole(InterpolationError),
    /// Comes from a nested default at this offset in the body.
    Nested(InterpolationError, usize),
}

impl BodyError {
    fn into_range(self, whole: Range<usize>, body_start: usize) -> InterpolationError {
        match self {
            BodyError::Whole(error) => match error {
                InterpolationError::Missing { name, .. } => {
                    InterpolationError::Missing { name, range: whole }
                }
                InterpolationError::Required { name, message, .. } => {
                    InterpolationError::Required {
                        name,
                        message,
                        range: whole,
                    }
                }
                InterpolationError::Invalid { reason, .. } => InterpolationError::Invalid {
                    reason,
                    range: whole,
                },
            },
            BodyError::Nested(error, offset) => error.shifted(body_start + offset),
        }
    }
}

fn braced(body: &str, lookup: Lookup, depth: usize) -> Result<String, BodyError> {
    let invalid = |reason: String| {
        BodyError::Whole(InterpolationError::Invalid {
            reason,
            range: 0..0,
        })
    };
    let bytes = body.as_bytes();
    let end = name_end(bytes, 0);
    let name = &body[..end];
    if name.is_empty() || name.as_bytes()[0].is_ascii_digit() {
        return Err(invalid(format!(
            "`${{{body}}}` does not start with a variable name"
        )));
    }
    let rest = &body[end..];
    let (operator, argument) = ["-", ":-", "?", ":?", "+", ":+"]
        .iter()
        .filter(|operator| rest.starts_with(*operator))
        .max_by_key(|operator| operator.len())
        .map(|operator| (*operator, &rest[operator.len()..]))
        .unwrap_or(("", rest));
    if operator.is_empty() && !rest.is_empty() {
        return Err(invalid(format!(
            "`{rest}` after `{name}` is not an operator (`:-`, `-`, `:?`, `?`, `:+`, `+`)"
        )));
    }
    let value = lookup(name);
    let set = value.is_some();
    let non_empty = value.as_deref().is_some_and(|value| !value.is_empty());
    let nested = |argument: &str| -> Result<String, BodyError> {
        if depth >= MAX_DEPTH {
            return Err(invalid("defaults are nested too deeply".into()));
        }
        let offset = argument.as_ptr() as usize - body.as_ptr() as usize;
        expand(argument, lookup, depth + 1).map_err(|error| BodyError::Nested(error, offset))
    };
    match operator {
        "" => value.ok_or_else(|| {
            BodyError::Whole(InterpolationError::Missing {
                name: name.into(),
                range: 0..0,
            })
        }),
        ":-" if non_empty => Ok(value.unwrap_or_default()),
        "-" if set => Ok(value.unwrap_or_default()),
        ":-" | "-" => nested(argument),
        ":?" if non_empty => Ok(value.unwrap_or_default()),
        "?" if set => Ok(value.unwrap_or_default()),
        ":?" | "?" => Err(BodyError::Whole(InterpolationError::Required {
            name: name.into(),
            message: argument.to_string(),
            range: 0..0,
        })),
        ":+" if non_empty => nested(argument),
        "+" if set => nested(argument),
        _ => Ok(String::new()),
    }
}

/// The end of a variable name starting at `start` (`[A-Za-z0-9_]*`).
fn name_end(bytes: &[u8], start: usize) -> usize {
    let mut end = start;
    while end < bytes.len() && (bytes[end] == b'_' || bytes[end].is_ascii_alphanumeric()) {
        end += 1;
    }
    end
}

/// The index of the `}` closing a `${` whose body starts at `start`, counting nested braces.
fn closing_brace(bytes: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (index, &byte) in bytes.iter().enumerate().skip(start) {
        match byte {
            b'{' => depth += 1,
            b'}' if depth == 0 => return Some(index),
            b'}' => depth -= 1,
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str) -> Option<String> {
        match name {
            "SET" => Some("value".into()),
            "EMPTY" => Some(String::new()),
            "EVIL" => Some("$(reboot) ${SET} `id` $$".into()),
            _ => None,
        }
    }

    #[track_caller]
    fn case(input: &str, expected: &str) {
        assert_eq!(
            interpolate(input, &host).as_deref(),
            Ok(expected),
            "input: {input}"
        );
    }

    #[track_caller]
    fn fails(input: &str, underlined: &str) -> InterpolationError {
        let error = interpolate(input, &host).expect_err(input);
        assert_eq!(&input[error.range()], underlined, "input: {input}");
        error
    }

    #[test]
    fn expands_like_compose() {
        case("plain", "plain");
        case("${SET}", "value");
        case("a-${SET}-b", "a-value-b");
        case("$SET/x", "value/x");
        case("${UNSET:-fallback}", "fallback");
        case("${EMPTY:-fallback}", "fallback");
        case("${EMPTY-fallback}", "");
        case("${UNSET-fallback}", "fallback");
        case("${SET:-fallback}", "value");
        case("${SET:?needed}", "value");
        case("${EMPTY?needed}", "");
        case("${SET:+alt}", "alt");
        case("${EMPTY:+alt}", "");
        case("${EMPTY+alt}", "alt");
        case("${UNSET+alt}", "");
        case("${UNSET:-${SET}}", "value");
        case("${UNSET:-a{b}c}", "a{b}c");
        case("${UNSET:-}", "");
        case("$$", "$");
        case("$${SET}", "${SET}");
        case("cost: 5$", "cost: 5$");
        case("$(date) $1 $ {x}", "$(date) $1 $ {x}");
        case("ünïcødé ${SET} ✓", "ünïcødé value ✓");
    }

    #[test]
    fn substituted_values_are_data() {
        case("${EVIL}", "$(reboot) ${SET} `id` $$");
        case("$EVIL", "$(reboot) ${SET} `id` $$");
        case("${UNSET:-$EVIL}", "$(reboot) ${SET} `id` $$");
    }

    #[test]
    fn errors_point_at_the_reference() {
        let error = fails("x ${MISSING} y", "${MISSING}");
        assert!(matches!(error, InterpolationError::Missing { name, .. } if name == "MISSING"));
        fails("x $MISSING y", "$MISSING");
        fails("$SET_x", "$SET_x");
        let error = fails("a ${EMPTY:?give it} b", "${EMPTY:?give it}");
        assert!(
            matches!(error, InterpolationError::Required { message, .. } if message == "give it")
        );
        fails("${UNSET?}", "${UNSET?}");
        fails("${UNSET:-${ALSO_MISSING}}", "${ALSO_MISSING}");
        fails("${UNSET:-ok ${A:-${DEEP_MISSING}}}", "${DEEP_MISSING}");
        fails("x ${UNCLOSED", "${UNCLOSED");
        fails("${}", "${}");
        fails("${1X}", "${1X}");
        fails("${A B}", "${A B}");
        fails("${A:x}", "${A:x}");
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let deep = "${U:-".repeat(5000) + &"}".repeat(5000);
        let error = interpolate(&deep, &host).expect_err("too deep");
        assert!(matches!(error, InterpolationError::Invalid { .. }));
    }
}
