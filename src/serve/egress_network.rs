//! The egress proxy inside sandboxes' own networks. A sandbox with a network of its own cannot
//! reach this machine's loopback, where the proxy listens for the others; so each such sandbox
//! that needs the proxy (it has an egress credential: secrets, or a domain allow list) gets a
//! listener on its own loopback, `127.0.0.1:`[`IN_NETWORK_PORT`], made inside its network by the
//! provider and handed to this process, where the proxy accepts on it as on its own. Only that
//! sandbox can connect there; the proxy still checks the credential. Beside it, the ports its
//! network redirects web traffic to when it has a domain allow list (`egress_transparent`).
//!
//! A listener lives as long as the network it was made in: it is made when a sandbox that needs
//! it is configured (create, mount, network change, start) and again whenever [`watch`] sees
//! that the sandbox's network is a new one (a start, a `serve` restart), and it is dropped when
//! the network is gone (stopped) or the sandbox needs the proxy no more (deleted, unmounted).
//! This file keeps listeners; it decides nothing about what the proxy allows.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use super::error::ApiError;
use super::state::AppState;
use crate::provider::{InnerListener, ProviderError};

/// The port of the proxy on a sandbox's own loopback: high, below the kernel's ephemeral range
/// (32768 and up, where outgoing connections take their ports), and not a common server's.
pub(crate) const IN_NETWORK_PORT: u16 = 24_681;

/// How often [`watch`] looks for networks that were brought up again or went away.
const WATCH_EVERY: Duration = Duration::from_secs(1);

/// The listeners, by sandbox id.
#[derive(Default)]
pub(crate) struct Listeners {
    bound: tokio::sync::Mutex<HashMap<String, Bound>>,
}

/// A sandbox's listeners' accepting tasks, and the identity of the network they listen in.
struct Bound {
    network: u64,
    tasks: Vec<tokio::task::AbortHandle>,
}

impl Drop for Bound {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Listeners {
    /// Drops every listener (the proxy stops).
    pub(crate) async fn clear(&self) {
        self.bound.lock().await.clear();
    }

    /// Drops sandbox `id`'s listener, if it has one.
    pub(crate) async fn forget(&self, id: &str) {
        self.bound.lock().await.remove(id);
    }
}

/// Where a sandbox reaches the egress proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reach {
    /// This machine's loopback listener: the sandbox shares this machine's network.
    Loopback,
    /// Its own loopback, [`IN_NETWORK_PORT`].
    InNetwork,
}

/// Makes sure that started sandbox `id` reaches the proxy, with a listener in its network when
/// it has one of its own (bringing its network up when nothing of it runs), and says where.
pub(crate) async fn ensure(state: &Arc<AppState>, id: &str) -> Result<Reach, ApiError> {
    let mut bound = state.egress.listeners.bound.lock().await;
    ensure_held(state, id, &mut bound).await
}

async fn ensure_held(
    state: &Arc<AppState>,
    id: &str,
    bound: &mut HashMap<String, Bound>,
) -> Result<Reach, ApiError> {
    let provider = &state.provider;
    let current = provider.network_identity(id).await.ok().flatten();
    if let (Some(listening), Some(current)) = (bound.get(id), current)
        && listening.network == current
    {
        return Ok(Reach::InNetwork);
    }
    let listening = match provider.listen_port(id, IN_NETWORK_PORT).await {
        Ok(listening) => listening,
        // Nothing of the sandbox runs: a command brings its network up.
        Err(ProviderError::Conflict { .. }) => {
            super::egress_sandbox::run(state, id, "true").await?;
            provider
                .listen_port(id, IN_NETWORK_PORT)
                .await
                .map_err(|error| ApiError::from_provider(error, id))?
        }
        Err(error) => return Err(ApiError::from_provider(error, id)),
    };
    let Some(InnerListener { listener, network }) = listening else {
        bound.remove(id);
        return Ok(Reach::Loopback);
    };
    let cannot = |error: std::io::Error| {
        ApiError::internal(format!(
            "cannot accept on the egress proxy's listener in sandbox `{id}`: {error}"
        ))
    };
    let proxy = state.clone();
    let mut tasks = vec![accept(
        tokio::net::TcpListener::from_std(listener).map_err(cannot)?,
        move |stream| super::egress::serve_connection(proxy.clone(), stream),
    )];
    // Where its network redirects web traffic to (with a domain allow list). Without these a
    // redirected connection is refused, as any connection to a port nothing listens on.
    let web = super::egress_transparent::WEB_PORTS;
    if let Ok(Some(http)) = provider.listen_port(id, web.http).await
        && let Ok(listener) = tokio::net::TcpListener::from_std(http.listener)
    {
        let (state, sandbox) = (state.clone(), id.to_string());
        tasks.push(accept(listener, move |stream| {
            super::egress_transparent::serve_http(state.clone(), sandbox.clone(), stream)
        }));
    }
    if let Ok(Some(https)) = provider.listen_port(id, web.https).await
        && let Ok(listener) = tokio::net::TcpListener::from_std(https.listener)
    {
        let (state, sandbox) = (state.clone(), id.to_string());
        tasks.push(accept(listener, move |stream| {
            super::egress_transparent::serve_tls(state.clone(), sandbox.clone(), stream)
        }));
    }
    bound.insert(id.to_string(), Bound { network, tasks });
    Ok(Reach::InNetwork)
}

/// Accepts on `listener` (until aborted), each connection served by `connection`.
fn accept<Served>(
    listener: tokio::net::TcpListener,
    connection: impl Fn(tokio::net::TcpStream) -> Served + Send + 'static,
) -> tokio::task::AbortHandle
where
    Served: Future<Output = ()> + Send + 'static,
{
    let task = tokio::spawn(super::egress::serve_listener(
        listener,
        std::future::pending(),
        connection,
    ));
    task.abort_handle()
}

/// Keeps listeners with their networks until `stop` turns true: one is made again for a
/// sandbox whose network is new (started again, or running when `serve` started), and dropped
/// for one whose network is gone or which has no egress credential any more.
pub(crate) async fn watch(state: Arc<AppState>, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = stop.wait_for(|stop| *stop) => break,
            () = tokio::time::sleep(WATCH_EVERY) => {}
        }
        let mut bound = state.egress.listeners.bound.lock().await;
        let credentialed: BTreeSet<String> = state.vault.mounts().into_keys().collect();
        bound.retain(|id, _| credentialed.contains(id));
        for id in &credentialed {
            let current = state.provider.network_identity(id).await.ok().flatten();
            match (bound.get(id).map(|listening| listening.network), current) {
                (Some(listening), Some(current)) if listening == current => {}
                (_, None) => {
                    bound.remove(id);
                }
                // Its network is up, new: the sandbox may use the proxy at any moment.
                (_, Some(_)) => {
                    let _ = ensure_held(&state, id, &mut bound).await;
                }
            }
        }
    }
    state.egress.listeners.clear().await;
}
