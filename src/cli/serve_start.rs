//! What `ralph-town serve` does with its state root before it serves anything: claims it, so
//! that no second server works there at once, and tidies what a run killed midway left between
//! its records (`serve.json`) and the provider, which is the truth about sandboxes.

use std::path::Path;

use crate::error::{Error, Result};
use crate::provider::local::LocalProvider;
use crate::serve::ServeError;

/// The lock file that marks a state root as a running server's.
const LOCK_FILE: &str = "serve.lock";

/// Claims `root` for this server: a second `serve` on it would overwrite this one's records and
/// finish deletes this one has under way. An exclusive `flock` on `serve.lock`, which holds this
/// process's id for the message another server gives; the kernel lets it go when the process
/// ends, however it ends. A file system without locks gets a warning, not a refusal.
pub(super) fn claim_state_root(root: &Path) -> Result<Option<std::fs::File>, ServeError> {
    use std::io::Write;
    let path = root.join(LOCK_FILE);
    let opened = std::fs::create_dir_all(root).and_then(|()| {
        std::fs::File::options()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
    });
    let unlocked = |error: std::io::Error| {
        eprintln!(
            "warning: cannot lock `{}` ({error}): another `serve` on this state root would not be noticed",
            path.display()
        );
        Ok(None)
    };
    let mut file = match opened {
        Ok(file) => file,
        Err(error) => return unlocked(error),
    };
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&path)
                .ok()
                .and_then(|text| text.trim().parse().ok());
            return Err(ServeError::InUse {
                root: root.to_path_buf(),
                holder,
            });
        }
        Err(std::fs::TryLockError::Error(error)) => return unlocked(error),
    }
    // Only the holder writes, so the id is whole whenever another server can read it.
    let _ = file
        .set_len(0)
        .and_then(|()| writeln!(file, "{}", std::process::id()));
    Ok(Some(file))
}

/// Finishes what a killed run left midway, saying in one line each what it did: deletes whose
/// sandbox was already in `trash/` (its processes still running), the records of sandboxes the
/// provider no longer has, and the files of volumes marked deleted.
pub(super) async fn tidy_after_a_killed_run(provider: &LocalProvider) -> Result<()> {
    let serve_error = |error| Error::Serve(Box::new(error));
    let finished = provider
        .finish_interrupted_deletes()
        .await
        .map_err(Error::Provider)?;
    if !finished.is_empty() {
        eprintln!(
            "finished {} delete(s) a previous run left midway",
            finished.len()
        );
    }
    let root = provider.root();
    let forgotten = crate::serve::forget_gone_sandboxes(root, provider)
        .await
        .map_err(serve_error)?;
    if forgotten > 0 {
        eprintln!("forgot {forgotten} record(s) of sandbox(es) a previous run deleted midway");
    }
    let live = crate::serve::live_volumes(root).map_err(serve_error)?;
    let removed = provider
        .remove_volumes_except(live)
        .await
        .map_err(Error::Provider)?;
    if !removed.is_empty() {
        eprintln!(
            "removed the files of {} volume(s) a previous run deleted midway",
            removed.len()
        );
    }
    Ok(())
}
