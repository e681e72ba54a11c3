//! Control-plane routes the pinned SDKs call for what a local server has no counterpart of, each
//! answered as honestly as Daytona's own shapes allow: `GET /config` (this server's settings),
//! the organisation's warm pools (there are none; making one is refused),
//! `POST /sandbox/{id}/network-settings` and `POST /sandbox/{id}/autopause/{minutes}`; and the
//! one region (`local`) a sandbox or snapshot may ask for.
//!
//! NOTES-style: all newer than v0.190 except the network settings. What cannot be done is a 422
//! (Daytona's answer to a pause of a sandbox class that cannot pause) with the reason, which the
//! SDKs raise as their unprocessable-entity error; nothing is recorded that is not enforced. A
//! region other than `local` is Daytona's 404 `Region not found`, as for a region the
//! organisation does not have (sandbox `target`, snapshot `regionId`: both fall back to the
//! default region when blank).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::egress_domains::DomainList;
use super::error::ApiError;
use super::sandbox::resolve;
use super::state::{AppState, DEFAULT_TARGET, now};
use super::view::{JsonBody, sandbox_dto};
use crate::daytona_api::Sandbox;
use crate::provider::{AllowList, Network, ProviderError};

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/config", get(config))
        .route("/warm-pools", get(list_empty).post(create_warm_pool))
        .route(
            "/warm-pools/{pool}",
            axum::routing::patch(warm_pool_not_found).delete(warm_pool_not_found),
        )
        .route(
            "/sandbox/{sandbox}/network-settings",
            post(network_settings),
        )
        .route("/sandbox/{sandbox}/autopause/{minutes}", post(auto_pause))
}

/// The region a create asked for (`target`, `regionId`): blank is the default, `local` the only
/// one there is. The SDKs raise the 404 as their not-found error.
pub(crate) fn region(requested: Option<&str>) -> Result<String, ApiError> {
    match requested.map(str::trim).filter(|region| !region.is_empty()) {
        None | Some(DEFAULT_TARGET) => Ok(DEFAULT_TARGET.to_string()),
        Some(other) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "Region not found: `{other}`; local sandboxes have one region, `{DEFAULT_TARGET}` (leave the target or region unset)"
            ),
        )),
    }
}

/// `GET /config`: this server's settings in Daytona's `DaytonaConfiguration`. Without an
/// analytics URL the SDKs read metrics from `/sandbox/{id}/telemetry/metrics`.
async fn config(State(state): State<Arc<AppState>>) -> Json<Value> {
    let settings = &state.settings;
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "oidc": {"issuer": "", "clientId": "", "audience": "", "provider": "none"},
        "linkedAccountsEnabled": false,
        "announcements": {},
        "proxyTemplateUrl": format!("{}/_preview/{{{{sandboxId}}}}/{{{{PORT}}}}", settings.base_url),
        "proxyToolboxUrl": settings.toolbox_url,
        "defaultSnapshot": super::snapshot::DEFAULT_SNAPSHOT,
        "dashboardUrl": settings.base_url,
        "maxAutoArchiveInterval": super::sandbox::MAX_AUTO_ARCHIVE_MINUTES,
        "maintananceMode": false,
        "environment": "local",
    }))
}

/// `GET /warm-pools`: the organisation has none.
async fn list_empty() -> Json<Vec<Value>> {
    Json(Vec::new())
}

/// `POST /warm-pools`.
async fn create_warm_pool() -> ApiError {
    ApiError::not_possible(
        "Warm pools are not possible with local sandboxes: a local sandbox starts from this machine's own file system, with nothing to keep warm",
    )
}

/// `PATCH`/`DELETE /warm-pools/{id}`: there are none.
async fn warm_pool_not_found(Path(id): Path<String>) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, format!("Warm pool {id} not found"))
}

/// How many networks one allow list may name, as on Daytona.
const MAX_ALLOWED_NETWORKS: usize = 10;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NetworkSettings {
    pub(crate) network_block_all: Option<bool>,
    pub(crate) network_allow_list: Option<String>,
    pub(crate) domain_allow_list: Option<String>,
}

/// What network settings ask for: what the sandbox's network reaches, and the domains its web
/// traffic may reach through the egress proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Wanted {
    pub(crate) network: Network,
    pub(crate) domains: Option<DomainList>,
}

impl NetworkSettings {
    /// What these settings ask for: blocking wins, then an allow list (which implies not
    /// blocking), then the open network; `None` when they say nothing. A domain allow list gives
    /// a network of its own: what the allow list names (or nothing but its name server), its web
    /// traffic through the egress proxy, for the listed domains only.
    ///
    /// An allow list that is not CIDRs is a 400 naming the entry, one of more than 10 networks
    /// a 400 as on Daytona; so is a domain list with an entry that is not a domain.
    pub(crate) fn wanted(&self) -> Result<Option<Wanted>, ApiError> {
        let domains = match self.domain_allow_list.as_deref() {
            Some(text) => DomainList::parse(text)?,
            None => None,
        };
        let allowed = match self.network_allow_list.as_deref() {
            None => None,
            Some(text) => AllowList::parse(text).map_err(|violation| {
                ApiError::bad_request(format!(
                    "Invalid networkAllowList `{text}`: {}",
                    violation.reason
                ))
            })?,
        };
        // NOTES-style: Daytona's own limit (`validateNetworkAllowList`), with its 400 and text.
        if allowed
            .as_ref()
            .is_some_and(|list| list.networks().len() > MAX_ALLOWED_NETWORKS)
        {
            return Err(ApiError::bad_request(format!(
                "Network allow list cannot contain more than {MAX_ALLOWED_NETWORKS} networks"
            )));
        }
        let network = if self.network_block_all == Some(true) {
            Some(Network::Blocked)
        } else {
            match (allowed, &domains) {
                (allowed, Some(_)) => Some(Network::Proxied {
                    allowed,
                    web: super::egress_transparent::WEB_PORTS,
                }),
                (Some(list), None) => Some(Network::Allowed(list)),
                // Blocking is `Some(false)` or unsaid here; an empty list opens, as `false` does.
                (None, None) => self.says_anything().then_some(Network::Open),
            }
        };
        Ok(network.map(|network| Wanted { network, domains }))
    }

    /// Whether the settings say anything at all.
    fn says_anything(&self) -> bool {
        self.network_block_all.is_some()
            || self.network_allow_list.is_some()
            || self.domain_allow_list.is_some()
    }

    /// The settings a change (`self`) leaves over a sandbox's `current` ones, merged as Daytona
    /// merges them (`SandboxService.updateNetworkSettings`): what the change leaves unsaid is
    /// kept. Blocking clears the allow list; an allow list (a blank one clears it) unblocks;
    /// unblocking without one clears it, opening the network. NOTES-style: the domain list is
    /// newer than that code and follows the allow list's rules: a blank one clears it, a list
    /// unblocks, and blocking or unblocking without one clears it. A change that both blocks
    /// and names a list blocks, as such settings do on create; Daytona's code would let the
    /// list unblock, which is the less safe reading of a request that says both.
    pub(crate) fn over(&self, current: &NetworkSettings) -> NetworkSettings {
        if self.network_block_all == Some(true) {
            return NetworkSettings {
                network_block_all: Some(true),
                network_allow_list: None,
                domain_allow_list: None,
            };
        }
        let given = |list: &Option<String>| {
            list.as_deref().map(|text| {
                Some(text.trim())
                    .filter(|text| !text.is_empty())
                    .map(str::to_string)
            })
        };
        let mut merged = NetworkSettings {
            network_block_all: Some(current.network_block_all.unwrap_or(false)),
            network_allow_list: current.network_allow_list.clone(),
            domain_allow_list: current.domain_allow_list.clone(),
        };
        if self.network_block_all == Some(false) {
            merged.network_block_all = Some(false);
            merged.network_allow_list = None;
            merged.domain_allow_list = None;
        }
        for (change, kept) in [
            (&self.network_allow_list, &mut merged.network_allow_list),
            (&self.domain_allow_list, &mut merged.domain_allow_list),
        ] {
            if let Some(list) = given(change) {
                *kept = list.clone();
                if list.is_some() {
                    merged.network_block_all = Some(false);
                }
            }
        }
        merged
    }

    /// What the settings ask the network to reach, or `None` when they say nothing.
    pub(crate) fn network(&self) -> Result<Option<Network>, ApiError> {
        Ok(self.wanted()?.map(|wanted| wanted.network))
    }

    /// The settings as a sandbox's record keeps them, for `wanted`.
    pub(crate) fn of(wanted: &Wanted) -> NetworkSettings {
        NetworkSettings {
            network_block_all: Some(wanted.network == Network::Blocked),
            network_allow_list: wanted.network.allow_list().map(ToString::to_string),
            domain_allow_list: wanted.domains.as_ref().map(ToString::to_string),
        }
    }
}

/// `POST /sandbox/{id}/network-settings`: changes what a sandbox's network reaches, at once
/// (Daytona changes it in place), and the domains its web traffic may reach; what the change
/// leaves unsaid is kept (`NetworkSettings::over`). A sandbox with a
/// network of its own (made with `networkBlockAll`, a `networkAllowList` or a
/// `domainAllowList`, or given one since) may be blocked, filtered or opened at any time; its
/// secrets and domain list go on through the proxy in its new network. One on this machine's network gets one of its own when nothing of its
/// own runs (its commands' processes would be cut off); otherwise the change is a 422 naming
/// what runs (NOTES-style: Daytona moves running processes too).
async fn network_settings(
    State(state): State<Arc<AppState>>,
    Path(id_or_name): Path<String>,
    JsonBody(settings): JsonBody<NetworkSettings>,
) -> Result<Json<Sandbox>, ApiError> {
    let sandbox = resolve(&state, &id_or_name).await?;
    if !settings.says_anything() {
        return Err(ApiError::bad_request(
            "At least one of networkBlockAll, networkAllowList or domainAllowList must be set",
        ));
    }
    let record = state.store.sandbox(&sandbox.id);
    let current = NetworkSettings {
        network_block_all: Some(record.network_block_all),
        network_allow_list: record.network_allow_list.clone(),
        domain_allow_list: record.domain_allow_list.clone(),
    };
    // Merged settings always say whether the network is blocked, so this is never `None`.
    let wanted = settings
        .over(&current)
        .wanted()?
        .ok_or_else(|| ApiError::bad_request("The network settings say nothing"))?;
    let gets_own = !record.has_own_network() && wanted.network != Network::Open;
    if gets_own && super::sandbox_link::is_linked(&state, &sandbox.id) {
        return Err(super::sandbox_link::own_network_refused());
    }
    state
        .provider
        .set_network(&sandbox.id, &wanted.network)
        .await
        .map_err(|error| match error {
            ProviderError::Unsupported { operation, .. } => {
                ApiError::not_possible(format!("Cannot change this sandbox's network: {operation}"))
            }
            other => ApiError::from_provider(other, &id_or_name),
        })?;
    let recorded = NetworkSettings::of(&wanted);
    let record = state.store.update_sandbox(&sandbox.id, |record| {
        record.network_block_all = recorded.network_block_all.unwrap_or(false);
        record.network_allow_list = recorded.network_allow_list.clone();
        record.domain_allow_list = recorded.domain_allow_list.clone();
        record.updated_at = now();
    })?;
    // Secrets and a domain list need the proxy where the sandbox's network now is.
    let had_egress = state.vault.mount_of(&sandbox.id).is_some();
    super::egress_sandbox::configure(&state, &sandbox.id, had_egress).await?;
    Ok(Json(sandbox_dto(&state, &sandbox, &record, now())))
}

/// `POST /sandbox/{id}/autopause/{minutes}`: local sandboxes cannot pause (see `/pause`).
async fn auto_pause(
    State(state): State<Arc<AppState>>,
    Path((id_or_name, _minutes)): Path<(String, String)>,
) -> Result<Json<Sandbox>, ApiError> {
    resolve(&state, &id_or_name).await?;
    Err(ApiError::not_possible(
        "Pausing is not supported for this sandbox: local sandboxes are containers, which Daytona pauses only as VMs",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_local_region_is_found() {
        for blank in [None, Some(""), Some(" "), Some("local")] {
            assert_eq!(region(blank).unwrap(), "local");
        }
        let error = region(Some("us")).unwrap_err();
        assert_eq!(error.status, StatusCode::NOT_FOUND);
    }

    #[test]
    fn settings_read_as_daytona_reads_them() {
        let settings = |block: Option<bool>, allow: Option<&str>| NetworkSettings {
            network_block_all: block,
            network_allow_list: allow.map(str::to_string),
            domain_allow_list: None,
        };
        let network = |block, allow| settings(block, allow).network().unwrap();
        assert_eq!(network(None, None), None);
        assert_eq!(
            network(Some(true), Some("10.0.0.0/8")),
            Some(Network::Blocked)
        );
        assert_eq!(network(Some(false), None), Some(Network::Open));
        assert_eq!(network(None, Some(" ")), Some(Network::Open));
        let allowed = settings(Some(false), Some("10.0.0.0/8, 192.168.0.0/16"))
            .wanted()
            .unwrap()
            .unwrap();
        assert_eq!(
            NetworkSettings::of(&allowed).network_allow_list.as_deref(),
            Some("10.0.0.0/8,192.168.0.0/16")
        );
        let error = settings(None, Some("10.0.0.0/8,example.com"))
            .network()
            .unwrap_err();
        assert_eq!(error.status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn a_change_keeps_what_it_leaves_unsaid_as_daytona_merges_it() {
        let settings =
            |block: Option<bool>, allow: Option<&str>, domains: Option<&str>| NetworkSettings {
                network_block_all: block,
                network_allow_list: allow.map(str::to_string),
                domain_allow_list: domains.map(str::to_string),
            };
        #[track_caller]
        fn case(current: &NetworkSettings, change: &NetworkSettings, expected: &NetworkSettings) {
            let merged = change.over(current);
            assert_eq!(
                (
                    merged.network_block_all,
                    merged.network_allow_list.as_deref(),
                    merged.domain_allow_list.as_deref()
                ),
                (
                    expected.network_block_all,
                    expected.network_allow_list.as_deref(),
                    expected.domain_allow_list.as_deref()
                ),
                "{change:?} over {current:?}"
            );
        }
        let filtered = settings(Some(false), Some("10.0.0.0/8"), Some("example.com"));
        // A list alone changes that list and keeps the other.
        case(
            &filtered,
            &settings(None, Some("192.168.0.0/16"), None),
            &settings(Some(false), Some("192.168.0.0/16"), Some("example.com")),
        );
        case(
            &filtered,
            &settings(None, None, Some("*.test")),
            &settings(Some(false), Some("10.0.0.0/8"), Some("*.test")),
        );
        // A blank list clears it alone.
        case(
            &filtered,
            &settings(None, Some(" "), None),
            &settings(Some(false), None, Some("example.com")),
        );
        // Blocking clears the lists; unblocking without a list clears them too: open.
        case(
            &filtered,
            &settings(Some(true), None, None),
            &settings(Some(true), None, None),
        );
        case(
            &filtered,
            &settings(Some(false), None, None),
            &settings(Some(false), None, None),
        );
        // A change that blocks and lists blocks.
        case(
            &filtered,
            &settings(Some(true), Some("192.168.0.0/16"), Some("*.test")),
            &settings(Some(true), None, None),
        );
        // A list unblocks a blocked sandbox, and keeps a list given with the block.
        let blocked = settings(Some(true), None, None);
        case(
            &blocked,
            &settings(None, Some("10.0.0.0/8"), None),
            &settings(Some(false), Some("10.0.0.0/8"), None),
        );
        case(
            &blocked,
            &settings(Some(false), Some("10.0.0.0/8"), None),
            &settings(Some(false), Some("10.0.0.0/8"), None),
        );
        case(
            &blocked,
            &settings(None, Some(""), None),
            &settings(Some(true), None, None),
        );
        assert_eq!(
            settings(None, None, Some("example.com"))
                .over(&blocked)
                .wanted()
                .unwrap()
                .map(|wanted| wanted.domains.map(|list| list.to_string())),
            Some(Some("example.com".to_string()))
        );
    }

    #[test]
    fn a_domain_list_gives_a_network_of_its_own_with_the_name_server_or_the_allow_list() {
        let wanted = |block: Option<bool>, allow: Option<&str>, domains: &str| {
            NetworkSettings {
                network_block_all: block,
                network_allow_list: allow.map(str::to_string),
                domain_allow_list: Some(domains.to_string()),
            }
            .wanted()
        };
        let only = wanted(None, None, "Example.com,*.test").unwrap().unwrap();
        assert!(matches!(
            only.network,
            Network::Proxied { allowed: None, .. }
        ));
        let recorded = NetworkSettings::of(&only);
        assert_eq!(
            recorded.domain_allow_list.as_deref(),
            Some("example.com,*.test")
        );
        assert_eq!(recorded.network_block_all, Some(false));
        let listed = wanted(None, Some("10.0.2.2/32"), "example.com")
            .unwrap()
            .unwrap();
        assert!(matches!(
            listed.network,
            Network::Proxied {
                allowed: Some(_),
                ..
            }
        ));
        assert_eq!(
            NetworkSettings::of(&listed).network_allow_list.as_deref(),
            Some("10.0.2.2/32")
        );
        let blocked = wanted(Some(true), None, "example.com").unwrap().unwrap();
        assert_eq!(blocked.network, Network::Blocked);
        // A blank list lists nothing: the network opens, as an empty allow list opens it.
        let blank = wanted(None, None, " ").unwrap().unwrap();
        assert_eq!((blank.network, blank.domains), (Network::Open, None));
        let error = wanted(None, None, "example.com,not a domain").unwrap_err();
        assert_eq!(error.status, StatusCode::BAD_REQUEST);
        assert!(
            error.message.contains("`not a domain`"),
            "{}",
            error.message
        );
    }
}
