//! The API key of `serve`: what a usable key looks like, random tokens in Daytona's format, and
//! the key file `serve` makes for itself at `<state root>/serve/api-key` when no key is given.
//!
//! The file is written atomically, readable by its owner only, in a directory only its owner
//! may enter; bubblewrap hides the state root from sandboxes. A valid file is reused, so that
//! clients configured once keep working across restarts. Nothing here prints, and no error
//! carries a key: errors name the file or the source, never the value.

use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use super::ServeError;
use crate::secret::Secret;

/// The shortest key `serve` accepts. Failed attempts are not throttled, so a short key could be
/// guessed by anything that reaches the port, every sandbox included.
pub const MIN_KEY_LENGTH: usize = 16;

/// The key file under the state root.
pub fn key_file(state_root: &Path) -> PathBuf {
    state_root.join("serve").join("api-key")
}

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// `length` characters of `[A-Za-z0-9]` from the operating system's random source, without
/// modulo bias.
pub(crate) fn random_token(length: usize) -> Result<String, getrandom::Error> {
    let mut token = String::with_capacity(length);
    let mut bytes = [0u8; 64];
    while token.len() < length {
        getrandom::fill(&mut bytes)?;
        // 248 = 4 * 62: bytes at or above it would favour the first letters.
        for &byte in bytes.iter().filter(|&&byte| byte < 248) {
            if token.len() == length {
                break;
            }
            token.push(char::from(ALPHABET[usize::from(byte) % ALPHABET.len()]));
        }
    }
    Ok(token)
}

/// A fresh key in Daytona's format: `dtn_` and 32 random characters.
pub(crate) fn generate() -> Result<Secret, getrandom::Error> {
    Ok(Secret::new(format!("dtn_{}", random_token(32)?)))
}

/// Why a key cannot be used; never mentions the key itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyProblem {
    Empty,
    TooShort,
    /// A space, a control character or a non-ASCII character: it could not travel in an
    /// `Authorization` header as is.
    NotPrintable,
}

impl std::fmt::Display for KeyProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyProblem::Empty => f.write_str("it is empty"),
            KeyProblem::TooShort => {
                write!(f, "it is shorter than {MIN_KEY_LENGTH} characters")
            }
            KeyProblem::NotPrintable => {
                f.write_str("it has a space, a control character or a non-ASCII character inside")
            }
        }
    }
}

/// A key as given in a file or a variable; whitespace around it (a final newline) is dropped.
pub fn parse(text: &str) -> Result<Secret, KeyProblem> {
    let key = text.trim();
    if key.is_empty() {
        Err(KeyProblem::Empty)
    } else if !key.bytes().all(|byte| byte.is_ascii_graphic()) {
        Err(KeyProblem::NotPrintable)
    } else if key.len() < MIN_KEY_LENGTH {
        Err(KeyProblem::TooShort)
    } else {
        Ok(Secret::new(key.to_string()))
    }
}

/// The key in the file at `path`, which the user gave.
pub fn read(path: &Path) -> Result<Secret, ServeError> {
    let text = std::fs::read_to_string(path).map_err(|error| ServeError::ApiKeyFile {
        path: path.to_path_buf(),
        message: error.to_string(),
    })?;
    parse(&text).map_err(|problem| ServeError::InvalidApiKey {
        source_name: format!("`{}`", path.display()),
        problem,
    })
}

/// What became of the key file `serve` keeps for itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kept {
    /// A valid file from an earlier start, reused.
    Reused,
    /// There was none: a new key.
    Made,
    /// The file was unusable (the reason); a new key replaced it.
    Replaced(String),
}

/// The key in `<state root>/serve/api-key`, made there when missing or unusable.
pub fn load_or_create(state_root: &Path) -> Result<(Secret, PathBuf, Kept), ServeError> {
    let path = key_file(state_root);
    let failed = |error: std::io::Error| ServeError::ApiKeyFile {
        path: path.clone(),
        message: error.to_string(),
    };
    let directory = path.parent().expect("the key file is in a directory");
    private_directory(directory).map_err(failed)?;
    let replaced = match reuse(&path) {
        Ok(Some(key)) => return Ok((key, path, Kept::Reused)),
        Ok(None) => None,
        Err(reason) => Some(reason),
    };
    let key = generate().map_err(|error| ServeError::ApiKeyFile {
        path: path.clone(),
        message: format!("no random source: {error}"),
    })?;
    match write(&path, &key, replaced.is_some()) {
        Ok(()) => {}
        // Another server on this state root made one first: use that one.
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            return match reuse(&path) {
                Ok(Some(key)) => Ok((key, path, Kept::Reused)),
                _ => Err(failed(error)),
            };
        }
        Err(error) => return Err(failed(error)),
    }
    let kept = replaced.map_or(Kept::Made, Kept::Replaced);
    Ok((key, path, kept))
}

/// The key of an existing file; `Ok(None)` when there is no file, `Err(reason)` when it must
/// not be reused.
fn reuse(path: &Path) -> Result<Option<Secret>, String> {
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error.to_string()),
    };
    if !metadata.is_file() {
        return Err("it is not a regular file".to_string());
    }
    // Someone else may have read a key that others could read: it is no longer a secret.
    if metadata.mode() & 0o077 != 0 || metadata.uid() != rustix::process::geteuid().as_raw() {
        return Err("other users could read it".to_string());
    }
    let text = std::fs::read_to_string(path).map_err(|error| error.to_string())?;
    parse(&text)
        .map(Some)
        .map_err(|problem| format!("the key in it is unusable: {problem}"))
}

/// Makes `directory` (and its parents) and lets only its owner in.
fn private_directory(directory: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(directory)?;
    let permissions = std::fs::metadata(directory)?.permissions();
    if permissions.mode() & 0o077 != 0 {
        std::fs::set_permissions(directory, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Writes the key 0600 through a temporary file, so that a reader never sees half a key. A new
/// file is linked into place (failing when another process made one meanwhile); an unusable
/// one is replaced.
fn write(path: &Path, key: &Secret, replace: bool) -> std::io::Result<()> {
    let existing = if replace {
        crate::durable::Existing::Replace
    } else {
        crate::durable::Existing::Keep
    };
    let line = format!("{}\n", key.expose());
    crate::durable::write(path, line.as_bytes(), existing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_daytonas_format_and_differ() {
        let (first, second) = (generate().unwrap(), generate().unwrap());
        for key in [&first, &second] {
            let random = key.expose().strip_prefix("dtn_").expect("dtn_ prefix");
            assert_eq!(random.len(), 32);
            assert!(random.bytes().all(|byte| byte.is_ascii_alphanumeric()));
            assert_eq!(parse(key.expose()), Ok(key.clone()));
        }
        assert_ne!(first, second);
    }

    #[test]
    fn keys_that_cannot_be_used_say_why_without_the_key() {
        let sentinel = "SENTINEL key 7f3c";
        assert_eq!(parse(sentinel), Err(KeyProblem::NotPrintable));
        assert_eq!(parse(" \n"), Err(KeyProblem::Empty));
        assert_eq!(parse("dtn_short"), Err(KeyProblem::TooShort));
        assert_eq!(
            parse("dtn_schlüssel_0123456789"),
            Err(KeyProblem::NotPrintable)
        );
        let key = parse("  dtn_0123456789abcdef\n").unwrap();
        assert_eq!(key.expose(), "dtn_0123456789abcdef");
        let error = ServeError::InvalidApiKey {
            source_name: "`RALPH_TOWN_SERVE_API_KEY`".to_string(),
            problem: parse(sentinel).unwrap_err(),
        };
        assert!(!format!("{error} {error:?}").contains("SENTINEL"));
    }

    #[test]
    fn the_key_file_is_made_once_0600_in_a_0700_directory_and_reused() {
        let root = tempfile::tempdir().unwrap();
        let (first, path, kept) = load_or_create(root.path()).unwrap();
        assert_eq!(kept, Kept::Made);
        assert_eq!(path, root.path().join("serve/api-key"));
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{}\n", first.expose())
        );
        let (second, _, kept) = load_or_create(root.path()).unwrap();
        assert_eq!((second, kept), (first, Kept::Reused));
        // Only the key file is left: no temporary file.
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, ["api-key"]);
    }

    #[test]
    fn a_key_file_others_could_read_or_a_damaged_one_is_replaced() {
        let root = tempfile::tempdir().unwrap();
        let (first, path, _) = load_or_create(root.path()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let (second, _, kept) = load_or_create(root.path()).unwrap();
        assert_ne!(second, first);
        assert!(matches!(kept, Kept::Replaced(reason) if reason.contains("other users")));
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        std::fs::write(&path, "short\n").unwrap();
        let (third, _, kept) = load_or_create(root.path()).unwrap();
        assert_ne!(third, second);
        assert!(matches!(kept, Kept::Replaced(reason) if reason.contains("shorter")));
    }

    #[test]
    fn a_directory_others_could_enter_is_closed() {
        let root = tempfile::tempdir().unwrap();
        let directory = root.path().join("serve");
        std::fs::create_dir(&directory).unwrap();
        std::fs::set_permissions(&directory, std::fs::Permissions::from_mode(0o755)).unwrap();
        load_or_create(root.path()).unwrap();
        let mode = std::fs::metadata(&directory).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
