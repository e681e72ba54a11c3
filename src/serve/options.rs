//! How `serve` is told to run: where it listens, its API key, its public URL, the SSH gateway,
//! where its state persists, and the failures it simulates. The API key is a credential: the
//! options' `Debug` never shows it.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::secret::Secret;

use super::Simulation;

/// How to run the server.
#[derive(Clone)]
pub struct ServeOptions {
    /// Where to listen; port 0 picks a free port (see
    /// [`Server::local_addr`](super::Server::local_addr)).
    pub listen: SocketAddr,
    /// The bearer token every route but `GET /api/health` requires. A credential: never
    /// printed. Without one, [`bind`](super::bind) refuses unless
    /// [`ServeOptions::insecure_accept_any_token`].
    pub api_key: Option<Secret>,
    /// Without `api_key`, accept any bearer token: whoever reaches the port (every sandbox, on
    /// loopback too) can then run commands in every sandbox. Ignored when there is a key.
    pub insecure_accept_any_token: bool,
    /// The base URL clients reach this server at (`http://host:port`), when it differs from the
    /// listen address (a proxy, a container). Sandbox records point their toolbox under it.
    pub public_url: Option<String>,
    /// `host[:port]` written into SSH access commands; default: the SSH gateway's address when
    /// it listens, else this host, port 2222.
    pub ssh_gateway: Option<String>,
    /// Where the SSH gateway listens (port 0 picks a free port, see
    /// [`Server::ssh_addr`](super::Server::ssh_addr)); `None` runs no gateway. Its sessions
    /// need a provider whose sandboxes are processes of this machine
    /// ([`Provider::host_command`](crate::provider::Provider::host_command)).
    pub ssh_listen: Option<SocketAddr>,
    /// Where `serve.json` (snapshots, SSH tokens, Daytona-only sandbox fields) persists; `None`
    /// keeps it in memory. Use the provider's state root so a restart keeps everything.
    pub state_dir: Option<PathBuf>,
    /// A PEM file of CAs the egress proxy trusts besides this machine's roots when it forwards
    /// a sandbox's HTTPS (a test's own server, a corporate CA).
    pub upstream_ca: Option<PathBuf>,
    pub simulation: Simulation,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
            api_key: None,
            insecure_accept_any_token: false,
            public_url: None,
            ssh_gateway: None,
            ssh_listen: None,
            state_dir: None,
            upstream_ca: None,
            simulation: Simulation::default(),
        }
    }
}

/// Never prints the key.
impl std::fmt::Debug for ServeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeOptions")
            .field("listen", &self.listen)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("insecure_accept_any_token", &self.insecure_accept_any_token)
            .field("public_url", &self.public_url)
            .field("ssh_gateway", &self.ssh_gateway)
            .field("ssh_listen", &self.ssh_listen)
            .field("state_dir", &self.state_dir)
            .field("upstream_ca", &self.upstream_ca)
            .field("simulation", &self.simulation)
            .finish()
    }
}
