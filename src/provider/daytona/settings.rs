//! Resolved settings of the `daytona` provider: credentials, API URL, target, timeouts, retries.
//!
//! Sources, in order of precedence: the process environment (`DAYTONA_*`), then the team file's
//! non-secret `api_url`/`target`, then defaults. The environment wins over the file so that CI
//! can point a checked-in team at another server without editing it. A credential is read from
//! the environment only, never from a file. The credential is held as a [`Secret`] and never
//! printed: `Debug` shows `<secret>`, and errors name the variable, never its value. This module
//! performs no I/O.

use std::fmt;
use std::time::Duration;

use crate::provider::ProviderError;
use crate::secret::Secret;
use crate::vocabulary::ProviderSettings;

/// Daytona Cloud's API, used when neither the environment nor the team file names one.
pub const DEFAULT_API_URL: &str = "https://app.daytona.io/api";

/// How the client authenticates. Both forms travel as `Authorization: Bearer`.
#[derive(Clone)]
pub enum Credential {
    /// `DAYTONA_API_KEY` (`dtn_...`); the key implies its organisation.
    ApiKey(Secret),
    /// `DAYTONA_JWT_TOKEN`, with its organisation sent as `X-Daytona-Organization-ID`.
    Jwt {
        token: Secret,
        organization_id: String,
    },
}

impl Credential {
    /// The environment variable the credential came from, for messages.
    pub fn variable(&self) -> &'static str {
        match self {
            Credential::ApiKey(_) => "DAYTONA_API_KEY",
            Credential::Jwt { .. } => "DAYTONA_JWT_TOKEN",
        }
    }

    pub(crate) fn bearer(&self) -> &Secret {
        match self {
            Credential::ApiKey(key) => key,
            Credential::Jwt { token, .. } => token,
        }
    }

    pub(crate) fn organization_id(&self) -> Option<&str> {
        match self {
            Credential::ApiKey(_) => None,
            Credential::Jwt {
                organization_id, ..
            } => Some(organization_id),
        }
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::ApiKey(_) => f.write_str("ApiKey(<secret>)"),
            Credential::Jwt {
                organization_id, ..
            } => f
                .debug_struct("Jwt")
                .field("token", &"<secret>")
                .field("organization_id", organization_id)
                .finish(),
        }
    }
}

/// When to try a failed request again, and how long to wait in between.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all (the first included) for a 5xx or a transport error of an idempotent call.
    pub attempts: u32,
    /// First back-off; doubled per attempt, with full jitter.
    pub base_delay: Duration,
    /// Longest single back-off.
    pub max_delay: Duration,
    /// Attempts in all when the server answers 429.
    pub rate_limited_attempts: u32,
    /// Longest total time spent waiting on 429s for one call; a longer `Retry-After` fails
    /// at once with `RateLimited`.
    pub rate_limited_budget: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            rate_limited_attempts: 10,
            rate_limited_budget: Duration::from_secs(120),
        }
    }
}

/// Everything the `daytona` provider needs to reach an API.
#[derive(Debug, Clone)]
pub struct DaytonaSettings {
    pub credential: Credential,
    /// Base URL of the control plane, without a trailing slash (e.g. `https://app.daytona.io/api`).
    pub api_url: String,
    /// Region for new sandboxes; `None` takes the organisation's default.
    pub target: Option<String>,
    /// How long `create` and `start` wait for the sandbox to reach `started`, counted from the
    /// API's answer to the create or start request.
    pub start_timeout: Duration,
    /// Longest one request may take unless it says otherwise (reads, lists, label and timer
    /// writes, deletes, toolbox calls): well under a minute, so that a stalled request of a
    /// call that is safe to repeat is abandoned and sent again instead of failing the run.
    pub request_timeout: Duration,
    /// Longest a create, start or stop request may take: Daytona answers them once its runner
    /// has acted, after up to 30 s. Longer than any plausible queueing, so that a create is
    /// answered rather than abandoned (an abandoned create may still land later).
    pub transition_timeout: Duration,
    /// How long `create_snapshot` waits for the snapshot to become `active`.
    pub snapshot_timeout: Duration,
    pub retry: RetryPolicy,
    /// Things the user should hear about (a deprecated variable), for the caller to print.
    pub warnings: Vec<String>,
}

impl DaytonaSettings {
    /// Resolves settings from the team file's provider settings and an environment lookup
    /// (`|name| std::env::var(name).ok()` in production). Empty variables count as unset.
    pub fn from_env(
        file: &ProviderSettings,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ProviderError> {
        let var = |name: &str| env(name).filter(|value| !value.trim().is_empty());
        let mut warnings = Vec::new();

        let credential = match (var("DAYTONA_JWT_TOKEN"), var("DAYTONA_API_KEY")) {
            // As in Daytona's SDKs, a JWT takes precedence over an API key.
            (Some(token), _) => match var("DAYTONA_ORGANIZATION_ID") {
                Some(organization_id) => Credential::Jwt {
                    token: Secret::new(token),
                    organization_id: organization_id.trim().to_string(),
                },
                None => {
                    return Err(ProviderError::Unauthorized {
                        message:
                            "`DAYTONA_JWT_TOKEN` is set but `DAYTONA_ORGANIZATION_ID` is not; \
                                  set it to the organisation's id, or use `DAYTONA_API_KEY` instead"
                                .to_string(),
                    });
                }
            },
            (None, Some(key)) => Credential::ApiKey(Secret::new(key.trim().to_string())),
            (None, None) => {
                return Err(ProviderError::Unauthorized {
                    message: "no Daytona credentials: set `DAYTONA_API_KEY` to an API key from \
                              https://app.daytona.io/dashboard/keys"
                        .to_string(),
                });
            }
        };

        let api_url = match (var("DAYTONA_API_URL"), var("DAYTONA_SERVER_URL")) {
            (Some(url), _) => url,
            (None, Some(url)) => {
                warnings.push(
                    "`DAYTONA_SERVER_URL` is deprecated; set `DAYTONA_API_URL` instead".to_string(),
                );
                url
            }
            (None, None) => file
                .api_url
                .clone()
                .unwrap_or_else(|| DEFAULT_API_URL.to_string()),
        };
        let api_url = normalize_api_url(&api_url)?;

        let target = var("DAYTONA_TARGET")
            .or_else(|| file.target.clone())
            .map(|target| target.trim().to_string())
            .filter(|target| !target.is_empty());

        Ok(DaytonaSettings {
            credential,
            api_url,
            target,
            start_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(15),
            transition_timeout: Duration::from_secs(120),
            snapshot_timeout: Duration::from_secs(30 * 60),
            retry: RetryPolicy::default(),
            warnings,
        })
    }
}

/// Checks that the API URL is an absolute http(s) URL and drops a trailing slash.
fn normalize_api_url(text: &str) -> Result<String, ProviderError> {
    let text = text.trim();
    let invalid = |why: &str| ProviderError::Api {
        status: None,
        message: format!("the Daytona API URL `{text}` is not usable: {why}"),
        retryable: false,
    };
    let url = reqwest::Url::parse(text).map_err(|error| invalid(&error.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("it must start with `https://` (or `http://`)"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("it must not have a query or a fragment"));
    }
    Ok(text.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn resolve(
        file: &ProviderSettings,
        vars: &[(&str, &str)],
    ) -> Result<DaytonaSettings, ProviderError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        DaytonaSettings::from_env(file, &|name| vars.get(name).cloned())
    }

    const KEY: &str = "dtn_sentinel_key_value_0123456789";

    #[test]
    fn missing_key_names_the_variable() {
        let error = resolve(&ProviderSettings::default(), &[]).unwrap_err();
        assert!(matches!(error, ProviderError::Unauthorized { .. }));
        assert!(error.to_string().contains("`DAYTONA_API_KEY`"), "{error}");
    }

    #[test]
    fn defaults_to_daytona_cloud() {
        let settings = resolve(&ProviderSettings::default(), &[("DAYTONA_API_KEY", KEY)]).unwrap();
        assert_eq!(settings.api_url, DEFAULT_API_URL);
        assert_eq!(settings.target, None);
        assert_eq!(settings.credential.variable(), "DAYTONA_API_KEY");
        assert!(settings.warnings.is_empty());
    }

    #[test]
    fn environment_overrides_team_file() {
        let file = ProviderSettings {
            api_url: Some("http://file.example/api/".to_string()),
            target: Some("eu".to_string()),
        };
        let from_file = resolve(&file, &[("DAYTONA_API_KEY", KEY)]).unwrap();
        assert_eq!(from_file.api_url, "http://file.example/api");
        assert_eq!(from_file.target.as_deref(), Some("eu"));

        let from_env = resolve(
            &file,
            &[
                ("DAYTONA_API_KEY", KEY),
                ("DAYTONA_API_URL", "https://env.example/api"),
                ("DAYTONA_TARGET", "us"),
            ],
        )
        .unwrap();
        assert_eq!(from_env.api_url, "https://env.example/api");
        assert_eq!(from_env.target.as_deref(), Some("us"));
    }

    #[test]
    fn server_url_is_a_deprecated_alias() {
        let settings = resolve(
            &ProviderSettings::default(),
            &[
                ("DAYTONA_API_KEY", KEY),
                ("DAYTONA_SERVER_URL", "http://old.example/api"),
            ],
        )
        .unwrap();
        assert_eq!(settings.api_url, "http://old.example/api");
        assert_eq!(settings.warnings.len(), 1);
        assert!(settings.warnings[0].contains("`DAYTONA_API_URL`"));
    }

    #[test]
    fn jwt_needs_an_organization() {
        let error = resolve(
            &ProviderSettings::default(),
            &[("DAYTONA_JWT_TOKEN", KEY), ("DAYTONA_API_KEY", KEY)],
        )
        .unwrap_err();
        assert!(error.to_string().contains("`DAYTONA_ORGANIZATION_ID`"));
        assert!(!error.to_string().contains(KEY));

        let settings = resolve(
            &ProviderSettings::default(),
            &[
                ("DAYTONA_JWT_TOKEN", KEY),
                ("DAYTONA_ORGANIZATION_ID", "org-1"),
            ],
        )
        .unwrap();
        assert_eq!(settings.credential.organization_id(), Some("org-1"));
        assert_eq!(settings.credential.variable(), "DAYTONA_JWT_TOKEN");
    }

    #[test]
    fn debug_never_shows_the_credential() {
        for vars in [
            vec![("DAYTONA_API_KEY", KEY)],
            vec![
                ("DAYTONA_JWT_TOKEN", KEY),
                ("DAYTONA_ORGANIZATION_ID", "org-1"),
            ],
        ] {
            let settings = resolve(&ProviderSettings::default(), &vars).unwrap();
            let debug = format!("{settings:?}");
            assert!(!debug.contains(KEY), "{debug}");
            assert!(debug.contains("<secret>"), "{debug}");
        }
    }

    #[test]
    fn rejects_a_url_that_is_not_http() {
        let error = resolve(
            &ProviderSettings::default(),
            &[
                ("DAYTONA_API_KEY", KEY),
                ("DAYTONA_API_URL", "app.daytona.io/api"),
            ],
        )
        .unwrap_err();
        assert!(
            error.to_string().contains("`app.daytona.io/api`"),
            "{error}"
        );
    }
}
