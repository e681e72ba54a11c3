//! The value filters of the sandbox lists (`GET /api/sandbox`, `/sandbox/paginated`) beyond
//! labels, id, name and state: `snapshots`, `regionIds`, `minCpu`/`maxCpu`,
//! `minMemoryGiB`/`maxMemoryGiB`, `minDiskGiB`/`maxDiskGiB`, `isPublic`, `isRecoverable`,
//! `createdAtAfter`/`Before`, `lastEventAfter`/`Before` and `autoDestroyAtAfter`/`Before`, as
//! the SDKs' `list` sends them. Each applies to the sandbox as the list shows it, bounds
//! inclusive; a value that does not parse is Daytona's 400. It only decides membership: order
//! and pages are `sandbox_list.rs`'s.

use std::time::{Duration, UNIX_EPOCH};

use super::error::ApiError;
use super::state::{Millis, to_millis};
use crate::daytona_api::SandboxListItem;

/// The value filters of one list request; all must hold.
#[derive(Debug, Default)]
pub(super) struct ValueFilter {
    snapshots: Vec<String>,
    regions: Vec<String>,
    numbers: Vec<(Field, Bound, f64)>,
    public: Option<bool>,
    recoverable: Option<bool>,
    times: Vec<(Time, Bound, Millis)>,
}

#[derive(Debug, Clone, Copy)]
enum Field {
    Cpu,
    Memory,
    Disk,
}

#[derive(Debug, Clone, Copy)]
enum Time {
    Created,
    LastEvent,
    AutoDestroy,
}

#[derive(Debug, Clone, Copy)]
enum Bound {
    AtLeast,
    AtMost,
}

impl Bound {
    fn holds<T: PartialOrd>(self, value: T, bound: T) -> bool {
        match self {
            Bound::AtLeast => value >= bound,
            Bound::AtMost => value <= bound,
        }
    }
}

impl ValueFilter {
    pub(super) fn parse(params: &[(String, String)]) -> Result<ValueFilter, ApiError> {
        let list = |name: &str| -> Vec<String> {
            params
                .iter()
                .filter(|(key, _)| key == name || key.strip_suffix("[]") == Some(name))
                .flat_map(|(_, value)| value.split(',').map(str::to_string).collect::<Vec<_>>())
                .filter(|value| !value.is_empty())
                .collect()
        };
        let value = |name: &str| {
            params
                .iter()
                .find(|(key, value)| key == name && !value.is_empty())
                .map(|(_, value)| value.as_str())
        };
        let mut filter = ValueFilter {
            snapshots: list("snapshots"),
            regions: list("regionIds"),
            ..ValueFilter::default()
        };
        for (name, field, bound) in [
            ("minCpu", Field::Cpu, Bound::AtLeast),
            ("maxCpu", Field::Cpu, Bound::AtMost),
            ("minMemoryGiB", Field::Memory, Bound::AtLeast),
            ("maxMemoryGiB", Field::Memory, Bound::AtMost),
            ("minDiskGiB", Field::Disk, Bound::AtLeast),
            ("maxDiskGiB", Field::Disk, Bound::AtMost),
        ] {
            if let Some(text) = value(name) {
                let number = text
                    .parse::<f64>()
                    .ok()
                    .filter(|number| number.is_finite())
                    .ok_or_else(|| ApiError::bad_request(format!("{name} must be a number")))?;
                filter.numbers.push((field, bound, number));
            }
        }
        for (name, slot) in [
            ("isPublic", &mut filter.public),
            ("isRecoverable", &mut filter.recoverable),
        ] {
            if let Some(text) = value(name) {
                *slot = Some(match text {
                    "true" => true,
                    "false" => false,
                    _ => {
                        return Err(ApiError::bad_request(format!(
                            "{name} must be a boolean value"
                        )));
                    }
                });
            }
        }
        for (name, time, bound) in [
            ("createdAtAfter", Time::Created, Bound::AtLeast),
            ("createdAtBefore", Time::Created, Bound::AtMost),
            ("lastEventAfter", Time::LastEvent, Bound::AtLeast),
            ("lastEventBefore", Time::LastEvent, Bound::AtMost),
            ("autoDestroyAtAfter", Time::AutoDestroy, Bound::AtLeast),
            ("autoDestroyAtBefore", Time::AutoDestroy, Bound::AtMost),
        ] {
            if let Some(text) = value(name) {
                let millis = parse_time(text).ok_or_else(|| {
                    ApiError::bad_request(format!("{name} must be a valid ISO 8601 date string"))
                })?;
                filter.times.push((time, bound, millis));
            }
        }
        Ok(filter)
    }

    /// Whether `item`, a sandbox as the list shows it, passes every filter.
    pub(super) fn admits(&self, item: &SandboxListItem) -> bool {
        let one_of = |wanted: &[String], value: Option<&str>| {
            wanted.is_empty() || value.is_some_and(|value| wanted.iter().any(|w| w == value))
        };
        let time = |time: Time| {
            let text = match time {
                Time::Created => item.created_at.as_deref(),
                Time::LastEvent => item.last_activity_at.as_deref(),
                Time::AutoDestroy => item.auto_destroy_at.as_deref(),
            };
            text.and_then(parse_time)
        };
        one_of(&self.snapshots, item.snapshot.as_deref())
            && one_of(&self.regions, Some(&item.target))
            && self.numbers.iter().all(|&(field, bound, number)| {
                let value = match field {
                    Field::Cpu => item.cpu,
                    Field::Memory => item.memory,
                    Field::Disk => item.disk,
                };
                bound.holds(f64::from(value), number)
            })
            && self.public.is_none_or(|public| item.public == public)
            && self
                .recoverable
                .is_none_or(|recoverable| item.recoverable.unwrap_or(false) == recoverable)
            && self.times.iter().all(|&(which, bound, millis)| {
                time(which).is_some_and(|at| bound.holds(at, millis))
            })
    }
}

/// Milliseconds since the epoch of an ISO 8601 time as the SDKs send one: `Z`, a `+hh:mm` or
/// `+hhmm` offset (the Python SDK's), or none (UTC), with or without fractions of a second. A
/// `+` put into a query unescaped arrives as a space.
fn parse_time(text: &str) -> Option<Millis> {
    let text = text.trim_start();
    let offset_at = text.char_indices().rev().find_map(|(at, c)| {
        let tail = text.get(at + 1..)?;
        let digits = tail.replacen(':', "", usize::from(tail.len() == 5));
        let offset = matches!(c, '+' | '-' | ' ')
            && at > 10
            && digits.len() == 4
            && digits.bytes().all(|b| b.is_ascii_digit());
        offset.then_some((at, c, digits))
    });
    let (local, offset) = match offset_at {
        Some((at, sign, digits)) => {
            let hours: u64 = digits[..2].parse().ok()?;
            let minutes: u64 = digits[2..].parse().ok()?;
            (&text[..at], Some((sign, (hours * 60 + minutes) * 60)))
        }
        None => (text.trim_end_matches(['Z', 'z']), None),
    };
    let at = humantime::parse_rfc3339_weak(local).ok()?;
    let at = match offset {
        Some(('-', seconds)) => at.checked_add(Duration::from_secs(seconds))?,
        Some((_, seconds)) => at.checked_sub(Duration::from_secs(seconds))?,
        None => at,
    };
    at.duration_since(UNIX_EPOCH).ok()?;
    Some(to_millis(at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_the_sdks_send_them() {
        let noon = 946_728_000_000;
        for text in [
            "2000-01-01T12:00:00",
            "2000-01-01T12:00:00Z",
            "2000-01-01T12:00:00.000Z",
            "2000-01-01T12:00:00+00:00",
            "2000-01-01T12:00:00 00:00",
            "2000-01-01T12:00:00.000000+0000",
            "2000-01-01T13:30:00+01:30",
            "2000-01-01T10:00:00.000000-02:00",
        ] {
            assert_eq!(parse_time(text), Some(noon), "{text}");
        }
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn bad_values_are_refused() {
        let params = |key: &str, value: &str| vec![(key.to_string(), value.to_string())];
        assert!(ValueFilter::parse(&params("minCpu", "two")).is_err());
        assert!(ValueFilter::parse(&params("isPublic", "yes")).is_err());
        assert!(ValueFilter::parse(&params("createdAtAfter", "soon")).is_err());
        assert!(ValueFilter::parse(&params("maxDiskGiB", "10")).is_ok());
    }
}
