//! The template engine for shell scripts: a minijinja environment whose `*.sh.j2` templates
//! quote every interpolated value as one single-quoted shell word.
//!
//! It owns the quoting rule and the filters templates may use; it knows nothing about teammates
//! or where templates come from (that is `render`). Raw text reaches the output only through
//! values marked safe (`|safe`, or the results of the filters below, which are safe by
//! construction), so a value such as `x$(reboot)` can never break out of its quoting.

use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Value, ValueKind};
use minijinja::{AutoEscape, Environment, Error, ErrorKind, Output, State, UndefinedBehavior};

use crate::names::EnvName;

/// The auto-escape mode of `*.sh.j2` templates.
const SHELL: &str = "shell";

/// Quotes `text` as one POSIX shell word: `it's` becomes `'it'"'"'s'`.
///
/// Inside single quotes nothing is special to any POSIX shell except the closing quote, which is
/// emitted as `'"'"'` (close, a double-quoted quote, reopen). Newlines stay literal.
pub fn quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('\'');
    for character in text.chars() {
        if character == '\'' {
            quoted.push_str(r#"'"'"'"#);
        } else {
            quoted.push(character);
        }
    }
    quoted.push('\'');
    quoted
}

/// A new environment: shell auto-escape for names ending in `.sh.j2`, strict undefined, debug
/// info on errors, `trim_blocks` + `lstrip_blocks` so block tags may sit on their own lines.
pub fn environment() -> Environment<'static> {
    let mut environment = Environment::new();
    environment.set_auto_escape_callback(|name| {
        if name.ends_with(".sh.j2") {
            AutoEscape::Custom(SHELL.into())
        } else {
            AutoEscape::None
        }
    });
    environment.set_formatter(format_value);
    environment.set_undefined_behavior(UndefinedBehavior::Strict);
    environment.set_debug(true);
    environment.set_syntax(
        SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()
            .expect("the default delimiters are valid"),
    );
    environment.add_filter("quote", quote_filter);
    environment.add_filter("shell_join", shell_join);
    environment.add_filter("ident", ident);
    environment
}

/// The formatter behind `{{ value }}`: safe values pass through, everything else is quoted
/// when the template is a shell template.
fn format_value(output: &mut Output, state: &mut State, value: &Value) -> Result<(), Error> {
    if value.is_safe() {
        return write(output, value.as_str().unwrap_or_default());
    }
    match state.auto_escape() {
        AutoEscape::Custom(mode) if mode == SHELL => write(output, &quote(&word(value))),
        AutoEscape::Custom(mode) => Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("unknown auto-escape mode `{mode}`"),
        )),
        _ => write(output, &word(value)),
    }
}

fn write(output: &mut Output, text: &str) -> Result<(), Error> {
    output.write_str(text).map_err(|_| {
        Error::new(
            ErrorKind::WriteFailure,
            "could not write the template output",
        )
    })
}

/// The text a value stands for in a script: `none` is the empty word, booleans are the
/// commands `true` and `false`.
fn word(value: &Value) -> String {
    match value.kind() {
        ValueKind::None => String::new(),
        ValueKind::Bool => value.is_true().to_string(),
        _ => value.to_string(),
    }
}

/// `{{ value|quote }}`: the quoted word as safe text, for building larger strings with `~`.
fn quote_filter(value: &Value) -> Value {
    Value::from_safe_string(quote(&word(value)))
}

/// `{{ list|shell_join }}`: each item quoted, joined by spaces (or by `separator`), safe.
fn shell_join(value: &Value, separator: Option<&str>) -> Result<Value, Error> {
    let mut words = Vec::new();
    for item in value.try_iter()? {
        if item.is_safe() {
            words.push(item.as_str().unwrap_or_default().to_string());
        } else {
            words.push(quote(&word(&item)));
        }
    }
    Ok(Value::from_safe_string(
        words.join(separator.unwrap_or(" ")),
    ))
}

/// `{{ name|ident }}`: a shell variable name emitted raw, after checking that it is one.
fn ident(value: &str) -> Result<Value, Error> {
    if EnvName::is_valid(value) {
        Ok(Value::from_safe_string(value.to_string()))
    } else {
        Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("`{value}` is not a shell variable name (expected [A-Za-z_][A-Za-z0-9_]*)"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::context;

    fn render(source: &str, context: Value) -> Result<String, Error> {
        let mut environment = environment();
        environment.add_template_owned("test.sh.j2", source.to_string())?;
        environment.get_template("test.sh.j2")?.render(context)
    }

    #[test]
    fn quote_closes_and_reopens_around_single_quotes() {
        assert_eq!(quote("it's"), r#"'it'"'"'s'"#);
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a\nb"), "'a\nb'");
    }

    #[test]
    fn values_are_quoted_and_safe_text_is_raw() {
        let output = render(
            "b={{ branch }} n={{ count }} e={{ empty }} s={{ raw|safe }}",
            context!(branch => "x$(reboot)", count => 3, empty => (), raw => "$HOME"),
        )
        .unwrap();
        assert_eq!(output, "b='x$(reboot)' n='3' e='' s=$HOME");
    }

    #[test]
    fn filters_quote_join_and_check_names() {
        let output = render(
            "{{ items|shell_join }} {{ ('a' ~ x)|quote }} export {{ name|ident }}=1",
            context!(items => vec!["a b", "c'd"], x => ";", name => "GH_TOKEN"),
        )
        .unwrap();
        assert_eq!(output, r#"'a b' 'c'"'"'d' 'a;' export GH_TOKEN=1"#);
        let error = render("{{ name|ident }}", context!(name => "A;reboot")).unwrap_err();
        assert!(error.to_string().contains("not a shell variable name"));
    }

    #[test]
    fn undefined_variables_are_errors() {
        let error = render("{{ missing }}", context!()).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::UndefinedError);
    }

    #[test]
    fn other_templates_are_not_quoted() {
        let mut environment = environment();
        environment
            .add_template("plain.txt", "{{ value }}")
            .unwrap();
        let output = environment
            .get_template("plain.txt")
            .unwrap()
            .render(context!(value => "a'b"))
            .unwrap();
        assert_eq!(output, "a'b");
    }
}
