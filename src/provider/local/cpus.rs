//! The vCPUs of a `local` sandbox, enforced: its commands may run on only as many of this
//! machine's CPUs as the sandbox was given (CPU affinity, which `nproc` and thread pools read),
//! chosen from the CPUs this process may use, starting at a place that depends on the sandbox so
//! that one-CPU sandboxes spread over the machine rather than all landing on CPU 0.
//!
//! Affinity limits how many CPUs run a sandbox's commands at once, not how much of each they
//! use; a sandbox given as many CPUs as there are, or more, is not confined. This file chooses
//! the set and puts it on a command; it does not track processes, and commands already running
//! keep the set they started with.

use std::hash::{Hash, Hasher};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use rustix::thread::{CpuSet, sched_getaffinity, sched_setaffinity};

/// The CPUs a sandbox given `count` vCPUs runs on, or `None` when it is not confined (it was
/// given at least as many as this process may use, or the set cannot be read). `seed` (the
/// sandbox's home) picks where in the usable CPUs its share begins.
pub(crate) fn confined_to(count: u32, seed: &Path) -> Option<CpuSet> {
    let usable = sched_getaffinity(None).ok()?;
    let cpus: Vec<usize> = (0..CpuSet::MAX_CPU)
        .filter(|&cpu| usable.is_set(cpu))
        .collect();
    let count = usize::try_from(count).ok()?.max(1);
    if count >= cpus.len() {
        return None;
    }
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    seed.hash(&mut hasher);
    let start = usize::try_from(hasher.finish() % cpus.len() as u64).ok()?;
    let mut set = CpuSet::new();
    for offset in 0..count {
        set.set(cpus[(start + offset) % cpus.len()]);
    }
    Some(set)
}

/// Makes `command`'s process (and so everything it starts) run only on `set`.
pub(crate) fn confine(command: &mut Command, set: CpuSet) {
    // SAFETY: between fork and exec only async-signal-safe calls are allowed; this closure
    // makes one system call on a set built beforehand and allocates nothing.
    unsafe {
        command.pre_exec(move || Ok(sched_setaffinity(None, &set)?));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_smaller_than_the_machine_is_that_many_usable_cpus() {
        let usable = sched_getaffinity(None).unwrap();
        let total = usable.count();
        assert!(confined_to(total, Path::new("/a")).is_none());
        assert!(confined_to(total + 3, Path::new("/a")).is_none());
        if total < 2 {
            return;
        }
        let set = confined_to(1, Path::new("/a")).unwrap();
        assert_eq!(set.count(), 1);
        assert!((0..CpuSet::MAX_CPU).all(|cpu| !set.is_set(cpu) || usable.is_set(cpu)));
        let set = confined_to(total - 1, Path::new("/b")).unwrap();
        assert_eq!(set.count(), total - 1);
    }
}
