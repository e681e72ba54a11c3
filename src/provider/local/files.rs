//! `upload` and `download` for `local` sandboxes: host-side file access, confined to the
//! sandbox's own home (and its private `/tmp` under bubblewrap).
//!
//! Paths are sandbox paths (see `paths`); anything that would land outside the sandbox's
//! directories is refused with a message naming the allowed places.

use std::path::PathBuf;

use super::paths::{self, Location};
use super::store::Metadata;
use super::{LocalProvider, blocking};
use crate::provider::{ProviderError, Result};

impl LocalProvider {
    pub(crate) async fn write_file(&self, id: &str, path: &str, contents: Vec<u8>) -> Result<()> {
        let metadata = self.blocking_resolve(id).await?;
        let (base, relative) = self.file_location(&metadata, path)?;
        let path = path.to_string();
        // Written by this process, owned by the sandbox's user: its commands change them next.
        let owner = self.launcher.owner();
        blocking(move || {
            paths::write_beneath(&base, &relative, &contents, owner)
                .map_err(|error| file_error(&metadata, &path, error))
        })
        .await
    }

    pub(crate) async fn read_file(&self, id: &str, path: &str) -> Result<Vec<u8>> {
        let metadata = self.blocking_resolve(id).await?;
        let (base, relative) = self.file_location(&metadata, path)?;
        let path = path.to_string();
        blocking(move || {
            paths::read_beneath(&base, &relative)
                .map_err(|error| file_error(&metadata, &path, error))
        })
        .await
    }

    /// The host directory and the path below it behind a sandbox path.
    fn file_location(&self, metadata: &Metadata, path: &str) -> Result<(PathBuf, PathBuf)> {
        let dirs = self.store.dirs(metadata);
        let isolated = self.launcher.is_isolated();
        // A path inside a mounted volume is the volume's file, not the home's.
        let normalized = paths::normalize(path);
        for (host, mount) in &dirs.volumes {
            if let Ok(relative) = normalized.strip_prefix(mount) {
                return Ok((host.clone(), relative.to_path_buf()));
            }
        }
        match self.launcher.locate(&dirs, path) {
            Location::Home(relative) => Ok((dirs.home, relative)),
            Location::Tmp(relative) if isolated => Ok((dirs.tmp, relative)),
            Location::Tmp(_) | Location::Elsewhere(_) => Err(ProviderError::Api {
                status: None,
                message: format!(
                    "path `{path}` is outside sandbox `{}`: files go under `{}`{}",
                    metadata.name,
                    paths::SANDBOX_HOME,
                    if isolated { " or `/tmp`" } else { "" }
                ),
                retryable: false,
            }),
        }
    }
}

fn file_error(metadata: &Metadata, path: &str, error: std::io::Error) -> ProviderError {
    match error.kind() {
        std::io::ErrorKind::NotFound => {
            ProviderError::not_found(format!("file `{path}` in sandbox `{}`", metadata.name))
        }
        _ => ProviderError::Api {
            status: None,
            message: format!(
                "cannot access `{path}` in sandbox `{}`: {error}",
                metadata.name
            ),
            retryable: false,
        },
    }
}
