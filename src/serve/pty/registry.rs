//! The registry of PTY sessions (one for the toolbox's, one for the web terminals): the live
//! sessions by sandbox and id, the ids still starting and the WebSocket clients being served.
//! It only keeps and counts; [`super::session`] starts and ends the shells. Whether the server
//! stops is the server's one signal, [`Stopping`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use tokio::sync::Notify;

use super::Registry;
use super::session::Terminal;
use crate::serve::error::DaemonError;
use crate::serve::state::AppState;
use crate::serve::stopping::Stopping;

/// How long a question about a sandbox waits for a session of it that is still starting.
const START_WAIT: Duration = Duration::from_secs(30);

/// Every live session, by sandbox id and then session id, and the ids whose shell is still
/// starting. The locks are never held across an await.
///
/// `create-connect` says `connected` before the shell has started (see
/// [`super::stream::start_and_serve`]), so a client may ask about its session at once: a
/// question about a sandbox with a session still starting waits until that start ends, and the
/// answer is the one the client would get had the start been instant.
///
/// When the server stops, every session ends, none starts after, and the stop waits until the
/// clients of each were told how it ended ([`Terminals::ended`]).
#[derive(Default)]
pub(crate) struct Terminals {
    live: Mutex<BTreeMap<String, BTreeMap<String, Arc<Terminal>>>>,
    starting: Mutex<BTreeSet<(String, String)>>,
    started: Notify,
    /// WebSocket clients being served, each counted by a [`Client`].
    clients: AtomicUsize,
    /// Notified when a session is forgotten or a client leaves.
    changed: Notify,
}

/// A WebSocket client of a session of `registry`, counted while it is served.
pub(crate) struct Client {
    state: Arc<AppState>,
    registry: Registry,
}

impl Client {
    pub(crate) fn new(state: &Arc<AppState>, registry: Registry) -> Client {
        registry.of(state).clients.fetch_add(1, Ordering::SeqCst);
        Client {
            state: state.clone(),
            registry,
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let terminals = self.registry.of(&self.state);
        terminals.clients.fetch_sub(1, Ordering::SeqCst);
        terminals.changed.notify_waiters();
    }
}

/// A session that is starting, from the create's checks until its shell is registered or its
/// start failed (or the client left before it began): dropping it ends the wait of questions
/// about its sandbox.
pub(super) struct Starting {
    state: Arc<AppState>,
    key: (String, String),
}

impl Drop for Starting {
    fn drop(&mut self) {
        let terminals = &self.state.terminals;
        terminals.starting_ids().remove(&self.key);
        terminals.started.notify_waiters();
    }
}

/// Marks `id` starting in `sandbox`, or says it is taken (live or starting).
pub(super) fn begin(
    state: &Arc<AppState>,
    sandbox: &str,
    id: &str,
) -> Result<Starting, DaemonError> {
    let terminals = &state.terminals;
    let key = (sandbox.to_string(), id.to_string());
    let mut starting = terminals.starting_ids();
    if terminals.get(sandbox, id).is_some() || !starting.insert(key.clone()) {
        return Err(conflict(id));
    }
    Ok(Starting {
        state: state.clone(),
        key,
    })
}

impl Terminals {
    pub(super) fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, BTreeMap<String, BTreeMap<String, Arc<Terminal>>>> {
        self.live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn starting_ids(&self) -> std::sync::MutexGuard<'_, BTreeSet<(String, String)>> {
        self.starting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits until no session of `sandbox` is starting, for at most [`START_WAIT`]: a start
    /// that takes longer leaves the question answered as things are.
    pub(super) async fn settled(&self, sandbox: &str) {
        let settling = async {
            loop {
                let started = self.started.notified();
                tokio::pin!(started);
                started.as_mut().enable();
                if !self.starting_ids().iter().any(|(of, _)| of == sandbox) {
                    return;
                }
                started.await;
            }
        };
        let _ = tokio::time::timeout(START_WAIT, settling).await;
    }

    pub(super) fn get(&self, sandbox: &str, id: &str) -> Option<Arc<Terminal>> {
        self.lock().get(sandbox)?.get(id).cloned()
    }

    pub(super) fn remove(&self, sandbox: &str, id: &str) -> Option<Arc<Terminal>> {
        let mut all = self.lock();
        let sessions = all.get_mut(sandbox)?;
        let removed = sessions.remove(id);
        if sessions.is_empty() {
            all.remove(sandbox);
        }
        removed
    }

    /// Keeps `session` under its sandbox and id; refused when the id is taken (a concurrent
    /// create won) or the server's stop has begun (`stopping`, read under the lock: a stop
    /// begun later finds the session in [`Terminals::close`]).
    pub(super) fn register(
        &self,
        session: &Arc<Terminal>,
        stopping: &Stopping,
    ) -> Result<(), DaemonError> {
        let mut all = self.lock();
        if stopping.begun() {
            return Err(Stopping::refusal());
        }
        let sessions = all.entry(session.sandbox.clone()).or_default();
        if sessions.contains_key(&session.id) {
            return Err(conflict(&session.id));
        }
        sessions.insert(session.id.clone(), session.clone());
        Ok(())
    }

    /// Forgets `session` once its shell exited, unless another took its id since.
    pub(super) fn forget(&self, session: &Arc<Terminal>) {
        {
            let mut all = self.lock();
            if let Some(sessions) = all.get_mut(&session.sandbox)
                && sessions
                    .get(&session.id)
                    .is_some_and(|live| Arc::ptr_eq(live, session))
            {
                sessions.remove(&session.id);
                if sessions.is_empty() {
                    all.remove(&session.sandbox);
                }
            }
        }
        self.changed.notify_waiters();
    }

    /// Kills every session (when the server stops, after its stop began: a start registers
    /// under the lock, and is refused once the stop has begun).
    pub(crate) fn close(&self) {
        for sessions in self.lock().values() {
            for terminal in sessions.values() {
                terminal.kill();
            }
        }
    }

    /// Waits until every session has ended and every client has left, the clients of a
    /// session being told its exit first.
    pub(crate) async fn ended(&self) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.lock().is_empty() && self.clients.load(Ordering::SeqCst) == 0 {
                return;
            }
            changed.await;
        }
    }
}

/// The answer to a create whose id is taken.
pub(super) fn conflict(id: &str) -> DaemonError {
    DaemonError::new(
        StatusCode::CONFLICT,
        format!("PTY session with ID '{id}' already exists"),
    )
}
