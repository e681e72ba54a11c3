//! Reading secret values from the host, the one place they are read.
//!
//! Called by `up` just before setup runs. The values go into [`Secret`]s, which never print;
//! errors name the secret and its host variable, never a value.

use super::{TeamError, Teammate};
use crate::secret::{Secret, Secrets};

/// The values of a teammate's secrets, by the name they have in the sandbox. A host variable
/// that is unset or empty is an error: an empty credential only fails later, less clearly.
pub fn read_secrets(
    teammate: &Teammate,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Secrets, TeamError> {
    let mut secrets = Secrets::new();
    for secret in &teammate.secrets {
        let value = env(&secret.host_var)
            .filter(|value| !value.is_empty())
            .ok_or_else(|| TeamError::SecretNotSet {
                teammate: teammate.name.clone(),
                name: secret.name.clone(),
                host_var: secret.host_var.clone(),
            })?;
        secrets.insert(secret.name.clone(), Secret::new(value));
    }
    Ok(secrets)
}

/// Looks a variable up in this process's environment: the `env` argument for real runs.
pub fn host_env(name: &str) -> Option<String> {
    std::env::var_os(name).map(|value| value.to_string_lossy().into_owned())
}
