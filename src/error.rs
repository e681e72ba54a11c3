//! The top-level error: every domain error folds into it, and it alone decides exit codes: the
//! table below is the only place an exit code is chosen.
//!
//! Diagnostic codes follow one scheme, `<domain>::<kind>`: `team::unknown_key`,
//! `provider::not_found`, `sandbox::clone`, `serve::bind`, and `run::*` for the errors of a whole
//! command defined here.
//!
//! | code | meaning |
//! |------|---------|
//! | 0    | success (`plan --detailed-exitcode`: no changes) |
//! | 1    | failure: a change failed, a provider call failed, an I/O error |
//! | 2    | usage error (bad flags); `plan --detailed-exitcode`: changes pending |
//! | 3    | the team file is invalid |
//! | 4    | refused: a destructive change needs `--yes`, or unsaved work needs `--force` |
//! | 124  | `wait`, `up --wait`: the commands were not done before `--timeout` |
//! | 130  | interrupted |
//!
//! `exec`, `sandbox exec` and `run` exit with the command's own exit code instead (124 when it
//! timed out; 255 for Daytona's `-1` when the SSH fallback is off).

use miette::Diagnostic;

use crate::provider::ProviderError;
use crate::sandbox::SandboxError;
use crate::serve::ServeError;
use crate::setup::SetupError;
use crate::team::TeamError;

/// Exit codes, named.
pub mod exit {
    pub const SUCCESS: i32 = 0;
    pub const FAILURE: i32 = 1;
    /// A bad command line (clap's own code for its errors too).
    pub const USAGE: i32 = 2;
    /// `plan --detailed-exitcode`: changes pending.
    pub const CHANGES: i32 = 2;
    pub const INVALID: i32 = 3;
    pub const REFUSED: i32 = 4;
    /// `wait` (and `up --wait`): the deadline passed before the commands were done.
    pub const TIMED_OUT: i32 = 124;
    pub const INTERRUPTED: i32 = 130;
}

/// Anything that ends a command unsuccessfully.
#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum Error {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Team(#[from] TeamError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Setup(#[from] SetupError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Provider(#[from] ProviderError),

    /// A single-sandbox operation (`ralph-town sandbox ...`, `run`) failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Sandbox(#[from] SandboxError),

    /// The command line (or an environment variable standing in for a flag) is unusable.
    #[error("{message}")]
    #[diagnostic(code(run::usage))]
    Usage {
        message: String,
        #[help]
        hint: Option<String>,
    },

    /// A destructive change was not confirmed, or would lose work.
    #[error("{message}")]
    #[diagnostic(code(run::refused))]
    Refused {
        message: String,
        #[help]
        hint: Option<String>,
    },

    /// Some changes failed; the details were already reported.
    #[error("{failed} of {total} changes failed")]
    #[diagnostic(code(run::changes_failed))]
    ChangesFailed { failed: usize, total: usize },

    /// A teammate or sandbox the user named does not exist.
    #[error("{message}")]
    #[diagnostic(code(run::not_found))]
    NotFound {
        message: String,
        #[help]
        hint: Option<String>,
    },

    #[error("{context}")]
    #[diagnostic(code(run::io))]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    /// `serve` could not start or stopped with an error.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Serve(Box<ServeError>),

    /// The user interrupted the run.
    #[error("interrupted")]
    #[diagnostic(code(run::interrupted))]
    Interrupted,

    /// A status the caller already reported; just exit with `code`.
    #[error("exit status {code}")]
    Exit { code: i32 },

    /// Whoever read stdout closed it (`ralph-town ... | head`): they have what they wanted, so
    /// the command ends as a success, silently.
    #[error("stdout was closed")]
    #[diagnostic(code(run::closed_stdout))]
    ClosedStdout,
}

impl Error {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Team(_) => exit::INVALID,
            Error::Usage { .. } | Error::Sandbox(SandboxError::Invalid { .. }) => exit::USAGE,
            Error::Refused { .. } | Error::Sandbox(SandboxError::Refused { .. }) => exit::REFUSED,
            Error::Interrupted | Error::Sandbox(SandboxError::Interrupted { .. }) => {
                exit::INTERRUPTED
            }
            Error::Exit { code } => *code,
            Error::ClosedStdout => exit::SUCCESS,
            Error::Serve(error) => match **error {
                // What the command line asked wrongly, as for a bad flag.
                ServeError::Exposed { .. }
                | ServeError::Contradiction { .. }
                | ServeError::InvalidApiKey { .. }
                | ServeError::ShowsSecrets { .. }
                | ServeError::Option { .. } => exit::USAGE,
                ServeError::Bind { .. }
                | ServeError::BindSsh { .. }
                | ServeError::HostKey { .. }
                | ServeError::SigningSecret { .. }
                | ServeError::Ca { .. }
                | ServeError::State { .. }
                | ServeError::InUse { .. }
                | ServeError::NoApiKey
                | ServeError::ApiKeyFile { .. } => exit::FAILURE,
            },
            Error::Sandbox(_)
            | Error::Setup(_)
            | Error::Provider(_)
            | Error::ChangesFailed { .. }
            | Error::NotFound { .. }
            | Error::Io { .. } => exit::FAILURE,
        }
    }

    /// Whether the error was already said (or needs no saying): nothing to print for it.
    pub fn is_silent(&self) -> bool {
        matches!(self, Error::Exit { .. } | Error::ClosedStdout)
    }

    /// A usage error: exit code 2, like a bad flag.
    pub(crate) fn usage(message: impl Into<String>, hint: Option<String>) -> Self {
        Error::Usage {
            message: message.into(),
            hint,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// Result with the top-level error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
