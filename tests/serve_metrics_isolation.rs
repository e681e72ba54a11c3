//! The README's `serve` metrics row where a sandbox has no cgroup. Run as root, this machine
//! gives `serve` a cgroup memory controller (`local_cgroup` tests that case), so the tests start
//! the `serve` binary again as `nobody`, which has none (it says so), once with bubblewrap and
//! once with a `PATH` without `bwrap`. In each a command left running in the sandbox holds
//! 200 MiB and another spins. Under bubblewrap the sandbox's processes are those of its pid
//! namespace, measured from outside: memory reads at least the 200 MiB held and less than the
//! machine has, CPU more than 0, in a sample and in the sampled history alike. Without bubblewrap
//! they cannot be told from the host's or another sandbox's, and memory and CPU read 0 rather
//! than a number that counts some of them and not others. Run as anyone else, the tests skip and
//! say why (without root there is no `nobody` to become); with `CI=true` they fail.

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use crate::common::{have, skip};
use crate::serve_support::{AsyncServe, ServeCommand};

const MIB: u64 = 1 << 20;

/// A `serve` run as `nobody` on a state root of its own; `None` (after a skip) unless this
/// test runs as root with `setpriv` (and `bwrap`, `python3`).
async fn nobody(world: &Path, bubblewrap: bool) -> Option<AsyncServe> {
    if !rustix::process::geteuid().is_root() {
        skip("root, to run `serve` as `nobody`, a user with no cgroup it may write");
        return None;
    }
    if !(have("setpriv") && have("bwrap") && have("python3")) {
        return None;
    }
    std::os::unix::fs::chown(world, Some(65534), Some(65534)).unwrap();
    // Sampled every second, so that the history has a point taken while the sandbox is busy.
    let mut command = ServeCommand::new(world, &world.join("state"))
        .run_as_nobody()
        .args(["--simulate", "metrics-interval=1s"]);
    if !bubblewrap {
        command = command.env("PATH", path_without_bwrap(world));
    }
    Some(command.start_async().await)
}

/// A directory of links to every program of the system's `PATH` but `bwrap`, as `PATH`.
fn path_without_bwrap(world: &Path) -> std::path::PathBuf {
    let bin = world.join("bin");
    std::fs::create_dir(&bin).unwrap();
    for directory in ["/usr/local/bin", "/usr/bin", "/bin"] {
        for entry in std::fs::read_dir(directory).into_iter().flatten().flatten() {
            let link = bin.join(entry.file_name());
            if entry.file_name() != "bwrap" && !link.exists() {
                std::os::unix::fs::symlink(entry.path(), link).unwrap();
            }
        }
    }
    bin
}

/// Ends the processes whose command line holds `marker` (started by this test), by pid.
fn end_marked(marker: &str) {
    for pid in marked(marker) {
        let pid = rustix::process::Pid::from_raw(pid).unwrap();
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
    }
}

/// The pids whose command line holds `marker`, with their resident memory in bytes.
fn marked_with_rss(marker: &str) -> Vec<(i32, u64)> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| {
            let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if !cmdline.contains(marker) || cmdline.contains("timeout ") {
                return None;
            }
            let status = std::fs::read_to_string(entry.path().join("status")).ok()?;
            let rss_kib: u64 = status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|value| value.trim().trim_end_matches(" kB").parse().ok())
                .unwrap_or(0);
            Some((pid, rss_kib * 1024))
        })
        .collect()
}

fn marked(marker: &str) -> Vec<i32> {
    marked_with_rss(marker)
        .into_iter()
        .map(|(pid, _)| pid)
        .collect()
}

/// A started sandbox of `serve` with a command left running in it that holds 200 MiB and one
/// that spins (both tagged with `marker`, and ended after two minutes at the latest).
async fn busy_sandbox(serve: &AsyncServe, marker: &str) -> String {
    let created = serve
        .json(reqwest::Method::POST, "/sandbox", json!({}))
        .await;
    let id = created["id"].as_str().expect("a sandbox").to_string();
    let path = format!("/sandbox/{id}");
    for _ in 0..600 {
        if serve.json(reqwest::Method::GET, &path, json!({})).await["state"] == "started" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let command = format!(
        "(timeout 120 python3 -c 'import time; x = b\"x\" * (200 << 20); time.sleep(120)' \
         {marker}-memory >/dev/null 2>&1 &) ; \
         (timeout 120 sh -c 'while :; do :; done' {marker}-cpu >/dev/null 2>&1 &)"
    );
    let ran = serve.exec(&id, &command).await;
    assert_eq!(ran["exitCode"], 0, "{ran}");
    // Guards, not timings: both run, and the memory is held.
    for _ in 0..600 {
        let held = marked_with_rss(&format!("{marker}-memory"))
            .iter()
            .any(|(_, rss)| *rss >= 200 * MIB);
        if held && !marked(&format!("{marker}-cpu")).is_empty() {
            return id;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the sandbox's commands did not start: {:?}", marked(marker));
}

/// What the README says `serve` warns about: no cgroup, and (`reduced`) no bubblewrap.
#[track_caller]
fn assert_said(serve: &AsyncServe, reduced: bool) {
    let said = serve.printed();
    assert!(
        said.contains("memory is recorded but not enforced"),
        "serve has a cgroup here:\n{said}"
    );
    assert_eq!(said.contains("isolation is reduced"), reduced, "{said}");
}

/// A `serve` as `nobody` (with or without `bubblewrap`) with a busy sandbox, sampled while
/// its commands (tagged `marker`) still run.
struct Busy {
    serve: AsyncServe,
    marker: String,
    id: String,
    /// The answer of `/system/metrics`.
    sample: serde_json::Value,
    /// A time just before the sample, with the commands already running (RFC 3339).
    since: String,
}

/// [`Busy`] in `world`, once `serve` said what it lacks; `None` after a skip.
async fn busy(world: &Path, bubblewrap: bool) -> Option<Busy> {
    let serve = nobody(world, bubblewrap).await?;
    assert_said(&serve, !bubblewrap);
    let marker = format!("rt-metrics-{}", uuid::Uuid::new_v4().simple());
    let id = busy_sandbox(&serve, &marker).await;
    let since = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
    let metrics = format!("/toolbox/{id}/system/metrics");
    let sample = serve.json(reqwest::Method::GET, &metrics, json!({})).await;
    assert!(
        sample["diskUsed"].as_u64().is_some_and(|used| used > 0),
        "{sample}"
    );
    Some(Busy {
        serve,
        marker,
        id,
        sample,
        since,
    })
}

/// This machine's memory, in bytes.
fn machine_memory() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kib: u64 = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("MemTotal in /proc/meminfo");
    kib * 1024
}

/// Memory at least what the holder holds and less than the machine has; CPU above 0 (the
/// spinner spun in the window) and at most all of the sandbox's vCPUs. No bound is tighter:
/// the machine is shared, and the spinner gets what the scheduler gives it.
#[track_caller]
fn assert_busy(memory: Option<f64>, cpu: Option<f64>, said: &dyn std::fmt::Display) {
    #[allow(clippy::cast_precision_loss)]
    let (least, most) = ((200 * MIB) as f64, machine_memory() as f64);
    assert!(
        memory.is_some_and(|memory| memory >= least && memory < most),
        "memory not in {least}..{most}: {said}"
    );
    assert!(
        cpu.is_some_and(|cpu| cpu > 0.0 && cpu <= 100.0),
        "CPU not in (0, 100]: {said}"
    );
}

/// The first point of the sampled history of sandbox `id` from `from` on, as `(memory, CPU)`,
/// waiting for the sampler (every second) to take one.
async fn first_point_since(serve: &AsyncServe, id: &str, from: &str) -> (Option<f64>, Option<f64>) {
    let path = format!(
        "/sandbox/{id}/telemetry/metrics?from={from}&metricNames=daytona.sandbox.memory.usage\
         &metricNames=daytona.sandbox.cpu.utilization"
    );
    let mut answer = serde_json::Value::Null;
    for _ in 0..600 {
        answer = serve.json(reqwest::Method::GET, &path, json!({})).await;
        let first = |name: &str| {
            let series = answer["series"].as_array()?;
            let series = series.iter().find(|series| series["metricName"] == name)?;
            Some(series["dataPoints"].as_array()?.first()?["value"].as_f64())
        };
        if let (Some(memory), Some(cpu)) = (
            first("daytona.sandbox.memory.usage"),
            first("daytona.sandbox.cpu.utilization"),
        ) {
            return (memory, cpu);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no point was sampled since {from}: {answer}");
}

/// Under bubblewrap, without a cgroup: the sandbox's pid namespace is measured, in a sample
/// and in the sampled history.
#[tokio::test(flavor = "multi_thread")]
async fn without_a_cgroup_memory_and_cpu_are_measured_under_bubblewrap() {
    let world = tempfile::tempdir().unwrap();
    let Some(busy) = busy(world.path(), true).await else {
        return;
    };
    let sampled = first_point_since(&busy.serve, &busy.id, &busy.since).await;
    end_marked(&busy.marker);
    let sample = &busy.sample;
    let (memory, cpu) = (sample["memUsed"].as_f64(), sample["cpuUsedPct"].as_f64());
    assert_busy(memory, cpu, sample);
    assert_busy(sampled.0, sampled.1, &format!("history: {sampled:?}"));
}

/// Without bubblewrap, without a cgroup: memory and CPU read 0 (neither the sandbox's commands
/// nor the measuring one are counted), and the disk is measured.
#[tokio::test(flavor = "multi_thread")]
async fn without_a_cgroup_memory_and_cpu_read_0_without_bubblewrap() {
    let world = tempfile::tempdir().unwrap();
    let Some(busy) = busy(world.path(), false).await else {
        return;
    };
    end_marked(&busy.marker);
    let sample = &busy.sample;
    assert_eq!(
        (sample["memUsed"].as_u64(), sample["cpuUsedPct"].as_f64()),
        (Some(0), Some(0.0)),
        "{sample}"
    );
}
