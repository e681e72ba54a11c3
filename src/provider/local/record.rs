//! Reading sandbox records (`sandboxes/<id>/sandbox.json`) with as few system calls as a file
//! allows, since `list` reads every one of them on each command that looks at a team: a
//! listing opens the `sandboxes/` directory once and each record relative to it, and reads a
//! record with one `read` into a buffer the whole listing shares.
//!
//! One `read` is enough because of how records are written (see `durable`): a new record is a
//! new file renamed over the old one, so the file an open descriptor names never changes. A
//! record is a single JSON object, and no proper prefix of a JSON object parses as one, so
//! when the first `read` came back short of the whole file (a larger record than the buffer,
//! a file system that returns less), the parse fails and the rest is read before the answer
//! is given. This file reads; it never writes or takes a lock.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read as _};
use std::os::fd::BorrowedFd;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

use rustix::fs::{CWD, Dir, Mode, OFlags};

use super::store::{Metadata, io_error};
use crate::provider::{ProviderError, Result};

/// The file of a sandbox's record inside its directory.
pub(crate) const RECORD_FILE: &str = "sandbox.json";

/// Larger than any record written so far (about 1 KiB with a team's labels): one `read` takes
/// a whole record.
const BUFFER_SIZE: usize = 16 * 1024;

/// Reads records, reusing one buffer.
pub(crate) struct Reader {
    buffer: Vec<u8>,
}

impl Reader {
    pub(crate) fn new() -> Reader {
        Reader {
            buffer: vec![0; BUFFER_SIZE],
        }
    }

    /// The record at `path`, or `None` when there is none.
    pub(crate) fn read(&mut self, path: &Path) -> Result<Option<Metadata>> {
        self.read_at(CWD, path, || path.to_path_buf())
    }

    /// Every record of the sandbox directories under `directory`, in directory order. A
    /// sandbox deleted while it is read is simply absent.
    pub(crate) fn read_all(&mut self, directory: &Path) -> Result<Vec<Metadata>> {
        let mut listing = rustix::fs::open(
            directory,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .and_then(Dir::new)
        .map_err(|error| io_error("read", directory, error.into()))?;
        let mut records = Vec::new();
        while let Some(entry) = listing.read() {
            let entry = entry.map_err(|error| io_error("read", directory, error.into()))?;
            let name = OsStr::from_bytes(entry.file_name().to_bytes());
            if name == "." || name == ".." {
                continue;
            }
            let relative = Path::new(name).join(RECORD_FILE);
            let parent = listing
                .fd()
                .map_err(|error| io_error("read", directory, error.into()))?;
            let shown = || directory.join(&relative);
            if let Some(record) = self.read_at(parent, &relative, shown)? {
                records.push(record);
            }
        }
        Ok(records)
    }

    /// The record at `relative` to `parent`; `shown` names it in errors.
    fn read_at(
        &mut self,
        parent: BorrowedFd<'_>,
        relative: &Path,
        shown: impl Fn() -> PathBuf,
    ) -> Result<Option<Metadata>> {
        let opened = rustix::fs::openat(
            parent,
            relative,
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        );
        let mut file = match opened {
            Ok(descriptor) => File::from(descriptor),
            Err(rustix::io::Errno::NOENT) => return Ok(None),
            Err(error) => return Err(io_error("read", &shown(), error.into())),
        };
        let filled = match file.read(&mut self.buffer) {
            Ok(filled) => filled,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => 0,
            Err(error) => return Err(io_error("read", &shown(), error)),
        };
        if let Ok(record) = serde_json::from_slice(&self.buffer[..filled]) {
            return Ok(Some(record));
        }
        let mut whole = self.buffer[..filled].to_vec();
        file.read_to_end(&mut whole)
            .map_err(|error| io_error("read", &shown(), error))?;
        serde_json::from_slice(&whole).map(Some).map_err(|error| {
            ProviderError::transport(format!("cannot parse `{}`: {error}", shown().display()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, padding: usize) -> Metadata {
        Metadata {
            id: id.to_string(),
            name: format!("name-{id}"),
            labels: [("pad".to_string(), "x".repeat(padding))].into(),
            env: Default::default(),
            state: crate::provider::SandboxState::Started,
            snapshot: None,
            created_at: std::time::SystemTime::UNIX_EPOCH,
            lifecycle: Default::default(),
            ttl_minutes: None,
            resources: Default::default(),
            user: "daytona".to_string(),
            volumes: Vec::new(),
            layer: None,
            workdir: None,
            hosts: Default::default(),
            network: None,
            network_blocked: false,
        }
    }

    fn write(root: &Path, metadata: &Metadata) {
        let directory = root.join(&metadata.id);
        std::fs::create_dir_all(&directory).unwrap();
        let text = serde_json::to_vec_pretty(metadata).unwrap();
        std::fs::write(directory.join(RECORD_FILE), text).unwrap();
    }

    #[test]
    fn a_record_larger_than_the_buffer_is_read_whole() {
        let root = tempfile::tempdir().unwrap();
        write(root.path(), &record("small", 10));
        write(root.path(), &record("large", 3 * BUFFER_SIZE));
        // A record of exactly the buffer's size parses from the first read.
        let exact = serde_json::to_vec_pretty(&record("exact", 0))
            .unwrap()
            .len();
        write(root.path(), &record("exact", BUFFER_SIZE - exact));
        let path = root.path().join("exact").join(RECORD_FILE);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), BUFFER_SIZE as u64);

        let mut reader = Reader::new();
        let mut records = reader.read_all(root.path()).unwrap();
        records.sort_by(|left, right| left.id.cmp(&right.id));
        let found: Vec<_> = records
            .iter()
            .map(|record| (record.id.as_str(), record.labels["pad"].len()))
            .collect();
        assert_eq!(
            found,
            [
                ("exact", BUFFER_SIZE - exact),
                ("large", 3 * BUFFER_SIZE),
                ("small", 10)
            ]
        );
        let large = reader.read(&root.path().join("large").join(RECORD_FILE));
        assert_eq!(large.unwrap().unwrap().labels["pad"].len(), 3 * BUFFER_SIZE);
    }

    #[test]
    fn a_missing_record_is_absent_and_a_broken_one_is_named() {
        let root = tempfile::tempdir().unwrap();
        write(root.path(), &record("kept", 10));
        std::fs::create_dir_all(root.path().join("empty")).unwrap();
        let mut reader = Reader::new();
        let ids: Vec<_> = reader
            .read_all(root.path())
            .unwrap()
            .into_iter()
            .map(|record| record.id)
            .collect();
        assert_eq!(ids, ["kept"]);
        assert!(reader.read(&root.path().join("none")).unwrap().is_none());

        std::fs::write(root.path().join("kept").join(RECORD_FILE), "{\"id\": ").unwrap();
        let error = reader.read_all(root.path()).unwrap_err().to_string();
        let shown = root.path().join("kept").join(RECORD_FILE);
        assert!(
            error.contains(&format!("cannot parse `{}`", shown.display())),
            "{error}"
        );
    }
}
