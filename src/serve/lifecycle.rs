//! Lifecycle timers: auto-stop of idle sandboxes, auto-archive and auto-delete of stopped ones,
//! and `ttlMinutes` (destroy so long after creation, or after `set_ttl`, whatever the state),
//! checked by one background task.
//!
//! A "minute" is [`Simulation::minute`](super::Simulation) long, so tests can shorten it.
//! Activity is what Daytona counts: lifecycle and toolbox calls, not background processes. The
//! task also forgets records of sandboxes the provider no longer has.

use std::sync::Arc;
use std::time::Duration;

use super::sandbox_actions::stop_or_delete;
use super::sandbox_lifecycle::archive;
use super::state::{AppState, Millis, SandboxRecord, millis, now, to_millis};
use crate::provider::{Labels, Lifecycle, SandboxState};

/// What is due for one sandbox at one tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    Nothing,
    Stop,
    Archive,
    Delete,
}

/// The clocks of one sandbox, in milliseconds since the epoch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clocks {
    pub(crate) created: Millis,
    pub(crate) last_activity: Millis,
    pub(crate) stopped_at: Option<Millis>,
    /// Where the TTL counts from: creation, or the last `set_ttl`.
    pub(crate) ttl_from: Millis,
    pub(crate) archived: bool,
}

/// Decides what the timers want, given a minute's length.
pub(crate) fn due(
    state: &SandboxState,
    clocks: Clocks,
    lifecycle: &Lifecycle,
    ttl_minutes: Option<u32>,
    minute: Millis,
    now: Millis,
) -> Due {
    let elapsed =
        |since: Millis, minutes: u64| now >= since.saturating_add(minutes.saturating_mul(minute));
    if let Some(ttl) = ttl_minutes
        && elapsed(clocks.ttl_from, u64::from(ttl))
    {
        return Due::Delete;
    }
    match state {
        SandboxState::Started => match lifecycle.auto_stop {
            Some(minutes)
                if minutes > 0
                    && elapsed(clocks.last_activity.max(clocks.created), u64::from(minutes)) =>
            {
                Due::Stop
            }
            _ => Due::Nothing,
        },
        SandboxState::Stopped => {
            let Some(stopped) = clocks.stopped_at else {
                return Due::Nothing;
            };
            match (lifecycle.auto_delete, lifecycle.auto_archive) {
                (Some(minutes), _) if minutes >= 0 && elapsed(stopped, minutes as u64) => {
                    Due::Delete
                }
                (_, Some(minutes))
                    if !clocks.archived && minutes > 0 && elapsed(stopped, u64::from(minutes)) =>
                {
                    Due::Archive
                }
                _ => Due::Nothing,
            }
        }
        _ => Due::Nothing,
    }
}

/// One pass over every sandbox.
async fn tick(state: &AppState) {
    let listed_at = now();
    let Ok(sandboxes) = state.provider.list(&Labels::new()).await else {
        return;
    };
    let now = now();
    let minute = millis(state.simulation.minute).max(1);
    let live: std::collections::BTreeSet<&str> = sandboxes.iter().map(|s| s.id.as_str()).collect();
    // A record written after the listing may belong to a sandbox created meanwhile: keep it.
    let stale = |id: &String, record: &SandboxRecord| {
        !live.contains(id.as_str()) && record.updated_at < listed_at
    };
    if state.store.read(|records| {
        records
            .sandboxes
            .iter()
            .any(|(id, record)| stale(id, record))
    }) {
        let _ = state
            .store
            .write(|records| records.sandboxes.retain(|id, record| !stale(id, record)));
    }
    for sandbox in &sandboxes {
        let record = state.store.sandbox(&sandbox.id);
        // A sandbox waiting for its image has no timers running yet.
        if record.transition_at(now).is_some() || record.building() {
            continue;
        }
        // A sandbox stopped outside this server starts its auto-delete clock when first seen.
        let stopped_at = match (&sandbox.state, record.stopped_at) {
            (SandboxState::Stopped, None) => {
                let _ = state
                    .store
                    .update_sandbox(&sandbox.id, |record| record.stopped_at = Some(now));
                Some(now)
            }
            (_, stopped_at) => stopped_at,
        };
        let created = to_millis(sandbox.created_at);
        let clocks = Clocks {
            created,
            last_activity: record.last_activity_at,
            stopped_at,
            ttl_from: record.ttl_from.unwrap_or(created),
            archived: record.archived,
        };
        let verdict = due(
            &sandbox.state,
            clocks,
            &sandbox.lifecycle,
            record.ttl_minutes,
            minute,
            now,
        );
        // Failures (a sandbox deleted meanwhile) are retried at the next tick or moot.
        match verdict {
            Due::Nothing => {}
            Due::Stop => {
                let _ = stop_or_delete(state, sandbox).await;
            }
            Due::Archive => {
                let _ = archive(state, &sandbox.id);
            }
            Due::Delete => {
                if state.provider.delete(&sandbox.id).await.is_ok() {
                    let _ = state.store.remove_sandbox(&sandbox.id);
                }
            }
        }
    }
}

/// Runs the timers until `stop` turns true.
pub(crate) async fn run(state: Arc<AppState>, stop: tokio::sync::watch::Receiver<bool>) {
    // About once a lifecycle second, within sane bounds.
    let period =
        (state.simulation.minute / 60).clamp(Duration::from_millis(50), Duration::from_secs(1));
    every(period, stop, || tick(&state)).await;
}

/// Runs `pass` every `period` (a late pass delays the next, none are bunched) until `stop`
/// turns true.
pub(crate) async fn every<F: Future<Output = ()>>(
    period: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
    mut pass: impl FnMut() -> F,
) {
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => pass().await,
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Millis = 60_000;

    const LIFECYCLE: Lifecycle = Lifecycle {
        auto_stop: Some(15),
        auto_archive: Some(60),
        auto_delete: Some(5),
    };

    fn case(state: SandboxState, stopped_at: Option<Millis>, ttl: Option<u32>, now: Millis) -> Due {
        let clocks = Clocks {
            created: 0,
            last_activity: 10 * MINUTE,
            stopped_at,
            ttl_from: 0,
            archived: false,
        };
        due(&state, clocks, &LIFECYCLE, ttl, MINUTE, now)
    }

    #[test]
    fn idle_sandboxes_stop_after_auto_stop_minutes_of_inactivity() {
        assert_eq!(
            case(SandboxState::Started, None, None, 24 * MINUTE),
            Due::Nothing
        );
        assert_eq!(
            case(SandboxState::Started, None, None, 25 * MINUTE),
            Due::Stop
        );
    }

    #[test]
    fn stopped_sandboxes_are_deleted_after_auto_delete_minutes() {
        let stopped = Some(30 * MINUTE);
        assert_eq!(
            case(SandboxState::Stopped, stopped, None, 34 * MINUTE),
            Due::Nothing
        );
        assert_eq!(
            case(SandboxState::Stopped, stopped, None, 35 * MINUTE),
            Due::Delete
        );
    }

    #[test]
    fn stopped_sandboxes_are_archived_after_auto_archive_minutes_once() {
        let lifecycle = Lifecycle {
            auto_delete: Some(-1),
            ..LIFECYCLE
        };
        let clocks = |archived| Clocks {
            created: 0,
            last_activity: 0,
            stopped_at: Some(10 * MINUTE),
            ttl_from: 0,
            archived,
        };
        let at = |now, archived| {
            due(
                &SandboxState::Stopped,
                clocks(archived),
                &lifecycle,
                None,
                MINUTE,
                now,
            )
        };
        assert_eq!(at(69 * MINUTE, false), Due::Nothing);
        assert_eq!(at(70 * MINUTE, false), Due::Archive);
        assert_eq!(at(70 * MINUTE, true), Due::Nothing);
    }

    #[test]
    fn ttl_deletes_whatever_the_state_counting_from_the_last_set_ttl() {
        assert_eq!(
            case(SandboxState::Started, None, Some(20), 20 * MINUTE),
            Due::Delete
        );
        assert_eq!(
            case(SandboxState::Error, None, Some(20), 20 * MINUTE),
            Due::Delete
        );
        assert_eq!(
            case(SandboxState::Error, None, Some(20), 19 * MINUTE),
            Due::Nothing
        );
        let reset = Clocks {
            created: 0,
            last_activity: 0,
            stopped_at: None,
            ttl_from: 30 * MINUTE,
            archived: false,
        };
        let never_stops = Lifecycle {
            auto_stop: Some(0),
            ..LIFECYCLE
        };
        let at = |now| {
            due(
                &SandboxState::Started,
                reset,
                &never_stops,
                Some(20),
                MINUTE,
                now,
            )
        };
        assert_eq!(at(49 * MINUTE), Due::Nothing);
        assert_eq!(at(50 * MINUTE), Due::Delete);
    }

    #[test]
    fn zero_auto_stop_and_negative_auto_delete_mean_never() {
        let lifecycle = Lifecycle {
            auto_stop: Some(0),
            auto_archive: Some(0),
            auto_delete: Some(-1),
        };
        let never = |state, stopped_at| {
            let clocks = Clocks {
                created: 0,
                last_activity: 0,
                stopped_at,
                ttl_from: 0,
                archived: false,
            };
            due(&state, clocks, &lifecycle, None, MINUTE, 1 << 40)
        };
        assert_eq!(never(SandboxState::Started, None), Due::Nothing);
        assert_eq!(never(SandboxState::Stopped, Some(0)), Due::Nothing);
    }
}
