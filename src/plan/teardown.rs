//! The plan of `down` (and `plan --destroy`): one `remove` line per live sandbox of the team,
//! in the same form as every other plan, so that a teardown is read before it happens.
//!
//! Pure like `reconcile`: the clock is a parameter. Which sandboxes belong to the team, and
//! which are old enough for `--older-than`, is the caller's choice; this only lays them out.

use std::time::SystemTime;

use super::{Action, Cause, Change, Order, Plan, is_live, reference};
use crate::provider::Sandbox;
use crate::vocabulary::labels;

/// A `remove` change for every live sandbox in `sandboxes`, sorted by teammate; a teammate's
/// second sandbox shows as `bob#2`, an unlabelled one under its own name. `now` dates them.
pub(crate) fn teardown(sandboxes: &[Sandbox], now: SystemTime) -> Plan {
    let mut live: Vec<&Sandbox> = sandboxes
        .iter()
        .filter(|sandbox| is_live(&sandbox.state))
        .collect();
    // Oldest first within a teammate, so numbering is stable from one run to the next.
    live.sort_by(|left, right| {
        (teammate(left), left.created_at, &left.id).cmp(&(
            teammate(right),
            right.created_at,
            &right.id,
        ))
    });
    let mut lines: Vec<(Order, Change)> = Vec::new();
    let mut previous: Option<(&str, usize)> = None;
    for sandbox in live {
        let name = teammate(sandbox);
        let number = match previous {
            Some((last, count)) if last == name => count + 1,
            _ => 1,
        };
        previous = Some((name, number));
        let age_seconds = now
            .duration_since(sandbox.created_at)
            .map_or(0, |age| age.as_secs());
        let change = Change {
            teammate: name.to_string(),
            display: match number {
                1 => name.to_string(),
                _ => format!("{name}#{number}"),
            },
            action: Action::Remove,
            cause: Cause::TearDown {
                state: sandbox.state.as_str().to_string(),
                age_seconds,
            },
            sandbox: Some(reference(sandbox)),
            lifecycle: Vec::new(),
            setup: false,
            env: Vec::new(),
            relabel: false,
            command: false,
        };
        lines.push((Order::new(name, number, Some(sandbox)), change));
    }
    lines.sort_by(|(left, _), (right, _)| left.cmp(right));
    Plan {
        changes: lines.into_iter().map(|(_, change)| change).collect(),
        file: None,
    }
}

/// The teammate a sandbox belongs to: its label, else its own name.
fn teammate(sandbox: &Sandbox) -> &str {
    sandbox
        .labels
        .get(labels::TEAMMATE)
        .map_or(sandbox.name.as_str(), String::as_str)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::provider::{Labels, Lifecycle, SandboxState};

    fn sandbox(teammate: Option<&str>, id: &str, state: SandboxState, age: u64) -> Sandbox {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut labels = Labels::from([(labels::TEAM.to_string(), "t".to_string())]);
        if let Some(teammate) = teammate {
            labels.insert(labels::TEAMMATE.to_string(), teammate.to_string());
        }
        Sandbox {
            id: id.to_string(),
            name: format!("sandbox-{id}"),
            state,
            labels,
            env: Default::default(),
            snapshot: None,
            created_at: now - Duration::from_secs(age),
            lifecycle: Lifecycle::default(),
            error_reason: None,
        }
    }

    #[test]
    fn every_live_sandbox_is_a_remove_line_with_its_state_and_age() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let observed = [
            sandbox(Some("bob"), "b2", SandboxState::Started, 600),
            sandbox(Some("alice"), "a1", SandboxState::Stopped, 3 * 3600),
            sandbox(Some("bob"), "b1", SandboxState::Started, 7200),
            sandbox(None, "x1", SandboxState::Error, 90),
            sandbox(Some("carol"), "c1", SandboxState::Destroyed, 60),
        ];
        let plan = teardown(&observed, now);
        assert_eq!(
            plan.render(),
            "- alice        remove     sandbox is stopped, created 3h ago\n\
             - bob          remove     sandbox is started, created 2h ago\n\
             - bob#2        remove     sandbox is started, created 10m ago\n\
             - sandbox-x1   remove     sandbox is error, created 1m ago\n\n\
             Plan: 4 to remove.\n"
        );
        assert!(plan.is_destructive());
        let removed: Vec<&str> = plan
            .changes
            .iter()
            .map(|change| change.sandbox.as_ref().unwrap().id.as_str())
            .collect();
        assert_eq!(removed, ["a1", "b1", "b2", "x1"]);
    }

    #[test]
    fn nothing_to_remove_is_no_changes() {
        let plan = teardown(&[], SystemTime::now());
        assert_eq!(plan.render(), "No changes.\n");
        assert!(!plan.has_changes());
    }
}
