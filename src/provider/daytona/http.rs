//! The HTTP client of the `daytona` provider: headers, URLs, retries and back-off.
//!
//! Every request to the control plane and to the toolbox goes through [`Http::send`], which
//! repeats what may be repeated (a 429 always, within a budget; a 5xx, a transport failure or a
//! request that took longer than its timeout only for calls marked [`Repeat::Safe`]) and turns
//! every failure into a [`ProviderError`] through
//! [`status::error_from_status`]. The credential lives only in a sensitive header value; no
//! error carries a URL (reqwest errors are stripped of theirs), so a token in a query string
//! cannot leak through a message. Deciding what a non-idempotent call does after a failure
//! (create adopts instead of repeating) is the caller's business, not this module's.

use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Client, RequestBuilder, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::settings::{DaytonaSettings, RetryPolicy};
use super::status::{self, Subject};
use crate::provider::{ProviderError, Result};

/// Whether a request may be sent again after a 5xx, a transport failure or a timeout (the server
/// may have acted on it). A 429 is always repeated: the server did not act.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Repeat {
    Safe,
    Once,
}

/// A configured client for one API.
#[derive(Debug)]
pub(crate) struct Http {
    client: Client,
    api_url: String,
    retry: RetryPolicy,
    request_timeout: Duration,
    transition_timeout: Duration,
    credential_variable: &'static str,
}

impl Http {
    pub(crate) fn new(settings: &DaytonaSettings) -> Result<Self> {
        let client = Client::builder()
            .default_headers(headers(settings)?)
            .user_agent(concat!("ralph-town/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(15))
            .build()
            .map_err(|error| ProviderError::transport(describe(error)))?;
        Ok(Http {
            client,
            api_url: settings.api_url.clone(),
            retry: settings.retry.clone(),
            request_timeout: settings.request_timeout,
            transition_timeout: settings.transition_timeout,
            credential_variable: settings.credential.variable(),
        })
    }

    /// The client itself, for requests outside the retry loop (a WebSocket upgrade).
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// The timeout of an ordinary request (see [`DaytonaSettings::request_timeout`]).
    pub(crate) fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// The timeout of a create, start or stop (see [`DaytonaSettings::transition_timeout`]).
    pub(crate) fn transition_timeout(&self) -> Duration {
        self.transition_timeout
    }

    /// A control-plane URL: the API base plus percent-encoded path segments.
    pub(crate) fn api(&self, segments: &[&str]) -> Result<Url> {
        join(&self.api_url, segments)
    }

    pub(crate) fn subject<'a>(&self, what: &'a str) -> Subject<'a> {
        Subject {
            what,
            credential_variable: self.credential_variable,
        }
    }

    /// Sends the request `build` makes (once per attempt) and returns the successful answer's
    /// body, read in full inside the retry loop so that a cut-off body is retried too.
    pub(crate) async fn send(
        &self,
        what: &str,
        repeat: Repeat,
        build: impl Fn(&Client) -> RequestBuilder,
    ) -> Result<Reply> {
        self.attempts(what, repeat, build).await.0
    }

    /// [`Http::send`], then the answer's JSON body.
    pub(crate) async fn json<T: DeserializeOwned>(
        &self,
        what: &str,
        repeat: Repeat,
        build: impl Fn(&Client) -> RequestBuilder,
    ) -> Result<T> {
        self.send(what, repeat, build).await?.json()
    }

    /// A `POST` of `body` as JSON within the ordinary request timeout, for a call whose answer
    /// says nothing beyond its success.
    pub(crate) async fn post(
        &self,
        what: &str,
        repeat: Repeat,
        url: &Url,
        body: &impl Serialize,
    ) -> Result<()> {
        self.send(what, repeat, |client| {
            client
                .post(url.clone())
                .json(body)
                .timeout(self.request_timeout)
        })
        .await
        .map(drop)
    }

    /// A `DELETE`. When an earlier attempt's answer was lost, a later `404` means that attempt
    /// did the work, so it counts as success; a `404` on the first attempt is `NotFound`.
    pub(crate) async fn delete(&self, what: &str, url: &Url) -> Result<()> {
        match self
            .attempts(what, Repeat::Safe, |client| {
                client.delete(url.clone()).timeout(self.request_timeout)
            })
            .await
        {
            (Ok(_), _) | (Err(ProviderError::NotFound { .. }), true) => Ok(()),
            (Err(error), _) => Err(error),
        }
    }

    /// The retry loop; also says whether an attempt before the last one had an unknown outcome.
    async fn attempts(
        &self,
        what: &str,
        repeat: Repeat,
        build: impl Fn(&Client) -> RequestBuilder,
    ) -> (Result<Reply>, bool) {
        let started = Instant::now();
        let mut attempt = 0u32;
        let mut rate_limited = 0u32;
        let mut earlier_unknown = false;
        loop {
            attempt += 1;
            let error = match self.attempt(what, &build).await {
                Ok(reply) => return (Ok(reply), earlier_unknown),
                Err(error) => error,
            };
            let wait = match &error {
                ProviderError::RateLimited { retry_after } => {
                    rate_limited += 1;
                    let wait = retry_after
                        .map(|wait| wait + jitter(wait / 10))
                        .unwrap_or_else(|| self.backoff(rate_limited));
                    let within_budget = started.elapsed() + wait <= self.retry.rate_limited_budget;
                    (rate_limited < self.retry.rate_limited_attempts && within_budget)
                        .then_some(wait)
                }
                // A timed-out request of a safe call is abandoned and sent again: a stalled
                // request must not hold the run for the whole timeout and then fail it.
                error if may_repeat(error) && repeat == Repeat::Safe => {
                    (attempt < self.retry.attempts).then(|| self.backoff(attempt))
                }
                _ => None,
            };
            match wait {
                Some(wait) => {
                    earlier_unknown |= outcome_unknown(&error);
                    tokio::time::sleep(wait).await;
                }
                None => return (Err(error), earlier_unknown),
            }
        }
    }

    async fn attempt(
        &self,
        what: &str,
        build: &impl Fn(&Client) -> RequestBuilder,
    ) -> Result<Reply> {
        let response = build(&self.client).send().await.map_err(transport_error)?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(transport_error)?;
        if status.is_success() {
            return Ok(Reply {
                status: status.as_u16(),
                body: body.to_vec(),
            });
        }
        Err(status::error_from_status(
            status,
            &headers,
            &body,
            self.subject(what),
        ))
    }

    /// Exponential back-off with jitter: half the step fixed, half random.
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        let step = self
            .retry
            .base_delay
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
            .min(self.retry.max_delay);
        step / 2 + jitter(step / 2)
    }
}

/// A successful answer, read in full.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    /// The body as JSON; a body that is not the expected shape is a non-retryable API error.
    pub(crate) fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|error| ProviderError::Api {
            status: Some(self.status),
            message: format!(
                "the Daytona API sent an answer this client does not understand: {error}"
            ),
            retryable: false,
        })
    }
}

/// Whether a failed request's outcome is unknown: the server may have acted on it (a transport
/// failure, a timeout, a 5xx). A non-idempotent call must look before it repeats.
pub(crate) fn outcome_unknown(error: &ProviderError) -> bool {
    match error {
        ProviderError::Transport { .. } | ProviderError::Timeout { .. } => true,
        ProviderError::Api { retryable, .. } => *retryable,
        _ => false,
    }
}

/// Whether a safe call may be sent again after `error`: whatever may succeed later, and a
/// request that timed out (the API stalled, or the network did).
fn may_repeat(error: &ProviderError) -> bool {
    error.is_retryable() || matches!(error, ProviderError::Timeout { .. })
}

/// `base` plus path segments, each percent-encoded (ids and names go in paths).
pub(crate) fn join(base: &str, segments: &[&str]) -> Result<Url> {
    let mut url = Url::parse(base).map_err(|error| ProviderError::Api {
        status: None,
        message: format!("`{base}` is not a URL: {error}"),
        retryable: false,
    })?;
    url.path_segments_mut()
        .map_err(|()| ProviderError::Api {
            status: None,
            message: format!("`{base}` cannot be a base URL"),
            retryable: false,
        })?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

/// The headers of every request, API and toolbox alike (Daytona's SDKs send one header map).
fn headers(settings: &DaytonaSettings) -> Result<HeaderMap> {
    let credential = &settings.credential;
    let mut authorization =
        HeaderValue::try_from(format!("Bearer {}", credential.bearer().expose())).map_err(
            |_| ProviderError::Unauthorized {
                message: format!(
                    "`{}` contains characters that cannot be sent in an HTTP header",
                    credential.variable()
                ),
            },
        )?;
    authorization.set_sensitive(true);
    let mut headers = HeaderMap::new();
    headers.insert(reqwest::header::AUTHORIZATION, authorization);
    headers.insert(
        HeaderName::from_static("x-daytona-source"),
        HeaderValue::from_static("ralph-town"),
    );
    headers.insert(
        HeaderName::from_static("x-daytona-sdk-version"),
        HeaderValue::from_static(env!("CARGO_PKG_VERSION")),
    );
    if let Some(organization) = credential.organization_id() {
        let value = HeaderValue::try_from(organization).map_err(|_| ProviderError::Unauthorized {
            message: "`DAYTONA_ORGANIZATION_ID` contains characters that cannot be sent in an HTTP header"
                .to_string(),
        })?;
        headers.insert(HeaderName::from_static("x-daytona-organization-id"), value);
    }
    Ok(headers)
}

/// A reqwest failure as a provider error, without the URL (a query may hold a token).
pub(crate) fn transport_error(error: reqwest::Error) -> ProviderError {
    if error.is_timeout() {
        return ProviderError::Timeout {
            message: format!(
                "the Daytona API did not answer in time ({})",
                describe(error)
            ),
        };
    }
    ProviderError::transport(format!("cannot reach the Daytona API: {}", describe(error)))
}

/// The error and its causes on one line, with the server's origin but not the full URL.
fn describe(error: reqwest::Error) -> String {
    // The origin tells the user which server failed and holds no credential.
    let origin = error.url().map(|url| url.origin().ascii_serialization());
    let error = error.without_url();
    let mut parts: Vec<String> = origin.into_iter().collect();
    let mut source: Option<&dyn std::error::Error> = Some(&error);
    while let Some(cause) = source {
        let part = cause.to_string();
        if !parts.contains(&part) {
            parts.push(part);
        }
        source = cause.source();
    }
    parts.join(": ")
}

/// A random duration in `[0, max]`.
fn jitter(max: Duration) -> Duration {
    max.mul_f64(fastrand::f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_answers_are_transport_timeouts_and_server_errors() {
        assert!(outcome_unknown(&ProviderError::transport("reset")));
        assert!(outcome_unknown(&ProviderError::Api {
            status: Some(502),
            message: String::new(),
            retryable: true
        }));
        assert!(!outcome_unknown(&ProviderError::Api {
            status: Some(400),
            message: String::new(),
            retryable: false
        }));
        assert!(!outcome_unknown(&ProviderError::RateLimited {
            retry_after: None
        }));
        assert!(!outcome_unknown(&ProviderError::QuotaExceeded {
            message: String::new()
        }));
    }
}
