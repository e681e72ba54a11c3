//! What `/proc` says about this machine's processes now: their parents and children, start
//! times, states, pid namespaces, CPU times and memory. It only reads; nothing here signals a
//! process.

use std::collections::HashMap;
use std::fs;
use std::path::PathBuf;

/// Every process's children, as their parents say now.
fn family() -> HashMap<u32, Vec<u32>> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for pid in every_process() {
        if let Some(parent) = stat_field(pid, 1).and_then(|field| field.parse().ok()) {
            children.entry(parent).or_default().push(pid);
        }
    }
    children
}

/// Every process of this machine, by pid.
fn every_process() -> impl Iterator<Item = u32> {
    let entries = fs::read_dir("/proc").into_iter().flatten().flatten();
    entries.filter_map(|entry| entry.file_name().to_str()?.parse().ok())
}

/// The pid namespace process `pid` is in, as its `/proc` link names it.
fn pid_namespace(pid: u32) -> Option<PathBuf> {
    fs::read_link(format!("/proc/{pid}/ns/pid")).ok()
}

/// Every process in the pid namespace of process `pid`, `pid` itself and zombies included
/// (none when `pid` is gone). A process in a pid namespace nested in that one is not in it.
pub(super) fn pid_namespace_members(pid: u32) -> Vec<u32> {
    let Some(own) = pid_namespace(pid) else {
        return Vec::new();
    };
    every_process()
        .filter(|&other| pid_namespace(other).as_ref() == Some(&own))
        .collect()
}

/// The processes in the pid namespace of process `pid`, but `pid` itself and zombies, each
/// with its parent and its command line (arguments joined by spaces).
pub(super) fn in_pid_namespace_of(pid: u32) -> Vec<(u32, u32, String)> {
    pid_namespace_members(pid)
        .into_iter()
        .filter(|&other| other != pid && !is_zombie(other))
        .map(|other| {
            let parent = stat_field(other, 1)
                .and_then(|field| field.parse().ok())
                .unwrap_or(0);
            let line = fs::read(format!("/proc/{other}/cmdline")).unwrap_or_default();
            let line = String::from_utf8_lossy(&line)
                .trim_end_matches('\0')
                .replace('\0', " ");
            (other, parent, line)
        })
        .collect()
}

/// Whether processes in the pid namespace of process `pid` (`pid` included) hold every socket
/// whose inode is in `inodes` (as the kernel's socket tables name them) among their open
/// descriptors; `false` for none. The processes of `likely` (the sandbox's cgroup: a few, where
/// the whole machine has hundreds) are looked at first, those of the namespace among them; the
/// whole of `/proc` only when they do not hold them all.
pub(super) fn namespace_holds_sockets(pid: u32, likely: &[u32], inodes: &[u64]) -> bool {
    let Some(own) = pid_namespace(pid) else {
        return false;
    };
    let in_namespace = |other: &u32| pid_namespace(*other).as_ref() == Some(&own);
    if inodes.is_empty() {
        return false;
    }
    if hold_sockets(likely.iter().copied().filter(in_namespace), inodes) {
        return true;
    }
    hold_sockets(pid_namespace_members(pid).into_iter(), inodes)
}

/// Whether the processes of `pids` hold every socket of `inodes` between them.
fn hold_sockets(pids: impl Iterator<Item = u32>, inodes: &[u64]) -> bool {
    let mut wanted: std::collections::HashSet<std::ffi::OsString> = inodes
        .iter()
        .map(|inode| format!("socket:[{inode}]").into())
        .collect();
    for pid in pids {
        let descriptors = fs::read_dir(format!("/proc/{pid}/fd"));
        for entry in descriptors.into_iter().flatten().flatten() {
            if let Ok(target) = fs::read_link(entry.path()) {
                wanted.remove(target.as_os_str());
            }
        }
        if wanted.is_empty() {
            return true;
        }
    }
    false
}

/// The children of process `parent`.
pub(super) fn children(parent: u32) -> Vec<u32> {
    family().remove(&parent).unwrap_or_default()
}

/// The descendants of process `root`, as their parents say now.
pub(super) fn descendants(root: u32) -> Vec<u32> {
    let children = family();
    let mut found = Vec::new();
    let mut pending = vec![root];
    while let Some(pid) = pending.pop() {
        for &child in children.get(&pid).into_iter().flatten() {
            found.push(child);
            pending.push(child);
        }
    }
    found
}

/// The fields of `/proc/<pid>/stat` from the state (field 3) on, so that the state is 0.
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses; fields resume after the last `)`.
    let fields = &stat[stat.rfind(')')? + 1..];
    Some(fields.split_whitespace().map(str::to_string).collect())
}

/// Field `index` of `/proc/<pid>/stat`, counted from the state (field 3) as 0.
fn stat_field(pid: u32, index: usize) -> Option<String> {
    stat_fields(pid)?.into_iter().nth(index)
}

/// What `/proc/<pid>/stat` says of a process's CPU time, in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Times {
    /// Its parent's pid (field 4).
    pub(super) parent: u32,
    /// Its start, in clock ticks since boot (field 22): with the pid, which process it is.
    pub(super) start: u64,
    /// Its own user and system time, every thread's, ended ones included (fields 14 and 15).
    pub(super) own: u64,
    /// The user and system time of its children that have ended and that it waited for, and
    /// of what they waited for in turn (fields 16 and 17).
    pub(super) children: u64,
}

/// The CPU times of process `pid` (a zombie's too, until it is waited for).
pub(super) fn times(pid: u32) -> Option<Times> {
    let fields = stat_fields(pid)?;
    let number = |index: usize| fields.get(index)?.parse::<u64>().ok();
    Some(Times {
        parent: fields.get(1)?.parse().ok()?,
        start: number(19)?,
        own: number(11)?.saturating_add(number(12)?),
        children: number(13)?.saturating_add(number(14)?),
    })
}

/// The memory process `pid` holds, in bytes: its proportional set size (`Pss` of
/// `/proc/<pid>/smaps_rollup`: each page it maps divided among the processes that map it, so
/// that a library shared by many counts once over them all), or where that cannot be read (a
/// process this one may not inspect), its resident set (`VmRSS` of its `status`), which counts
/// shared pages in full. 0 for a zombie or a process gone.
pub(super) fn memory(pid: u32) -> u64 {
    let kib = |file: &str, field: &str| {
        let text = fs::read_to_string(format!("/proc/{pid}/{file}")).ok()?;
        let line = text.lines().find_map(|line| line.strip_prefix(field))?;
        line.trim()
            .trim_end_matches("kB")
            .trim()
            .parse::<u64>()
            .ok()
    };
    kib("smaps_rollup", "Pss:")
        .or_else(|| kib("status", "VmRSS:"))
        .unwrap_or(0)
        .saturating_mul(1024)
}

/// The start time of process `pid` in clock ticks since boot (field 22 of `/proc/<pid>/stat`).
pub(super) fn start_time(pid: u32) -> Option<u64> {
    stat_field(pid, 19)?.parse().ok()
}

/// Whether `pid` has exited and waits to be reaped (state `Z`, field 3 of its stat).
pub(super) fn is_zombie(pid: u32) -> bool {
    stat_field(pid, 0).is_some_and(|state| state == "Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_of_this_process_is_stable_and_absent_for_a_missing_one() {
        let own = std::process::id();
        let first = start_time(own).expect("own start time");
        assert_eq!(start_time(own), Some(first));
        assert_eq!(start_time(u32::MAX), None);
    }
}
