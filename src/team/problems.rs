//! Collecting the problems of one file while it is checked, so that one run reports them all,
//! with bounded memory: whatever the file, only the first [`MAX_LISTED`] errors and warnings
//! by position are kept, and the others are counted.

use std::ops::Range;
use std::sync::Arc;

use miette::Severity;

use super::error::{FileDiagnostic, Invalid, MAX_LISTED, ProblemKind, TeamError};
use super::excerpt::SourceFile;

/// Collects the problems of one file while it is checked, so that one run reports them all.
/// Memory stays bounded: only the first [`MAX_LISTED`] by position are kept of each list.
pub(crate) struct Problems {
    source: Arc<SourceFile>,
    errors: Bounded,
    warnings: Bounded,
}

/// The first [`MAX_LISTED`] diagnostics by position, and how many there were.
#[derive(Default)]
struct Bounded {
    kept: Vec<FileDiagnostic>,
    total: usize,
}

impl Bounded {
    fn push(&mut self, diagnostic: FileDiagnostic) {
        self.total += 1;
        self.kept.push(diagnostic);
        // Trimming to the first MAX_LISTED whenever twice as many are kept never drops one of
        // the first MAX_LISTED overall, and costs O(n log n) amortised.
        if self.kept.len() >= 2 * MAX_LISTED {
            self.trim();
        }
    }

    fn trim(&mut self) {
        sort_by_position(&mut self.kept);
        self.kept.truncate(MAX_LISTED);
    }
}

impl Problems {
    pub(crate) fn new(file_name: &str, text: &str) -> Self {
        Problems {
            source: SourceFile::new(file_name, text),
            errors: Bounded::default(),
            warnings: Bounded::default(),
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
        FileDiagnostic::new(
            kind,
            Severity::Error,
            message.into(),
            vec![(range, label.into())],
            &self.source,
        )
    }

    pub(crate) fn error(&mut self, diagnostic: FileDiagnostic) {
        self.errors.push(diagnostic);
    }

    pub(crate) fn warn(&mut self, mut diagnostic: FileDiagnostic) {
        diagnostic.severity = Severity::Warning;
        self.warnings.push(diagnostic);
    }

    pub(crate) fn has_errors(&self) -> bool {
        self.errors.total > 0
    }

    /// The collected errors as a load failure, or the warnings when there is none; in file
    /// order either way. Warnings beyond [`MAX_LISTED`] are counted in a last warning.
    pub(crate) fn finish(mut self) -> Result<Vec<FileDiagnostic>, TeamError> {
        if self.has_errors() {
            return Err(self.into_error());
        }
        self.warnings.trim();
        let omitted = self.warnings.total - self.warnings.kept.len();
        let mut warnings = self.warnings.kept;
        if omitted > 0 {
            let more = FileDiagnostic::new(
                ProblemKind::MoreWarnings,
                Severity::Warning,
                format!("{omitted} more warnings not listed"),
                Vec::new(),
                &self.source,
            );
            warnings.push(more.with_help("fix the ones above and run `ralph-town validate` again"));
        }
        Ok(warnings)
    }

    pub(crate) fn into_error(mut self) -> TeamError {
        self.errors.trim();
        TeamError::Invalid(Box::new(Invalid {
            diagnostics: self.errors.kept,
            total: self.errors.total,
        }))
    }
}

fn sort_by_position(diagnostics: &mut [FileDiagnostic]) {
    diagnostics.sort_by_key(|diagnostic| diagnostic.labels.first().map(|(range, _)| range.start));
}
