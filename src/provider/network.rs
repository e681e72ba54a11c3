//! What a sandbox's network reaches, and the sockets that reach into a network of its own.

use serde::{Deserialize, Serialize};

use super::AllowList;

/// What a sandbox's network reaches.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Network {
    /// Whatever this machine's programs reach (Daytona: no restriction).
    #[default]
    Open,
    /// Nothing but the sandbox's own loopback (`networkBlockAll`).
    Blocked,
    /// Only these networks, besides the sandbox's loopback and its name server
    /// (`networkAllowList`).
    Allowed(AllowList),
    /// Its name server and these networks, if any, besides its loopback; its web traffic (TCP
    /// 80 and 443 to anywhere but its loopback) redirected to ports of its loopback, where
    /// `serve`'s egress proxy listens (a `domainAllowList`).
    Proxied {
        allowed: Option<AllowList>,
        web: WebPorts,
    },
}

impl Network {
    /// The networks it lists (`networkAllowList`), if it lists any.
    pub fn allow_list(&self) -> Option<&AllowList> {
        match self {
            Network::Allowed(list)
            | Network::Proxied {
                allowed: Some(list),
                ..
            } => Some(list),
            Network::Open | Network::Blocked | Network::Proxied { allowed: None, .. } => None,
        }
    }
}

/// The ports of a sandbox's own loopback that its web traffic is redirected to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebPorts {
    /// Where TCP 80 goes.
    pub http: u16,
    /// Where TCP 443 goes.
    pub https: u16,
}

/// A listening socket inside a sandbox's own network (see
/// [`Provider::listen_port`](super::Provider::listen_port)).
#[derive(Debug)]
pub struct InnerListener {
    pub listener: std::net::TcpListener,
    /// The identity of the network it listens in.
    pub network: u64,
}
