//! `GET /toolbox/{id}/system/metrics` (newer than the v0.190 toolbox spec; the pinned SDK's
//! `get_metrics_latest`): one resource sample of a sandbox.
//!
//! Totals are what the sandbox was given (its record's vCPU, memory and disk). Disk usage is the
//! size of the home, measured inside the sandbox (`du`). Memory and CPU are measured from
//! outside when the provider can ([`Provider::usage`](crate::provider::Provider::usage)), CPU
//! as the CPU time used over a 200 ms window, as a percentage of the vCPUs given. A `local`
//! sandbox with a cgroup, which every one of its processes is in, reads its working set
//! (everything charged but the inactive file cache) and the cgroup's CPU time. Without a
//! cgroup, under bubblewrap, the provider sums over the processes of the sandbox's PID
//! namespace, which all its commands join: memory is their proportional set sizes (PSS, so a
//! shared library counts once; no file cache), CPU their CPU time and that of the children
//! they waited for (see `provider::local::usage` for what is not counted). Where the provider
//! cannot measure from outside (`local` without bubblewrap and without a cgroup, where the
//! sandbox's processes cannot be told from the host's), the script that measures the disk
//! measures them only when it runs as the first child of its own `bwrap` (a PID namespace of
//! its own), which a command of a `local` sandbox never is, so memory and CPU read 0 rather than
//! a wrong number (`tests/serve_metrics_isolation.rs`). `/api/sandbox/{id}/telemetry/metrics`
//! answers the same samples, taken on an interval and kept by `metrics_history`, over a
//! `from`/`to` window.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};

use serde::Serialize;
use serde_json::json;

use super::error::{ApiError, DaemonError};
use super::metrics_history::{SERIES, sample_at};
use super::sandbox::resolve;
use super::state::{AppState, Millis, iso, now, to_millis};
use super::toolbox::{ready, run_script};
use super::view::derived_state;
use crate::daytona_api::{SandboxState, SystemMetrics};

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/{sandbox}/system/metrics", get(system_metrics))
}

/// The control-plane route (behind the API key).
pub(crate) fn api_routes() -> Router<Arc<AppState>> {
    Router::new().route(
        "/sandbox/{sandbox}/telemetry/metrics",
        get(telemetry_metrics),
    )
}

const GIB: u64 = 1 << 30;

/// The measuring window of CPU use.
const WINDOW: Duration = Duration::from_millis(200);

/// Prints `isolated ticks_before ticks_after rss_pages page_size ticks_per_second home_kib`,
/// measuring processes only when `processes=1` is set before it (see [`script`]). `stat`
/// fields are counted after the `(comm)` field, which may hold spaces.
const SAMPLE: &str = r#"ticks() { total=0; for stat in /proc/[0-9]*/stat; do set -- $(sed 's/^.*) //' "$stat" 2>/dev/null); [ $# -ge 13 ] && total=$((total + ${12} + ${13})); done; echo "$total"; }
rss() { total=0; for stat in /proc/[0-9]*/stat; do set -- $(sed 's/^.*) //' "$stat" 2>/dev/null); [ $# -ge 22 ] && total=$((total + ${22})); done; echo "$total"; }
isolated=0; [ "$processes" = 1 ] && [ "$(cat /proc/1/comm 2>/dev/null)" = bwrap ] && isolated=1
if [ "$isolated" = 1 ]; then before=$(ticks); sleep 0.2; after=$(ticks); pages=$(rss); else before=0; after=0; pages=0; fi
echo "$isolated $before $after $pages $(getconf PAGESIZE) $(getconf CLK_TCK) $(du -sk "$HOME" 2>/dev/null | cut -f1)""#;

/// The sample script, measuring the processes it sees or (when they are measured from outside)
/// the disk only.
fn script(processes: bool) -> String {
    format!("processes={};{SAMPLE}", u8::from(processes))
}

/// The numbers the sample script printed.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Sample {
    isolated: bool,
    ticks: u64,
    rss_bytes: u64,
    ticks_per_second: u64,
    home_bytes: u64,
}

fn parse_sample(output: &str) -> Option<Sample> {
    let numbers: Vec<u64> = output
        .split_whitespace()
        .map(|field| field.parse().ok())
        .collect::<Option<_>>()?;
    let [
        isolated,
        before,
        after,
        pages,
        page_size,
        ticks_per_second,
        home_kib,
    ] = numbers[..]
    else {
        return None;
    };
    Some(Sample {
        isolated: isolated == 1,
        ticks: after.saturating_sub(before),
        rss_bytes: pages.saturating_mul(page_size),
        ticks_per_second: ticks_per_second.max(1),
        home_bytes: home_kib.saturating_mul(1024),
    })
}

/// CPU time `used` in a `window`, as a percentage of `cpus`, at most 100.
fn cpu_percent(used: Duration, window: Duration, cpus: u32) -> f64 {
    let available = window.as_secs_f64() * f64::from(cpus.max(1));
    (used.as_secs_f64() / available * 100.0).min(100.0)
}

/// The CPU time the script counted, from its clock ticks.
fn script_cpu_time(sample: &Sample) -> Duration {
    Duration::from_secs_f64(sample.ticks as f64 / sample.ticks_per_second as f64)
}

/// Memory in use, file cache and CPU percentage of sandbox `id` measured from outside it (its
/// cgroup), or `None` when the provider cannot. Runs after the disk script, whose own CPU
/// time would otherwise count in the window.
async fn measure_outside(
    state: &AppState,
    id: &str,
    cpus: u32,
) -> Result<Option<(u64, u64, f64)>, DaemonError> {
    let usage = || async {
        state
            .provider
            .usage(id)
            .await
            .map_err(|error| DaemonError::from_provider(error, &format!("sandbox {id}")))
    };
    let Some(before) = usage().await? else {
        return Ok(None);
    };
    let started = Instant::now();
    tokio::time::sleep(WINDOW).await;
    let Some(after) = usage().await? else {
        return Ok(None);
    };
    let used = after.cpu_time.saturating_sub(before.cpu_time);
    Ok(Some((
        after.memory_used,
        after.memory_cache,
        cpu_percent(used, started.elapsed(), cpus),
    )))
}

pub(crate) async fn system_metrics(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<SystemMetrics>, DaemonError> {
    measure(&state, &id).await.map(Json)
}

/// One sample of sandbox `id`, which must be started (and is then touched: a client asked).
async fn measure(state: &AppState, id: &str) -> Result<SystemMetrics, DaemonError> {
    let sandbox = ready(state, id).await?;
    sample(state, &sandbox.id).await
}

/// One sample of sandbox `id`, without counting as activity.
pub(crate) async fn sample(state: &AppState, id: &str) -> Result<SystemMetrics, DaemonError> {
    let sandbox = state
        .provider
        .get(id)
        .await
        .map_err(|error| DaemonError::from_provider(error, &format!("sandbox {id}")))?;
    let record = state.store.sandbox(&sandbox.id);
    let outside = state
        .provider
        .usage(&sandbox.id)
        .await
        .ok()
        .flatten()
        .is_some();
    let output = run_script(state, &sandbox, script(!outside), BTreeMap::new()).await?;
    let sample = parse_sample(&output.output).ok_or_else(|| {
        DaemonError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot measure the sandbox: {}", output.output.trim()),
        )
    })?;
    let measured = if outside {
        measure_outside(state, &sandbox.id, record.cpu).await?
    } else {
        None
    };
    let (mem_used, mem_cache, cpu_used_pct) = measured.unwrap_or_else(|| {
        let cpu = if sample.isolated {
            cpu_percent(script_cpu_time(&sample), WINDOW, record.cpu)
        } else {
            0.0
        };
        (sample.rss_bytes, 0, cpu)
    });
    let disk_total = u64::from(record.disk) * GIB;
    let now = now();
    Ok(SystemMetrics {
        cpu_count: record.cpu,
        cpu_used_pct,
        mem_total: u64::from(record.memory) * GIB,
        mem_used,
        mem_cache,
        disk_total,
        disk_used: sample.home_bytes,
        disk_free: disk_total.saturating_sub(sample.home_bytes),
        timestamp: iso(now),
        timestamp_unix: now / 1000,
    })
}

/// How far before this server's now the end of a request for metrics may be for a first sample
/// to be stamped there (the trip of the request, and clocks a little apart).
const FIRST_SAMPLE_SKEW: Millis = 5_000;

/// `GET /api/sandbox/{id}/telemetry/metrics` (newer than v0.190; the pinned SDKs'
/// `get_metrics`): Daytona's OpenTelemetry series over `from`..=`to` (RFC 3339; `from`
/// defaults to the epoch and `to` to now), from the sampled history. A started sandbox not
/// sampled yet is sampled now, so that a client asking right after create sees a point.
pub(crate) async fn telemetry_metrics(
    State(state): State<Arc<AppState>>,
    Path(id_or_name): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Json<MetricsResponse>, ApiError> {
    // `metricNames` repeats (`metricNames=a&metricNames=b`) or lists names with commas.
    let names: Vec<&str> = params
        .iter()
        .filter(|(key, _)| key == "metricNames")
        .flat_map(|(_, value)| value.split(','))
        .collect();
    let bound = |key: &str| -> Result<Option<Millis>, ApiError> {
        params
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| {
                parse_time(value).ok_or_else(|| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        format!("`{key}` is not an ISO 8601 time: `{value}`"),
                    )
                })
            })
            .transpose()
    };
    let (from, to) = (bound("from")?, bound("to")?);
    let sandbox = resolve(&state, &id_or_name).await?;
    let record = state.store.sandbox(&sandbox.id);
    let asked = now();
    if !state.history.has_points(&sandbox.id)
        && derived_state(&sandbox, &record, asked).0 == SandboxState::Started
    {
        // The SDKs ask up to their own clock's now, which the request's trip puts just before
        // this server's: a first sample is taken now and stamped at the end asked for when that
        // is that close, so that a client asking right after create sees it.
        let at = match to {
            Some(end) if end <= asked && asked - end <= FIRST_SAMPLE_SKEW => end,
            _ => asked,
        };
        sample_at(&state, &sandbox.id, at).await;
    }
    let points = state
        .history
        .window(&sandbox.id, from.unwrap_or(0), to.unwrap_or_else(now));
    let series = SERIES
        .iter()
        .enumerate()
        .filter(|(_, name)| names.is_empty() || names.contains(name))
        .map(|(index, name)| {
            let points: Vec<_> = points
                .iter()
                .map(|point| json!({"timestamp": iso(point.at), "value": point.values[index]}))
                .collect();
            json!({"metricName": name, "dataPoints": points})
        })
        .collect();
    Ok(Json(MetricsResponse { series }))
}

/// Milliseconds since the epoch of an RFC 3339 time with any offset (`Z`, `+01:00`, `+0100`)
/// or none (UTC), as the SDKs write `from` and `to`.
fn parse_time(text: &str) -> Option<Millis> {
    let text = text.trim();
    let (local, offset_minutes) = match text.rfind(['+', '-']) {
        // An offset follows the time, never the date's own dashes.
        Some(at) if text[..at].contains('T') || text[..at].contains(' ') => {
            let sign: i64 = if text[at..].starts_with('-') { -1 } else { 1 };
            let digits: String = text[at + 1..].chars().filter(|c| *c != ':').collect();
            if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let hours: i64 = digits[..2].parse().ok()?;
            let minutes: i64 = digits[2..].parse().ok()?;
            (&text[..at], sign * (hours * 60 + minutes))
        }
        _ => (text.trim_end_matches(['Z', 'z']), 0),
    };
    let time = humantime::parse_rfc3339_weak(local).ok()?;
    let local = i64::try_from(to_millis(time)).ok()?;
    Millis::try_from(local - offset_minutes * 60_000).ok()
}

/// Reply of `/telemetry/metrics`.
#[derive(Debug, Serialize)]
pub(crate) struct MetricsResponse {
    series: Vec<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_parse_and_cpu_is_a_share_of_the_given_vcpus() {
        let sample = parse_sample("1 100 120 2560 4096 100 48\n").unwrap();
        assert!(sample.isolated);
        assert_eq!(sample.rss_bytes, 2560 * 4096);
        assert_eq!(sample.home_bytes, 48 * 1024);
        // 20 ticks in a 0.2 s window of 100 ticks a second: one vCPU fully used.
        let used = script_cpu_time(&sample);
        assert_eq!(cpu_percent(used, WINDOW, 1), 100.0);
        assert_eq!(cpu_percent(used, WINDOW, 2), 50.0);
        assert_eq!(cpu_percent(Duration::from_millis(50), WINDOW, 1), 25.0);
        assert_eq!(parse_sample("garbage"), None);
    }

    #[test]
    fn times_parse_with_the_offsets_the_sdks_write() {
        let utc = parse_time("2026-11-30T14:20:42.5Z").unwrap();
        assert_eq!(parse_time("2026-11-30T14:20:42.500000+0000"), Some(utc));
        assert_eq!(parse_time("2026-11-30T15:20:42.500+01:00"), Some(utc));
        assert_eq!(parse_time("2026-11-30T13:20:42.5-01:00"), Some(utc));
        assert_eq!(parse_time("2026-11-30T14:20:42.500000"), Some(utc));
        assert_eq!(iso(utc), "2026-11-30T14:20:42.500Z");
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time("2026-11-30T14:20:42+1"), None);
    }
}
