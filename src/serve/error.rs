//! Errors as Daytona writes them: the API body on `/api`, the daemon body on `/toolbox`.
//!
//! A handler returns an [`ApiError`] or a [`DaemonError`]; the response carries the message in
//! an extension, and the route's middleware renders the body, because only the middleware knows the
//! request path and method the bodies quote. The middleware also turns any other error response
//! (an extractor's rejection, say) into the same shape. Nothing here logs.

use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::daytona_api::{ApiErrorBody, DaemonErrorBody};
use crate::provider::ProviderError;

/// The message of an error response, for the middleware to render, and the daemon's domain code
/// when there is one (`FILE_NOT_FOUND`, `GIT_AUTH_FAILED`, ...).
#[derive(Debug, Clone)]
pub(crate) struct ErrorMessage {
    pub(crate) message: String,
    pub(crate) code: Option<&'static str>,
    /// The daemon's `errors`, one per file, of a bulk upload that failed in part.
    pub(crate) errors: Option<Vec<String>>,
}

/// A control-plane failure.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
    /// Extra headers (rate limits); boxed to keep the error small.
    pub(crate) headers: Box<HeaderMap>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            headers: Box::default(),
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub(crate) fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }

    /// What a local sandbox cannot be or do, said with the reason (422, which the SDKs raise
    /// as their unprocessable-entity error).
    pub(crate) fn not_possible(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    pub(crate) fn sandbox_not_found(id_or_name: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            format!("Sandbox with ID or name {id_or_name} not found"),
        )
    }

    pub(crate) fn state_change_in_progress() -> Self {
        Self::conflict("Sandbox state change in progress")
    }

    /// Maps a provider failure on sandbox `id_or_name` once, here.
    pub(crate) fn from_provider(error: ProviderError, id_or_name: &str) -> Self {
        match error {
            ProviderError::NotFound { .. } => Self::sandbox_not_found(id_or_name),
            ProviderError::Conflict { message } => Self::conflict(message),
            ProviderError::QuotaExceeded { message } => Self::bad_request(message),
            ProviderError::Unauthorized { message } => Self::new(StatusCode::UNAUTHORIZED, message),
            ProviderError::Timeout { message } => Self::new(StatusCode::REQUEST_TIMEOUT, message),
            ProviderError::RateLimited { .. } => Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "ThrottlerException: Too Many Requests",
            ),
            ProviderError::Unsupported { .. } => Self::bad_request(error.to_string()),
            ProviderError::Api {
                status, message, ..
            } => Self::new(api_status(status), message),
            ProviderError::Transport { message } => Self::internal(message),
        }
    }
}

/// The status a provider's API failure carried, else 400: a failure the provider could not
/// place is the request's.
fn api_status(status: Option<u16>) -> StatusCode {
    status
        .and_then(|status| StatusCode::from_u16(status).ok())
        .unwrap_or(StatusCode::BAD_REQUEST)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, *self.headers).into_response();
        response.extensions_mut().insert(ErrorMessage {
            message: self.message,
            code: None,
            errors: None,
        });
        response
    }
}

/// The `source` of every toolbox error body (NOTES-style: newer than v0.190; the pinned Python
/// SDK maps `(DAYTONA_DAEMON, FILE_NOT_FOUND)` to `DaytonaFileNotFoundError` and so on, and
/// falls back to the status class without it).
pub(crate) const DAEMON_SOURCE: &str = "DAYTONA_DAEMON";

/// A toolbox failure, with the daemon's error code: a domain one when set (`FILE_NOT_FOUND`,
/// `GIT_BRANCH_EXISTS`, ...), else the generic one of the status (`NOT_FOUND`, ...).
#[derive(Debug)]
pub(crate) struct DaemonError {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
    pub(crate) code: Option<&'static str>,
    pub(crate) errors: Option<Vec<String>>,
}

impl DaemonError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        DaemonError {
            status,
            message: message.into(),
            code: None,
            errors: None,
        }
    }

    /// The same error with a domain code; the status stays the one that code implies.
    pub(crate) fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    /// The daemon's `errors` list beside the message, as a bulk upload that failed in part
    /// answers: the SDKs show those, one per file, and not the message.
    pub(crate) fn with_errors(mut self, errors: Vec<String>) -> Self {
        self.errors = Some(errors);
        self
    }

    /// The code the body carries.
    pub(crate) fn code(&self) -> &'static str {
        self.code.unwrap_or_else(|| daemon_code(self.status))
    }

    /// A missing file or directory: 404 `FILE_NOT_FOUND`.
    pub(crate) fn file_not_found(path: &str) -> Self {
        Self::not_found(format!("{path}: no such file or directory")).with_code("FILE_NOT_FOUND")
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// Maps a provider failure of a toolbox call; `what` names the object a `NotFound` is about.
    pub(crate) fn from_provider(error: ProviderError, what: &str) -> Self {
        match error {
            ProviderError::NotFound { .. } => Self::not_found(format!("{what} not found")),
            ProviderError::Conflict { message } => Self::new(StatusCode::CONFLICT, message),
            ProviderError::Timeout { .. } => {
                Self::new(StatusCode::REQUEST_TIMEOUT, "command execution timeout")
            }
            ProviderError::Unauthorized { message } => Self::new(StatusCode::UNAUTHORIZED, message),
            ProviderError::Api {
                status, message, ..
            } => Self::new(api_status(status), message),
            other => Self::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
        }
    }
}

impl IntoResponse for DaemonError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        response.extensions_mut().insert(ErrorMessage {
            message: self.message,
            code: self.code,
            errors: self.errors,
        });
        response
    }
}

/// The daemon's `code` for a status.
pub(crate) fn daemon_code(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "BAD_REQUEST",
        StatusCode::UNAUTHORIZED => "UNAUTHORIZED",
        StatusCode::FORBIDDEN => "FORBIDDEN",
        StatusCode::NOT_FOUND => "NOT_FOUND",
        StatusCode::CONFLICT => "CONFLICT",
        StatusCode::REQUEST_TIMEOUT => "REQUEST_TIMEOUT",
        StatusCode::UNPROCESSABLE_ENTITY => "INVALID_REQUEST_BODY",
        StatusCode::BAD_GATEWAY => "BAD_GATEWAY",
        StatusCode::SERVICE_UNAVAILABLE => "SERVICE_UNAVAILABLE",
        _ => "INTERNAL_SERVER_ERROR",
    }
}

/// Now, as Daytona writes timestamps.
pub(crate) fn timestamp() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

/// Renders the body of an error response for `path`: an API body, or a daemon body when
/// `daemon` is set. The message comes from the handler's [`ErrorMessage`], else from whatever
/// text body the response already had (an extractor rejection).
pub(crate) async fn render(
    response: Response,
    path: &str,
    method: &Method,
    daemon: bool,
) -> Response {
    let status = response.status();
    let message = response.extensions().get::<ErrorMessage>().cloned();
    let code = message.as_ref().and_then(|message| message.code);
    let errors = message.as_ref().and_then(|message| message.errors.clone());
    let (mut parts, body) = response.into_parts();
    let message = if let Some(message) = message {
        message.message
    } else {
        let bytes = axum::body::to_bytes(body, 64 * 1024)
            .await
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes).trim().to_string();
        if text.is_empty() {
            status.canonical_reason().unwrap_or("Error").to_string()
        } else {
            text
        }
    };
    let body = if daemon {
        serde_json::to_vec(&DaemonErrorBody {
            status_code: status.as_u16(),
            message,
            code: Some(code.unwrap_or_else(|| daemon_code(status)).to_string()),
            timestamp: timestamp(),
            path: path.to_string(),
            method: Some(method.to_string()),
            source: Some(DAEMON_SOURCE.to_string()),
            errors,
        })
    } else {
        serde_json::to_vec(&ApiErrorBody {
            path: path.to_string(),
            timestamp: timestamp(),
            status_code: status.as_u16(),
            error: status.canonical_reason().unwrap_or("Error").to_string(),
            message,
        })
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    Response::from_parts(parts, axum::body::Body::from(body.unwrap_or_default()))
}
