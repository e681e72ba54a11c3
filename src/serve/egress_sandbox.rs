//! What a sandbox's outbound web traffic is told to go through, as its proxy variables
//! (`HTTP_PROXY`, `HTTPS_PROXY`, both cases): the egress proxy, with the sandbox's egress
//! credential and the CA bundle that makes the proxy's certificates trusted, when the proxy is in
//! play (it mounts secrets, or has a domain allow list); else its outbound proxy, when it has
//! one (Daytona's convenience routing); else nothing of ours.
//!
//! The variables are changes of the running sandbox's environment (`Provider::set_env`), not
//! create-time env, so the sandbox record never shows a credential. A stopped sandbox keeps what
//! it had; it is configured again when it starts. This file sets variables and credentials; the
//! secrets' own placeholders are `secret_vault_routes`'.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::egress_network;
use super::error::ApiError;
use super::state::AppState;
use crate::provider::{self, ExecRequest};

/// The variables a proxy is given to a sandbox by.
const PROXY_VARIABLES: [&str; 4] = ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"];

/// Where the common TLS stacks read extra trusted CAs: OpenSSL and Go (`SSL_CERT_FILE`), Node
/// (`NODE_EXTRA_CA_CERTS`), Python's requests, curl and git. They are set rather than binding a
/// bundle over the system path because they work the same with and without bubblewrap and need
/// nothing of the provider's mounts; a program that reads none of them (Java's own store) does
/// not trust the proxy and fails its TLS handshake, sending nothing.
const CA_VARIABLES: [&str; 5] = [
    "SSL_CERT_FILE",
    "NODE_EXTRA_CA_CERTS",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "GIT_SSL_CAINFO",
];

/// The bundle's name in the sandbox's home.
const BUNDLE_FILE: &str = ".ralph-town-egress-ca.pem";

/// Every variable the egress proxy is given by.
pub(crate) fn egress_variables() -> impl Iterator<Item = String> {
    PROXY_VARIABLES
        .iter()
        .chain(&CA_VARIABLES)
        .map(ToString::to_string)
}

/// Gives sandbox `id` the proxy variables its secrets, domain allow list and outbound proxy call
/// for, and the egress credential (kept, or made) when the egress proxy is in play; dropped
/// otherwise. `had_egress`: it was given the egress proxy before, whose variables then go.
/// Nothing is changed in a sandbox that is not started. Its connections open through the proxy
/// check first that its settings (recorded before this is called) still admit them.
pub(crate) async fn configure(
    state: &Arc<AppState>,
    id: &str,
    had_egress: bool,
) -> Result<(), ApiError> {
    state.egress.changes.changed(id);
    if !started(state, id).await {
        return Ok(());
    }
    let record = state.store.sandbox(id);
    let mount = state.vault.mount_of(id);
    let secrets = mount.as_ref().is_some_and(|mount| !mount.env.is_empty());
    if secrets || record.domain_allow_list.is_some() {
        let mount = mount.unwrap_or_default();
        let token = Some(mount.token)
            .filter(|token| !token.is_empty())
            .map_or_else(super::secret_vault::new_token, Ok)?;
        state.vault.mount(id, mount.env, token.clone())?;
        let reach = egress_network::ensure(state, id).await?;
        let proxy = state.egress.proxy_url(id, &token, reach);
        let mut set: BTreeMap<String, String> = PROXY_VARIABLES
            .iter()
            .map(|variable| (variable.to_string(), proxy.clone()))
            .collect();
        let bundle = install_bundle(state, id).await?;
        for variable in CA_VARIABLES {
            set.insert(variable.to_string(), bundle.clone());
        }
        return set_env(state, id, &set, &[]).await;
    }
    state.vault.unmount(id)?;
    state.egress.listeners.forget(id).await;
    let unset: Vec<String> = if had_egress {
        egress_variables().collect()
    } else {
        Vec::new()
    };
    let set: BTreeMap<String, String> = match &record.outbound_proxy_url {
        Some(url) => PROXY_VARIABLES
            .iter()
            .map(|variable| (variable.to_string(), url.clone()))
            .collect(),
        None => BTreeMap::new(),
    };
    if set.is_empty() && unset.is_empty() {
        return Ok(());
    }
    set_env(state, id, &set, &unset).await
}

/// Configures sandbox `id` again as it starts: its network is new (the egress proxy's listener
/// goes in it), and what it was given while stopped takes effect. A listener that fails here
/// is made again by `egress_network::watch`.
pub(crate) async fn restarted(state: &Arc<AppState>, id: &str) {
    let record = state.store.sandbox(id);
    let had_egress = state.vault.mount_of(id).is_some();
    if had_egress || record.domain_allow_list.is_some() || record.outbound_proxy_url.is_some() {
        let _ = configure(state, id, had_egress).await;
    }
}

async fn started(state: &AppState, id: &str) -> bool {
    state
        .provider
        .get(id)
        .await
        .is_ok_and(|sandbox| sandbox.state == provider::SandboxState::Started)
}

pub(crate) async fn set_env(
    state: &AppState,
    id: &str,
    set: &BTreeMap<String, String>,
    unset: &[String],
) -> Result<(), ApiError> {
    state
        .provider
        .set_env(id, set, unset)
        .await
        .map_err(|error| ApiError::from_provider(error, id))
}

/// What `command` printed in sandbox `id`, run as the sandbox's commands run.
pub(crate) async fn run(state: &AppState, id: &str, command: &str) -> Result<String, ApiError> {
    let request = ExecRequest {
        command: command.to_string(),
        ..ExecRequest::default()
    };
    let output = state
        .provider
        .exec(id, &request)
        .await
        .map_err(|error| ApiError::from_provider(error, id))?;
    Ok(output.output)
}

/// Writes the CA bundle into the sandbox's home and answers its path as the sandbox sees it.
async fn install_bundle(state: &AppState, id: &str) -> Result<String, ApiError> {
    let home = run(state, id, "printf '%s' \"$HOME\"").await?;
    let home = home.trim_end_matches('\n');
    if home.is_empty() || home.contains('\n') {
        return Err(ApiError::internal(
            "cannot find the sandbox's home for the egress CA bundle",
        ));
    }
    let path = format!("{home}/{BUNDLE_FILE}");
    state
        .provider
        .upload(id, &path, &state.egress.authority.sandbox_bundle())
        .await
        .map_err(|error| ApiError::from_provider(error, id))?;
    Ok(path)
}
