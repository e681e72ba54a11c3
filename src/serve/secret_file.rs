//! Files of `serve`'s own secrets under the state root (the SSH gateway's host key, the secret
//! signed file URLs derive from): read when they exist, made once (0600, atomically, never
//! replacing another server's) when they do not.
//!
//! Nothing here prints or returns a secret in an error: errors say what failed, not what the
//! file holds.

use std::path::Path;

/// The bytes of the file at `path`, made by `make` when there is none. When another server on
/// the same state root makes it first, that one wins and is read back.
pub(crate) fn load_or_create(
    path: &Path,
    make: impl FnOnce() -> Result<Vec<u8>, String>,
) -> Result<Vec<u8>, String> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(bytes),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let made = make()?;
            match crate::durable::write(path, &made, crate::durable::Existing::Keep) {
                Ok(()) => Ok(made),
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                    std::fs::read(path).map_err(|error| error.to_string())
                }
                Err(error) => Err(error.to_string()),
            }
        }
        Err(error) => Err(error.to_string()),
    }
}

/// `length` bytes from the operating system's random source.
pub(crate) fn random_bytes(length: usize) -> Result<Vec<u8>, String> {
    let mut bytes = vec![0u8; length];
    getrandom::fill(&mut bytes).map_err(|error| format!("no random source: {error}"))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn a_secret_is_made_once_0600_and_then_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        let first = load_or_create(&path, || Ok(b"first".to_vec())).unwrap();
        let second = load_or_create(&path, || Ok(b"second".to_vec())).unwrap();
        assert_eq!(
            (first.as_slice(), second.as_slice()),
            (&b"first"[..], &b"first"[..])
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let failed = load_or_create(&dir.path().join("other"), || Err("no luck".into()));
        assert_eq!(failed, Err("no luck".to_string()));
    }
}
