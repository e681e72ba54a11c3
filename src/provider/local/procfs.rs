//! What `/proc` says about this machine's processes now: their parents and children, start
//! times, states and pid namespaces. It only reads; nothing here signals a process.

use std::collections::HashMap;
use std::fs;

/// Every process's children, as their parents say now.
fn family() -> HashMap<u32, Vec<u32>> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse().ok())
        else {
            continue;
        };
        if let Some(parent) = stat_field(pid, 1).and_then(|field| field.parse().ok()) {
            children.entry(parent).or_default().push(pid);
        }
    }
    children
}

/// The processes in the pid namespace of process `pid`, but `pid` itself and zombies, each
/// with its parent and its command line (arguments joined by spaces).
pub(super) fn in_pid_namespace_of(pid: u32) -> Vec<(u32, u32, String)> {
    let namespace = |pid: u32| fs::read_link(format!("/proc/{pid}/ns/pid")).ok();
    let Some(own) = namespace(pid) else {
        return Vec::new();
    };
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&other| {
            other != pid && !is_zombie(other) && namespace(other).as_ref() == Some(&own)
        })
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
    let namespace = |pid: u32| fs::read_link(format!("/proc/{pid}/ns/pid")).ok();
    let Some(own) = namespace(pid) else {
        return false;
    };
    let in_namespace = |other: &u32| namespace(*other).as_ref() == Some(&own);
    if inodes.is_empty() {
        return false;
    }
    if hold_sockets(likely.iter().copied().filter(in_namespace), inodes) {
        return true;
    }
    let Ok(entries) = fs::read_dir("/proc") else {
        return false;
    };
    let every = entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok());
    hold_sockets(every.filter(in_namespace), inodes)
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
/// Field `index` of `/proc/<pid>/stat`, counted from the state (field 3) as 0.
fn stat_field(pid: u32, index: usize) -> Option<String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses; fields resume after the last `)`.
    let fields = &stat[stat.rfind(')')? + 1..];
    fields.split_whitespace().nth(index).map(str::to_string)
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
