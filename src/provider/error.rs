//! Semantic provider errors: what went wrong, and whether trying again may help.
//!
//! Backends map their own failures (HTTP status codes, I/O errors) into this enum once, in one
//! place; everything above the provider seam matches on these variants only.

use std::time::Duration;

/// A failed provider call.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ProviderError {
    /// The sandbox (or snapshot) does not exist.
    #[error("{what} not found")]
    #[diagnostic(code(provider::not_found))]
    NotFound { what: String },

    /// The request conflicts with the current state (a name in use, a transition in progress).
    #[error("conflict: {message}")]
    #[diagnostic(code(provider::conflict))]
    Conflict { message: String },

    /// The backend throttled us; `retry_after` is its hint.
    #[error("rate limited{}", retry_after.map(|d| format!(" (retry after {}s)", d.as_secs())).unwrap_or_default())]
    #[diagnostic(code(provider::rate_limited))]
    RateLimited { retry_after: Option<Duration> },

    /// The organisation's quota does not allow the request; no retry will help.
    #[error("quota exceeded: {message}")]
    #[diagnostic(
        code(provider::quota_exceeded),
        help("free resources (`ralph-town down` an unused team) or raise the quota")
    )]
    QuotaExceeded { message: String },

    /// Missing, invalid or insufficient credentials.
    #[error("unauthorized: {message}")]
    #[diagnostic(code(provider::unauthorized))]
    Unauthorized { message: String },

    /// The operation timed out (a command, or waiting for a state).
    #[error("timed out: {message}")]
    #[diagnostic(code(provider::timeout))]
    Timeout { message: String },

    /// The backend cannot do this at all.
    #[error("not supported by the `{provider}` provider: {operation}")]
    #[diagnostic(code(provider::unsupported))]
    Unsupported {
        provider: &'static str,
        operation: String,
    },

    /// The backend refused the request for another reason; `status` is its own code, if any.
    #[error("{message}")]
    #[diagnostic(code(provider::api))]
    Api {
        status: Option<u16>,
        message: String,
        /// Whether the same request may succeed later (5xx, not 4xx).
        retryable: bool,
    },

    /// The backend could not be reached, or a local operation failed.
    #[error("{message}")]
    #[diagnostic(code(provider::transport))]
    Transport { message: String },
}

impl ProviderError {
    /// Whether the same call may succeed if repeated. Callers still decide whether repeating a
    /// non-idempotent call (create) is safe.
    pub fn is_retryable(&self) -> bool {
        match self {
            ProviderError::RateLimited { .. } | ProviderError::Transport { .. } => true,
            ProviderError::Api { retryable, .. } => *retryable,
            _ => false,
        }
    }

    /// A stable name for the kind of failure (`not_found`, `rate_limited`, ...), for JSON
    /// answers and scripts.
    pub fn kind(&self) -> &'static str {
        match self {
            ProviderError::NotFound { .. } => "not_found",
            ProviderError::Conflict { .. } => "conflict",
            ProviderError::RateLimited { .. } => "rate_limited",
            ProviderError::QuotaExceeded { .. } => "quota_exceeded",
            ProviderError::Unauthorized { .. } => "unauthorized",
            ProviderError::Timeout { .. } => "timeout",
            ProviderError::Unsupported { .. } => "unsupported",
            ProviderError::Api { .. } => "api",
            ProviderError::Transport { .. } => "transport",
        }
    }

    pub(crate) fn not_found(what: impl Into<String>) -> Self {
        ProviderError::NotFound { what: what.into() }
    }

    pub(crate) fn transport(message: impl std::fmt::Display) -> Self {
        ProviderError::Transport {
            message: message.to_string(),
        }
    }
}
