//! The error of the single-sandbox operations (`crate::error` maps each kind to an exit code).
//!
//! Messages never carry an environment value: an assignment that does not parse is named by
//! its key (or not at all), because the value may be a credential.

use crate::provider::ProviderError;

/// Why a single-sandbox operation failed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum SandboxError {
    /// The caller's input is unusable (a bad `KEY=VALUE`, a relative tool path, ...).
    #[error("{message}")]
    #[diagnostic(code(sandbox::invalid))]
    Invalid {
        message: String,
        #[help]
        help: Option<String>,
    },

    #[error(transparent)]
    #[diagnostic(transparent)]
    Provider(#[from] ProviderError),

    /// The operation would destroy something the caller did not say to (e.g. without `--force`).
    #[error("{message}")]
    #[diagnostic(code(sandbox::refused))]
    Refused {
        message: String,
        #[help]
        help: Option<String>,
    },

    /// The system `ssh` could not run a command in the sandbox.
    #[error("{message}")]
    #[diagnostic(code(sandbox::ssh))]
    Ssh {
        message: String,
        #[help]
        help: Option<String>,
    },

    /// Cloning the repository inside the sandbox failed.
    #[error("cannot clone `{repo}` in sandbox `{sandbox_id}` (exit code {exit_code}){cleanup}")]
    #[diagnostic(
        code(sandbox::clone),
        help(
            "the clone runs inside the sandbox without credentials: the repository must be readable from there\n{output}"
        )
    )]
    Clone {
        repo: String,
        sandbox_id: String,
        exit_code: i32,
        /// The tail of git's output.
        output: String,
        /// What happened to the sandbox afterwards, as a sentence tail.
        cleanup: String,
    },

    /// The provider has no snapshot of that name to create a sandbox from.
    #[error("{message}")]
    #[diagnostic(
        code(sandbox::snapshot_missing),
        help(
            "build it with `ralph-town sandbox snapshot create --provider {provider}{name}`, or check another one with `--snapshot`"
        )
    )]
    SnapshotMissing {
        /// The provider's own words.
        message: String,
        provider: String,
        /// ` --name <snapshot>` unless it is the default snapshot.
        name: String,
    },

    /// The user interrupted the operation; `cleanup` says what became of the sandbox.
    #[error("interrupted{cleanup}")]
    #[diagnostic(code(sandbox::interrupted))]
    Interrupted { cleanup: String },
}

impl SandboxError {
    pub(crate) fn invalid(message: impl Into<String>, help: Option<String>) -> Self {
        SandboxError::Invalid {
            message: message.into(),
            help,
        }
    }
}
