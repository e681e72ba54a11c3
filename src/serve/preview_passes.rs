//! What lets a browser into a preview on its own origin (see [`super::preview_origin`]): the
//! one-time codes a redirect carries there, and the cookies they are exchanged for (their
//! values, and finding and taking them out of a request's `Cookie` headers). A code is a
//! random value kept here, in memory; a cookie is signed with a key derived from the secret
//! kept under the state root, so it outlives a restart. Both are bound to one sandbox's port
//! and to the credential the browser first showed: a signed link or the sandbox's preview token
//! (a public sandbox's preview needs neither).
//!
//! A code is good once, for a few seconds: it is in a URL, and a URL outlives its use (history,
//! logs). A cookie is good while its credential is: a signed link's until the link expires or
//! is expired early, a preview token's while the sandbox keeps that token (and at most
//! [`TOKEN_PASS_MILLIS`]). Codes and cookies are credentials: never logged.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::{HeaderMap, HeaderValue, header};

use super::file_signing::hmac;
use super::middleware::constant_time_equal;
use super::state::{AppState, Millis, now};

/// The cookie that admits a browser on a preview's own origin.
pub(crate) const COOKIE: &str = "ralph-preview-auth";

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

/// What a signed cookie holds: whether a link (or the preview token) opened it, until when,
/// and the keyed digest of that credential.
struct Signed<'a> {
    link: bool,
    expires_at: Millis,
    credential: &'a str,
}

/// Why a code was not taken.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Unknown, already used, or expired.
    Unknown,
    /// Made for another sandbox or port: it is used up all the same.
    Elsewhere,
}

/// The codes given out, and the key cookies are signed with. A cookie is its pass, signed:
/// nothing of it is kept here, so a restarted `serve` (the key derives from the secret kept
/// under the state root) still admits a browser it let in before.
pub(crate) struct Passes {
    /// Each code's pass and when the code was made. A std mutex, never held across `.await`.
    codes: Mutex<HashMap<String, (Pass, Millis)>>,
    key: Vec<u8>,
}

impl Passes {
    /// Passes whose cookies are signed with `key`.
    pub(crate) fn new(key: Vec<u8>) -> Passes {
        Passes {
            codes: Mutex::default(),
            key,
        }
    }

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

    /// The cookie value of `pass`: `{kind}.{port}.{expiry}.{credential}.{sandbox}~{signature}`,
    /// where the credential is a keyed digest of the token (never the token itself).
    pub(crate) fn cookie(&self, pass: &Pass) -> String {
        let (kind, token) = match &pass.credential {
            Credential::Token(token) => ('t', token),
            Credential::Signed(token) => ('s', token),
        };
        let payload = format!(
            "{kind}.{}.{}.{}.{}",
            pass.port,
            pass.expires_at,
            self.digest(token),
            pass.sandbox
        );
        let signature = hex::encode(hmac(&self.key, payload.as_bytes()));
        format!("{payload}~{signature}")
    }

    /// The pass of cookie `value`, if this server signed it, it opens (`sandbox`, `port`), has
    /// not expired, and the credential it was given for still opens that preview: the sandbox
    /// still has that token, or that signed link is live.
    pub(crate) fn admitted(
        &self,
        state: &AppState,
        value: &str,
        sandbox: &str,
        port: u16,
    ) -> Option<Pass> {
        let signed = self.verify(value, sandbox, port)?;
        let ours = |token: &str| {
            constant_time_equal(self.digest(token).as_bytes(), signed.credential.as_bytes())
        };
        let credential = if signed.link {
            let now = now();
            state.store.read(|records| {
                records
                    .signed_previews
                    .iter()
                    .find(|link| {
                        link.sandbox_id == sandbox
                            && link.port == port
                            && link.expires_at > now
                            && ours(&link.token)
                    })
                    .map(|link| Credential::Signed(link.token.clone()))
            })?
        } else {
            let token = state.store.sandbox(sandbox).preview_token?;
            ours(&token).then_some(Credential::Token(token))?
        };
        Some(Pass {
            sandbox: sandbox.to_string(),
            port,
            credential,
            expires_at: signed.expires_at,
        })
    }

    /// What cookie `value` says, if this server signed it for (`sandbox`, `port`) and it has not
    /// expired.
    fn verify<'a>(&self, value: &'a str, sandbox: &str, port: u16) -> Option<Signed<'a>> {
        let (payload, signature) = value.rsplit_once('~')?;
        let expected = hex::encode(hmac(&self.key, payload.as_bytes()));
        if !constant_time_equal(expected.as_bytes(), signature.as_bytes()) {
            return None;
        }
        let mut fields = payload.splitn(5, '.');
        let link = match fields.next()? {
            "s" => true,
            "t" => false,
            _ => return None,
        };
        let signed_port = fields.next()?.parse::<u16>().ok()?;
        let expires_at = fields.next()?.parse::<Millis>().ok()?;
        let credential = fields.next()?;
        let signed_sandbox = fields.next()?;
        (signed_sandbox == sandbox && signed_port == port && expires_at > now()).then_some(Signed {
            link,
            expires_at,
            credential,
        })
    }

    /// A keyed digest of a credential's token: what a cookie holds of it.
    fn digest(&self, token: &str) -> String {
        let digest = hmac(&self.key, format!("credential:{token}").as_bytes());
        hex::encode(&digest[..16])
    }
}

/// The `name=value` pairs of a request's `Cookie` headers. Read as bytes, not text: browsers
/// send an app's cookies with bytes beyond ASCII as they were set, in the one header that also
/// holds this server's.
fn cookie_pairs(headers: &HeaderMap) -> Vec<&[u8]> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .flat_map(|value| value.as_bytes().split(|&byte| byte == b';'))
        .map(<[u8]>::trim_ascii)
        .filter(|pair| !pair.is_empty())
        .collect()
}

/// Whether a cookie pair is this server's.
fn ours(pair: &[u8]) -> bool {
    pair.split(|&byte| byte == b'=').next() == Some(COOKIE.as_bytes())
}

/// The values of this server's cookie in a request.
pub(crate) fn cookies(headers: &HeaderMap) -> Vec<String> {
    cookie_pairs(headers)
        .into_iter()
        .filter_map(|pair| pair.strip_prefix(COOKIE.as_bytes())?.strip_prefix(b"="))
        .filter_map(|value| std::str::from_utf8(value).ok())
        .map(str::to_string)
        .collect()
}

/// Removes this server's cookie from a request's `Cookie` headers, keeping the app's.
pub(crate) fn strip_cookie(headers: &mut HeaderMap) {
    let kept: Vec<&[u8]> = cookie_pairs(headers)
        .into_iter()
        .filter(|pair| !ours(pair))
        .collect();
    let value = HeaderValue::from_bytes(&kept.join(&b"; "[..]));
    headers.remove(header::COOKIE);
    if let Ok(value) = value
        && !value.is_empty()
    {
        headers.insert(header::COOKIE, value);
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
    fn the_servers_cookie_is_found_and_taken_out_the_apps_stay() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            "sid=1; ralph-preview-auth=abc".parse().unwrap(),
        );
        headers.append(header::COOKIE, "theme=dark".parse().unwrap());
        assert_eq!(cookies(&headers), ["abc"]);
        strip_cookie(&mut headers);
        assert_eq!(headers.get_all(header::COOKIE).iter().count(), 1);
        assert_eq!(headers[header::COOKIE], "sid=1; theme=dark");
        // An app's cookie with bytes beyond ASCII, in the same header: both still found.
        let mut wide = HeaderMap::new();
        let value = HeaderValue::from_bytes("name=café; ralph-preview-auth=abc".as_bytes());
        wide.insert(header::COOKIE, value.unwrap());
        assert_eq!(cookies(&wide), ["abc"]);
        strip_cookie(&mut wide);
        assert_eq!(wide[header::COOKIE].as_bytes(), "name=café".as_bytes());
        let mut only = HeaderMap::new();
        only.insert(header::COOKIE, "ralph-preview-auth=abc".parse().unwrap());
        strip_cookie(&mut only);
        assert!(only.get(header::COOKIE).is_none());
    }

    #[test]
    fn a_code_is_good_once_and_only_for_its_own_preview() {
        let passes = Passes::new(b"key".to_vec());
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
    fn a_cookie_opens_only_its_own_preview_until_it_expires_and_only_as_signed() {
        let passes = Passes::new(b"key".to_vec());
        let value = passes.cookie(&pass("a", 3000));
        assert!(
            !value.contains("link"),
            "the token itself is in the cookie: {value}"
        );
        let signed = passes.verify(&value, "a", 3000).expect("its own cookie");
        assert!(signed.link);
        assert_eq!(signed.credential, passes.digest("link"));
        assert!(passes.verify(&value, "b", 3000).is_none());
        assert!(passes.verify(&value, "a", 3001).is_none());
        assert!(passes.verify("other", "a", 3000).is_none());
        // Restarted with the same key: still good; another key's cookie is not.
        assert!(
            Passes::new(b"key".to_vec())
                .verify(&value, "a", 3000)
                .is_some()
        );
        assert!(
            Passes::new(b"other".to_vec())
                .verify(&value, "a", 3000)
                .is_none()
        );
        let (payload, signature) = value.rsplit_once('~').unwrap();
        let moved = format!("{}b~{signature}", payload.strip_suffix('a').unwrap());
        assert!(
            passes.verify(&moved, "b", 3000).is_none(),
            "a cookie moved to another sandbox"
        );
        let mut expired = pass("a", 3000);
        expired.expires_at = now() - 1;
        assert!(passes.verify(&passes.cookie(&expired), "a", 3000).is_none());
    }
}
