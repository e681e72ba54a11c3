//! The provider calls on a `local` sandbox's network: changing what it reaches, under the root
//! lock, and sockets made inside a network of its own for this machine's programs (previews,
//! `serve`'s egress proxy). The namespace, its connection and its filter are `network`'s; the
//! sockets are made by `network_connect`. This file decides when a change may happen and what a
//! caller is told.

use super::cgroup::Cgroup;
use super::{LocalProvider, blocking, init, network, network_connect, procfs};
use crate::provider::{InnerListener, Network, Provider, ProviderError, Result};

impl LocalProvider {
    /// [`Provider::set_network`]: a sandbox on this machine's network gets one of its own only
    /// while nothing of it runs.
    pub(super) async fn set_network(&self, id: &str, network: &Network) -> Result<()> {
        let (store, id, network) = (self.store.clone(), id.to_string(), network.clone());
        let user = self.launcher.owner();
        let missing = network::missing_programs(&network).map(|missing| self.unsupported(&missing));
        let unisolated = (!self.launcher.is_isolated()).then(|| {
            self.unsupported(
                "blocking or filtering a sandbox's network without bubblewrap (install `bwrap`)",
            )
        });
        blocking(move || {
            let _lock = store.lock(true)?;
            let mut metadata = store.resolve(&id)?;
            let shared = metadata.own_network().is_none();
            // This machine's network is open already.
            if shared && network == Network::Open {
                return Ok(());
            }
            if let Some(refused) = missing.or(unisolated) {
                return Err(refused);
            }
            let run_dir = store.run_dir(&metadata.id);
            init::while_held(&run_dir, |pid| match pid {
                // A sandbox on this machine's network gets one of its own at its init's next
                // start: ended now, if nothing of the sandbox's runs in it (which the change
                // would cut off or kill).
                Some(pid) if shared => {
                    let running = init::others_for(pid, SETTLE);
                    if !running.is_empty() {
                        return Ok(Err(busy(&metadata.name, &running)));
                    }
                    init::end(&run_dir);
                    network::change(&run_dir, None, user, &network).map(Ok)
                }
                pid => network::change(&run_dir, pid, user, &network).map(Ok),
            })
            .map_err(|error| ProviderError::Api {
                status: None,
                message: format!(
                    "cannot change the network of sandbox `{}`: {error}",
                    metadata.name
                ),
                retryable: false,
            })??;
            metadata.network = Some(network);
            metadata.network_blocked = false;
            store.write(&metadata)
        })
        .await
    }

    /// [`Provider::connect_port`].
    pub(super) async fn connect_port(
        &self,
        id: &str,
        port: u16,
    ) -> Result<Option<std::net::TcpStream>> {
        let metadata = self.blocking_resolve(id).await?;
        if metadata.own_network().is_none() {
            return Ok(None);
        }
        let run_dir = self.store.run_dir(&metadata.id);
        blocking(move || {
            let found = init::while_held(&run_dir, |init| match init {
                Some(init) => network_connect::connect(init, port),
                None => Ok(None),
            })
            .map_err(|error| ProviderError::Api {
                status: Some(502),
                message: format!(
                    "cannot reach port {port} of sandbox `{}`: {error}",
                    metadata.name
                ),
                retryable: false,
            })?;
            found.map(Some).ok_or_else(|| {
                ProviderError::not_found(format!(
                    "a listener on port {port} in sandbox `{}`",
                    metadata.name
                ))
            })
        })
        .await
    }

    /// [`Provider::listen_port`].
    pub(super) async fn listen_port(&self, id: &str, port: u16) -> Result<Option<InnerListener>> {
        let metadata = self.blocking_resolve(id).await?;
        if metadata.own_network().is_none() {
            return Ok(None);
        }
        let run_dir = self.store.run_dir(&metadata.id);
        blocking(move || {
            let failed = |error: std::io::Error| ProviderError::Api {
                status: None,
                message: format!(
                    "cannot listen on port {port} in the network of sandbox `{}`: {error}",
                    metadata.name
                ),
                retryable: false,
            };
            let listening = init::while_held(&run_dir, |init| {
                init.map(|init| network_connect::listen(init, port))
                    .transpose()
            })
            .map_err(failed)?;
            let (listener, network) = listening.ok_or_else(|| ProviderError::Conflict {
                message: format!(
                    "the network of sandbox `{}` is not up: nothing of it runs",
                    metadata.name
                ),
            })?;
            Ok(Some(InnerListener { listener, network }))
        })
        .await
    }

    /// [`Provider::holds_sockets`]: under bubblewrap, whether processes in the sandbox's pid
    /// namespace (which all its commands share) hold every socket; without it, sandboxes are
    /// not apart from each other, and it cannot tell. The sandbox's cgroup, which every command
    /// joins before it starts, names where to look first; the namespace is what counts.
    pub(super) async fn holds_sockets(&self, id: &str, inodes: &[u64]) -> Result<Option<bool>> {
        if !self.launcher.is_isolated() {
            return Ok(None);
        }
        let metadata = self.blocking_resolve(id).await?;
        let run_dir = self.store.run_dir(&metadata.id);
        let cgroup = self.launcher.cgroups().sandbox(&metadata.id);
        let inodes = inodes.to_vec();
        blocking(move || {
            let held = init::while_held(&run_dir, |init| {
                Ok(init.is_some_and(|init| {
                    let likely = cgroup.as_ref().and_then(Cgroup::processes);
                    procfs::namespace_holds_sockets(init, &likely.unwrap_or_default(), &inodes)
                }))
            });
            Ok(Some(held.unwrap_or(false)))
        })
        .await
    }

    /// [`Provider::network_identity`].
    pub(super) async fn network_identity(&self, id: &str) -> Result<Option<u64>> {
        let metadata = self.blocking_resolve(id).await?;
        if metadata.own_network().is_none() {
            return Ok(None);
        }
        let run_dir = self.store.run_dir(&metadata.id);
        blocking(move || {
            let found = init::while_held(&run_dir, |init| {
                Ok(init.and_then(|init| network_connect::identity(init).ok()))
            });
            Ok(found.unwrap_or(None))
        })
        .await
    }
}

/// How long a sandbox's processes may take to end before it is found busy: commands in flight
/// (a metrics sample that `serve` runs every few seconds, an exec about to answer) end by
/// themselves; what runs on is the sandbox's own work.
const SETTLE: std::time::Duration = std::time::Duration::from_secs(3);

/// Why a sandbox on this machine's network cannot get one of its own now: `running` (command
/// lines) would be cut off or killed.
fn busy(name: &str, running: &[String]) -> ProviderError {
    ProviderError::Unsupported {
        provider: "local",
        operation: format!(
            "giving sandbox `{name}` a network of its own while processes run in it ({}): end them, or stop the sandbox, first; or create it with `networkBlockAll` or a `networkAllowList`",
            running.join("; ")
        ),
    }
}
