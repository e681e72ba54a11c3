//! Lifecycle timers: auto-stop of idle sandboxes, auto-delete of stopped ones, and `ttlMinutes`
//! (destroy so long after creation, whatever the state), checked by one background task.
//!
//! A "minute" is [`Simulation::minute`](super::Simulation) long, so tests can shorten it.
//! Activity is what Daytona counts: lifecycle and toolbox calls, not background processes. The
//! task also forgets records of sandboxes the provider no longer has.

use std::sync::Arc;
use std::time::Duration;

use super::sandbox_actions::stop_or_delete;
use super::state::{AppState, Millis, SandboxRecord, now, to_millis};
use crate::provider::{Labels, SandboxState};

/// What is due for one sandbox at one tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    Nothing,
    Stop,
    Delete,
}

/// Decides what the timers want, given times in milliseconds and a minute's length.
#[allow(clippy::too_many_arguments)]
pub(crate) fn due(
    state: &SandboxState,
    created: Millis,
    last_activity: Millis,
    stopped_at: Option<Millis>,
    auto_stop: Option<u32>,
    auto_delete: Option<i32>,
    ttl_minutes: Option<u32>,
    minute: Millis,
    now: Millis,
) -> Due {
    let elapsed =
        |since: Millis, minutes: u64| now >= since.saturating_add(minutes.saturating_mul(minute));
    if let Some(ttl) = ttl_minutes
        && elapsed(created, u64::from(ttl))
    {
        return Due::Delete;
    }
    match state {
        SandboxState::Started => match auto_stop {
            Some(minutes)
                if minutes > 0 && elapsed(last_activity.max(created), u64::from(minutes)) =>
            {
                Due::Stop
            }
            _ => Due::Nothing,
        },
        SandboxState::Stopped => match (auto_delete, stopped_at) {
            (Some(minutes), Some(stopped)) if minutes >= 0 && elapsed(stopped, minutes as u64) => {
                Due::Delete
            }
            _ => Due::Nothing,
        },
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
    let minute = state.simulation.minute.as_millis().max(1) as Millis;
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
        if record.transition_at(now).is_some() {
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
        let verdict = due(
            &sandbox.state,
            to_millis(sandbox.created_at),
            record.last_activity_at,
            stopped_at,
            sandbox.lifecycle.auto_stop,
            sandbox.lifecycle.auto_delete,
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
            Due::Delete => {
                if state.provider.delete(&sandbox.id).await.is_ok() {
                    let _ = state.store.remove_sandbox(&sandbox.id);
                }
            }
        }
    }
}

/// Runs the timers until `stop` turns true.
pub(crate) async fn run(state: Arc<AppState>, mut stop: tokio::sync::watch::Receiver<bool>) {
    // About once a lifecycle second, within sane bounds.
    let period =
        (state.simulation.minute / 60).clamp(Duration::from_millis(50), Duration::from_secs(1));
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => tick(&state).await,
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

    fn case(state: SandboxState, stopped_at: Option<Millis>, ttl: Option<u32>, now: Millis) -> Due {
        due(
            &state,
            0,
            10 * MINUTE,
            stopped_at,
            Some(15),
            Some(5),
            ttl,
            MINUTE,
            now,
        )
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
    fn ttl_deletes_whatever_the_state() {
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
    }

    #[test]
    fn zero_auto_stop_and_negative_auto_delete_mean_never() {
        let never = |state, stopped_at| {
            due(
                &state,
                0,
                0,
                stopped_at,
                Some(0),
                Some(-1),
                None,
                MINUTE,
                1 << 40,
            )
        };
        assert_eq!(never(SandboxState::Started, None), Due::Nothing);
        assert_eq!(never(SandboxState::Stopped, Some(0)), Due::Nothing);
    }
}
