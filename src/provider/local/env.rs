//! Environment changes of a running `local` sandbox (`Provider::set_env`), kept in a 0600
//! `env.json` beside the metadata so that later commands and shells start with them.
//!
//! They are not written to `sandbox.json` and not shown in [`Sandbox::env`]: the values may be
//! credentials, and on Daytona too they change the sandbox's processes, not its record. They
//! reach a process only through its environment, never its command line.
//!
//! [`Sandbox::env`]: crate::provider::Sandbox::env

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::exec::{ensure_started, invalid_name};
use super::store::{Store, io_error};
use super::{LocalProvider, blocking};
use crate::names::EnvName;
use crate::provider::{ProviderError, Result};

const ENV_FILE: &str = "env.json";

/// Changes on top of the environment a sandbox was created with.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct EnvChanges {
    /// Set (or overridden) after create.
    set: BTreeMap<String, String>,
    /// Create-time variables removed after create.
    unset: BTreeSet<String>,
}

impl EnvChanges {
    /// The create-time environment with these changes applied.
    pub(crate) fn apply(&self, created: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        let mut env: BTreeMap<String, String> = created
            .iter()
            .filter(|(name, _)| !self.unset.contains(*name))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        env.extend(self.set.clone());
        env
    }

    fn change(&mut self, set: &BTreeMap<String, String>, unset: &[String]) {
        for name in unset {
            self.set.remove(name);
            self.unset.insert(name.clone());
        }
        for (name, value) in set {
            self.unset.remove(name);
            self.set.insert(name.clone(), value.clone());
        }
    }
}

impl Store {
    fn env_path(&self, id: &str) -> PathBuf {
        self.sandbox_dir(id).join(ENV_FILE)
    }

    /// The sandbox's changes; none when it never had any.
    pub(crate) fn env_changes(&self, id: &str) -> Result<EnvChanges> {
        let path = self.env_path(id);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|error| {
                ProviderError::transport(format!("cannot parse `{}`: {error}", path.display()))
            }),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(EnvChanges::default()),
            Err(error) => Err(io_error("read", &path, error)),
        }
    }

    /// Replaces the changes atomically, readable by the owner only. Callers hold the exclusive
    /// lock.
    fn write_env_changes(&self, id: &str, changes: &EnvChanges) -> Result<()> {
        let target = self.env_path(id);
        let text = serde_json::to_vec(changes).map_err(|error| {
            ProviderError::transport(format!("cannot encode environment changes: {error}"))
        })?;
        crate::durable::write(&target, &text, crate::durable::Existing::Replace)
            .map_err(|error| io_error("write", &target, error))
    }
}

impl LocalProvider {
    /// `unset` first, then `set`, for every command and shell started afterwards.
    pub(crate) async fn change_env(
        &self,
        id: &str,
        set: &BTreeMap<String, String>,
        unset: &[String],
    ) -> Result<()> {
        if let Some(name) = set
            .keys()
            .chain(unset)
            .find(|name| !EnvName::is_valid(name))
        {
            return Err(invalid_name(name));
        }
        let (store, id) = (self.store.clone(), id.to_string());
        let (set, unset) = (set.clone(), unset.to_vec());
        blocking(move || {
            let _lock = store.lock(true)?;
            let metadata = store.resolve(&id)?;
            ensure_started(&metadata)?;
            let mut changes = store.env_changes(&metadata.id)?;
            changes.change(&set, &unset);
            store.write_env_changes(&metadata.id, &changes)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_removes_create_time_values_and_set_wins_after_it() {
        let created = BTreeMap::from([
            ("KEPT".to_string(), "1".to_string()),
            ("GONE".to_string(), "2".to_string()),
            ("BACK".to_string(), "3".to_string()),
        ]);
        let mut changes = EnvChanges::default();
        changes.change(
            &BTreeMap::from([("NEW".to_string(), "a=b".to_string())]),
            &["GONE".to_string(), "BACK".to_string()],
        );
        changes.change(
            &BTreeMap::from([("BACK".to_string(), "4".to_string())]),
            &[],
        );
        let env = changes.apply(&created);
        assert_eq!(
            env,
            BTreeMap::from([
                ("BACK".to_string(), "4".to_string()),
                ("KEPT".to_string(), "1".to_string()),
                ("NEW".to_string(), "a=b".to_string()),
            ])
        );
    }
}
