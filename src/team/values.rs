//! Reading string values of the file: interpolation, and spans that point inside a string.
//!
//! A string in TOML can be written with escapes, so a byte of the decoded value does not
//! always sit at a known place in the file. When the value is written verbatim (no escapes)
//! diagnostics underline the exact part (`${MISSING}`, a bad character); otherwise the whole
//! value. Interpolated text is never re-read as file syntax.

use std::ops::Range;
use std::path::Path;

use super::error::{FileDiagnostic, ProblemKind};
use super::interpolate::{InterpolationError, Lookup, interpolate};
use super::problems::Problems;
use super::raw::Located;

/// Where a string value sits in the file.
#[derive(Debug, Clone)]
pub(crate) struct Place {
    /// The whole value, quotes included.
    pub span: Range<usize>,
    /// The file offset of the value's first byte, when bytes of the value map one to one onto
    /// the file.
    base: Option<usize>,
}

impl Place {
    /// The file range of `range` within the value (the whole value when it cannot be exact).
    pub(crate) fn part(&self, range: Range<usize>) -> Range<usize> {
        match self.base {
            Some(base) => base + range.start..base + range.end,
            None => self.span.clone(),
        }
    }

    /// The place of the value `value[offset..]`.
    pub(crate) fn after(&self, offset: usize) -> Place {
        Place {
            span: self.span.clone(),
            base: self.base.map(|base| base + offset),
        }
    }
}

/// A string value after interpolation, and where it came from.
#[derive(Debug, Clone)]
pub(crate) struct Value {
    pub text: String,
    /// Exact only when interpolation left the text as written.
    pub place: Place,
}

/// What every step of loading shares: the file text, the host environment and the findings.
pub(crate) struct Context<'a> {
    pub source: &'a str,
    pub base_dir: &'a Path,
    pub lookup: Lookup<'a>,
    pub problems: Problems,
    /// Check what `up` needs from this host (`LoadOptions::require_secrets`).
    pub require_host: bool,
}

impl Context<'_> {
    /// Where a raw string value sits.
    pub(crate) fn place(&self, raw: &str, span: Range<usize>) -> Place {
        let base = verbatim_base(self.source, &span, raw);
        Place { span, base }
    }

    /// Interpolates a whole string value; reports and returns `None` on failure.
    pub(crate) fn text(&mut self, located: &Located<String>) -> Option<Value> {
        self.text_at(located.value(), located.span())
    }

    /// Interpolates the string `raw` written at `span`.
    pub(crate) fn text_at(&mut self, raw: &str, span: Range<usize>) -> Option<Value> {
        let place = self.place(raw, span);
        self.interpolate_at(raw, &place)
    }

    /// Interpolates `raw`, which sits at `place`; reports and returns `None` on failure.
    pub(crate) fn interpolate_at(&mut self, raw: &str, place: &Place) -> Option<Value> {
        match interpolate(raw, self.lookup) {
            Ok(text) => {
                let place = if text == raw {
                    place.clone()
                } else {
                    Place {
                        span: place.span.clone(),
                        base: None,
                    }
                };
                Some(Value { text, place })
            }
            Err(error) => {
                let diagnostic = self.interpolation_error(&error, place);
                self.problems.error(diagnostic);
                None
            }
        }
    }

    fn interpolation_error(&self, error: &InterpolationError, place: &Place) -> FileDiagnostic {
        let range = place.part(error.range());
        match error {
            InterpolationError::Missing { name, .. } => self
                .problems
                .at(
                    ProblemKind::MissingVariable,
                    range,
                    format!("`{name}` is not set"),
                    format!("variable `{name}` is not set"),
                )
                .with_help(format!(
                    "export `{name}`, give a default with `${{{name}:-default}}`, or write `$$` \
                     for a literal `$`"
                )),
            InterpolationError::Required { name, message, .. } => {
                let message = if message.is_empty() {
                    format!("variable `{name}` is required")
                } else {
                    format!("variable `{name}` is required: {message}")
                };
                self.problems
                    .at(ProblemKind::MissingVariable, range, "required here", message)
                    .with_help(format!("export `{name}` before running ralph-town"))
            }
            InterpolationError::Invalid { reason, .. } => self
                .problems
                .at(
                    ProblemKind::InvalidInterpolation,
                    range,
                    "invalid interpolation",
                    reason.clone(),
                )
                .with_help("write `${NAME}`, `${NAME:-default}` or `${NAME:?message}`; `$$` is a literal `$`"),
        }
    }

    /// Reports an invalid value with its reason under the value.
    pub(crate) fn invalid(
        &mut self,
        kind: ProblemKind,
        range: Range<usize>,
        message: String,
        help: &str,
    ) {
        let diagnostic = self.problems.at(kind, range, "", message).with_help(help);
        self.problems.error(diagnostic);
    }

    /// Reports `problem`, when there is one, as an invalid value at `range`; whether the value
    /// passed.
    pub(crate) fn passes(
        &mut self,
        problem: Option<String>,
        range: Range<usize>,
        help: &str,
    ) -> bool {
        match problem {
            Some(message) => {
                self.invalid(ProblemKind::InvalidValue, range, message, help);
                false
            }
            None => true,
        }
    }
}

/// The file offset of the decoded string's first byte, when the file holds it verbatim.
fn verbatim_base(source: &str, span: &Range<usize>, decoded: &str) -> Option<usize> {
    let raw = source.get(span.clone())?;
    for delimiter in ["\"\"\"", "'''", "\"", "'"] {
        let Some(inner) = raw
            .strip_prefix(delimiter)
            .and_then(|rest| rest.strip_suffix(delimiter))
        else {
            continue;
        };
        if inner == decoded {
            return Some(span.start + delimiter.len());
        }
        // A newline right after `"""` or `'''` is not part of the value.
        if delimiter.len() == 3 {
            for newline in ["\n", "\r\n"] {
                if inner.strip_prefix(newline) == Some(decoded) {
                    return Some(span.start + delimiter.len() + newline.len());
                }
            }
        }
        return None;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbatim_strings_map_exactly() {
        let source = r#"a = "x${Y}" b = 'lit' c = "esc\u0041" d = """
multi""""#;
        let base = |needle: &str, decoded: &str| {
            let start = source.find(needle).unwrap();
            verbatim_base(source, &(start..start + needle.len()), decoded)
        };
        assert_eq!(
            base("\"x${Y}\"", "x${Y}"),
            Some(source.find("x${Y}").unwrap())
        );
        assert_eq!(base("'lit'", "lit"), Some(source.find("lit").unwrap()));
        assert_eq!(base("\"esc\\u0041\"", "escA"), None);
        assert_eq!(
            base("\"\"\"\nmulti\"\"\"", "multi"),
            Some(source.find("multi").unwrap())
        );
    }
}
