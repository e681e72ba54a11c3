//! The memory of a `local` sandbox, enforced, and its CPU and memory, measured: one cgroup per
//! sandbox, which every process the sandbox runs joins before it execs (see `invocation`).
//!
//! A sandbox's cgroup is `<hierarchy>/ralph-town/<state root digest>/<sandbox id>`: the same for
//! every process on one state root (the CLI and `serve` agree), never relative to the cgroup
//! this process happens to be in. On cgroup v1 it lives in the memory and the cpuacct
//! hierarchies; on cgroup v2 below the highest cgroup of this process's own path that has the
//! `memory` controller and that this process may write (the root for root, a systemd-delegated
//! `user@<uid>.service` for a user), with `memory` enabled down the path (v2 puts processes only
//! in leaves, which sandbox cgroups are). Where there is no such controller nothing is enforced
//! or measured here: [`available`] says so and the caller warns once.
//!
//! The limit is the sandbox's memory in GiB (swap included where the kernel can count it, so
//! that swapping does not dodge it), set again before every command and at once on a resize.
//! This file knows files under `/sys/fs/cgroup` and `/proc`; it does not track sandboxes or
//! decide when a cgroup goes (the delete and gc paths call [`Cgroup::remove`]).

use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rustix::fs::{Mode, OFlags};

use super::cgroup_files::{kill_all, mkdir, read_stat, read_u64, write_if_changed};
use super::cgroup_tree::{self, Hierarchy};
use crate::provider::ResourceUsage;

/// The directory below a hierarchy's top that holds every state root's cgroups.
pub(crate) const GROUP: &str = "ralph-town";

const GIB: u64 = 1 << 30;

/// At least what a v1 limit of `-1` (none) reads back as.
const UNLIMITED_V1: u64 = 1 << 62;

/// How long a removal waits for the killed processes of a cgroup to be gone.
const REMOVAL_GRACE: Duration = Duration::from_secs(5);

/// The hierarchies this process may put sandboxes in, found once per process.
fn hierarchy() -> Option<&'static Hierarchy> {
    static FOUND: OnceLock<Option<Hierarchy>> = OnceLock::new();
    FOUND
        .get_or_init(|| cgroup_tree::find(Path::new("/proc/self")))
        .as_ref()
}

/// Whether sandboxes' memory is enforced here (a writable memory controller was found).
pub(crate) fn available() -> bool {
    hierarchy().is_some()
}

/// The cgroups of the sandboxes of one state root.
#[derive(Debug, Clone)]
pub(crate) struct Cgroups {
    /// Found on first need, so that commands that start no sandbox process touch nothing.
    hierarchy: OnceLock<Option<&'static Hierarchy>>,
    /// A short digest of the state root: its sandboxes' cgroups live under it.
    root_digest: String,
}

impl Cgroups {
    pub(crate) fn new(state_root: &Path) -> Cgroups {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(state_root.as_os_str().as_encoded_bytes());
        Cgroups {
            hierarchy: OnceLock::new(),
            root_digest: hex::encode(&digest[..6]),
        }
    }

    fn hierarchy(&self) -> Option<&'static Hierarchy> {
        *self.hierarchy.get_or_init(hierarchy)
    }

    /// The cgroup of sandbox `id`, or `None` when this machine has no writable memory
    /// controller. It may not exist yet: [`Cgroup::prepare`] makes it.
    pub(crate) fn sandbox(&self, id: &str) -> Option<Cgroup> {
        let hierarchy = self.hierarchy()?;
        let leaf = |top: &Path| top.join(GROUP).join(&self.root_digest).join(id);
        Some(match hierarchy {
            Hierarchy::V1 { memory, cpuacct } => Cgroup {
                memory: leaf(memory),
                cpuacct: cpuacct.as_deref().map(leaf),
                unified: false,
            },
            Hierarchy::V2 { top } => Cgroup {
                memory: leaf(top),
                cpuacct: None,
                unified: true,
            },
        })
    }

    /// Removes sandbox `id`'s cgroup, killing what still runs in it (see [`Cgroup::remove`]).
    pub(crate) fn remove(&self, id: &str) {
        if let Some(cgroup) = self.sandbox(id) {
            cgroup.remove();
        }
    }

    /// Kills every process of sandbox `id`, including those that left the process groups
    /// its commands were registered by (a `setsid` daemon without bubblewrap); the cgroup
    /// stays for the sandbox's next start.
    pub(crate) fn kill(&self, id: &str) {
        if let Some(cgroup) = self.sandbox(id) {
            kill_all(&cgroup.memory);
        }
    }

    /// The ids of every sandbox of this state root that has a cgroup.
    pub(crate) fn ids(&self) -> Vec<String> {
        let Some(hierarchy) = self.hierarchy() else {
            return Vec::new();
        };
        let (Hierarchy::V1 { memory: top, .. } | Hierarchy::V2 { top }) = hierarchy;
        let parent = top.join(GROUP).join(&self.root_digest);
        fs::read_dir(parent)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()))
            .filter_map(|entry| entry.file_name().into_string().ok())
            .collect()
    }
}

/// One sandbox's cgroup: its directory in the memory hierarchy (the only one on v2) and, on
/// v1, in the cpuacct hierarchy.
#[derive(Debug, Clone)]
pub(crate) struct Cgroup {
    memory: PathBuf,
    cpuacct: Option<PathBuf>,
    unified: bool,
}

impl Cgroup {
    fn dirs(&self) -> impl Iterator<Item = &Path> {
        std::iter::once(self.memory.as_path()).chain(self.cpuacct.as_deref())
    }

    /// Makes the cgroup if it is missing (an existing one, from an earlier process, is kept)
    /// and sets its memory limit to `memory` GiB (none when `None`).
    pub(crate) fn prepare(&self, memory: Option<u32>) -> io::Result<()> {
        for dir in self.dirs() {
            make(dir, self.unified)?;
        }
        self.limit(memory)
    }

    /// Sets the memory limit of the cgroup, if it exists; processes over it are reclaimed
    /// from or killed by the kernel at once.
    pub(crate) fn limit(&self, memory: Option<u32>) -> io::Result<()> {
        let bytes = memory.map(|gib| u64::from(gib) * GIB);
        if self.unified {
            let value = bytes.map_or_else(|| "max".to_string(), |bytes| bytes.to_string());
            write_if_changed(&self.memory.join("memory.max"), &value)?;
            // v2 counts swap apart: none at all while limited, so a limit cannot be dodged.
            let swap = self.memory.join("memory.swap.max");
            if swap.exists() {
                write_if_changed(&swap, if bytes.is_some() { "0" } else { "max" })?;
            }
            return Ok(());
        }
        // v1 wants memory <= memory+swap at every step: raise the pair from the top down and
        // lower it from the bottom up.
        let value = bytes.map_or_else(|| "-1".to_string(), |bytes| bytes.to_string());
        let memory = self.memory.join("memory.limit_in_bytes");
        let both = self.memory.join("memory.memsw.limit_in_bytes");
        let set = |path: &Path| {
            // Unlimited reads back as the largest page-aligned number, never as `-1`.
            if bytes.is_none() && read_u64(path).is_some_and(|current| current >= UNLIMITED_V1) {
                return Ok(());
            }
            write_if_changed(path, &value)
        };
        if !both.exists() {
            return set(&memory);
        }
        let raising = match (bytes, read_u64(&memory)) {
            (None, _) | (_, None) => true,
            (Some(bytes), Some(current)) => bytes > current,
        };
        if raising {
            set(&both)?;
            set(&memory)
        } else {
            set(&memory)?;
            set(&both)
        }
    }

    /// Descriptors that put a process in this cgroup when `0` (the writer) is written to
    /// them; opened now, with this process's rights, so that a child that has already given
    /// them up (dropped to the sandbox's user) can still join.
    ///
    /// On v1 that is `tasks` (the writing thread), not `cgroup.procs` (its whole process):
    /// for a freshly forked child, which has one thread, they mean the same, but moving a
    /// whole process takes the kernel's global thread-group lock, which waits for an RCU grace
    /// period (about 10 ms a command here). v2 has only `cgroup.procs`.
    pub(crate) fn joining(&self) -> io::Result<Joining> {
        let file = if self.unified {
            "cgroup.procs"
        } else {
            "tasks"
        };
        let descriptors =
            self.dirs()
                .map(|dir| {
                    let path = dir.join(file);
                    rustix::fs::open(&path, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())
                        .map_err(|error| {
                            io::Error::new(
                                io::Error::from(error).kind(),
                                format!("cannot join the cgroup `{}`: {error}", dir.display()),
                            )
                        })
                })
                .collect::<io::Result<Vec<_>>>()?;
        Ok(Joining(Arc::new(descriptors)))
    }

    /// The processes in the cgroup now (its `cgroup.procs`), or `None` when it cannot be read
    /// (not made yet).
    pub(crate) fn processes(&self) -> Option<Vec<u32>> {
        let listed = fs::read_to_string(self.memory.join("cgroup.procs")).ok()?;
        Some(
            listed
                .lines()
                .filter_map(|pid| pid.trim().parse().ok())
                .collect(),
        )
    }

    /// What the cgroup's processes use; zero for a cgroup not made yet (nothing ran in it).
    /// Memory is the working set, as container tools count it: everything charged but the
    /// inactive file cache, which the kernel drops before it would kill anything.
    pub(crate) fn usage(&self) -> ResourceUsage {
        if !self.memory.is_dir() {
            return ResourceUsage::default();
        }
        let stat = read_stat(&self.memory.join("memory.stat"));
        let field = |name: &str| stat.iter().find(|(key, _)| key == name).map(|(_, v)| *v);
        if self.unified {
            let current = read_u64(&self.memory.join("memory.current")).unwrap_or_default();
            let cpu = read_stat(&self.memory.join("cpu.stat"))
                .into_iter()
                .find(|(key, _)| key == "usage_usec")
                .map_or(0, |(_, value)| value);
            return ResourceUsage {
                memory_used: current.saturating_sub(field("inactive_file").unwrap_or_default()),
                memory_cache: field("file").unwrap_or_default(),
                cpu_time: Duration::from_micros(cpu),
            };
        }
        let current = read_u64(&self.memory.join("memory.usage_in_bytes")).unwrap_or_default();
        let nanos = self
            .cpuacct
            .as_ref()
            .and_then(|dir| read_u64(&dir.join("cpuacct.usage")))
            .unwrap_or_default();
        ResourceUsage {
            memory_used: current.saturating_sub(field("total_inactive_file").unwrap_or_default()),
            memory_cache: field("total_cache").unwrap_or_default(),
            cpu_time: Duration::from_nanos(nanos),
        }
    }

    /// Kills whatever still runs in the cgroup and removes its directories, waiting a little
    /// for the processes to be gone (the kernel refuses to remove a cgroup that has any). A
    /// cgroup that outlives the wait is left to the next garbage collection.
    pub(crate) fn remove(&self) {
        let deadline = Instant::now() + REMOVAL_GRACE;
        for dir in self.dirs() {
            loop {
                match fs::remove_dir(dir) {
                    Ok(()) => break,
                    Err(error) if error.kind() == io::ErrorKind::NotFound => break,
                    Err(_) if Instant::now() < deadline => {
                        kill_all(dir);
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    Err(_) => return,
                }
            }
            // The state root's directory goes with its last sandbox; a concurrent `prepare`
            // makes it again.
            if let Some(parent) = dir.parent() {
                let _ = fs::remove_dir(parent);
            }
        }
    }
}

/// The descriptors of [`Cgroup::joining`], shared by the commands built from one invocation.
#[derive(Debug, Clone)]
pub(crate) struct Joining(Arc<Vec<OwnedFd>>);

impl Joining {
    /// Makes `command`'s process join the cgroup before it execs (so everything it starts is
    /// in it too); the command fails to start when it cannot.
    pub(crate) fn apply(&self, command: &mut Command) {
        let descriptors = Arc::clone(&self.0);
        // SAFETY: between fork and exec only async-signal-safe calls are allowed; this closure
        // makes one `write` per descriptor opened beforehand and allocates nothing.
        unsafe {
            command.pre_exec(move || {
                for descriptor in descriptors.iter() {
                    rustix::io::write(descriptor, b"0")?;
                }
                Ok(())
            });
        }
    }
}

/// Makes cgroup `dir` and its parents up to the hierarchy's `ralph-town` directory; on v2,
/// enables `memory` for the children of each new parent. A parent removed by a concurrent
/// [`Cgroup::remove`] is made again.
fn make(dir: &Path, unified: bool) -> io::Result<()> {
    let mut tries = 0;
    loop {
        tries += 1;
        let made = match dir.parent() {
            Some(parent) if unified => cgroup_tree::make_parent(parent).and_then(|()| mkdir(dir)),
            Some(parent) => fs::create_dir_all(parent).and_then(|()| mkdir(dir)),
            None => mkdir(dir),
        };
        match made {
            Err(error) if error.kind() == io::ErrorKind::NotFound && tries < 3 => {}
            made => {
                return made.map_err(|error| {
                    io::Error::new(
                        error.kind(),
                        format!("cannot make the cgroup `{}`: {error}", dir.display()),
                    )
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn within(hierarchy: Option<Hierarchy>, state_root: &Path) -> Cgroups {
        let cgroups = Cgroups::new(state_root);
        let _ = cgroups
            .hierarchy
            .set(hierarchy.map(|hierarchy| &*Box::leak(Box::new(hierarchy))));
        cgroups
    }

    #[test]
    fn a_sandbox_cgroup_depends_on_the_state_root_and_the_id_only() {
        let v1 = Hierarchy::V1 {
            memory: PathBuf::from("/cg/memory"),
            cpuacct: Some(PathBuf::from("/cg/cpuacct")),
        };
        let one = within(Some(v1.clone()), Path::new("/state/a"));
        let other = within(Some(v1), Path::new("/state/b"));
        let cgroup = one.sandbox("abc").unwrap();
        assert_eq!(one.root_digest.len(), 12);
        assert_ne!(one.root_digest, other.root_digest);
        assert_eq!(
            cgroup.memory,
            Path::new("/cg/memory/ralph-town")
                .join(&one.root_digest)
                .join("abc")
        );
        assert_eq!(
            cgroup.cpuacct.unwrap(),
            Path::new("/cg/cpuacct/ralph-town")
                .join(&one.root_digest)
                .join("abc")
        );
        assert!(within(None, Path::new("/state/a")).sandbox("abc").is_none());
    }

    /// On a v1 tree imitated in plain files: the limit goes to memory and memory+swap in an
    /// order the kernel accepts, and usage leaves the inactive file cache out.
    #[test]
    fn limits_and_usage_read_and_write_the_controller_files() {
        let root = tempfile::tempdir().unwrap();
        let cgroup = Cgroup {
            memory: root.path().join("memory/leaf"),
            cpuacct: Some(root.path().join("cpuacct/leaf")),
            unified: false,
        };
        cgroup.prepare(Some(1)).unwrap();
        let read = |name: &str| fs::read_to_string(cgroup.memory.join(name)).unwrap();
        assert_eq!(read("memory.limit_in_bytes"), GIB.to_string());
        fs::write(cgroup.memory.join("memory.memsw.limit_in_bytes"), "0").unwrap();
        cgroup.limit(Some(2)).unwrap();
        assert_eq!(read("memory.limit_in_bytes"), (2 * GIB).to_string());
        assert_eq!(read("memory.memsw.limit_in_bytes"), (2 * GIB).to_string());
        cgroup.limit(None).unwrap();
        assert_eq!(read("memory.limit_in_bytes"), "-1");
        fs::write(cgroup.memory.join("memory.usage_in_bytes"), "5000\n").unwrap();
        fs::write(
            cgroup.memory.join("memory.stat"),
            "cache 10\ntotal_cache 1500\ntotal_inactive_file 1000\n",
        )
        .unwrap();
        fs::write(
            cgroup.cpuacct.as_ref().unwrap().join("cpuacct.usage"),
            "7000",
        )
        .unwrap();
        assert_eq!(
            cgroup.usage(),
            ResourceUsage {
                memory_used: 4000,
                memory_cache: 1500,
                cpu_time: Duration::from_nanos(7000),
            }
        );
    }
}
