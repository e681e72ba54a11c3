//! The resource history behind `/api/sandbox/{id}/telemetry/metrics`: every started sandbox is
//! sampled once per `metrics-interval` (15 s unless `--simulate` says otherwise) and its samples
//! are kept in a ring of at most [`CAPACITY`] points (the last 24 hours at 15 s), from which a
//! `from`/`to` window is answered.
//!
//! The rings are kept in memory and journaled under the state root (`metrics_history_file`), so
//! that a restarted `serve` answers the window before the restart; points older than 24 hours
//! are dropped. A stopped sandbox keeps its points and gets no new ones; a deleted one loses
//! them, file included.
//! Sampling never counts as activity (it must not hold off auto-stop), and samples run a few at
//! a time so that many idle sandboxes cost a steady trickle rather than a burst. This file keeps
//! and selects points; what a sample measures is `metrics`.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;

use super::ServeError;
use super::lifecycle::every;
use super::metrics::sample;
use super::metrics_history_file::{DAY, Journal};
use super::state::{AppState, Millis, now};
use super::view::derived_state;
use crate::daytona_api::{SandboxState, SystemMetrics};
use crate::provider::Labels;

/// Points kept per sandbox: 24 hours at the default interval.
pub(crate) const CAPACITY: usize = 24 * 60 * 60 / 15;

/// How many sandboxes are measured at once.
const CONCURRENT_SAMPLES: usize = 4;

/// The series Daytona's telemetry answers, in the order of [`Point::values`].
pub(crate) const SERIES: [&str; 7] = [
    "daytona.sandbox.cpu.utilization",
    "daytona.sandbox.cpu.limit",
    "daytona.sandbox.memory.usage",
    "daytona.sandbox.memory.limit",
    "daytona.sandbox.memory.cache",
    "daytona.sandbox.filesystem.usage",
    "daytona.sandbox.filesystem.total",
];

/// One sample: when, and the value of each of [`SERIES`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Point {
    pub(crate) at: Millis,
    pub(crate) values: [f64; SERIES.len()],
}

impl Point {
    fn of(metrics: &SystemMetrics, at: Millis) -> Point {
        #[allow(clippy::cast_precision_loss)]
        let values = [
            metrics.cpu_used_pct,
            f64::from(metrics.cpu_count),
            metrics.mem_used as f64,
            metrics.mem_total as f64,
            metrics.mem_cache as f64,
            metrics.disk_used as f64,
            metrics.disk_total as f64,
        ];
        Point { at, values }
    }
}

/// Every sandbox's ring of points, and the journal that keeps them across restarts (none
/// without a state root).
#[derive(Debug, Default)]
pub(crate) struct History {
    rings: Mutex<Rings>,
}

#[derive(Debug, Default)]
struct Rings {
    points: HashMap<String, VecDeque<Point>>,
    journal: Option<Journal>,
}

impl History {
    /// The history journaled under `state_root`, loaded with the last 24 hours it kept.
    pub(crate) fn open(state_root: Option<&std::path::Path>) -> Result<History, ServeError> {
        let Some(state_root) = state_root else {
            return Ok(History::default());
        };
        let (journal, loaded) = Journal::open(state_root, now().saturating_sub(DAY))?;
        let points = loaded
            .into_iter()
            .map(|(id, points)| (id, points.into()))
            .collect();
        Ok(History {
            rings: Mutex::new(Rings {
                points,
                journal: Some(journal),
            }),
        })
    }

    /// Adds a sample of sandbox `id` taken at `at`, dropping the oldest beyond [`CAPACITY`] or
    /// 24 hours, and journals it.
    pub(crate) fn record(&self, id: &str, metrics: &SystemMetrics, at: Millis) {
        let mut rings = self
            .rings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Rings { points, journal } = &mut *rings;
        let ring = points.entry(id.to_string()).or_default();
        if ring.len() == CAPACITY {
            ring.pop_front();
        }
        while ring
            .front()
            .is_some_and(|point| point.at.saturating_add(DAY) < at)
        {
            ring.pop_front();
        }
        let point = Point::of(metrics, at);
        ring.push_back(point);
        if let Some(journal) = journal {
            journal.append(id, &point, ring.iter());
        }
    }

    /// Whether sandbox `id` has any point yet.
    pub(crate) fn has_points(&self, id: &str) -> bool {
        self.rings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .points
            .get(id)
            .is_some_and(|ring| !ring.is_empty())
    }

    /// The points of sandbox `id` from `from` to `to`, both included, oldest first.
    pub(crate) fn window(&self, id: &str, from: Millis, to: Millis) -> Vec<Point> {
        let rings = self
            .rings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        rings.points.get(id).map_or_else(Vec::new, |ring| {
            ring.iter()
                .filter(|point| (from..=to).contains(&point.at))
                .copied()
                .collect()
        })
    }

    /// Forgets the sandboxes not in `live`, files included.
    fn retain(&self, live: &BTreeSet<String>) {
        let mut rings = self
            .rings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Rings { points, journal } = &mut *rings;
        points.retain(|id, _| {
            let keep = live.contains(id);
            if let (false, Some(journal)) = (keep, journal.as_mut()) {
                journal.remove(id);
            }
            keep
        });
    }
}

/// Samples sandbox `id` now and records the sample.
pub(crate) async fn sample_now(state: &AppState, id: &str) {
    sample_at(state, id, now()).await;
}

/// Samples sandbox `id` now and records the sample as taken at `at` (a time just before now:
/// see `telemetry_metrics`).
pub(crate) async fn sample_at(state: &AppState, id: &str, at: Millis) {
    if let Ok(metrics) = sample(state, id).await {
        state.history.record(id, &metrics, at);
    }
}

/// One pass: a sample of every started sandbox.
async fn tick(state: &AppState) {
    let Ok(sandboxes) = state.provider.list(&Labels::new()).await else {
        return;
    };
    let at = now();
    let live: BTreeSet<String> = sandboxes.iter().map(|s| s.id.clone()).collect();
    state.history.retain(&live);
    let started: Vec<String> = sandboxes
        .into_iter()
        .filter(|sandbox| {
            let record = state.store.sandbox(&sandbox.id);
            derived_state(sandbox, &record, at).0 == SandboxState::Started
        })
        .map(|sandbox| sandbox.id)
        .collect();
    futures::stream::iter(started)
        .for_each_concurrent(CONCURRENT_SAMPLES, |id| async move {
            sample_now(state, &id).await;
        })
        .await;
}

/// Samples until `stop` turns true.
pub(crate) async fn run(state: Arc<AppState>, stop: tokio::sync::watch::Receiver<bool>) {
    let period = state
        .simulation
        .metrics_interval
        .max(Duration::from_millis(10));
    every(period, stop, || tick(&state)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(cpu: f64) -> SystemMetrics {
        SystemMetrics {
            cpu_count: 1,
            cpu_used_pct: cpu,
            mem_total: 1 << 30,
            mem_used: 5,
            mem_cache: 0,
            disk_total: 3 << 30,
            disk_used: 7,
            disk_free: 0,
            timestamp: String::new(),
            timestamp_unix: 0,
        }
    }

    #[test]
    fn a_window_includes_its_ends_and_the_ring_drops_the_oldest() {
        let history = History::default();
        for at in 0..CAPACITY as Millis + 2 {
            history.record("a", &metrics(at as f64), at);
        }
        let all = history.window("a", 0, Millis::MAX);
        assert_eq!(all.len(), CAPACITY);
        assert_eq!(all[0].at, 2, "the two oldest points went");
        let window = history.window("a", 10, 12);
        assert_eq!(
            window.iter().map(|p| p.at).collect::<Vec<_>>(),
            [10, 11, 12]
        );
        assert_eq!(window[0].values[0], 10.0);
        assert!(history.window("b", 0, Millis::MAX).is_empty());
        history.retain(&BTreeSet::from(["b".to_string()]));
        assert!(!history.has_points("a"));
    }
}
