//! What a `local` sandbox's processes use, as [`Provider::usage`](crate::provider::Provider::usage)
//! answers it: read from the sandbox's cgroup where it has one (`cgroup`), else, under
//! bubblewrap, summed over the processes of the pid namespace its init holds, which every
//! command, session, terminal and entrypoint of the sandbox joins (`init`, `join`). Without
//! either, a sandbox's processes cannot be told from the host's or another sandbox's: `None`.
//!
//! Without a cgroup, memory is the sum of the processes' proportional set sizes (see
//! [`procfs::memory`]): a library mapped by every process counts once, as in a cgroup's
//! working set, where resident sizes would count it once per process. The page cache is not
//! charged to processes, so the cache reads 0.
//!
//! CPU is a counter kept per sandbox that only grows (two readings around a window give the
//! CPU used in it, as a cgroup's does). Each reading adds what each process still there (the
//! same pid and start time) used since the last one, what a process new since then used in
//! all, and what a survivor's count of ended children gained, less what those children (and
//! their own ended children) had already been counted for. Not counted: what a process used
//! between the last reading and its end when nothing in the namespace waited for it (a
//! command's program, whose parent is the shell that entered the namespace from outside) or
//! its parent had ended too; what processes in a pid namespace nested in the sandbox's used.
//! A step is at most the wall time since the last reading on every CPU this process may use,
//! so a process that ends while the namespace is read cannot make a window absurd.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use super::procfs::{self, Times};
use super::{LocalProvider, blocking, init};
use crate::provider::{ResourceUsage, Result};

/// How long a sandbox's counter is kept without a reading (the history samples every 15 s).
const FORGET: Duration = Duration::from_secs(600);

/// The CPU counters of the sandboxes measured through their processes, by sandbox id.
#[derive(Debug, Default)]
pub(super) struct Meters {
    /// When each was last asked for, and it.
    sandboxes: Mutex<HashMap<String, (Instant, SharedMeter)>>,
}

/// A sandbox's counter, read by one reading at a time.
type SharedMeter = Arc<Mutex<Meter>>;

impl Meters {
    /// The counter of sandbox `id`, made if missing; those not asked for in [`FORGET`] go.
    fn meter(&self, id: &str) -> SharedMeter {
        // Held for a lookup only, never across a reading of `/proc`.
        let mut sandboxes = self
            .sandboxes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        sandboxes.retain(|_, (asked, _)| now.duration_since(*asked) < FORGET);
        let (asked, meter) = sandboxes
            .entry(id.to_string())
            .or_insert_with(|| (now, Arc::default()));
        *asked = now;
        Arc::clone(meter)
    }
}

/// One sandbox's CPU counter and the processes of its last reading.
#[derive(Debug, Default)]
struct Meter {
    /// The processes of the last reading and their times, by pid.
    processes: HashMap<u32, Times>,
    /// Clock ticks counted so far.
    ticks: u64,
    /// When the last reading was; `None` before the first.
    read_at: Option<Instant>,
}

impl LocalProvider {
    /// [`Provider::usage`](crate::provider::Provider::usage): see the module's documentation.
    pub(super) async fn usage(&self, id: &str) -> Result<Option<ResourceUsage>> {
        let metadata = self.blocking_resolve(id).await?;
        if let Some(cgroup) = self.launcher.cgroups().sandbox(&metadata.id) {
            return blocking(move || Ok(Some(cgroup.usage()))).await;
        }
        if !self.launcher.is_isolated() {
            return Ok(None);
        }
        let run_dir = self.store.run_dir(&metadata.id);
        let meter = self.meters.meter(&metadata.id);
        blocking(move || {
            // The init cannot be replaced (a stop and a start) while its namespace is read.
            let read = init::while_held(&run_dir, |init| Ok(measure(&meter, init)));
            Ok(Some(read.unwrap_or_default()))
        })
        .await
    }
}

/// Reads the processes in the pid namespace of `init` (none when no init runs) and advances
/// `meter` by what they used since its last reading.
fn measure(meter: &Mutex<Meter>, init: Option<u32>) -> ResourceUsage {
    // One reading at a time per sandbox, so that each advances from the one before it.
    let mut meter = meter.lock().unwrap_or_else(PoisonError::into_inner);
    let members = init.map(procfs::pid_namespace_members).unwrap_or_default();
    // Times first, in one pass, so that as few processes as can end between two of them.
    let processes: HashMap<u32, Times> = members
        .iter()
        .filter_map(|&pid| Some((pid, procfs::times(pid)?)))
        .collect();
    let now = Instant::now();
    let step = advance(&meter.processes, &processes);
    let step = match meter.read_at {
        Some(before) => step.min(most_ticks(now.duration_since(before))),
        None => step,
    };
    meter.ticks = meter.ticks.saturating_add(step);
    meter.processes = processes;
    meter.read_at = Some(now);
    ResourceUsage {
        memory_used: members.iter().map(|&pid| procfs::memory(pid)).sum(),
        memory_cache: 0,
        cpu_time: from_ticks(meter.ticks),
    }
}

/// The clock ticks the processes of `now` used since `last` was read (see the module's
/// documentation).
fn advance(last: &HashMap<u32, Times>, now: &HashMap<u32, Times>) -> u64 {
    let stayed = |pid: u32| {
        let before = last.get(&pid)?;
        now.get(&pid).filter(|times| times.start == before.start)
    };
    // What ended processes were already counted for, by their nearest ancestor still there,
    // whose count of ended children takes theirs in as it waits for them.
    let mut counted: HashMap<u32, u64> = HashMap::new();
    for (&pid, times) in last {
        if stayed(pid).is_some() {
            continue;
        }
        let mut ancestor = times.parent;
        // A parent link never loops within one reading; the bound only guards a pid reused.
        for _ in 0..last.len() {
            match last.get(&ancestor) {
                Some(up) if stayed(ancestor).is_none() => ancestor = up.parent,
                _ => break,
            }
        }
        if stayed(ancestor).is_some() {
            *counted.entry(ancestor).or_default() += times.own.saturating_add(times.children);
        }
    }
    now.iter()
        .map(
            |(&pid, times)| match last.get(&pid).filter(|_| stayed(pid).is_some()) {
                Some(before) => {
                    let children = times.children.saturating_sub(before.children);
                    let children = children.saturating_sub(counted.get(&pid).copied().unwrap_or(0));
                    times
                        .own
                        .saturating_sub(before.own)
                        .saturating_add(children)
                }
                None => times.own.saturating_add(times.children),
            },
        )
        .fold(0, u64::saturating_add)
}

/// Clock ticks a second, the unit of `/proc/<pid>/stat`'s times.
fn ticks_per_second() -> u64 {
    static FOUND: OnceLock<u64> = OnceLock::new();
    *FOUND.get_or_init(|| {
        // SAFETY: `sysconf` reads a constant of the C library and touches no memory of ours.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        u64::try_from(ticks)
            .ok()
            .filter(|&ticks| ticks > 0)
            .unwrap_or(100)
    })
}

fn from_ticks(ticks: u64) -> Duration {
    let nanos = u128::from(ticks) * 1_000_000_000 / u128::from(ticks_per_second());
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// The most clock ticks processes can use in `elapsed`: all of it on every CPU this process
/// may use (a sandbox's are among them), and a tick more each for the kernel's rounding.
fn most_ticks(elapsed: Duration) -> u64 {
    let cpus = rustix::thread::sched_getaffinity(None).map_or(1, |set| set.count().max(1));
    let cpus = u64::from(cpus);
    let ticks = elapsed.as_secs_f64() * ticks_per_second() as f64;
    (ticks.ceil() as u64).saturating_add(1).saturating_mul(cpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reading of `(pid, parent, start, own, children)`.
    fn reading(processes: &[(u32, u32, u64, u64, u64)]) -> HashMap<u32, Times> {
        processes
            .iter()
            .map(|&(pid, parent, start, own, children)| {
                let times = Times {
                    parent,
                    start,
                    own,
                    children,
                };
                (pid, times)
            })
            .collect()
    }

    #[test]
    fn a_step_counts_what_stayed_used_and_what_came_in_all() {
        let last = reading(&[(1, 0, 5, 10, 3), (2, 1, 6, 100, 0)]);
        // 1 used 2 more, 2 used 5 more, 3 came and used 4 (and its ended children 1).
        let now = reading(&[(1, 0, 5, 12, 3), (2, 1, 6, 105, 0), (3, 1, 9, 4, 1)]);
        assert_eq!(advance(&last, &now), 12);
        assert_eq!(advance(&HashMap::new(), &now), 15 + 105 + 5);
        assert_eq!(advance(&now, &now), 0);
    }

    #[test]
    fn an_ended_child_waited_for_adds_only_what_it_used_since_the_last_reading() {
        // 2 had used 100 and used 7 more before it ended; 1 waited for it.
        let last = reading(&[(1, 0, 5, 10, 3), (2, 1, 6, 100, 0)]);
        let now = reading(&[(1, 0, 5, 10, 3 + 107)]);
        assert_eq!(advance(&last, &now), 7);
        // A subtree ended: 3 (used 50, then 2 more) was waited for by 2 (used 100, then 7
        // more), which 1 waited for.
        let last = reading(&[(1, 0, 5, 10, 3), (2, 1, 6, 100, 0), (3, 2, 7, 50, 0)]);
        let now = reading(&[(1, 0, 5, 10, 3 + 107 + 52)]);
        assert_eq!(advance(&last, &now), 9);
    }

    #[test]
    fn an_end_nothing_inside_waited_for_is_never_negative() {
        // 2's parent is outside the namespace: its 100 go, nothing is taken from anyone.
        let last = reading(&[(1, 0, 5, 10, 3), (2, 77, 6, 100, 0)]);
        let now = reading(&[(1, 0, 5, 11, 3)]);
        assert_eq!(advance(&last, &now), 1);
        // 1 did not wait for 2 (it ignores its children): its count does not go below 0.
        let last = reading(&[(1, 0, 5, 10, 3), (2, 1, 6, 100, 0), (3, 0, 8, 1, 0)]);
        let now = reading(&[(1, 0, 5, 10, 3), (3, 0, 8, 4, 0)]);
        assert_eq!(advance(&last, &now), 3);
    }

    #[test]
    fn a_pid_used_again_is_a_new_process() {
        let last = reading(&[(1, 0, 5, 10, 0), (2, 1, 6, 100, 0)]);
        // 2 ended unwaited-for and a new 2 started, which used 4.
        let now = reading(&[(1, 0, 5, 10, 0), (2, 1, 60, 4, 0)]);
        assert_eq!(advance(&last, &now), 4);
    }

    #[test]
    fn a_step_is_at_most_the_window_on_every_usable_cpu() {
        let cpus = rustix::thread::sched_getaffinity(None).unwrap().count() as u64;
        let second = ticks_per_second();
        assert_eq!(most_ticks(Duration::from_secs(1)), (second + 1) * cpus);
        assert_eq!(from_ticks(second * 3), Duration::from_secs(3));
    }

    /// On this test's own pid namespace: the memory of its processes is counted, and the
    /// counter grows by what a thread spinning between two readings used.
    #[test]
    fn a_reading_counts_the_namespace_and_its_counter_grows_with_use() {
        let meter = Mutex::new(Meter::default());
        let first = measure(&meter, Some(std::process::id()));
        assert!(first.memory_used > 0, "{first:?}");
        let spun = std::thread::spawn(|| {
            let started = std::time::Instant::now();
            let mut turns = 0_u64;
            while started.elapsed() < Duration::from_millis(300) {
                turns = std::hint::black_box(turns.wrapping_add(1));
            }
        });
        spun.join().unwrap();
        let second = measure(&meter, Some(std::process::id()));
        assert!(second.cpu_time > first.cpu_time, "{first:?} {second:?}");
        let gone = measure(&meter, None);
        assert_eq!((gone.memory_used, gone.cpu_time), (0, second.cpu_time));
    }

    /// What one reading of a sandbox-sized namespace costs: 19 sleeping shells' children and a
    /// Python holding 200 MiB, in a pid namespace of their own. It prints; it asserts no time.
    #[test]
    #[ignore = "a cost, run by hand: cargo test --lib -- --ignored --nocapture cost_of_a_reading"]
    fn cost_of_a_reading() {
        let script = "for i in $(seq 19); do sleep 60 & done; \
                      python3 -c 'import time; x = b\"x\" * (200 << 20); time.sleep(60)' & wait";
        let mut namespace = std::process::Command::new("unshare")
            .args([
                "--user",
                "--map-root-user",
                "--pid",
                "--fork",
                "--kill-child",
            ])
            .args(["sh", "-c", script])
            .spawn()
            .unwrap();
        let init = loop {
            let init = procfs::children(namespace.id()).first().copied();
            if let Some(init) =
                init.filter(|&init| measure(&Mutex::default(), Some(init)).memory_used > 200 << 20)
            {
                break init;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let meter = Mutex::new(Meter::default());
        let started = Instant::now();
        let rounds: u32 = 200;
        for _ in 0..rounds {
            std::hint::black_box(measure(&meter, Some(init)));
        }
        let members = procfs::pid_namespace_members(init).len();
        let _ = namespace.kill();
        let _ = namespace.wait();
        eprintln!(
            "one reading of {members} processes: {:?}",
            started.elapsed() / rounds
        );
    }
}
