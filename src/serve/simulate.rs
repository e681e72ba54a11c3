//! Simulated cloud behaviour: latency, slow transitions, rate limits, quotas and injected faults.
//!
//! Everything is off by default. A [`Simulation`] parses from a flag value
//! (`latency=50ms,create-delay=1.3s,rate-create=300/60s,quota-cpu=10,error-rate=0.01,seed=7`)
//! or deserializes from the same keys. This file decides *whether* something happens (a dice roll,
//! a quota sum; a throttler's count is in [`throttlers`]); the routes decide what it looks like on
//! the wire.

use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

mod throttlers;

pub use throttlers::RateLimit;
pub(crate) use throttlers::{Throttler, Throttlers, Verdict};

/// How `serve` imitates Daytona Cloud's less convenient habits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct Simulation {
    /// Added before every API and toolbox request is handled.
    #[serde(with = "duration_text")]
    pub latency: Duration,
    /// How long a new sandbox (and a new snapshot) reports `creating` (`pending`).
    #[serde(with = "duration_text")]
    pub create_delay: Duration,
    /// How long start, stop and delete report `starting`/`stopping`/`destroying`; requests for
    /// another transition in that window get 409 `Sandbox state change in progress`.
    #[serde(with = "duration_text")]
    pub transition_delay: Duration,
    /// The `sandbox-create` throttler (`POST /sandbox`).
    pub rate_create: Option<RateLimit>,
    /// The `sandbox-lifecycle` throttler (start, stop, delete).
    pub rate_lifecycle: Option<RateLimit>,
    /// The `authenticated` throttler (every other API route).
    pub rate_authenticated: Option<RateLimit>,
    /// Organisation total of vCPUs of running sandboxes.
    pub quota_cpu: Option<u32>,
    /// Organisation total of GiB of memory of running sandboxes.
    pub quota_memory: Option<u32>,
    /// Organisation total of GiB of disk of all sandboxes (stopped ones count too).
    pub quota_disk: Option<u32>,
    /// Fraction of requests answered with a 5xx before they are handled.
    pub error_rate: f64,
    /// Fraction of requests whose connection is closed without a reply *after* they were
    /// handled (so a create may have happened).
    pub drop_rate: f64,
    /// Fraction of requests that wait [`Simulation::stall`] before they are handled.
    pub stall_rate: f64,
    #[serde(with = "duration_text")]
    pub stall: Duration,
    /// Fraction of `process/execute` calls that run the command but report `exitCode: -1` with
    /// an empty result, as old Daytona daemons did.
    pub exec_defect: f64,
    /// Seed of the dice, so a run with faults can be repeated.
    pub seed: u64,
    /// The length of a lifecycle minute (auto-stop, auto-delete, `ttlMinutes`); shorten it in tests.
    #[serde(with = "duration_text")]
    pub minute: Duration,
    /// How often `serve` samples every started sandbox's resources for `get_metrics`.
    #[serde(with = "duration_text")]
    pub metrics_interval: Duration,
    /// How long the preview proxy waits for a sandbox's server to accept its connection before
    /// it answers 502; shorten it in tests.
    #[serde(with = "duration_text")]
    pub preview_accept_wait: Duration,
    /// Whether the kernel's socket tables are read over netlink socket diagnostics where they
    /// answer; off, they are read from `/proc/net/tcp{,6}` as on a machine without them (gVisor).
    pub sock_diag: bool,
}

impl Default for Simulation {
    fn default() -> Self {
        Simulation {
            latency: Duration::ZERO,
            create_delay: Duration::ZERO,
            transition_delay: Duration::ZERO,
            rate_create: None,
            rate_lifecycle: None,
            rate_authenticated: None,
            quota_cpu: None,
            quota_memory: None,
            quota_disk: None,
            error_rate: 0.0,
            drop_rate: 0.0,
            stall_rate: 0.0,
            stall: Duration::from_secs(30),
            exec_defect: 0.0,
            seed: 0,
            minute: Duration::from_secs(60),
            metrics_interval: Duration::from_secs(15),
            preview_accept_wait: Duration::from_secs(30),
            sock_diag: true,
        }
    }
}

/// A `--simulate` value that does not parse.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("invalid simulation setting `{setting}`: {reason}")]
#[diagnostic(
    code(serve::simulation),
    help(
        "settings are comma-separated `key=value` pairs, e.g. `latency=50ms,create-delay=1.3s,rate-create=300/60s,quota-cpu=10,error-rate=0.01,seed=7`"
    )
)]
pub struct SimulationError {
    setting: String,
    reason: String,
}

impl FromStr for Simulation {
    type Err = SimulationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut simulation = Simulation::default();
        for setting in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let fail = |reason: String| SimulationError {
                setting: setting.to_string(),
                reason,
            };
            let (key, value) = match setting.split_once('=') {
                Some((key, value)) => (key.trim(), value.trim()),
                // A bare flag switches a fault on for every call.
                None => (setting, "1"),
            };
            let duration = || humantime::parse_duration(value).map_err(|e| fail(e.to_string()));
            let rate = || parse_rate(value).map_err(fail);
            let count = || {
                value
                    .parse::<u32>()
                    .map_err(|_| fail(format!("`{value}` is not a whole number")))
            };
            let limit = || value.parse::<RateLimit>().map_err(fail);
            match key {
                "latency" => simulation.latency = duration()?,
                "create-delay" => simulation.create_delay = duration()?,
                "transition-delay" => simulation.transition_delay = duration()?,
                "rate-create" => simulation.rate_create = Some(limit()?),
                "rate-lifecycle" => simulation.rate_lifecycle = Some(limit()?),
                "rate-authenticated" => simulation.rate_authenticated = Some(limit()?),
                "quota-cpu" => simulation.quota_cpu = Some(count()?),
                "quota-memory" => simulation.quota_memory = Some(count()?),
                "quota-disk" => simulation.quota_disk = Some(count()?),
                "error-rate" => simulation.error_rate = rate()?,
                "drop-rate" => simulation.drop_rate = rate()?,
                "stall-rate" => simulation.stall_rate = rate()?,
                "stall" => simulation.stall = duration()?,
                "exec-defect" => simulation.exec_defect = rate()?,
                "seed" => {
                    simulation.seed = value
                        .parse()
                        .map_err(|_| fail(format!("`{value}` is not a number")))?;
                }
                "minute" => {
                    simulation.minute = duration()?;
                    if simulation.minute.is_zero() {
                        return Err(fail("a minute must be longer than zero".to_string()));
                    }
                }
                "metrics-interval" => {
                    simulation.metrics_interval = duration()?;
                    if simulation.metrics_interval.is_zero() {
                        return Err(fail("an interval must be longer than zero".to_string()));
                    }
                }
                "preview-accept-wait" => {
                    simulation.preview_accept_wait = duration()?;
                    if simulation.preview_accept_wait.is_zero() {
                        return Err(fail("a wait must be longer than zero".to_string()));
                    }
                }
                "sock-diag" => {
                    simulation.sock_diag = match value {
                        "on" => true,
                        "off" => false,
                        _ => return Err(fail(format!("`{value}` is not `on` or `off`"))),
                    }
                }
                other => {
                    let known = [
                        "latency",
                        "create-delay",
                        "transition-delay",
                        "rate-create",
                        "rate-lifecycle",
                        "rate-authenticated",
                        "quota-cpu",
                        "quota-memory",
                        "quota-disk",
                        "error-rate",
                        "drop-rate",
                        "stall-rate",
                        "stall",
                        "exec-defect",
                        "seed",
                        "minute",
                        "metrics-interval",
                        "preview-accept-wait",
                        "sock-diag",
                    ];
                    let hint = known
                        .iter()
                        .max_by(|a, b| {
                            strsim::jaro_winkler(other, a)
                                .total_cmp(&strsim::jaro_winkler(other, b))
                        })
                        .filter(|best| strsim::jaro_winkler(other, best) > 0.8)
                        .map(|best| format!(" (did you mean `{best}`?)"))
                        .unwrap_or_default();
                    return Err(fail(format!("unknown key `{other}`{hint}")));
                }
            }
        }
        Ok(simulation)
    }
}

fn parse_rate(value: &str) -> Result<f64, String> {
    let rate = value
        .strip_suffix('%')
        .map(|percent| percent.parse::<f64>().map(|p| p / 100.0))
        .unwrap_or_else(|| value.parse::<f64>())
        .map_err(|_| format!("`{value}` is not a fraction (e.g. `0.05` or `5%`)"))?;
    if !(0.0..=1.0).contains(&rate) {
        return Err(format!("`{value}` is not between 0 and 1"));
    }
    Ok(rate)
}

/// Serde glue: a [`Duration`] as humantime text (`1.3s`, `50ms`).
mod duration_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        duration: &Duration,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&humantime::format_duration(*duration))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Duration, D::Error> {
        humantime::parse_duration(&String::deserialize(deserializer)?)
            .map_err(serde::de::Error::custom)
    }
}

/// Seeded dice (splitmix64): fault injection repeats for a given seed and request order.
#[derive(Debug)]
pub(crate) struct Dice(Mutex<u64>);

impl Dice {
    pub(crate) fn new(seed: u64) -> Self {
        Dice(Mutex::new(seed))
    }

    /// True with probability `rate`; never rolls (nor advances) for a zero rate.
    pub(crate) fn roll(&self, rate: f64) -> bool {
        if rate <= 0.0 {
            return false;
        }
        // The lock is never held across an await.
        let mut state = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        ((z >> 11) as f64 / (1u64 << 53) as f64) < rate
    }
}

/// Resources in use or asked for: vCPU, GiB, GiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Usage {
    pub(crate) cpu: u32,
    pub(crate) memory: u32,
    pub(crate) disk: u32,
}

const UPGRADE_TIER_MESSAGE: &str = "To increase concurrency limits, upgrade your organization's Tier by visiting https://app.daytona.io/dashboard/limits.";
const ARCHIVE_SANDBOXES_MESSAGE: &str =
    "Consider archiving your unused Sandboxes to free up available storage.";

impl Simulation {
    /// Daytona's 400 message when `current + request` breaks an organisation total.
    /// `request.disk` is zero for a start (the disk is already counted).
    pub(crate) fn quota_violation(&self, current: Usage, request: Usage) -> Option<String> {
        let over = |quota: Option<u32>, used: u32, asked: u32| {
            quota.filter(|&quota| asked > 0 && used.saturating_add(asked) > quota)
        };
        if let Some(quota) = over(self.quota_cpu, current.cpu, request.cpu) {
            return Some(format!(
                "Total CPU limit exceeded. Maximum allowed: {quota}.\n{UPGRADE_TIER_MESSAGE}"
            ));
        }
        if let Some(quota) = over(self.quota_memory, current.memory, request.memory) {
            return Some(format!(
                "Total memory limit exceeded. Maximum allowed: {quota}GiB.\n{UPGRADE_TIER_MESSAGE}"
            ));
        }
        if let Some(quota) = over(self.quota_disk, current.disk, request.disk) {
            return Some(format!(
                "Total disk limit exceeded. Maximum allowed: {quota}GiB.\n{ARCHIVE_SANDBOXES_MESSAGE}\n{UPGRADE_TIER_MESSAGE}"
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests;
