//! The organisation's secret vault: secrets (name, description, allowed hosts, opaque
//! placeholder and the value), which sandbox mounts which secret under which variable, and each
//! mounting sandbox's egress credential, kept in `<state root>/serve-secrets.json`.
//!
//! The value lives only in that file (written 0600 by `durable`, under the state root that
//! sandboxes never see) and in this process's memory, as a [`Secret`], which prints as
//! `<secret>`. Nothing here returns a value but [`Vault::substitutions`], which the egress proxy
//! calls to rewrite a request on its way out. It must not log, and its errors name secrets, never
//! their values.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::ServeError;
use super::error::ApiError;
use super::secret_vault_names::{check_hosts, check_name, host_allowed};
use super::state::{Millis, now};
use crate::secret::Secret;

/// The vault file's name under the state root.
pub(crate) const VAULT_FILE: &str = "serve-secrets.json";

/// One secret, value included.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredSecret {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    #[serde(with = "secret_text")]
    pub(crate) value: Secret,
    pub(crate) placeholder: String,
    pub(crate) hosts: Vec<String>,
    pub(crate) created_at: Millis,
    pub(crate) updated_at: Millis,
}

/// The secrets one sandbox mounts (variable to secret name) and the credential its egress
/// requests carry (a random token: it reaches no value, only lets the proxy know the sandbox).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Mount {
    pub(crate) env: BTreeMap<String, String>,
    pub(crate) token: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct Records {
    secrets: Vec<StoredSecret>,
    mounts: BTreeMap<String, Mount>,
    /// The egress proxy's port: sandboxes keep it in their environment, so a restart takes it
    /// again when it can.
    egress_port: Option<u16>,
}

/// The value is written to the vault file, the one place it is serialised.
mod secret_text {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::secret::Secret;

    pub(super) fn serialize<S: Serializer>(value: &Secret, out: S) -> Result<S::Ok, S::Error> {
        out.serialize_str(value.expose())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(input: D) -> Result<Secret, D::Error> {
        String::deserialize(input).map(Secret::new)
    }
}

/// A secret's value on its way to one allowed request: what to look for and what to put.
pub(crate) struct Substitution {
    pub(crate) placeholder: String,
    pub(crate) value: Secret,
}

/// What deleting a secret took from one sandbox: the variables it was mounted as, and whether
/// it was the sandbox's last secret (its egress credential went with it).
#[derive(Debug, PartialEq)]
pub(crate) struct Unmounted {
    pub(crate) sandbox: String,
    pub(crate) variables: Vec<String>,
    pub(crate) last: bool,
}

/// What a create or an update asks.
pub(crate) struct SecretFields {
    pub(crate) value: Option<Secret>,
    pub(crate) description: Option<String>,
    pub(crate) hosts: Option<Vec<String>>,
}

/// The vault behind a lock, saved after every change. The lock is a `std` mutex, never held
/// across an await: every method reads or writes and returns.
pub(crate) struct Vault {
    path: Option<PathBuf>,
    records: Mutex<Records>,
}

impl Vault {
    /// Loads `<dir>/serve-secrets.json` (a missing file is an empty vault); `None` keeps it in
    /// memory.
    pub(crate) fn open(dir: Option<&Path>) -> Result<Vault, ServeError> {
        let path = dir.map(|dir| dir.join(VAULT_FILE));
        let records = super::state::load_json(path.as_deref())?;
        Ok(Vault {
            path,
            records: Mutex::new(records),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Records> {
        self.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn read<R>(&self, read: impl FnOnce(&Records) -> R) -> R {
        read(&self.lock())
    }

    /// Changes the records when `change` succeeds and saves them before the lock is released.
    fn write<R>(
        &self,
        change: impl FnOnce(&mut Records) -> Result<R, ApiError>,
    ) -> Result<R, ApiError> {
        let mut records = self.lock();
        let mut changed = Records {
            secrets: records.secrets.clone(),
            mounts: records.mounts.clone(),
            egress_port: records.egress_port,
        };
        let result = change(&mut changed)?;
        if let Some(path) = &self.path {
            let bytes = serde_json::to_vec_pretty(&changed)
                .map_err(|error| ApiError::internal(format!("cannot encode the vault: {error}")))?;
            crate::durable::write(path, &bytes, crate::durable::Existing::Replace).map_err(
                |error| ApiError::internal(format!("cannot save `{}`: {error}", path.display())),
            )?;
        }
        *records = changed;
        Ok(result)
    }

    /// The egress proxy's port when it last ran.
    pub(crate) fn egress_port(&self) -> Option<u16> {
        self.read(|records| records.egress_port)
    }

    pub(crate) fn set_egress_port(&self, port: u16) -> Result<(), ApiError> {
        self.write(|records| {
            records.egress_port = Some(port);
            Ok(())
        })
    }

    /// Every secret, value included (callers answer with [`super::secret_vault_routes`]'s view).
    pub(crate) fn secrets(&self) -> Vec<StoredSecret> {
        self.read(|records| records.secrets.clone())
    }

    pub(crate) fn get(&self, id: &str) -> Result<StoredSecret, ApiError> {
        self.read(|records| records.secrets.iter().find(|s| s.id == id).cloned())
            .ok_or_else(|| not_found(id))
    }

    pub(crate) fn create(
        &self,
        name: &str,
        fields: SecretFields,
    ) -> Result<StoredSecret, ApiError> {
        check_name(name)?;
        let hosts = check_hosts(fields.hosts.unwrap_or_default())?;
        let value = fields
            .value
            .filter(|value| !value.expose().is_empty())
            .ok_or_else(|| ApiError::bad_request("value should not be empty"))?;
        self.write(|records| {
            if records.secrets.iter().any(|secret| secret.name == name) {
                return Err(ApiError::conflict(format!(
                    "Secret with name {name} already exists"
                )));
            }
            let at = now();
            let secret = StoredSecret {
                id: uuid::Uuid::new_v4().to_string(),
                name: name.to_string(),
                description: fields.description,
                value,
                placeholder: format!("dtn_secret_{}", uuid::Uuid::new_v4().simple()),
                hosts,
                created_at: at,
                updated_at: at,
            };
            records.secrets.push(secret.clone());
            Ok(secret)
        })
    }

    /// Changes what `fields` has; the placeholder stays, so mounting sandboxes need nothing new.
    pub(crate) fn update(&self, id: &str, fields: SecretFields) -> Result<StoredSecret, ApiError> {
        let hosts = fields.hosts.map(check_hosts).transpose()?;
        self.write(|records| {
            let secret = records
                .secrets
                .iter_mut()
                .find(|secret| secret.id == id)
                .ok_or_else(|| not_found(id))?;
            if let Some(value) = fields.value {
                if value.expose().is_empty() {
                    return Err(ApiError::bad_request("value should not be empty"));
                }
                secret.value = value;
            }
            if let Some(description) = fields.description {
                secret.description = Some(description);
            }
            if let Some(hosts) = hosts {
                secret.hosts = hosts;
            }
            secret.updated_at = now();
            Ok(secret.clone())
        })
    }

    /// Deletes a secret and unmounts it from every sandbox that mounts it (a sandbox left with
    /// nothing mounted loses its egress credential); answers what each of those sandboxes
    /// mounted it as, for the caller to take out of their environment.
    pub(crate) fn delete(&self, id: &str) -> Result<Vec<Unmounted>, ApiError> {
        self.write(|records| {
            let index = records
                .secrets
                .iter()
                .position(|secret| secret.id == id)
                .ok_or_else(|| not_found(id))?;
            let name = records.secrets.remove(index).name;
            let mut unmounted = Vec::new();
            records.mounts.retain(|sandbox, mount| {
                let variables: Vec<String> = mount
                    .env
                    .iter()
                    .filter(|(_, mounted)| **mounted == name)
                    .map(|(variable, _)| variable.clone())
                    .collect();
                if variables.is_empty() {
                    return true;
                }
                mount.env.retain(|_, mounted| *mounted != name);
                unmounted.push(Unmounted {
                    sandbox: sandbox.clone(),
                    variables,
                    last: mount.env.is_empty(),
                });
                !mount.env.is_empty()
            });
            Ok(unmounted)
        })
    }

    /// Checks that every entry names a secret, as Daytona does before it mounts any.
    pub(crate) fn resolve_names(
        &self,
        env: &BTreeMap<String, String>,
    ) -> Result<Vec<(String, StoredSecret)>, ApiError> {
        self.read(|records| {
            env.iter()
                .map(|(variable, name)| {
                    records
                        .secrets
                        .iter()
                        .find(|secret| &secret.name == name)
                        .map(|secret| (variable.clone(), secret.clone()))
                        .ok_or_else(|| {
                            ApiError::bad_request(format!(
                                "Secret {name} (for {variable}) not found in the organization"
                            ))
                        })
                })
                .collect()
        })
    }

    /// Records what sandbox `id` mounts and its egress credential.
    pub(crate) fn mount(
        &self,
        id: &str,
        env: BTreeMap<String, String>,
        token: String,
    ) -> Result<(), ApiError> {
        self.write(|records| {
            records.mounts.insert(id.to_string(), Mount { env, token });
            Ok(())
        })
    }

    pub(crate) fn mount_of(&self, id: &str) -> Option<Mount> {
        self.read(|records| records.mounts.get(id).cloned())
    }

    /// Every mount, by sandbox id.
    pub(crate) fn mounts(&self) -> BTreeMap<String, Mount> {
        self.read(|records| records.mounts.clone())
    }

    /// Forgets what a deleted sandbox mounted (its credential stops working).
    pub(crate) fn unmount(&self, id: &str) -> Result<(), ApiError> {
        if self.mount_of(id).is_none() {
            return Ok(());
        }
        self.write(|records| {
            records.mounts.remove(id);
            Ok(())
        })
    }

    /// The sandbox whose egress credential is `token`.
    pub(crate) fn sandbox_of(&self, sandbox: &str, token: &str) -> bool {
        self.read(|records| {
            records.mounts.get(sandbox).is_some_and(|mount| {
                !mount.token.is_empty() && constant_time_eq(&mount.token, token)
            })
        })
    }

    /// What a request of `sandbox` to `host` may carry: the values of its mounted secrets that
    /// allow `host`.
    pub(crate) fn substitutions(&self, sandbox: &str, host: &str) -> Vec<Substitution> {
        self.read(|records| {
            let Some(mount) = records.mounts.get(sandbox) else {
                return Vec::new();
            };
            mount
                .env
                .values()
                .filter_map(|name| records.secrets.iter().find(|s| &s.name == name))
                .filter(|secret| host_allowed(&secret.hosts, host))
                .map(|secret| Substitution {
                    placeholder: secret.placeholder.clone(),
                    value: secret.value.clone(),
                })
                .collect()
        })
    }
}

/// A new egress credential: 24 random bytes, hex.
pub(crate) fn new_token() -> Result<String, ApiError> {
    super::secret_file::random_bytes(24)
        .map(hex::encode)
        .map_err(ApiError::internal)
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        format!("Secret with ID {id} not found"),
    )
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |diff, (x, y)| diff | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests;
