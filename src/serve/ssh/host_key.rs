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

/// The host key's file name under the state root.
pub(crate) const HOST_KEY_FILE: &str = "ssh_host_ed25519_key";

/// The key in `dir`, made there if missing; a fresh key when `dir` is `None`.
pub(crate) fn load_or_create(dir: Option<&Path>) -> Result<PrivateKey, ServeError> {
    let path = dir.map(|dir| dir.join(HOST_KEY_FILE));
    let failed = |message: String| ServeError::HostKey {
        path: path.clone().unwrap_or_default(),
        message,
    };
    let (Some(dir), Some(path)) = (dir, &path) else {
        return generate().map_err(failed);
    };
    match std::fs::read(path) {
        Ok(text) => {
            PrivateKey::from_openssh(text).map_err(|error| failed(format!("not a key: {error}")))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let key = generate().map_err(failed)?;
            match save(path, &key) {
                Ok(()) => Ok(key),
                // Another server on the same state root made one first: use that one.
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                    load_or_create(Some(dir))
                }
                Err(error) => Err(failed(error.to_string())),
            }
        }
        Err(error) => Err(failed(error.to_string())),
    }
}

fn generate() -> Result<PrivateKey, String> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|error| format!("no random source: {error}"))?;
    Ok(PrivateKey::from(Ed25519Keypair::from_seed(&seed)))
}

/// Writes the key 0600, never replacing a file that exists.
fn save(path: &Path, key: &PrivateKey) -> std::io::Result<()> {
    let text = key
        .to_openssh(LineEnding::LF)
        .map_err(std::io::Error::other)?;
    crate::durable::write(path, text.as_bytes(), crate::durable::Existing::Keep)
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
