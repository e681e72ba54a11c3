//! What is open with a credential, so that an explicit revocation ends it: SSH connections
//! authenticated with an access token, and WebSockets (the web terminal's too) opened through a
//! signed preview link. Access checks only ever see new connections; this is how an open one
//! learns that its grant was taken back.
//!
//! Only explicit revocations end open connections: `DELETE /ssh-access` (one token or every
//! token of a sandbox) and expiring a signed link early. A token or link that reaches its
//! natural expiry, or an SSH token replaced by a newer one, admits no new connection but
//! leaves open ones alone: a long SSH session or a dev server's hot reload would otherwise break
//! at an arbitrary time, and `ralph-town`'s own client makes a token for every command, which
//! would end the commands still running on the sandbox.
//!
//! NOTES-style: Daytona ends nothing open, at revocation or at expiry. Its API's
//! `revokeSshAccess` and `expireSignedPreviewUrlToken` (apps/api/src/sandbox/services/
//! sandbox.service.ts) only delete the record; its gateway (apps/ssh-gateway/main.go,
//! `handleConnection`) validates the token once, when a connection opens; its proxy
//! (apps/proxy/pkg/proxy/auth.go) checks a signed link per request and then trusts a cookie
//! for an hour. Here an explicit revocation is taken to mean that access must end.
//!
//! Grants hold credentials (tokens): nothing here is logged or shown.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::watch;

/// A credential something was opened with.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) enum Grant {
    /// An SSH access token of a sandbox.
    Ssh { sandbox: String, token: String },
    /// A signed preview link of a sandbox's port.
    SignedPreview {
        sandbox: String,
        port: u16,
        token: String,
    },
}

/// The grants open connections hold. A std mutex, never held across `.await`.
#[derive(Default)]
pub(crate) struct Revocations {
    /// One channel per grant in use, shared by every connection holding it; `true` once
    /// revoked. Entries whose connections are all gone are dropped as new ones arrive.
    open: Mutex<HashMap<Grant, Weak<watch::Sender<bool>>>>,
}

/// What one connection holds while it is open: it learns of the revocation of its grant. Kept
/// in a request's extensions on its way to a protocol switch, hence `Clone`.
#[derive(Clone)]
pub(crate) struct Watch {
    revoked: Arc<watch::Sender<bool>>,
}

impl Revocations {
    /// Watches `grant` for a connection, if `still_live` (the access check, asked again once
    /// the watch is in place) holds: a revocation between a first check and the watch would
    /// otherwise be missed.
    pub(crate) fn hold(&self, grant: Grant, still_live: impl FnOnce() -> bool) -> Option<Watch> {
        let watch = {
            let mut open = self.lock();
            open.retain(|_, revoked| revoked.strong_count() > 0);
            let revoked = match open.get(&grant).and_then(Weak::upgrade) {
                Some(revoked) => revoked,
                None => {
                    let revoked = Arc::new(watch::Sender::new(false));
                    open.insert(grant, Arc::downgrade(&revoked));
                    revoked
                }
            };
            Watch { revoked }
        };
        still_live().then_some(watch)
    }

    /// Revokes every grant `matches` accepts: what holds them ends. The caller has removed the
    /// records first, so that nothing new opens with them.
    pub(crate) fn revoke(&self, matches: impl Fn(&Grant) -> bool) {
        let mut open = self.lock();
        open.retain(|grant, revoked| {
            if !matches(grant) {
                return true;
            }
            if let Some(revoked) = revoked.upgrade() {
                revoked.send_replace(true);
            }
            false
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Grant, Weak<watch::Sender<bool>>>> {
        // The map stays consistent whatever a panicking holder did.
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Watch {
    /// Resolves once the grant is revoked (at once if it already was).
    pub(crate) async fn revoked(&self) {
        let mut receiver = self.revoked.subscribe();
        // The sender lives in `self`: the channel cannot close while this waits.
        let _ = receiver.wait_for(|revoked| *revoked).await;
    }
}

/// Resolves once `watch`'s grant is revoked; never without a watch (a connection opened with
/// no revocable grant: a preview token, a public sandbox).
pub(crate) async fn revoked(watch: Option<&Watch>) {
    match watch {
        Some(watch) => watch.revoked().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ssh(sandbox: &str, token: &str) -> Grant {
        Grant::Ssh {
            sandbox: sandbox.to_string(),
            token: token.to_string(),
        }
    }

    fn is_revoked(watch: &Watch) -> bool {
        *watch.revoked.borrow()
    }

    #[test]
    fn a_revocation_reaches_every_holder_of_its_grant_and_no_other() {
        let revocations = Revocations::default();
        let first = revocations.hold(ssh("a", "one"), || true).unwrap();
        let second = revocations.hold(ssh("a", "one"), || true).unwrap();
        let other = revocations.hold(ssh("a", "two"), || true).unwrap();
        let elsewhere = revocations.hold(ssh("b", "one"), || true).unwrap();
        revocations.revoke(|grant| grant == &ssh("a", "one"));
        assert!(is_revoked(&first) && is_revoked(&second));
        assert!(!is_revoked(&other) && !is_revoked(&elsewhere));
        // A later holder of a revoked grant gets a channel of its own (its access check is
        // what refuses it).
        let later = revocations.hold(ssh("a", "one"), || true).unwrap();
        assert!(!is_revoked(&later));
    }

    #[test]
    fn a_grant_that_is_no_longer_live_is_not_held() {
        let revocations = Revocations::default();
        assert!(revocations.hold(ssh("a", "one"), || false).is_none());
        assert!(
            revocations
                .lock()
                .values()
                .all(|weak| weak.strong_count() == 0)
        );
    }

    #[test]
    fn grants_nobody_holds_are_forgotten() {
        let revocations = Revocations::default();
        drop(revocations.hold(ssh("a", "one"), || true));
        let kept = revocations.hold(ssh("a", "two"), || true).unwrap();
        assert_eq!(revocations.lock().len(), 1);
        drop(kept);
    }

    #[tokio::test]
    async fn waiting_ends_at_the_revocation_even_one_made_before() {
        let revocations = Revocations::default();
        let watch = revocations.hold(ssh("a", "one"), || true).unwrap();
        let waiting = tokio::spawn({
            let watch = watch.clone();
            async move { watch.revoked().await }
        });
        revocations.revoke(|_| true);
        waiting.await.unwrap();
        watch.revoked().await;
    }
}
