//! The simulated rate limits: a throttler's `N/window` setting and the fixed-window counters
//! that decide whether a request passes (Daytona's named throttlers, one organisation).

use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::Simulation;

/// `N` requests per `window`, written `N/window` (`300/60s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub limit: u32,
    pub window: Duration,
}

impl FromStr for RateLimit {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (limit, window) = text
            .split_once('/')
            .ok_or_else(|| format!("`{text}` is not `N/window` (e.g. `300/60s`)"))?;
        let limit = limit
            .trim()
            .parse()
            .map_err(|_| format!("`{limit}` is not a request count"))?;
        let window = humantime::parse_duration(window.trim())
            .map_err(|error| format!("`{window}`: {error}"))?;
        if window.is_zero() {
            return Err("the window must be longer than zero".to_string());
        }
        Ok(RateLimit { limit, window })
    }
}

impl std::fmt::Display for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{}",
            self.limit,
            humantime::format_duration(self.window)
        )
    }
}

impl Serialize for RateLimit {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RateLimit {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// The three named throttlers a route may count against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Throttler {
    SandboxCreate,
    SandboxLifecycle,
    Authenticated,
}

impl Throttler {
    /// The name Daytona appends to its rate-limit headers.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Throttler::SandboxCreate => "sandbox-create",
            Throttler::SandboxLifecycle => "sandbox-lifecycle",
            Throttler::Authenticated => "authenticated",
        }
    }
}

/// What a throttler decided for one request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Verdict {
    pub(crate) throttler: Throttler,
    pub(crate) limit: u32,
    pub(crate) remaining: u32,
    /// Whole seconds until the window resets.
    pub(crate) reset_seconds: u64,
    pub(crate) allowed: bool,
}

/// The open window of a throttler: when it started and how many requests it counted.
type Window = Option<(Instant, u32)>;

/// Fixed-window counters, one per configured throttler (one organisation, so one key each).
#[derive(Debug)]
pub(crate) struct Throttlers {
    windows: Mutex<Vec<(Throttler, RateLimit, Window)>>,
}

impl Throttlers {
    pub(crate) fn new(simulation: &Simulation) -> Self {
        let configured = [
            (Throttler::SandboxCreate, simulation.rate_create),
            (Throttler::SandboxLifecycle, simulation.rate_lifecycle),
            (Throttler::Authenticated, simulation.rate_authenticated),
        ];
        Throttlers {
            windows: Mutex::new(
                configured
                    .into_iter()
                    .filter_map(|(throttler, limit)| limit.map(|limit| (throttler, limit, None)))
                    .collect(),
            ),
        }
    }

    /// Counts one request against `throttler`; `None` when that throttler is off.
    pub(crate) fn hit(&self, throttler: Throttler) -> Option<Verdict> {
        let now = Instant::now();
        // The lock is never held across an await.
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (_, limit, window) = windows.iter_mut().find(|(t, _, _)| *t == throttler)?;
        let expired = window
            .as_ref()
            .is_none_or(|(started, _)| now.duration_since(*started) >= limit.window);
        if expired {
            *window = Some((now, 0));
        }
        let (started, hits) = window.as_mut()?;
        let allowed = *hits < limit.limit;
        if allowed {
            *hits += 1;
        }
        let left = limit.window.saturating_sub(now.duration_since(*started));
        Some(Verdict {
            throttler,
            limit: limit.limit,
            remaining: limit.limit.saturating_sub(*hits),
            reset_seconds: left.as_secs() + u64::from(left.subsec_nanos() > 0),
            allowed,
        })
    }
}
