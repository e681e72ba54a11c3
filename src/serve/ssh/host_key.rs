//! The gateway's host key: an Ed25519 key kept at `<state root>/ssh_host_ed25519_key` (0600,
//! OpenSSH format) so that clients' `known_hosts` entries stay valid across restarts, made on
//! first start. Without a state root the key lives in memory only.
//!
//! The private key is never printed; errors name the file, not its contents.

use std::path::Path;

use russh::keys::PrivateKey;
use russh::keys::ssh_key::LineEnding;
use russh::keys::ssh_key::private::Ed25519Keypair;

use crate::serve::ServeError;
use crate::serve::secret_file;

/// The host key's file name under the state root.
pub(crate) const HOST_KEY_FILE: &str = "ssh_host_ed25519_key";

/// The key in `dir`, made there if missing; a fresh key when `dir` is `None`.
pub(crate) fn load_or_create(dir: Option<&Path>) -> Result<PrivateKey, ServeError> {
    let path = dir.map(|dir| dir.join(HOST_KEY_FILE));
    let failed = |message: String| ServeError::HostKey {
        path: path.clone().unwrap_or_default(),
        message,
    };
    let Some(file) = &path else {
        return generate().map_err(failed);
    };
    let text = secret_file::load_or_create(file, || {
        let key = generate()?;
        let text = key
            .to_openssh(LineEnding::LF)
            .map_err(|error| error.to_string())?;
        Ok(text.as_bytes().to_vec())
    })
    .map_err(failed)?;
    PrivateKey::from_openssh(text).map_err(|error| failed(format!("not a key: {error}")))
}

fn generate() -> Result<PrivateKey, String> {
    let seed: [u8; 32] = secret_file::random_bytes(32)?
        .try_into()
        .map_err(|_| "no random source".to_string())?;
    Ok(PrivateKey::from(Ed25519Keypair::from_seed(&seed)))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn the_key_is_made_once_0600_and_read_back_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(Some(dir.path())).unwrap();
        let mode = std::fs::metadata(dir.path().join(HOST_KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let second = load_or_create(Some(dir.path())).unwrap();
        assert_eq!(first.public_key(), second.public_key());
        let other = load_or_create(None).unwrap();
        assert_ne!(first.public_key(), other.public_key());
    }

    #[test]
    fn a_damaged_key_file_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(HOST_KEY_FILE), "not a key").unwrap();
        let error = load_or_create(Some(dir.path())).unwrap_err();
        assert!(error.to_string().contains(HOST_KEY_FILE), "{error}");
    }
}
