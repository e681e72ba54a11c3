//! Linked sandboxes (`linkedSandbox` on create): a follower placed beside an owner so that it
//! reaches the owner's servers by the owner's name, as Daytona's link network registers the
//! owner under its name.
//!
//! Here a sandbox made open shares this machine's network, so the owner's ports are on
//! loopback already; what a link adds is the name: the follower's `/etc/hosts` maps the
//! owner's name to `127.0.0.1` (under bubblewrap; without it a sandbox sees the host's file).
//! A sandbox with a network of its own (`networkBlockAll`, a `networkAllowList`) has its own
//! loopback, where neither could reach the other: linking one, or giving one of a link a
//! network of its own, is refused with the reason. Daytona's rules are checked before anything
//! is made: the follower must be ephemeral (`autoDeleteInterval` 0), and an owner cannot itself
//! be a follower. This file decides links; it makes nothing.

use std::collections::BTreeMap;

use super::error::ApiError;
use super::sandbox::resolve;
use super::state::AppState;
use crate::daytona_api::CreateSandbox;

/// The address a follower reaches its owner at.
const OWNER_ADDRESS: &str = "127.0.0.1";

/// A follower's link: its owner's id, and the host names the follower resolves.
pub(crate) struct Link {
    pub(crate) owner_id: String,
    pub(crate) hosts: BTreeMap<String, String>,
}

/// The link `request` asks for, if any, or Daytona's 400 or 404 when it breaks a rule. The
/// follower is to have a network of its own when `own_network` says so.
pub(crate) async fn link(
    state: &AppState,
    request: &CreateSandbox,
    own_network: bool,
) -> Result<Option<Link>, ApiError> {
    let Some(owner) = request
        .linked_sandbox
        .as_deref()
        .map(str::trim)
        .filter(|owner| !owner.is_empty())
    else {
        return Ok(None);
    };
    if request.auto_delete_interval != Some(0) {
        return Err(ApiError::bad_request(
            "Linked sandboxes must be ephemeral (autoDeleteInterval=0)",
        ));
    }
    if request.gpu.unwrap_or(0) > 0 || request.gpu_type.is_some() {
        return Err(ApiError::bad_request("GPU sandboxes cannot be linked"));
    }
    let owner = resolve(state, owner).await?;
    let record = state.store.sandbox(&owner.id);
    if record.linked_sandbox_id.is_some() {
        return Err(ApiError::bad_request(format!(
            "Sandbox {} is itself linked to another sandbox and cannot be linked to",
            owner.name
        )));
    }
    if own_network || record.has_own_network() {
        return Err(own_network_refused());
    }
    let mut hosts = BTreeMap::new();
    if is_host_name(&owner.name) {
        hosts.insert(owner.name.clone(), OWNER_ADDRESS.to_string());
    }
    Ok(Some(Link {
        owner_id: owner.id,
        hosts,
    }))
}

/// Whether sandbox `id` is one of a link, as the follower or as an owner that has one.
pub(crate) fn is_linked(state: &AppState, id: &str) -> bool {
    state.store.read(|records| {
        records
            .sandboxes
            .get(id)
            .is_some_and(|record| record.linked_sandbox_id.is_some())
            || records
                .sandboxes
                .values()
                .any(|record| record.linked_sandbox_id.as_deref() == Some(id))
    })
}

/// Why a sandbox of a link cannot have a network of its own.
pub(crate) fn own_network_refused() -> ApiError {
    ApiError::not_possible(
        "Linked sandboxes cannot have a network of their own (networkBlockAll or a networkAllowList) on local sandboxes: a follower reaches its owner on this machine's loopback, which a network of its own does not share",
    )
}

/// Whether `name` can stand in `/etc/hosts`: letters, digits, `-` and `.`, as DNS names are.
fn is_host_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && !name.starts_with(['-', '.'])
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_dns_like_names_go_into_hosts_files() {
        assert!(is_host_name("owner-1.example"));
        assert!(is_host_name("8a2f0c1e9b7d"));
        assert!(!is_host_name("two words"));
        assert!(!is_host_name("-flag"));
        assert!(!is_host_name("tab\tname"));
        assert!(!is_host_name(""));
    }
}
