//! What can be wrong with a team file, as miette diagnostics that point into the file.
//!
//! Every problem found in a file is a [`FileDiagnostic`]: a kind, a message, a help line and
//! labels on exact byte spans of the file's source. A failed load is a [`TeamError`] carrying all
//! of them. Nothing here may hold or print a secret value: diagnostics quote the file, never
//! the host environment.

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, NamedSource, Severity, SourceCode};

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

/// The problems of one file, in the order they were found. Never empty.
#[derive(Debug)]
pub struct Invalid {
    pub diagnostics: Vec<FileDiagnostic>,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.diagnostics.as_slice() {
            [only] => fmt::Display::fmt(only, f),
            many => write!(f, "{} problems in `{}`", many.len(), source_name(&many[0])),
        }
    }
}

impl std::error::Error for Invalid {}

fn source_name(diagnostic: &FileDiagnostic) -> &str {
    diagnostic.source.name()
}

// One problem renders as itself; several render as a summary with each one related, so that
// miette prints every label.
impl Diagnostic for Invalid {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.single().and_then(Diagnostic::code)
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.single().and_then(Diagnostic::help)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.diagnostics.first().and_then(Diagnostic::source_code)
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
            [only] => Some(only),
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
    source: Arc<NamedSource<String>>,
}

impl FileDiagnostic {
    /// The source text under each label, in label order (what a reader sees underlined).
    pub fn labelled_text(&self) -> Vec<&str> {
        let text = self.source.inner().as_str();
        self.labels
            .iter()
            .map(|(range, _)| text.get(range.clone()).unwrap_or(""))
            .collect()
    }

    pub(crate) fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub(crate) fn with_label(mut self, range: Range<usize>, text: impl Into<String>) -> Self {
        self.labels.push((range, text.into()));
        self
    }
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

    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(&*self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(self.labels.iter().enumerate().map(
            |(index, (range, text))| {
                let label = (!text.is_empty()).then(|| text.clone());
                let span = (range.start, range.len());
                if index == 0 {
                    LabeledSpan::new_primary_with_span(label, span)
                } else {
                    LabeledSpan::new_with_span(label, span)
                }
            },
        )))
    }
}

/// Collects the problems of one file while it is checked, so that one run reports them all.
pub(crate) struct Problems {
    source: Arc<NamedSource<String>>,
    pub errors: Vec<FileDiagnostic>,
    pub warnings: Vec<FileDiagnostic>,
}

impl Problems {
    pub(crate) fn new(file_name: &str, text: &str) -> Self {
        Problems {
            source: Arc::new(NamedSource::new(file_name, text.to_string())),
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// A diagnostic with one primary label, to be finished with `with_help` and pushed.
    pub(crate) fn at(
        &self,
        kind: ProblemKind,
        range: Range<usize>,
        label: impl Into<String>,
        message: impl Into<String>,
    ) -> FileDiagnostic {
        FileDiagnostic {
            kind,
            severity: Severity::Error,
            message: message.into(),
            help: None,
            labels: vec![(range, label.into())],
            source: Arc::clone(&self.source),
        }
    }

    pub(crate) fn error(&mut self, diagnostic: FileDiagnostic) {
        self.errors.push(diagnostic);
    }

    pub(crate) fn warn(&mut self, mut diagnostic: FileDiagnostic) {
        diagnostic.severity = Severity::Warning;
        self.warnings.push(diagnostic);
    }

    pub(crate) fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// The collected errors as a load failure, or the warnings when there is none; in file
    /// order either way.
    pub(crate) fn finish(mut self) -> Result<Vec<FileDiagnostic>, TeamError> {
        if self.errors.is_empty() {
            sort_by_position(&mut self.warnings);
            Ok(self.warnings)
        } else {
            Err(self.into_error())
        }
    }

    pub(crate) fn into_error(mut self) -> TeamError {
        sort_by_position(&mut self.errors);
        TeamError::Invalid(Box::new(Invalid {
            diagnostics: self.errors,
        }))
    }
}

fn sort_by_position(diagnostics: &mut [FileDiagnostic]) {
    diagnostics.sort_by_key(|diagnostic| diagnostic.labels.first().map(|(range, _)| range.start));
}
