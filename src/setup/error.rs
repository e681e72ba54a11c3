//! `SetupError`: what can go wrong turning a teammate into a setup script.
//!
//! Template errors carry the template's name, line and source so miette can point at the line;
//! no variant ever holds a secret value (templates never see one).

use std::path::PathBuf;

use miette::{Diagnostic, NamedSource, SourceSpan};
use minijinja::ErrorKind;

#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum SetupError {
    #[error("cannot read the setup template `{}`", path.display())]
    #[diagnostic(
        code(setup::template_read),
        help(
            "check the `setup` path in the team file; it is relative to the team file's directory"
        )
    )]
    TemplateRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("the setup template `{}` does not end in `.sh.j2`", path.display())]
    #[diagnostic(
        code(setup::template_name),
        help("rename it to `*.sh.j2`: only those templates have their values shell-quoted")
    )]
    TemplateName { path: PathBuf },

    #[error("secret name `{name}` is not a shell variable name")]
    #[diagnostic(
        code(setup::secret_name),
        help("secret names must match `^[A-Za-z_][A-Za-z0-9_]*$`")
    )]
    SecretName { name: String },

    #[error(transparent)]
    #[diagnostic(transparent)]
    Template(Box<TemplateError>),
}

/// A template that would not parse or render, with its source and the failing line.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{message}")]
#[diagnostic(code(setup::template))]
pub struct TemplateError {
    /// `template `NAME` line N: what went wrong`.
    pub message: String,
    #[source_code]
    source_code: Option<NamedSource<String>>,
    #[label("{label}")]
    span: Option<SourceSpan>,
    label: String,
    #[help]
    help: String,
}

impl SetupError {
    /// A template error from minijinja, pointing at the template and line where it happened.
    pub(crate) fn from_template(error: &minijinja::Error) -> SetupError {
        let name = error.name().unwrap_or("<setup>").to_string();
        let detail = error
            .detail()
            .map(str::to_string)
            .unwrap_or_else(|| error.kind().to_string());
        let message = match error.line() {
            Some(line) => format!("template `{name}` line {line}: {detail}"),
            None => format!("template `{name}`: {detail}"),
        };
        let source = error.template_source().map(str::to_string);
        let span = source
            .as_deref()
            .and_then(|source| span_of(source, error.range(), error.line()));
        SetupError::Template(Box::new(TemplateError {
            message,
            source_code: source.map(|source| NamedSource::new(name, source)),
            span,
            label: error.kind().to_string(),
            help: help_for(error.kind()).to_string(),
        }))
    }
}

/// The erroneous range, or else the whole line, clamped to the source.
fn span_of(
    source: &str,
    range: Option<std::ops::Range<usize>>,
    line: Option<usize>,
) -> Option<SourceSpan> {
    if let Some(range) = range.filter(|range| range.end <= source.len() && range.start <= range.end)
    {
        return Some(SourceSpan::from(range));
    }
    let line = line?;
    let start: usize = source
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    let length = source[start..].find('\n').unwrap_or(source.len() - start);
    Some(SourceSpan::from(start..start + length))
}

fn help_for(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::UndefinedError => {
            "templates see `teammate` (name, repo, branch, base_branch, workdir, snapshot, env), \
             `team` (name), `git` (user_name, user_email), `secrets` (names only), `git_token`, \
             `gh_token`, `repo_host` and `repo_is_https`"
        }
        ErrorKind::TemplateNotFound => {
            "templates load relative to the setup template's directory; the built-in one is \
             `builtin/setup.sh.j2`"
        }
        ErrorKind::SyntaxError => {
            "setup templates use Jinja syntax; write `{% raw %}...{% endraw %}` around shell text \
             such as `${#name}` that looks like a tag"
        }
        ErrorKind::UnknownFilter => {
            "shell templates add the filters `quote`, `shell_join` and `ident` to the Jinja ones"
        }
        _ => "values are shell-quoted automatically; use `|safe` only for trusted text",
    }
}
