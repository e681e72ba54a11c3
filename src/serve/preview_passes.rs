//! What lets a browser into a preview on its own origin (see [`super::preview_origin`]): the
//! one-time codes a redirect carries there, and the cookies they are exchanged for. Both are
//! random values kept here, in memory (a restart asks the browser to open its link again), each
//! bound to one sandbox's port and to the credential the browser first showed: a signed link,
//! the sandbox's preview token, or nothing for a public sandbox's preview.
//!
//! A code is good once, for a few seconds: it is in a URL, and a URL outlives its use (history,
//! logs). A cookie is good while its credential is: a signed link's until the link expires or
//! is expired early, a preview token's while the sandbox keeps that token (and at most
//! [`TOKEN_PASS_MILLIS`]). Codes and cookies are credentials: never logged.

use std::collections::HashMap;
use std::sync::Mutex;

use super::state::{AppState, Millis, now};

/// How long a code waits for its redemption: the browser follows the redirect at once.
const CODE_MILLIS: Millis = 30_000;

/// How long a cookie granted with the preview token lasts, as Daytona's proxy's does (an hour,
/// apps/proxy/pkg/proxy/auth.go).
pub(crate) const TOKEN_PASS_MILLIS: Millis = 60 * 60 * 1000;

/// The credential a browser first showed for a preview.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Credential {
    /// The sandbox's preview token (`x-daytona-preview-token`).
    Token(String),
    /// A signed link's token.
    Signed(String),
}

/// One sandbox's port, and what opened it.
#[derive(Clone)]
pub(crate) struct Pass {
    pub(crate) sandbox: String,
    pub(crate) port: u16,
    pub(crate) credential: Credential,
    pub(crate) expires_at: Millis,
}

/// Why a code was not taken.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Unknown, already used, or expired.
    Unknown,
    /// Made for another sandbox or port: it is used up all the same.
    Elsewhere,
}

/// The codes and cookies given out. A std mutex each, never held across `.await`. Keys are
/// random and looked up through a keyed hash, so a lookup's time tells nothing of them.
#[derive(Default)]
pub(crate) struct Passes {
    /// Each code's pass and when the code was made.
    codes: Mutex<HashMap<String, (Pass, Millis)>>,
    cookies: Mutex<HashMap<String, Pass>>,
}

impl Passes {
    /// A new one-time code for `pass` (its own expiry is the cookie's).
    pub(crate) fn code(&self, pass: Pass) -> Result<String, String> {
        let code = random()?;
        let now = now();
        let mut codes = lock(&self.codes);
        codes.retain(|_, (pass, made)| {
            made.saturating_add(CODE_MILLIS) > now && pass.expires_at > now
        });
        codes.insert(code.clone(), (pass, now));
        Ok(code)
    }

    /// Takes `code` for the preview of (`sandbox`, `port`): the pass it was made for. A code is
    /// gone after its first use, whatever the outcome.
    pub(crate) fn redeem(&self, code: &str, sandbox: &str, port: u16) -> Result<Pass, Refusal> {
        let now = now();
        let (pass, made) = lock(&self.codes).remove(code).ok_or(Refusal::Unknown)?;
        if made.saturating_add(CODE_MILLIS) <= now || pass.expires_at <= now {
            return Err(Refusal::Unknown);
        }
        if pass.sandbox != sandbox || pass.port != port {
            return Err(Refusal::Elsewhere);
        }
        Ok(pass)
    }

    /// A new cookie value for `pass`.
    pub(crate) fn cookie(&self, pass: Pass) -> Result<String, String> {
        let value = random()?;
        let now = now();
        let mut cookies = lock(&self.cookies);
        cookies.retain(|_, pass| pass.expires_at > now);
        cookies.insert(value.clone(), pass);
        Ok(value)
    }

    /// The pass of cookie `value`, if it opens (`sandbox`, `port`) and has not expired.
    pub(crate) fn admitted(&self, value: &str, sandbox: &str, port: u16) -> Option<Pass> {
        let now = now();
        let cookies = lock(&self.cookies);
        cookies
            .get(value)
            .filter(|pass| pass.sandbox == sandbox && pass.port == port && pass.expires_at > now)
            .cloned()
    }
}

impl Pass {
    /// Whether the credential behind this pass still opens its preview: the signed link is
    /// live, or the sandbox still has the token.
    pub(crate) fn live(&self, state: &AppState) -> bool {
        match &self.credential {
            Credential::Signed(token) => {
                super::preview::signed_target(state, token)
                    == Some((self.sandbox.clone(), self.port))
            }
            Credential::Token(token) => {
                let record = state.store.sandbox(&self.sandbox);
                record.preview_token.as_deref().is_some_and(|current| {
                    super::middleware::constant_time_equal(current.as_bytes(), token.as_bytes())
                })
            }
        }
    }
}

fn random() -> Result<String, String> {
    super::api_key::random_token(32).map_err(|error| format!("no random source: {error}"))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The maps stay consistent whatever a panicking holder did.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pass(sandbox: &str, port: u16) -> Pass {
        Pass {
            sandbox: sandbox.to_string(),
            port,
            credential: Credential::Signed("link".to_string()),
            expires_at: now() + 60_000,
        }
    }

    #[test]
    fn a_code_is_good_once_and_only_for_its_own_preview() {
        let passes = Passes::default();
        let code = passes.code(pass("a", 3000)).unwrap();
        assert!(passes.redeem(&code, "a", 3000).is_ok());
        assert_eq!(
            passes.redeem(&code, "a", 3000).err(),
            Some(Refusal::Unknown)
        );

        let code = passes.code(pass("a", 3000)).unwrap();
        assert_eq!(
            passes.redeem(&code, "b", 3000).err(),
            Some(Refusal::Elsewhere)
        );
        assert_eq!(
            passes.redeem(&code, "a", 3000).err(),
            Some(Refusal::Unknown)
        );
        let code = passes.code(pass("a", 3000)).unwrap();
        assert_eq!(
            passes.redeem(&code, "a", 3001).err(),
            Some(Refusal::Elsewhere)
        );
    }

    #[test]
    fn a_cookie_opens_only_its_own_preview_until_it_expires() {
        let passes = Passes::default();
        let value = passes.cookie(pass("a", 3000)).unwrap();
        assert!(passes.admitted(&value, "a", 3000).is_some());
        assert!(passes.admitted(&value, "b", 3000).is_none());
        assert!(passes.admitted(&value, "a", 3001).is_none());
        assert!(passes.admitted("other", "a", 3000).is_none());
        let mut expired = pass("a", 3000);
        expired.expires_at = now() - 1;
        let value = passes.cookie(expired).unwrap();
        assert!(passes.admitted(&value, "a", 3000).is_none());
    }
}
