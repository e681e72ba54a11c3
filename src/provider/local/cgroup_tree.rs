//! Where sandboxes' cgroups can go on this machine: the cgroup v1 memory (and cpuacct)
//! hierarchy, or the cgroup v2 cgroup with the `memory` controller that this process may write,
//! found from `/proc/self/mountinfo` and `/proc/self/cgroup` and made ready (the `ralph-town`
//! directory, and on v2 `memory` enabled for its children).
//!
//! This file finds and prepares the top of the tree only; `cgroup` names and uses the
//! sandboxes' cgroups below it. It never moves a process.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use rustix::fs::Access;

use super::cgroup::GROUP;
use super::cgroup_files::mkdir;

/// A place for sandboxes' cgroups: each path is the top under which `ralph-town/` goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Hierarchy {
    /// cgroup v1: the memory hierarchy's mount, and the cpuacct one's when it is mounted.
    V1 {
        memory: PathBuf,
        cpuacct: Option<PathBuf>,
    },
    /// cgroup v2: the highest cgroup on this process's own path that has `memory` and that
    /// this process may write (the root for root, a delegated `user@<uid>.service` for a
    /// user), so that every process of one user finds the same one.
    V2 { top: PathBuf },
}

/// The hierarchy of the process whose `/proc/<pid>` is `proc`, made ready, or `None` when it
/// has no memory controller it may write.
pub(crate) fn find(proc: &Path) -> Option<Hierarchy> {
    let mountinfo = fs::read_to_string(proc.join("mountinfo")).ok()?;
    let mounts = cgroup_mounts(&mountinfo);
    let own = fs::read_to_string(proc.join("cgroup")).unwrap_or_default();
    let unified = mounts
        .iter()
        .find(|mount| mount.kind == "cgroup2")
        .and_then(|mount| delegated_top(mount, &own))
        .filter(|top| {
            enable_memory(top).is_ok()
                && make_parent(&top.join(GROUP)).is_ok()
                && writable(&top.join(GROUP))
        })
        .map(|top| Hierarchy::V2 { top });
    unified.or_else(|| {
        let v1 = |controller: &str| {
            mounts
                .iter()
                .find(|mount| {
                    mount.kind == "cgroup"
                        && mount.options.split(',').any(|option| option == controller)
                })
                .map(|mount| mount.point.clone())
        };
        // Made by another user, the directory exists but is not this process's to write.
        let usable = |top: &PathBuf| {
            fs::create_dir_all(top.join(GROUP)).is_ok() && writable(&top.join(GROUP))
        };
        let memory = v1("memory").filter(usable)?;
        let cpuacct = v1("cpuacct").filter(usable);
        Some(Hierarchy::V1 { memory, cpuacct })
    })
}

/// A cgroup file system mount: its type, where it is, the cgroup it shows, its options.
struct Mount {
    kind: String,
    point: PathBuf,
    root: String,
    options: String,
}

/// The `cgroup` and `cgroup2` mounts of a `mountinfo` (fields: id, parent, device, root,
/// mount point, options, optional fields, `-`, type, source, super options).
fn cgroup_mounts(mountinfo: &str) -> Vec<Mount> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (mount, filesystem) = line.split_once(" - ")?;
            let mount: Vec<&str> = mount.split(' ').collect();
            let filesystem: Vec<&str> = filesystem.split(' ').collect();
            let (root, point) = (mount.get(3)?, mount.get(4)?);
            let (kind, options) = (filesystem.first()?, filesystem.get(2)?);
            matches!(*kind, "cgroup" | "cgroup2").then(|| Mount {
                kind: (*kind).to_string(),
                point: PathBuf::from(unescape(point)),
                root: unescape(root),
                options: (*options).to_string(),
            })
        })
        .collect()
}

/// `mountinfo` writes space, tab, newline and backslash in octal (`\040`).
fn unescape(field: &str) -> String {
    let mut text = String::new();
    let mut rest = field;
    while let Some(at) = rest.find('\\') {
        text.push_str(&rest[..at]);
        let code = rest
            .get(at + 1..at + 4)
            .and_then(|digits| u8::from_str_radix(digits, 8).ok());
        match code {
            Some(byte) => {
                text.push(char::from(byte));
                rest = &rest[at + 4..];
            }
            None => {
                text.push('\\');
                rest = &rest[at + 1..];
            }
        }
    }
    text.push_str(rest);
    text
}

/// The highest cgroup on the path of this process's own v2 cgroup (`0::<path>` of `own`)
/// that offers `memory` and that this process may write.
fn delegated_top(mount: &Mount, own: &str) -> Option<PathBuf> {
    let path = own.lines().find_map(|line| line.strip_prefix("0::"))?;
    // The mount shows the cgroup `mount.root`; this process's path is below it.
    let below = path
        .strip_prefix(mount.root.trim_end_matches('/'))
        .unwrap_or(path)
        .trim_start_matches('/');
    let mut candidate = mount.point.clone();
    let mut steps = below.split('/').filter(|step| !step.is_empty());
    loop {
        if offers_memory(&candidate) && writable(&candidate) {
            return Some(candidate);
        }
        candidate.push(steps.next()?);
    }
}

fn offers_memory(cgroup: &Path) -> bool {
    fs::read_to_string(cgroup.join("cgroup.controllers"))
        .is_ok_and(|controllers| controllers.split_whitespace().any(|name| name == "memory"))
}

/// Whether this process may make cgroups in `cgroup` and move processes into it (v1 has no
/// `cgroup.subtree_control`).
fn writable(cgroup: &Path) -> bool {
    ["", "cgroup.procs", "cgroup.subtree_control"]
        .iter()
        .map(|name| cgroup.join(name))
        .filter(|path| name_exists(path))
        .all(|path| rustix::fs::access(&path, Access::WRITE_OK).is_ok())
        && name_exists(&cgroup.join("cgroup.procs"))
}

fn name_exists(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

/// Makes v2 cgroup `dir` (and its missing parents) with `memory` enabled for its children. A
/// cgroup holding processes (other than the root) cannot enable it: v2 puts processes only in
/// leaves, so this fails there.
pub(crate) fn make_parent(dir: &Path) -> io::Result<()> {
    if !dir.is_dir() {
        if let Some(parent) = dir.parent().filter(|parent| !parent.is_dir()) {
            make_parent(parent)?;
        }
        mkdir(dir)?;
    }
    enable_memory(dir)
}

/// Enables `memory` for the children of v2 cgroup `dir`, unless it is already.
fn enable_memory(dir: &Path) -> io::Result<()> {
    let control = dir.join("cgroup.subtree_control");
    let enabled = fs::read_to_string(&control)
        .is_ok_and(|names| names.split_whitespace().any(|name| name == "memory"));
    if enabled {
        return Ok(());
    }
    fs::write(&control, "+memory")
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/uni\\040fied rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn mountinfo_names_the_cgroup_mounts_and_their_controllers() {
        let mounts = cgroup_mounts(MOUNTINFO);
        let found: Vec<(&str, &Path, &str)> = mounts
            .iter()
            .map(|mount| {
                (
                    mount.kind.as_str(),
                    mount.point.as_path(),
                    mount.options.as_str(),
                )
            })
            .collect();
        assert_eq!(
            found,
            [
                ("cgroup", Path::new("/sys/fs/cgroup/cpuacct"), "rw,cpuacct"),
                ("cgroup", Path::new("/sys/fs/cgroup/memory"), "rw,memory"),
                ("cgroup2", Path::new("/sys/fs/cgroup/uni fied"), "rw"),
            ]
        );
    }

    /// A v2 tree imitated in plain files: a user's delegated `user@1000.service` offers
    /// `memory`; the slices above it do not, so it is the top, and `memory` is enabled below.
    #[test]
    fn v2_puts_sandboxes_below_the_highest_cgroup_that_offers_memory() {
        let root = tempfile::tempdir().unwrap();
        let top = root.path().join("cg");
        let service = top.join("user.slice/user@1000.service");
        fs::create_dir_all(service.join("app.slice/term.scope")).unwrap();
        // What the kernel would show in the `ralph-town` cgroup once made.
        fs::create_dir(service.join("ralph-town")).unwrap();
        fs::write(service.join("ralph-town/cgroup.procs"), "").unwrap();
        fs::write(top.join("cgroup.controllers"), "cpu io").unwrap();
        fs::write(top.join("user.slice/cgroup.controllers"), "cpu").unwrap();
        for cgroup in [service.clone(), service.join("app.slice")] {
            fs::write(cgroup.join("cgroup.controllers"), "cpu memory pids").unwrap();
            fs::write(cgroup.join("cgroup.procs"), "").unwrap();
            fs::write(cgroup.join("cgroup.subtree_control"), "cpu").unwrap();
        }
        let mountinfo = format!("41 31 0:38 / {} rw - cgroup2 cgroup2 rw\n", top.display());
        let proc = root.path().join("proc");
        fs::create_dir(&proc).unwrap();
        fs::write(proc.join("mountinfo"), mountinfo).unwrap();
        fs::write(
            proc.join("cgroup"),
            "0::/user.slice/user@1000.service/app.slice/term.scope\n",
        )
        .unwrap();
        assert_eq!(
            find(&proc),
            Some(Hierarchy::V2 {
                top: service.clone()
            })
        );
        assert_eq!(
            fs::read_to_string(service.join("cgroup.subtree_control")).unwrap(),
            "+memory"
        );
        assert_eq!(
            fs::read_to_string(service.join("ralph-town/cgroup.subtree_control")).unwrap(),
            "+memory"
        );
    }

    #[test]
    fn without_a_memory_controller_there_is_no_hierarchy() {
        let root = tempfile::tempdir().unwrap();
        let proc = root.path();
        fs::write(proc.join("mountinfo"), MOUNTINFO.lines().next().unwrap()).unwrap();
        fs::write(proc.join("cgroup"), "0::/\n").unwrap();
        assert_eq!(find(proc), None);
    }
}
