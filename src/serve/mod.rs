//! `ralph-town serve`: a Daytona-compatible API over any [`Provider`] (in practice `local`).
//!
//! The control plane is under `/api`, the toolbox under `/toolbox/{id}/...`, and request counters
//! at `/_ralph/stats`. This module binds the listener and runs the connections (its own accept
//! loop, so that a simulated dropped connection can really close one); `routes` assembles the
//! routes. It is an adapter: sandboxes live in the provider, and no team or planning logic lives
//! here. It never prints a credential: not the API key, not an SSH token, not an env value.
//!
//! Every route but `GET /api/health` needs the API key: sandboxes share the host's network, so
//! anything that reaches the port without a key could run commands in every sandbox. Accepting
//! any token takes an explicit, insecure option. Some routes take narrower credentials instead:
//! the preview proxy (`/_preview...`, a sandbox's preview token or a signed link), the
//! build-context storage (`/_objects`, a push access's session token), and a signed file URL's
//! download or upload (`/toolbox/{id}/files/...?signature=`, its signature under that
//! sandbox's key).

pub mod api_key;
mod body_drain;
mod build;
mod build_context;
mod build_logs;
mod build_steps;
mod code_run;
mod code_run_charts;
mod computer_use;
mod computer_use_a11y;
mod computer_use_keyboard;
mod computer_use_mouse;
mod computer_use_recording;
mod computer_use_screen;
mod connection;
mod dockerfile;
mod egress;
mod egress_domains;
mod egress_forward;
mod egress_hold;
mod egress_network;
mod egress_outbound;
mod egress_pinned;
mod egress_route;
mod egress_sandbox;
mod egress_tls;
mod egress_transparent;
mod egress_tunnel;
mod entrypoint;
mod error;
mod events;
mod file_signing;
mod git_command;
mod git_status;
mod interpreter;
mod lifecycle;
mod local_tls;
mod lsp;
mod lsp_answer;
mod lsp_client;
mod lsp_server;
mod metrics;
mod metrics_history;
mod metrics_history_file;
mod middleware;
mod object_storage;
mod options;
mod output_form;
mod platform;
mod preview;
mod preview_cookies;
mod preview_listener;
mod preview_origin;
mod preview_passes;
mod preview_proxy;
mod preview_waits;
mod pty;
mod restart;
mod revocation;
mod routes;
mod sandbox;
mod sandbox_actions;
mod sandbox_copies;
mod sandbox_filter;
mod sandbox_lifecycle;
mod sandbox_limits;
mod sandbox_link;
mod sandbox_list;
mod secret_file;
mod secret_vault;
mod secret_vault_names;
mod secret_vault_routes;
mod serve_error;
mod simulate;
mod snapshot;
mod sock_diag;
mod ssh;
mod ssh_access;
mod state;
mod stopping;
mod tcp_table;
mod toolbox;
mod toolbox_file_changes;
mod toolbox_files;
mod toolbox_git;
mod toolbox_git_config;
mod toolbox_git_repo;
mod toolbox_search;
mod toolbox_session;
mod toolbox_session_logs;
mod toolbox_upload;
mod view;
mod volume;
mod web_terminal;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::provider::Provider;

pub use connection::GRACE;
pub(crate) use connection::next_connection;
pub use options::ServeOptions;
pub use restart::{forget_gone_sandboxes, live_volumes};
pub use serve_error::ServeError;
pub use simulate::{RateLimit, Simulation, SimulationError};

use state::{AppState, Settings, Store};

/// A bound server, not yet accepting connections.
pub struct Server {
    listener: tokio::net::TcpListener,
    address: SocketAddr,
    base_url: String,
    state: Arc<AppState>,
    ssh: Option<ssh::Gateway>,
    egress: tokio::net::TcpListener,
    /// Whether the egress proxy could not take its previous port: mounted sandboxes are then
    /// given the new one.
    egress_moved: bool,
}

/// Binds the listener and loads the records, so that the caller knows the address (port 0)
/// before it starts serving.
pub async fn bind(
    options: ServeOptions,
    provider: Arc<dyn Provider>,
) -> Result<Server, ServeError> {
    if options.api_key.is_none() && !options.insecure_accept_any_token {
        return Err(ServeError::NoApiKey);
    }
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|source| ServeError::Bind {
            address: options.listen,
            source,
        })?;
    let address = listener.local_addr().map_err(|source| ServeError::Bind {
        address: options.listen,
        source,
    })?;
    let host = host_of(address);
    let base_url = match &options.public_url {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => format!("http://{host}:{}", address.port()),
    };
    let ssh = ssh::bind(&options).await?;
    let (ssh_host, ssh_port) = match (
        &options.ssh_gateway,
        ssh.as_ref().map(ssh::Gateway::address),
    ) {
        (Some(gateway), _) => parse_gateway(gateway)?,
        (None, Some(bound)) => (
            host_of(bound).trim_matches(['[', ']']).to_string(),
            bound.port(),
        ),
        (None, None) => (host.trim_matches(['[', ']']).to_string(), 2222),
    };
    let store = Store::open(options.state_dir.as_deref())?;
    let signing = file_signing::SigningSecret::load_or_create(options.state_dir.as_deref())?;
    let vault = secret_vault::Vault::open(options.state_dir.as_deref())?;
    let previous_port = vault.egress_port();
    let (egress, egress_listener) = egress::Egress::bind(
        options.state_dir.as_deref(),
        options.upstream_ca.as_deref(),
        previous_port,
    )
    .await?;
    let moved = previous_port != Some(egress.port());
    if moved {
        vault
            .set_egress_port(egress.port())
            .map_err(|error| ServeError::State {
                path: options
                    .state_dir
                    .clone()
                    .unwrap_or_default()
                    .join(secret_vault::VAULT_FILE),
                message: error.message,
            })?;
    }
    let local_tls = local_tls::LocalTls::load(options.state_dir.as_deref(), address)?;
    let simulation = options.simulation;
    let state = Arc::new(AppState {
        provider,
        settings: Settings {
            api_key: options.api_key.map(|key| key.expose().to_string()),
            toolbox_url: format!("{base_url}/toolbox"),
            ssh_host,
            ssh_port,
            base_url: base_url.clone(),
            own_ports: [
                Some(address.port()),
                ssh.as_ref().map(|ssh| ssh.address().port()),
            ]
            .into_iter()
            .flatten()
            .collect(),
            objects_dir: options
                .state_dir
                .as_ref()
                .map(|dir| dir.join("serve-objects")),
        },
        dice: simulate::Dice::new(simulation.seed),
        throttlers: simulate::Throttlers::new(&simulation),
        simulation,
        stats: state::Stats::default(),
        store,
        stopping: stopping::Stopping::default(),
        quota_lock: tokio::sync::Mutex::new(()),
        capture_lock: tokio::sync::Mutex::new(()),
        terminals: pty::Terminals::default(),
        web_terminals: pty::Terminals::default(),
        revocations: revocation::Revocations::default(),
        passes: preview_passes::Passes::new(signing.derive("preview-cookie")),
        accept_waits: preview_waits::AcceptWaits::default(),
        language_servers: lsp::LanguageServers::default(),
        interpreter_starts: interpreter::DefaultStarts::default(),
        events: events::Events::new(),
        signing,
        history: metrics_history::History::open(options.state_dir.as_deref())?,
        vault,
        egress,
        local_tls,
    });
    events::Events::listen(&state);
    build::resume(&state);
    entrypoint::resume(&state);
    Ok(Server {
        listener,
        address,
        base_url,
        state,
        ssh,
        egress: egress_listener,
        egress_moved: moved,
    })
}

/// How clients name a listen address: `localhost` for the unspecified address.
fn host_of(address: SocketAddr) -> String {
    if address.ip().is_unspecified() {
        "localhost".to_string()
    } else {
        match address {
            SocketAddr::V4(v4) => v4.ip().to_string(),
            SocketAddr::V6(v6) => format!("[{}]", v6.ip()),
        }
    }
}

fn parse_gateway(gateway: &str) -> Result<(String, u16), ServeError> {
    let invalid = |reason: &str| ServeError::Option {
        what: "ssh gateway",
        value: gateway.to_string(),
        reason: reason.to_string(),
    };
    match gateway.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(':') => Ok((
            host.trim_matches(['[', ']']).to_string(),
            port.parse()
                .map_err(|_| invalid("the port is not a number"))?,
        )),
        _ if gateway.is_empty() => Err(invalid("it is empty")),
        _ => Ok((gateway.to_string(), 22)),
    }
}

impl Server {
    /// The bound address (with the real port when the options asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// Where the SSH gateway listens, when it does.
    pub fn ssh_addr(&self) -> Option<SocketAddr> {
        self.ssh.as_ref().map(ssh::Gateway::address)
    }

    /// Where the loopback CA of the HTTPS this port also speaks is kept, and whether this
    /// machine's CA bundle trusts it; `None` when it is made afresh for this run.
    pub fn loopback_ca(&self) -> Option<(&std::path::Path, bool)> {
        let tls = &self.state.local_tls;
        tls.ca_path().map(|path| (path, tls.trusted()))
    }

    /// The API base URL clients use (`DAYTONA_API_URL`), e.g. `http://127.0.0.1:3000/api`.
    pub fn api_url(&self) -> String {
        format!("{}/api", self.base_url)
    }

    /// Serves until `shutdown` completes, then stops accepting, answers the requests already
    /// sent and stops the timers, within [`connection::GRACE`] (see `connection`). Sandboxes
    /// and what runs in them are left running: the next start on this state root serves them.
    /// What only this server holds ends: PTY sessions, web terminals and language servers (as
    /// a restart of Daytona's daemon ends them), and builds in progress, which the next start
    /// begins again (see `build::resume`).
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), ServeError> {
        let router = routes::router(self.state.clone());
        let (stop_timers, timers_stopped) = tokio::sync::watch::channel(false);
        let events = tokio::spawn(events::run(self.state.clone(), timers_stopped.clone()));
        let sampler = tokio::spawn(metrics_history::run(
            self.state.clone(),
            timers_stopped.clone(),
        ));
        let timers = tokio::spawn(lifecycle::run(self.state.clone(), timers_stopped));
        let (stop_egress, egress_stopped) = tokio::sync::watch::channel(false);
        let egress = tokio::spawn(egress::run(self.state.clone(), self.egress, egress_stopped));
        // Before the first request: a sandbox must not run a command with the old port.
        if self.egress_moved {
            secret_vault_routes::remount(&self.state).await;
        }
        let (stop_gateway, gateway_stopped) = tokio::sync::watch::channel(false);
        let gateway = self
            .ssh
            .map(|gateway| tokio::spawn(gateway.run(self.state.clone(), gateway_stopped)));
        // Connections are served with upgrades (the events socket and PTY streams are
        // WebSockets); an upgraded connection leaves its task, so shutdown waits only for
        // requests in flight.
        let mut connections = tokio::task::JoinSet::new();
        let serve = |connections: &mut tokio::task::JoinSet<()>, stream| {
            let (router, state) = (router.clone(), self.state.clone());
            let stopped = state.stopping.subscribe();
            connection::spawn(connections, stream, router, state, stopped);
        };
        tokio::pin!(shutdown);
        while let Some(stream) =
            next_connection(&self.listener, &mut shutdown, &mut connections).await
        {
            serve(&mut connections, stream);
            // Finished connections leave the set as new ones come.
            while connections.try_join_next().is_some() {}
        }
        // Before the listener closes: a client refused a connection knows that the requests
        // still being answered see the stop. It tells the connections to close once answered,
        // refuses new PTY sessions, web terminals and language servers, gives up the language
        // servers still starting, and cuts followed build logs (their builds are cut too).
        self.state.stopping.begin();
        // Connections completed before the stop are taken (closing the listener would reset
        // them), then no more.
        for stream in connection::queued(&self.listener) {
            serve(&mut connections, stream);
        }
        drop(self.listener);
        let _ = stop_timers.send(true);
        let _ = stop_gateway.send(true);
        let _ = stop_egress.send(true);
        self.state.terminals.close();
        self.state.web_terminals.close();
        // One grace for everything: what is not done by then is left to the process's end.
        let finished = async {
            // What lives only as long as this server (PTY sessions, web terminals, language
            // servers) has ended, and the clients of a terminal were told, before it exits.
            tokio::join!(
                self.state.terminals.ended(),
                self.state.web_terminals.ended(),
                self.state.language_servers.close(),
            );
            self.state.events.close().await;
            while connections.join_next().await.is_some() {}
            let _ = timers.await;
            let _ = sampler.await;
            let _ = egress.await;
            let _ = events.await;
            if let Some(gateway) = gateway {
                let _ = gateway.await;
            }
        };
        if tokio::time::timeout(connection::GRACE, finished)
            .await
            .is_err()
        {
            eprintln!(
                "warning: requests still in flight after {} s were cut",
                connection::GRACE.as_secs()
            );
        }
        Ok(())
    }
}
