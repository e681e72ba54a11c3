//! Reading and writing cgroup control files for `cgroup`: a limit written only when it
//! changes, numbers and `key value` statistics read, a cgroup made or emptied. Knows no
//! layout (which cgroup is whose); never moves a process into a cgroup.

use std::fs;
use std::io;
use std::path::Path;

/// Makes cgroup directory `dir`; one that exists is kept.
pub(crate) fn mkdir(dir: &Path) -> io::Result<()> {
    match fs::create_dir(dir) {
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        made => made,
    }
}

/// Sends `SIGKILL` to every process in cgroup `dir` (v2's `cgroup.kill` when it has one).
pub(crate) fn kill_all(dir: &Path) {
    if fs::write(dir.join("cgroup.kill"), "1").is_ok() {
        return;
    }
    let Ok(pids) = fs::read_to_string(dir.join("cgroup.procs")) else {
        return;
    };
    for pid in pids
        .lines()
        .filter_map(|line| line.trim().parse::<i32>().ok())
    {
        if let Some(pid) = rustix::process::Pid::from_raw(pid) {
            // ESRCH (it has just exited) is the common, fine case.
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
}

/// Writes `value` unless the file already holds it: a write of a memory limit makes the
/// kernel reclaim, which a command's start should not pay for when nothing changed.
pub(crate) fn write_if_changed(path: &Path, value: &str) -> io::Result<()> {
    if fs::read_to_string(path).is_ok_and(|current| current.trim() == value) {
        return Ok(());
    }
    fs::write(path, value).map_err(|error| {
        io::Error::new(
            error.kind(),
            format!("cannot write `{value}` to `{}`: {error}", path.display()),
        )
    })
}

pub(crate) fn read_u64(path: &Path) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The `key value` lines of a cgroup statistics file.
pub(crate) fn read_stat(path: &Path) -> Vec<(String, u64)> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let (key, value) = line.split_once(' ')?;
            Some((key.to_string(), value.trim().parse().ok()?))
        })
        .collect()
}
