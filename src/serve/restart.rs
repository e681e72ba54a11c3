//! What `serve` tidies at start, before it serves anything: what a run killed midway left
//! between its records (`serve.json`) and the provider, which is the truth about sandboxes.

use std::collections::BTreeSet;
use std::path::Path;

use super::ServeError;
use super::state::{RECORDS_FILE, Store};
use crate::provider::{Provider, ProviderError};

/// Forgets the records of sandboxes the provider no longer has, with their SSH tokens and
/// signed preview links, as a delete does: a run killed between the provider's delete and
/// forgetting the record left them. A record whose sandbox cannot be looked up for another
/// reason stays; nothing but sandbox records is touched. Returns how many were forgotten.
pub async fn forget_gone_sandboxes(
    state_dir: &Path,
    provider: &dyn Provider,
) -> Result<usize, ServeError> {
    let store = Store::open(Some(state_dir))?;
    let ids: Vec<String> = store.read(|records| records.sandboxes.keys().cloned().collect());
    let mut forgotten = 0;
    for id in ids {
        if let Err(ProviderError::NotFound { .. }) = provider.get(&id).await {
            store
                .remove_sandbox(&id)
                .map_err(|error| ServeError::State {
                    path: state_dir.join(RECORDS_FILE),
                    message: error.message,
                })?;
            forgotten += 1;
        }
    }
    Ok(forgotten)
}

/// The ids of the volumes the records hold and that are not deleted: the only volumes whose
/// files may stay.
pub fn live_volumes(state_dir: &Path) -> Result<BTreeSet<String>, ServeError> {
    let store = Store::open(Some(state_dir))?;
    Ok(store.read(|records| {
        records
            .volumes
            .iter()
            .filter(|record| record.gone_at.is_none())
            .map(|record| record.dto.id.clone())
            .collect()
    }))
}
