//! What can be wrong with a team file, as miette diagnostics that point into the file.
//!
//! Every problem found in a file is a [`FileDiagnostic`]: a kind, a message, a help line and
//! labels on exact byte spans of the file's source. A failed load is a [`TeamError`] carrying all
//! of them. Nothing here may hold or print a secret value: diagnostics quote the file, never
//! the host environment.
//!
//! What a failed load shows is bounded whatever the file: the first [`MAX_LISTED`] problems in
//! file order (the rest are counted), messages cut to a few hundred characters, and each
//! diagnostic shows an [`Excerpt`] of the file rather than the file.

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use miette::{Diagnostic, LabeledSpan, Severity, SourceCode};

use super::excerpt::{Excerpt, SourceFile};

/// Problems (and, separately, warnings) listed in full; more are counted, not shown. Fifty
/// fill a screen or two, and fixing them usually fixes the rest.
pub const MAX_LISTED: usize = 50;
/// Messages, labels and help lines are cut to this many characters: they quote values of the
/// file, which may be huge.
const MAX_TEXT: usize = 400;

/// The largest team file read, in bytes. A team file is a few kilobytes (a teammate is three
/// to ten lines, some 100 bytes); 1 MiB holds 10,000 teammates written out, far beyond any
/// provider's quota (a Daytona organisation of the first tier runs 10 vCPU), while the worst
/// such file (tens of thousands of one-key teammates) still loads in well under a second and
/// a couple of hundred megabytes. Larger input is refused before it is parsed.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Why a team file could not be loaded.
#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum TeamError {
    #[error("cannot read the team file `{}`", path.display())]
    #[diagnostic(
        code(team::read),
        help("create one with `ralph-town init`, or pass the path of an existing team file")
    )]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The file is larger than [`MAX_FILE_BYTES`].
    #[error(
        "the team file `{}` is larger than {} MiB",
        path.display(),
        MAX_FILE_BYTES / 1024 / 1024
    )]
    #[diagnostic(
        code(team::too_large),
        help(
            "a team file is a few kilobytes; check that `{}` is the team file you meant",
            path.display()
        )
    )]
    TooLarge { path: PathBuf },

    /// The file has one or more problems, each pointing at its span.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Invalid(Box<Invalid>),

    /// A secret's host variable is unset or empty when its value is needed.
    #[error(
        "secret `{name}` of teammate `{teammate}` needs the host variable `{host_var}`, which is not set"
    )]
    #[diagnostic(
        code(team::secret_not_set),
        help("export `{host_var}` before running ralph-town, or remove `{name}` from `secrets`")
    )]
    SecretNotSet {
        teammate: String,
        name: String,
        host_var: String,
    },
}

impl TeamError {
    /// The file diagnostics of an invalid file (empty for other errors).
    pub fn diagnostics(&self) -> &[FileDiagnostic] {
        match self {
            TeamError::Invalid(invalid) => &invalid.diagnostics,
            _ => &[],
        }
    }
}

/// The problems of one file in file order: the first [`MAX_LISTED`] of `total`. Never empty.
#[derive(Debug)]
pub struct Invalid {
    pub diagnostics: Vec<FileDiagnostic>,
    /// How many problems the file has, listed or not.
    pub total: usize,
}

impl Invalid {
    /// Problems found but not listed.
    pub fn omitted(&self) -> usize {
        self.total - self.diagnostics.len()
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(only) = self.single() {
            return fmt::Display::fmt(only, f);
        }
        write!(
            f,
            "{} problems in `{}`",
            self.total,
            source_name(&self.diagnostics[0])
        )?;
        if self.omitted() > 0 {
            write!(f, "; the first {} are listed", self.diagnostics.len())?;
        }
        Ok(())
    }
}

impl std::error::Error for Invalid {}

fn source_name(diagnostic: &FileDiagnostic) -> &str {
    &diagnostic.source.name
}

// One problem renders as itself; several render as a summary with each one related, so that
// miette prints every label.
impl Diagnostic for Invalid {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.single().and_then(Diagnostic::code)
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        if self.omitted() > 0 {
            return Some(Box::new(format!(
                "{} more not listed: fix these and run `ralph-town validate` again",
                self.omitted()
            )));
        }
        self.single().and_then(Diagnostic::help)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.single().and_then(Diagnostic::source_code)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.single().and_then(Diagnostic::labels)
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        if self.single().is_some() {
            return None;
        }
        Some(Box::new(
            self.diagnostics.iter().map(|d| d as &dyn Diagnostic),
        ))
    }
}

impl Invalid {
    fn single(&self) -> Option<&FileDiagnostic> {
        match self.diagnostics.as_slice() {
            [only] if self.total == 1 => Some(only),
            _ => None,
        }
    }
}

/// The kind of a problem in a team file; also its diagnostic code (`team::unknown_key`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProblemKind {
    Syntax,
    UnknownKey,
    WrongType,
    MissingKey,
    InvalidName,
    DuplicateTeammate,
    DuplicateBranch,
    InvalidBranch,
    MissingVariable,
    InvalidInterpolation,
    InvalidEntry,
    DuplicateEntry,
    EnvAndSecret,
    SecretNotSet,
    InvalidDuration,
    InvalidValue,
    SetupNotFound,
    NoTeammates,
    /// Warning: an `env` name that looks like a credential.
    CredentialInEnv,
    /// Warning: an `env` entry copies a host variable that is not set.
    HostVariableUnset,
    /// Warning: a setting the chosen provider does not use.
    IgnoredSetting,
    /// A local `repo` path that does not exist.
    RepoNotFound,
    /// A `task_file` that cannot be read.
    TaskNotFound,
    /// Warning: more warnings than are listed (no label).
    MoreWarnings,
}

impl ProblemKind {
    pub fn code(self) -> &'static str {
        match self {
            ProblemKind::Syntax => "team::syntax",
            ProblemKind::UnknownKey => "team::unknown_key",
            ProblemKind::WrongType => "team::wrong_type",
            ProblemKind::MissingKey => "team::missing_key",
            ProblemKind::InvalidName => "team::invalid_name",
            ProblemKind::DuplicateTeammate => "team::duplicate_teammate",
            ProblemKind::DuplicateBranch => "team::duplicate_branch",
            ProblemKind::InvalidBranch => "team::invalid_branch",
            ProblemKind::MissingVariable => "team::missing_variable",
            ProblemKind::InvalidInterpolation => "team::invalid_interpolation",
            ProblemKind::InvalidEntry => "team::invalid_entry",
            ProblemKind::DuplicateEntry => "team::duplicate_entry",
            ProblemKind::EnvAndSecret => "team::env_and_secret",
            ProblemKind::SecretNotSet => "team::secret_not_set",
            ProblemKind::InvalidDuration => "team::invalid_duration",
            ProblemKind::InvalidValue => "team::invalid_value",
            ProblemKind::SetupNotFound => "team::setup_not_found",
            ProblemKind::NoTeammates => "team::no_teammates",
            ProblemKind::CredentialInEnv => "team::credential_in_env",
            ProblemKind::HostVariableUnset => "team::host_variable_unset",
            ProblemKind::IgnoredSetting => "team::ignored_setting",
            ProblemKind::RepoNotFound => "team::repo_not_found",
            ProblemKind::TaskNotFound => "team::task_not_found",
            ProblemKind::MoreWarnings => "team::more_warnings",
        }
    }
}

/// A warning about a team file that still loads.
pub type TeamWarning = FileDiagnostic;

/// One problem (error or warning) at one or more spans of a team file.
#[derive(Clone)]
pub struct FileDiagnostic {
    pub kind: ProblemKind,
    pub severity: Severity,
    pub message: String,
    pub help: Option<String>,
    /// Byte ranges in the source with their label text; the first is the primary one.
    pub labels: Vec<(Range<usize>, String)>,
    source: Arc<SourceFile>,
    /// What miette shows of the file, made when first rendered (after every label is added).
    excerpt: OnceLock<Excerpt>,
}

impl FileDiagnostic {
    /// The source text under each label, in label order (what a reader sees underlined).
    pub fn labelled_text(&self) -> Vec<&str> {
        let text = self.source.text.as_str();
        self.labels
            .iter()
            .map(|(range, _)| text.get(range.clone()).unwrap_or(""))
            .collect()
    }

    pub(crate) fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(cut(help.into()));
        self
    }

    pub(crate) fn with_label(mut self, range: Range<usize>, text: impl Into<String>) -> Self {
        self.labels.push((range, cut(text.into())));
        self
    }

    /// A diagnostic about `source` with one primary label (or none: a count of others).
    pub(super) fn new(
        kind: ProblemKind,
        severity: Severity,
        message: String,
        labels: Vec<(Range<usize>, String)>,
        source: &Arc<SourceFile>,
    ) -> FileDiagnostic {
        FileDiagnostic {
            kind,
            severity,
            message: cut(message),
            help: None,
            labels: labels
                .into_iter()
                .map(|(range, text)| (range, cut(text)))
                .collect(),
            source: Arc::clone(source),
            excerpt: OnceLock::new(),
        }
    }

    fn excerpt(&self) -> &Excerpt {
        self.excerpt
            .get_or_init(|| Excerpt::new(&self.source, &self.labels))
    }
}

/// `text` cut to [`MAX_TEXT`] characters.
fn cut(mut text: String) -> String {
    if let Some((index, _)) = text.char_indices().nth(MAX_TEXT) {
        text.truncate(index);
        text.push('…');
    }
    text
}

impl fmt::Debug for FileDiagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileDiagnostic")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .field("labels", &self.labels)
            .field("help", &self.help)
            .finish()
    }
}

impl fmt::Display for FileDiagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FileDiagnostic {}

impl Diagnostic for FileDiagnostic {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.kind.code()))
    }

    fn severity(&self) -> Option<Severity> {
        Some(self.severity)
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|help| Box::new(help) as Box<dyn fmt::Display>)
    }

    // Labels are offsets into the excerpt, which is what miette reads; `labels` keeps the
    // offsets into the file.
    fn source_code(&self) -> Option<&dyn SourceCode> {
        if self.labels.is_empty() {
            return None;
        }
        Some(self.excerpt())
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.labels.is_empty() {
            return None;
        }
        Some(Box::new(self.excerpt().labels.iter().cloned()))
    }
}
