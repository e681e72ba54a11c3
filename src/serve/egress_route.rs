//! Which way the egress proxy sends one sandbox's request, read from the sandbox's record at
//! each request (so that a change of its network settings holds at once): where its network
//! lets it go, and the outbound proxy it chains to (none, or its `outboundProxyUrl`).
//!
//! The proxy is a way out of a sandbox's network, so it must not lead anywhere that network
//! does not: a sandbox that shares this machine's network, or whose own network is open, may
//! reach anything through it; a blocked one nothing; one with allow lists only the domains of
//! its `domainAllowList` (by name) and the addresses of its `networkAllowList` (a name is
//! resolved here, and the connection goes to the addresses that were checked, never to what a
//! second lookup might answer). A refusal names the host and why, and sends nothing upstream.
//! This file decides; the proxy (`egress`) forwards.

use std::net::{IpAddr, SocketAddr};

use axum::body::Body;
use axum::http::{Response, StatusCode};

use super::egress_domains::DomainList;
use super::egress_outbound::OutboundProxy;
use super::platform::{NetworkSettings, Wanted};
use super::state::{AppState, SandboxRecord};
use crate::names::AllowList;
use crate::provider::Network;

/// How one sandbox's requests leave.
pub(crate) struct Route {
    reach: Reach,
    pub(crate) outbound: Option<OutboundProxy>,
    /// The sandbox's changes since this route was read (`egress_hold`).
    pub(crate) changes: tokio::sync::watch::Receiver<u64>,
}

/// Where a sandbox's network lets the proxy go for it.
enum Reach {
    /// It shares this machine's network, or its own is open.
    Anywhere,
    /// The listed domains and networks; neither list: blocked.
    Listed {
        domains: Option<DomainList>,
        networks: Option<AllowList>,
    },
}

/// Where the proxy may connect for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Destination {
    /// The host as named (anything is allowed, the domain is listed, or the host is a listed
    /// address).
    Named,
    /// Only these addresses of the host: the ones its lookup gave that the allow list holds.
    At(Vec<IpAddr>),
}

impl Destination {
    /// The addresses to connect to for `port`, or `None` to connect by name.
    pub(crate) fn addresses(&self, port: u16) -> Option<Vec<SocketAddr>> {
        match self {
            Destination::Named => None,
            Destination::At(addresses) => Some(
                addresses
                    .iter()
                    .map(|address| SocketAddr::new(*address, port))
                    .collect(),
            ),
        }
    }
}

impl Route {
    /// What sandbox `id`'s record says now, with its changes from now on. Every list was
    /// checked when recorded.
    pub(crate) fn of(state: &AppState, id: &str) -> Route {
        // Before the record is read: a change after the reading is one to see.
        let changes = state.egress.changes.watch(id);
        Route::read(state, id, changes)
    }

    /// What sandbox `id`'s record says now, for a connection that already waits on its changes.
    pub(crate) fn now(state: &AppState, id: &str) -> Route {
        Route::read(state, id, tokio::sync::watch::channel(0).1)
    }

    fn read(state: &AppState, id: &str, changes: tokio::sync::watch::Receiver<u64>) -> Route {
        // No record (a sandbox being deleted): nothing says where it may go, so nowhere.
        let Some(record) = state
            .store
            .read(|records| records.sandboxes.get(id).cloned())
        else {
            return Route {
                reach: Reach::Listed {
                    domains: None,
                    networks: None,
                },
                outbound: None,
                changes,
            };
        };
        Route {
            reach: Reach::of(&record),
            outbound: record
                .outbound_proxy_url
                .as_deref()
                .and_then(|url| OutboundProxy::parse(url).ok()),
            changes,
        }
    }

    /// Whether the sandbox's web traffic is redirected to the proxy (it has a domain allow
    /// list): only then are connections on the redirect's ports taken.
    pub(crate) fn redirected(&self) -> bool {
        matches!(
            self.reach,
            Reach::Listed {
                domains: Some(_),
                ..
            }
        )
    }

    /// Where the proxy may connect for a request to `host`, or the proxy's 403.
    pub(crate) async fn admit(&self, host: &str) -> Result<Destination, Response<Body>> {
        let Reach::Listed { domains, networks } = &self.reach else {
            return Ok(Destination::Named);
        };
        let host = host.trim_matches(['[', ']']);
        if domains.as_ref().is_some_and(|list| list.allows(host)) {
            // The proxy connects from this machine: a listed domain reaches its loopback only
            // when the list names `localhost` itself, not when a name (a wildcard's, say)
            // is made to resolve there.
            if host.trim_end_matches('.').eq_ignore_ascii_case("localhost") {
                return Ok(Destination::Named);
            }
            if let Ok(found) = tokio::net::lookup_host((host, 0)).await {
                let away = away_from_this_machine(found.map(|address| address.ip()));
                if !away.is_empty() {
                    return Ok(Destination::At(away));
                }
            }
        }
        if let Some(networks) = networks {
            if let Ok(address) = host.parse::<IpAddr>() {
                if networks.contains(address) {
                    return Ok(Destination::Named);
                }
            } else if let Ok(found) = tokio::net::lookup_host((host, 0)).await {
                let listed: Vec<IpAddr> = found
                    .map(|address| address.ip())
                    .filter(|address| networks.contains(*address))
                    .collect();
                if !listed.is_empty() {
                    return Ok(Destination::At(listed));
                }
            }
        }
        Err(refusal(host, domains.as_ref(), networks.as_ref()))
    }

    /// Whether a connection already open to `host` is still admitted: at address `at` when the
    /// proxy connected there itself (that address, not only the name, must still be admitted),
    /// by the host alone otherwise. Only a host admitted by name alone that now needs the
    /// networks list is looked up again.
    pub(crate) async fn still_admits(&self, host: &str, at: Option<IpAddr>) -> bool {
        let Reach::Listed { domains, networks } = &self.reach else {
            return true;
        };
        let host = host.trim_matches(['[', ']']);
        let at = at.or_else(|| host.parse().ok());
        if domains.as_ref().is_some_and(|list| list.allows(host)) {
            let localhost = host.trim_end_matches('.').eq_ignore_ascii_case("localhost");
            if localhost || at.is_none_or(|at| !away_from_this_machine([at].into_iter()).is_empty())
            {
                return true;
            }
        }
        match (networks, at) {
            (None, _) => false,
            (Some(networks), Some(at)) => networks.contains(at),
            (Some(_), None) => self.admit(host).await.is_ok(),
        }
    }
}

/// The addresses that are not this machine's loopback nor the unspecified address.
fn away_from_this_machine(addresses: impl Iterator<Item = IpAddr>) -> Vec<IpAddr> {
    addresses
        .filter(|address| !address.is_loopback() && !address.is_unspecified())
        .collect()
}

impl Reach {
    /// What the sandbox's recorded network settings let through, read as its network reads
    /// them ([`NetworkSettings::wanted`]): settings that no longer read lead nowhere.
    fn of(record: &SandboxRecord) -> Reach {
        let settings = NetworkSettings {
            network_block_all: Some(record.network_block_all),
            network_allow_list: record.network_allow_list.clone(),
            domain_allow_list: record.domain_allow_list.clone(),
        };
        let nowhere = Reach::Listed {
            domains: None,
            networks: None,
        };
        match settings.wanted() {
            Ok(None) => Reach::Anywhere,
            Ok(Some(Wanted { network, domains })) => match network {
                Network::Open => Reach::Anywhere,
                Network::Blocked => nowhere,
                Network::Allowed(list) => Reach::Listed {
                    domains: None,
                    networks: Some(list),
                },
                Network::Proxied { allowed, .. } => Reach::Listed {
                    domains,
                    networks: allowed,
                },
            },
            Err(_) => nowhere,
        }
    }
}

/// The proxy's 403 for `host`, saying what the sandbox's network allows.
fn refusal(
    host: &str,
    domains: Option<&DomainList>,
    networks: Option<&AllowList>,
) -> Response<Body> {
    let allowed = match (domains, networks) {
        (None, None) => "this sandbox's network is blocked (networkBlockAll)".to_string(),
        (Some(domains), None) => format!("it is not in this sandbox's domainAllowList `{domains}`"),
        (None, Some(networks)) => {
            format!("no address of it is in this sandbox's networkAllowList `{networks}`")
        }
        (Some(domains), Some(networks)) => format!(
            "it is not in this sandbox's domainAllowList `{domains}`, and no address of it is in its networkAllowList `{networks}`"
        ),
    };
    let mut response = Response::new(Body::from(format!(
        "the egress proxy refuses `{host}`: {allowed}\n"
    )));
    *response.status_mut() = StatusCode::FORBIDDEN;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(block: bool, networks: Option<&str>, domains: Option<&str>) -> Route {
        let record = SandboxRecord {
            network_block_all: block,
            network_allow_list: networks.map(str::to_string),
            domain_allow_list: domains.map(str::to_string),
            ..SandboxRecord::default()
        };
        Route {
            reach: Reach::of(&record),
            outbound: None,
            changes: tokio::sync::watch::channel(0).1,
        }
    }

    async fn refused(route: &Route, host: &str) -> Option<String> {
        match route.admit(host).await {
            Ok(_) => None,
            Err(response) => {
                assert_eq!(response.status(), StatusCode::FORBIDDEN);
                let body = axum::body::to_bytes(response.into_body(), 4096)
                    .await
                    .unwrap();
                Some(String::from_utf8(body.to_vec()).unwrap())
            }
        }
    }

    #[tokio::test]
    async fn a_shared_or_open_network_reaches_anything_through_the_proxy() {
        let open = route(false, None, None);
        for host in ["example.com", "127.0.0.1", "10.9.9.9"] {
            assert_eq!(
                open.admit(host).await.unwrap(),
                Destination::Named,
                "{host}"
            );
        }
        assert!(!open.redirected());
    }

    #[tokio::test]
    async fn a_blocked_network_reaches_nothing_through_the_proxy_whatever_its_lists() {
        for blocked in [
            route(true, None, None),
            route(true, Some("127.0.0.0/8"), Some("localhost")),
        ] {
            for host in ["localhost", "127.0.0.1", "example.com"] {
                let refusal = refused(&blocked, host).await.expect(host);
                assert!(refusal.contains("blocked (networkBlockAll)"), "{refusal}");
            }
        }
    }

    #[tokio::test]
    async fn an_allow_list_lets_through_its_addresses_and_the_names_that_resolve_into_it() {
        let listed = route(false, Some("127.0.0.0/8"), None);
        assert_eq!(listed.admit("127.0.0.1").await.unwrap(), Destination::Named);
        let at = listed.admit("localhost").await.unwrap();
        let Destination::At(addresses) = &at else {
            panic!("a name is pinned to its checked addresses: {at:?}");
        };
        assert!(
            addresses
                .iter()
                .all(|address| address.is_loopback() && address.is_ipv4())
        );
        assert_eq!(
            at.addresses(8080).unwrap()[0],
            SocketAddr::from(([127, 0, 0, 1], 8080))
        );
        let elsewhere = route(false, Some("10.9.9.0/24"), None);
        for host in ["127.0.0.1", "localhost", "[::1]"] {
            let refusal = refused(&elsewhere, host).await.expect(host);
            assert!(
                refusal.contains("networkAllowList `10.9.9.0/24`"),
                "{refusal}"
            );
        }
    }

    #[test]
    fn a_listed_domain_never_leads_to_this_machines_loopback_but_by_its_own_name() {
        let found = ["127.0.0.1", "::1", "0.0.0.0", "192.0.2.7", "2001:db8::1"]
            .map(|address| address.parse::<IpAddr>().unwrap());
        assert_eq!(
            away_from_this_machine(found.into_iter()),
            [found[3], found[4]]
        );
    }

    #[tokio::test]
    async fn a_domain_list_lets_through_its_domains_by_name_and_its_networks_by_address() {
        let domains = route(false, None, Some("localhost"));
        assert!(domains.redirected());
        assert_eq!(
            domains.admit("LOCALHOST").await.unwrap(),
            Destination::Named
        );
        let refusal = refused(&domains, "127.0.0.1").await.unwrap();
        assert!(refusal.contains("domainAllowList `localhost`"), "{refusal}");
        let both = route(false, Some("127.0.0.0/8"), Some("example.com"));
        assert_eq!(both.admit("127.0.0.1").await.unwrap(), Destination::Named);
        assert!(
            refused(&both, "10.0.0.1")
                .await
                .unwrap()
                .contains("and no address")
        );
    }

    #[tokio::test]
    async fn an_open_connection_stays_admitted_only_where_the_settings_still_lead() {
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        let elsewhere: IpAddr = "192.0.2.7".parse().unwrap();
        assert!(
            route(false, None, None)
                .still_admits("example.com", None)
                .await
        );
        assert!(
            !route(true, None, None)
                .still_admits("127.0.0.1", None)
                .await
        );
        let networks = route(false, Some("127.0.0.0/8"), None);
        assert!(networks.still_admits("127.0.0.1", None).await);
        assert!(networks.still_admits("localhost", Some(loopback)).await);
        assert!(!networks.still_admits("localhost", Some(elsewhere)).await);
        // The address it went to counts, not what the name resolves to now.
        let narrower = route(false, Some("10.0.0.0/8"), None);
        assert!(!narrower.still_admits("localhost", Some(loopback)).await);
        let domains = route(false, None, Some("example.com,localhost"));
        assert!(domains.still_admits("example.com", Some(elsewhere)).await);
        assert!(domains.still_admits("example.com", None).await);
        assert!(domains.still_admits("localhost", Some(loopback)).await);
        // A listed name leads to this machine's loopback only by the name `localhost`.
        assert!(!domains.still_admits("example.com", Some(loopback)).await);
        assert!(!domains.still_admits("other.test", Some(elsewhere)).await);
    }
}
