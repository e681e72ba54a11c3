//! Why `serve` could not start: a listener it cannot bind, a key, CA or state file it cannot
//! use, an option it cannot read, or an API key setup it refuses as unsafe. Each error names
//! the address or file and says how to get past it; none shows a credential.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::api_key;

/// Why the server could not start.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ServeError {
    #[error("cannot listen on `{address}`")]
    #[diagnostic(
        code(serve::bind),
        help("pick another address with `--listen`, or port 0 for any free port")
    )]
    Bind {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot listen for SSH on `{address}`")]
    #[diagnostic(
        code(serve::bind_ssh),
        help("pick another address with `--ssh-listen`, or port 0 for any free port")
    )]
    BindSsh {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot use the SSH host key `{}`: {message}", path.display())]
    #[diagnostic(
        code(serve::host_key),
        help("move the file away to make a new key; clients that knew the old one will warn once")
    )]
    HostKey { path: PathBuf, message: String },

    #[error("cannot use the file-signing secret `{}`: {message}", path.display())]
    #[diagnostic(
        code(serve::signing_secret),
        help("move the file away to make a new one; URLs signed before stop working")
    )]
    SigningSecret { path: PathBuf, message: String },

    #[error("cannot use {what} `{}`: {message}", path.display())]
    #[diagnostic(
        code(serve::ca),
        help(
            "move the file away to make a new CA; sandboxes given the egress proxy's old CA trust the new one once their secrets are mounted again, and a new loopback CA must be trusted again"
        )
    )]
    Ca {
        what: &'static str,
        path: PathBuf,
        message: String,
    },

    #[error("cannot read the server state `{}`: {message}", path.display())]
    #[diagnostic(
        code(serve::state),
        help(
            "the file holds snapshots and SSH tokens of this server; move it away to start afresh"
        )
    )]
    State { path: PathBuf, message: String },

    #[error("the state root `{}` is in use by another `ralph-town serve`{}", root.display(), holder.map(|pid| format!(" (pid {pid})")).unwrap_or_default())]
    #[diagnostic(
        code(serve::in_use),
        help(
            "two servers on one state root would overwrite each other's records; stop the other one, or give this one a state root of its own with RALPH_TOWN_HOME"
        )
    )]
    InUse { root: PathBuf, holder: Option<u32> },

    #[error("invalid `{what}` `{value}`: {reason}")]
    #[diagnostic(code(serve::option))]
    Option {
        what: &'static str,
        value: String,
        reason: String,
    },

    #[error("no API key: `serve` accepts any bearer token only when told so")]
    #[diagnostic(
        code(serve::no_api_key),
        help("set `ServeOptions::api_key`, or `insecure_accept_any_token` to accept any token")
    )]
    NoApiKey,

    #[error("refusing to listen on `{address}` without an API key")]
    #[diagnostic(
        code(serve::exposed),
        help(
            "anyone who reaches that address could run commands in every sandbox; give a key with `--api-key-file PATH` or `RALPH_TOWN_SERVE_API_KEY`, or accept any token with `--insecure-accept-any-token`"
        )
    )]
    Exposed { address: SocketAddr },

    #[error("`--insecure-accept-any-token` contradicts the API key from {source_name}")]
    #[diagnostic(
        code(serve::contradiction),
        help("drop the flag to require the key, or the key to accept any token")
    )]
    Contradiction { source_name: String },

    #[error("the API key from {source_name} is unusable: {problem}")]
    #[diagnostic(
        code(serve::invalid_api_key),
        help(
            "a key is at least 16 printable ASCII characters without spaces; without one, `serve` makes its own"
        )
    )]
    InvalidApiKey {
        source_name: String,
        problem: api_key::KeyProblem,
    },

    #[error("cannot use the API key file `{}`: {message}", path.display())]
    #[diagnostic(
        code(serve::api_key_file),
        help("the file holds the API key alone, on one line")
    )]
    ApiKeyFile { path: PathBuf, message: String },

    #[error("`--read-only {}` would show `{}` to every sandbox", path.display(), hidden.display())]
    #[diagnostic(
        code(serve::shows_secrets),
        help(
            "that is where the API key (or the state root, with other sandboxes and SSH tokens) is; share a narrower path, or move the state root with `RALPH_TOWN_HOME`"
        )
    )]
    ShowsSecrets { path: PathBuf, hidden: PathBuf },
}
