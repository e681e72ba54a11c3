//! The process-wide hooks `main` installs once, before any command runs: how a diagnostic looks
//! to a person, and what a closed stdout means.
//!
//! Diagnostic codes (`run::not_found`, `team::unknown_key`) are for scripts and bug reports:
//! they stay in every JSON answer, and `--verbose` shows them on stderr, but by default a person
//! reads the message, the source excerpt and the hint only. A closed stdout (`ralph-town ... |
//! head`) is a reader that has what it wanted, so it ends the command as a success, like
//! ripgrep, instead of a panic. Nothing here decides an exit code for any other reason.

use std::fmt;

use miette::{Diagnostic, LabeledSpan, MietteHandler, ReportHandler, Severity, SourceCode};

/// Installs the diagnostic handler (codes shown only when `verbose`) and the panic hook that
/// turns a write to a closed stdout into a quiet, successful exit.
pub fn install(verbose: bool) {
    let _ = miette::set_hook(Box::new(move |_| {
        Box::new(PeopleHandler {
            inner: MietteHandler::default(),
            codes: verbose,
        })
    }));
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // `println!` and generators such as clap_complete panic on a failed write; a closed
        // stdout is the one failure that is nobody's fault.
        if is_broken_pipe(info.payload_as_str().unwrap_or_default()) {
            std::process::exit(crate::error::exit::SUCCESS);
        }
        default(info);
    }));
}

/// Whether a panic message is a failed write to a closed pipe, as std and clap_complete word it.
fn is_broken_pipe(message: &str) -> bool {
    message.contains("Broken pipe") || message.contains("kind: BrokenPipe")
}

/// Miette's own handler, fed the diagnostic without its code unless codes were asked for.
struct PeopleHandler {
    inner: MietteHandler,
    codes: bool,
}

impl ReportHandler for PeopleHandler {
    fn debug(&self, diagnostic: &dyn Diagnostic, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.codes {
            self.inner.debug(diagnostic, f)
        } else {
            self.inner.debug(&Uncoded::new(diagnostic), f)
        }
    }
}

/// A diagnostic as it is, minus its code, and the same for its related diagnostics and causes
/// (a file with several problems renders each as a related diagnostic).
struct Uncoded<'a> {
    inner: &'a dyn Diagnostic,
    related: Option<Vec<Uncoded<'a>>>,
    cause: Option<Box<Uncoded<'a>>>,
}

impl<'a> Uncoded<'a> {
    fn new(inner: &'a dyn Diagnostic) -> Uncoded<'a> {
        Uncoded {
            inner,
            related: inner
                .related()
                .map(|related| related.map(Uncoded::new).collect()),
            cause: inner
                .diagnostic_source()
                .map(|cause| Box::new(Uncoded::new(cause))),
        }
    }
}

impl fmt::Debug for Uncoded<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.inner, f)
    }
}

impl fmt::Display for Uncoded<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.inner, f)
    }
}

impl std::error::Error for Uncoded<'_> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner.source()
    }
}

impl Diagnostic for Uncoded<'_> {
    fn severity(&self) -> Option<Severity> {
        self.inner.severity()
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.inner.help()
    }

    fn url<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.inner.url()
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.inner.source_code()
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.inner.labels()
    }

    fn related<'b>(&'b self) -> Option<Box<dyn Iterator<Item = &'b dyn Diagnostic> + 'b>> {
        let related = self.related.as_ref()?;
        Some(Box::new(
            related
                .iter()
                .map(|diagnostic| diagnostic as &dyn Diagnostic),
        ))
    }

    fn diagnostic_source(&self) -> Option<&dyn Diagnostic> {
        self.cause.as_deref().map(|cause| cause as &dyn Diagnostic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_pipe_messages_are_recognised() {
        assert!(is_broken_pipe(
            "failed printing to stdout: Broken pipe (os error 32)"
        ));
        assert!(is_broken_pipe(
            "failed to write completion file: Os { code: 32, kind: BrokenPipe, message: \"Broken pipe\" }"
        ));
        assert!(!is_broken_pipe("index out of bounds"));
    }
}
