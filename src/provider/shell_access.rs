//! How a user reaches an interactive shell in a sandbox. The SSH token it may carry is a
//! credential: its `Debug` never shows it.

use serde::Serialize;

/// How a user reaches a shell in a sandbox.
#[derive(Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ShellAccess {
    /// A token-based SSH login (Daytona, `serve`'s gateway): `ssh <token>@<host>`. The token is
    /// a credential the user asked for.
    Ssh {
        sandbox_id: String,
        token: String,
        /// The `ssh` command line, starting in the requested directory.
        command: String,
        host: String,
        port: u16,
        /// RFC 3339.
        expires_at: String,
    },
    /// A `local` sandbox: a shell on this machine, opened by `command` (which carries no
    /// environment value: those may be credentials).
    Local { sandbox_id: String, command: String },
}

/// Never shows the token.
impl std::fmt::Debug for ShellAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShellAccess::Ssh {
                sandbox_id,
                host,
                port,
                expires_at,
                ..
            } => f
                .debug_struct("Ssh")
                .field("sandbox_id", sandbox_id)
                .field("host", host)
                .field("port", port)
                .field("expires_at", expires_at)
                .finish_non_exhaustive(),
            ShellAccess::Local {
                sandbox_id,
                command,
            } => f
                .debug_struct("Local")
                .field("sandbox_id", sandbox_id)
                .field("command", command)
                .finish(),
        }
    }
}
