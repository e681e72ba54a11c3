//! The events socket, as Daytona's notification gateway: socket.io (protocol 5, Engine.IO 4,
//! websocket transport only) at `/api/socket.io/`, which the SDKs derive from the API URL. A
//! client authenticates with `auth: {token}` in its CONNECT packet, checked by the same
//! [`authenticate`] as every route (a refusal is a CONNECT_ERROR `Unauthorized`), and then
//! receives `sandbox.created` (the sandbox record), `sandbox.state.updated`
//! (`{sandbox, oldState, newState}`) and `sandbox.desired-state.updated`
//! (`{sandbox, oldDesiredState, newDesiredState}`) for every sandbox: this server has one
//! organisation, Daytona's room for them. The TypeScript SDK waits for these instead of
//! polling once a second.
//!
//! What is published is what `GET /api/sandbox/{id}` shows, derived the same way: a watcher
//! looks again whenever the records change (every state change serve makes writes them: a
//! create, a start or stop transition, a delete, the lifecycle timers), when a transition's
//! time runs out, and every second while a client listens (for changes made outside this
//! server), and publishes the differences. Nothing else publishes, so events never disagree
//! with the API. This file never logs or echoes a token.

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};
use serde_json::json;
use socketioxide::extract::{SocketRef, TryData};
use socketioxide::handler::ConnectHandler as _;
use socketioxide::layer::SocketIoLayer;
use socketioxide::{SocketIo, TransportType};

use super::middleware::authenticate;
use super::state::{AppState, Millis, now};
use super::view::sandbox_dto;
use crate::daytona_api::{Sandbox, SandboxDesiredState, SandboxState};
use crate::provider::Labels;

/// Where Daytona's gateway listens, under the API prefix.
const PATH: &str = "/api/socket.io";

/// How often the watcher looks while a client listens and nothing pokes it.
const LOOK_INTERVAL: Duration = Duration::from_secs(1);

/// How long the watcher lets writes gather after the first, so that a burst of them (many
/// creates at once) costs one look, not one each.
const GATHER: Duration = Duration::from_millis(20);

/// The longest [`Events::published`] waits: the watcher looks within tens of milliseconds of
/// a write, unless the machine is very busy.
const PUBLISH_LIMIT: Duration = Duration::from_secs(5);

/// The socket.io server: its tower layer (mounted on the router) and its handle.
pub(crate) struct Events {
    io: SocketIo,
    layer: SocketIoLayer,
    /// How many looks the watcher has begun and finished.
    looks: tokio::sync::watch::Sender<Looks>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Looks {
    begun: u64,
    finished: u64,
}

impl Events {
    pub(crate) fn new() -> Events {
        let (layer, io) = SocketIo::builder()
            .req_path(PATH)
            .transports([TransportType::Websocket])
            .build_layer();
        Events {
            io,
            layer,
            looks: tokio::sync::watch::Sender::new(Looks::default()),
        }
    }

    /// Completes once the watcher has published what it sees after this call (a look begun
    /// after it has finished), or after [`PUBLISH_LIMIT`]. A build log's stream ends after
    /// this, so that the event of the build's end reaches listening clients before the stream
    /// does: the TypeScript SDK takes a state from an event without its `errorReason`, and
    /// would otherwise fail a build with the reason of the record it read before.
    pub(crate) async fn published(&self, store: &super::state::Store) {
        let begun = self.looks.borrow().begun;
        let mut looks = self.looks.subscribe();
        store.poke();
        let _ = tokio::time::timeout(
            PUBLISH_LIMIT,
            looks.wait_for(|looks| looks.finished > begun),
        )
        .await;
    }

    /// The layer that answers `/api/socket.io/` and passes every other request on.
    pub(crate) fn layer(&self) -> SocketIoLayer {
        self.layer.clone()
    }

    /// Opens the default namespace to clients whose token [`authenticate`] accepts. Holds the
    /// state weakly: the state owns this server.
    pub(crate) fn listen(state: &Arc<AppState>) {
        let weak = Arc::downgrade(state);
        let authorize = move |TryData(auth): TryData<serde_json::Value>| {
            let weak = weak.clone();
            async move { authorized(&weak, auth.ok()) }
        };
        state
            .events
            .io
            .ns("/", (async |_: SocketRef| {}).with(authorize));
    }

    /// Disconnects every client (when the server stops).
    pub(crate) async fn close(&self) {
        self.io.close().await;
    }

    async fn emit(&self, event: &str, payload: &serde_json::Value) {
        // No client listening is the common case, not a failure.
        let _ = self.io.emit(event, payload).await;
    }
}

/// The refusal a client sees, in Daytona's words.
#[derive(Debug)]
struct Unauthorized;

impl std::fmt::Display for Unauthorized {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Unauthorized")
    }
}

/// Whether the CONNECT packet's `auth.token` would pass as a bearer token on a route.
fn authorized(state: &Weak<AppState>, auth: Option<serde_json::Value>) -> Result<(), Unauthorized> {
    let state = state.upgrade().ok_or(Unauthorized)?;
    let token = auth
        .as_ref()
        .and_then(|auth| auth.get("token"))
        .and_then(serde_json::Value::as_str)
        .ok_or(Unauthorized)?;
    let value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| Unauthorized)?;
    let mut headers = HeaderMap::new();
    headers.insert(header::AUTHORIZATION, value);
    authenticate(&state, &headers).map_err(|_| Unauthorized)
}

/// What was last published about one sandbox.
struct Seen {
    state: SandboxState,
    desired: Option<SandboxDesiredState>,
    dto: Sandbox,
}

/// Publishes state changes until `stop` turns true.
pub(crate) async fn run(state: Arc<AppState>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut seen = BTreeMap::new();
    // The first look only learns what exists: those sandboxes were not created just now.
    let mut publish = false;
    loop {
        state.events.looks.send_modify(|looks| looks.begun += 1);
        let next_transition = look(&state, &mut seen, publish).await;
        state.events.looks.send_modify(|looks| looks.finished += 1);
        publish = true;
        let listening = !state.events.io.sockets().is_empty();
        let wait =
            next_transition.map(|until| Duration::from_millis(until.saturating_sub(now()).max(1)));
        let wait = match (wait, listening) {
            (Some(wait), true) => Some(wait.min(LOOK_INTERVAL)),
            (None, true) => Some(LOOK_INTERVAL),
            (wait, false) => wait,
        };
        let timer = async {
            match wait {
                Some(wait) => tokio::time::sleep(wait).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = state.store.changed() => tokio::time::sleep(GATHER).await,
            () = timer => {}
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    return;
                }
            }
        }
    }
}

/// One look at every sandbox: publishes what changed since the last and returns when the
/// earliest running transition ends.
async fn look(
    state: &AppState,
    seen: &mut BTreeMap<String, Seen>,
    publish: bool,
) -> Option<Millis> {
    let Ok(sandboxes) = state.provider.list(&Labels::new()).await else {
        // Try again at the next poke or tick.
        return None;
    };
    let now = now();
    let mut next_transition: Option<Millis> = None;
    let mut live = std::collections::BTreeSet::new();
    for sandbox in &sandboxes {
        live.insert(sandbox.id.clone());
        let record = state.store.sandbox(&sandbox.id);
        if let Some(transition) = record.transition_at(now) {
            next_transition =
                Some(next_transition.map_or(transition.until, |t| t.min(transition.until)));
        }
        let dto = sandbox_dto(state, sandbox, &record, now);
        let shown = dto.state.clone().unwrap_or(SandboxState::Unknown);
        let desired = dto.desired_state.clone();
        let previous = seen.insert(
            sandbox.id.clone(),
            Seen {
                state: shown.clone(),
                desired: desired.clone(),
                dto: dto.clone(),
            },
        );
        if !publish {
            continue;
        }
        match previous {
            None => state.events.emit("sandbox.created", &json!(dto)).await,
            Some(previous) => {
                if previous.state != shown {
                    let payload = json!({
                        "sandbox": dto,
                        "oldState": previous.state,
                        "newState": shown,
                    });
                    state.events.emit("sandbox.state.updated", &payload).await;
                }
                if previous.desired != desired {
                    let payload = json!({
                        "sandbox": dto,
                        "oldDesiredState": previous.desired,
                        "newDesiredState": desired,
                    });
                    state
                        .events
                        .emit("sandbox.desired-state.updated", &payload)
                        .await;
                }
            }
        }
    }
    // A sandbox that is gone was destroyed, whoever removed it.
    let gone: Vec<String> = seen
        .keys()
        .filter(|id| !live.contains(*id))
        .cloned()
        .collect();
    for id in gone {
        let Some(previous) = seen.remove(&id) else {
            continue;
        };
        if !publish || previous.state == SandboxState::Destroyed {
            continue;
        }
        let mut dto = previous.dto;
        dto.state = Some(SandboxState::Destroyed);
        dto.desired_state = Some(SandboxDesiredState::Destroyed);
        let payload = json!({
            "sandbox": dto,
            "oldState": previous.state,
            "newState": SandboxState::Destroyed,
        });
        state.events.emit("sandbox.state.updated", &payload).await;
    }
    next_transition
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::state::Store;

    /// Stands in for the watcher: begins a look, then finishes it.
    fn begin(events: &Events) {
        events.looks.send_modify(|looks| looks.begun += 1);
    }

    fn finish(events: &Events) {
        events.looks.send_modify(|looks| looks.finished += 1);
    }

    /// A look already under way when a build ends may have read the sandbox before the end;
    /// only one begun after the call has surely seen it, so only its end may release the wait.
    #[tokio::test]
    async fn published_waits_for_a_look_begun_after_the_call() {
        let events = Arc::new(Events::new());
        let store = Arc::new(Store::open(None).expect("an in-memory store"));
        begin(&events);
        let waiting = tokio::spawn({
            let (events, store) = (events.clone(), store.clone());
            async move { events.published(&store).await }
        });
        store.changed().await; // the call has poked the watcher
        finish(&events);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !waiting.is_finished(),
            "the look under way when the call came released it"
        );
        begin(&events);
        finish(&events);
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the next look releases the wait")
            .expect("the wait completes");
    }
}
