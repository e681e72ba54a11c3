//! The preview proxy's connections to a sandbox's ports that no process of it has accepted yet,
//! counted per sandbox and capped. Each one holds a task, a socket and a place in the sandbox's
//! listener queue for as long as the proxy waits for the accept (30 s at most): without a cap,
//! a burst of requests to a server that never accepts would hold that many of each, for all of
//! that time. It only counts; the proxy decides what a request over the cap is answered.

use std::collections::HashMap;
use std::sync::Mutex;

/// How many connections of the proxy may wait at once for one sandbox's processes to accept
/// them: more than a browser opens to one host (6) many times over, so a page's requests, or
/// several pages', never meet it while the server accepts at all.
pub(crate) const MOST_WAITING: usize = 64;

/// The waiting connections of every sandbox with any.
#[derive(Debug, Default)]
pub(crate) struct AcceptWaits {
    /// Sandbox id to its count; an entry goes at zero. The lock is never held across an await.
    waiting: Mutex<HashMap<String, usize>>,
}

/// One connection's place among its sandbox's [`AcceptWaits`], given back when dropped.
#[derive(Debug)]
pub(crate) struct Waiting<'a> {
    waits: &'a AcceptWaits,
    sandbox: String,
}

impl AcceptWaits {
    /// A place for one more connection to `sandbox`, or `None` when [`MOST_WAITING`] are
    /// waiting already.
    pub(crate) fn enter(&self, sandbox: &str) -> Option<Waiting<'_>> {
        let mut waiting = self.lock();
        let count = waiting.entry(sandbox.to_string()).or_default();
        if *count >= MOST_WAITING {
            return None;
        }
        *count += 1;
        Some(Waiting {
            waits: self,
            sandbox: sandbox.to_string(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        self.waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut waiting = self.waits.lock();
        if let Some(count) = waiting.get_mut(&self.sandbox) {
            *count -= 1;
            if *count == 0 {
                waiting.remove(&self.sandbox);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sandbox_has_at_most_its_cap_of_waits_and_gets_places_back() {
        let waits = AcceptWaits::default();
        let mut held: Vec<_> = (0..MOST_WAITING)
            .map(|_| waits.enter("one").expect("a place under the cap"))
            .collect();
        assert!(waits.enter("one").is_none());
        // Another sandbox's waits are its own.
        let other = waits.enter("two").expect("another sandbox's place");
        held.pop();
        held.push(waits.enter("one").expect("the place given back"));
        assert!(waits.enter("one").is_none());
        drop((held, other));
        assert!(waits.lock().is_empty());
    }
}
