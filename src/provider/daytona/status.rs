//! The one place where a Daytona HTTP answer becomes a [`ProviderError`].
//!
//! Both error bodies (the API's `{statusCode, error, message}` and the toolbox daemon's
//! `{statusCode, message, code}`) carry a human `message`: a string, or (class-validator) an
//! array of strings. That message is what the user sees. Nothing here retries or sleeps; the
//! client decides what to repeat from the variant and `is_retryable`.

use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use crate::provider::ProviderError;

/// What a failed call was about, to word its error.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Subject<'a> {
    /// What was asked for, e.g. "sandbox `alice-1f3a`", for `NotFound`.
    pub what: &'a str,
    /// The variable the credential came from, for `Unauthorized`.
    pub credential_variable: &'a str,
}

/// Maps a non-success answer to the error the user sees.
pub(crate) fn error_from_status(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    subject: Subject<'_>,
) -> ProviderError {
    let message = message_from_body(body).unwrap_or_else(|| {
        status
            .canonical_reason()
            .unwrap_or("no message")
            .to_string()
    });
    let code = status.as_u16();
    match code {
        400 | 403 if is_quota_message(&message) => ProviderError::QuotaExceeded { message },
        401 => ProviderError::Unauthorized {
            message: format!(
                "the Daytona API rejected the credentials in `{}` ({message})",
                subject.credential_variable
            ),
        },
        403 => ProviderError::Unauthorized {
            message: format!(
                "the credentials in `{}` are not allowed to do this ({message})",
                subject.credential_variable
            ),
        },
        404 => ProviderError::NotFound {
            what: subject.what.to_string(),
        },
        408 => ProviderError::Timeout { message },
        409 => ProviderError::Conflict { message },
        429 => ProviderError::RateLimited {
            retry_after: retry_after(headers, SystemTime::now()),
        },
        500..=599 => ProviderError::Api {
            status: Some(code),
            message: format!("the Daytona API failed ({code}): {message}"),
            retryable: true,
        },
        _ => ProviderError::Api {
            status: Some(code),
            message,
            retryable: false,
        },
    }
}

/// The `message` of a Daytona error body; a short raw body when it is not one.
pub(crate) fn message_from_body(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
        return Some(shorten(text));
    };
    let message = match value.get("message") {
        Some(serde_json::Value::String(message)) => message.clone(),
        Some(serde_json::Value::Array(parts)) => parts
            .iter()
            .map(|part| match part {
                serde_json::Value::String(part) => part.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(", "),
        _ => match value.get("error") {
            Some(serde_json::Value::String(error)) => error.clone(),
            _ => shorten(text),
        },
    };
    Some(message.trim().to_string()).filter(|message| !message.is_empty())
}

/// Whether a 400/403 message is one of Daytona's organisation quota errors: `Total CPU limit
/// exceeded` (since late 2025), `Total CPU quota exceeded` (before), `Snapshot quota exceeded`.
pub(crate) fn is_quota_message(message: &str) -> bool {
    let message = message.to_lowercase();
    message.contains("quota exceeded")
        || ["cpu", "memory", "disk", "gpu"]
            .iter()
            .any(|resource| message.contains(&format!("total {resource} limit exceeded")))
}

/// The longest wait any `Retry-After` or `Retry-After-<throttler>` header asks for.
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    headers
        .iter()
        .filter(|(name, _)| {
            let name = name.as_str();
            name == "retry-after" || name.starts_with("retry-after-")
        })
        .filter_map(|(_, value)| parse_retry_after(value.to_str().ok()?.trim(), now))
        .max()
}

/// `Retry-After` is seconds (Daytona) or an HTTP date (RFC 9110).
fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0)
            .then(|| Duration::from_secs_f64(seconds.min(86_400.0)));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or_default())
}

/// A raw body cut to one short line, for answers that are not Daytona JSON (a proxy's page).
fn shorten(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    match line.char_indices().nth(200) {
        Some((index, _)) => format!("{}...", &line[..index]),
        None => line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::{HeaderName, HeaderValue};

    use super::*;

    const SUBJECT: Subject<'static> = Subject {
        what: "sandbox `alice`",
        credential_variable: "DAYTONA_API_KEY",
    };

    fn map(code: u16, body: &str) -> ProviderError {
        error_from_status(
            StatusCode::from_u16(code).unwrap(),
            &HeaderMap::new(),
            body.as_bytes(),
            SUBJECT,
        )
    }

    fn api_body(code: u16, message: &str) -> String {
        serde_json::json!({"path": "/api/sandbox", "timestamp": "2026-01-01T00:00:00Z",
            "statusCode": code, "error": "Bad Request", "message": message})
        .to_string()
    }

    #[test]
    fn statuses_map_to_semantic_errors() {
        assert!(matches!(map(401, "{}"), ProviderError::Unauthorized { .. }));
        assert!(matches!(
            map(403, &api_body(403, "Organization is suspended")),
            ProviderError::Unauthorized { .. }
        ));
        assert!(
            matches!(map(404, &api_body(404, "gone")), ProviderError::NotFound { what } if what == "sandbox `alice`")
        );
        assert!(
            matches!(map(408, r#"{"code":"REQUEST_TIMEOUT","message":"command execution timeout"}"#),
            ProviderError::Timeout { message } if message == "command execution timeout")
        );
        assert!(
            matches!(map(409, &api_body(409, "Sandbox state change in progress")),
            ProviderError::Conflict { message } if message == "Sandbox state change in progress")
        );
        assert!(matches!(
            map(429, "{}"),
            ProviderError::RateLimited { retry_after: None }
        ));
        let server = map(503, "");
        assert!(server.is_retryable(), "{server:?}");
        let invalid = map(400, &api_body(400, "Sandbox is not in valid state"));
        assert!(!invalid.is_retryable());
        assert_eq!(invalid.to_string(), "Sandbox is not in valid state");
    }

    #[test]
    fn unauthorized_names_the_variable() {
        let error = map(401, &api_body(401, "Invalid API key"));
        let text = error.to_string();
        assert!(
            text.contains("the Daytona API rejected the credentials in `DAYTONA_API_KEY`"),
            "{text}"
        );
        assert!(text.contains("Invalid API key"), "{text}");
    }

    #[test]
    fn quota_errors_keep_the_server_message() {
        for (code, message) in [
            (
                400,
                "Total CPU limit exceeded. Maximum allowed: 10.\nTo increase concurrency limits, upgrade",
            ),
            (403, "Total memory quota exceeded. Maximum allowed: 20"),
            (400, "Total GPU limit exceeded. Maximum allowed: 0."),
            (400, "Snapshot quota exceeded. Maximum allowed: 30"),
        ] {
            match map(code, &api_body(code, message)) {
                ProviderError::QuotaExceeded { message: got } => assert_eq!(got, message),
                other => panic!("{code} {message}: {other:?}"),
            }
        }
        assert!(!is_quota_message(
            "CPU request 8 exceeds maximum allowed per sandbox (4)"
        ));
    }

    #[test]
    fn message_arrays_are_joined() {
        let body = r#"{"statusCode":400,"message":["cpu must not be less than 0","disk must be a number"]}"#;
        assert_eq!(
            message_from_body(body.as_bytes()).as_deref(),
            Some("cpu must not be less than 0, disk must be a number")
        );
        assert_eq!(
            message_from_body(b"<html>bad gateway</html>").as_deref(),
            Some("<html>bad gateway</html>")
        );
        assert_eq!(message_from_body(b"  "), None);
    }

    #[test]
    fn retry_after_takes_the_longest_throttler() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("retry-after-authenticated", "2"),
            ("retry-after-sandbox-create", "12"),
            ("x-ratelimit-reset-sandbox-create", "99"),
            ("retry-after", "0.5"),
        ] {
            headers.insert(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        assert_eq!(
            retry_after(&headers, SystemTime::now()),
            Some(Duration::from_secs(12))
        );

        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        let mut dated = HeaderMap::new();
        dated.insert("retry-after", HeaderValue::from_str(&later).unwrap());
        assert_eq!(retry_after(&dated, now), Some(Duration::from_secs(30)));
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }
}
