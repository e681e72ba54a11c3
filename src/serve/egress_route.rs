//! Which way the egress proxy sends one sandbox's request, read from the sandbox's record at
//! each request (so that a change of its network settings holds at once): the hosts its domain
//! allow list lets through (any, without one), and the outbound proxy it chains to (none, or its
//! `outboundProxyUrl`).
//!
//! A refusal names the host and the list and sends nothing upstream. This file decides; the
//! proxy (`egress`) forwards.

use axum::body::Body;
use axum::http::{Response, StatusCode};

use super::egress_domains::DomainList;
use super::egress_outbound::OutboundProxy;
use super::state::AppState;

/// How one sandbox's requests leave.
pub(crate) struct Route {
    domains: Option<DomainList>,
    pub(crate) outbound: Option<OutboundProxy>,
}

impl Route {
    /// What sandbox `id`'s record says now. Both fields were checked when recorded.
    pub(crate) fn of(state: &AppState, id: &str) -> Route {
        let record = state.store.sandbox(id);
        Route {
            domains: record
                .domain_allow_list
                .as_deref()
                .and_then(|list| DomainList::parse(list).ok().flatten()),
            outbound: record
                .outbound_proxy_url
                .as_deref()
                .and_then(|url| OutboundProxy::parse(url).ok()),
        }
    }

    /// Whether the sandbox's web traffic is redirected to the proxy (it has a domain allow
    /// list): only then are connections on the redirect's ports taken.
    pub(crate) fn redirected(&self) -> bool {
        self.domains.is_some()
    }

    /// The proxy's 403 for a request to `host`, when the sandbox's domain allow list does not
    /// let it through.
    pub(crate) fn refusal(&self, host: &str) -> Option<Response<Body>> {
        let list = self.domains.as_ref()?;
        if list.allows(host) {
            return None;
        }
        let mut response = Response::new(Body::from(format!(
            "the egress proxy refuses `{host}`: it is not in this sandbox's domainAllowList `{list}`\n"
        )));
        *response.status_mut() = StatusCode::FORBIDDEN;
        Some(response)
    }
}
