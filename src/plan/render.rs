//! The text and JSON forms of a [`Plan`], in the style of Terraform and compose.
//!
//! Only formatting lives here; which change a sandbox gets is decided in `plan.rs`. The layout:
//! a symbol and the display name padded to one column (at least 15 wide, wider when a name needs
//! it, so every plan of a team lines up the same way), the action padded to 11, then the cause.
//! After a blank line comes the summary: `Plan: ...` listing only the non-zero counts, or
//! `No changes.` when nothing would change; kept orphans and sandboxes in progress are mentioned
//! in both.

use std::fmt;

use serde::ser::{Serialize, SerializeStruct, Serializer};

use super::{Action, Cause, Change, Plan};

/// Width of the action column: the longest action (`recreate`) plus three spaces.
const ACTION_WIDTH: usize = 11;
/// The narrowest symbol-and-name column, before its two spaces of gap.
const MINIMUM_NAME_WIDTH: usize = 13;

/// How many changes of each kind a plan holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub recreate: usize,
    pub start: usize,
    pub remove: usize,
    /// Sandboxes kept because they are up to date.
    pub keep: usize,
    /// Sandboxes kept because they are in transition (`creating`, `starting`, ...).
    pub in_progress: usize,
    /// Orphans kept (no `--prune`).
    pub orphan: usize,
    /// Sandboxes of another team file, left alone (no `--adopt`).
    pub foreign: usize,
}

impl Summary {
    /// Whether anything would change.
    pub fn has_changes(&self) -> bool {
        self.create + self.update + self.recreate + self.start + self.remove > 0
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let counts: Vec<String> = [
            (self.create, "create"),
            (self.update, "update"),
            (self.recreate, "recreate"),
            (self.start, "start"),
            (self.remove, "remove"),
        ]
        .into_iter()
        .filter(|(count, _)| *count > 0)
        .map(|(count, action)| format!("{count} to {action}"))
        .collect();
        let mut notes = Vec::new();
        if counts.is_empty() && self.keep > 0 {
            notes.push(format!("{} up to date", self.keep));
        }
        if self.in_progress > 0 {
            notes.push(format!("{} in progress", self.in_progress));
        }
        if self.foreign > 0 {
            notes.push(format!("{} of another team file left alone", self.foreign));
        }
        if self.orphan > 0 {
            let noun = if self.orphan == 1 {
                "orphan"
            } else {
                "orphans"
            };
            notes.push(format!("{} {noun} kept", self.orphan));
        }
        if counts.is_empty() {
            formatter.write_str("No changes.")?;
            if !notes.is_empty() {
                write!(formatter, " {}.", notes.join(", "))?;
            }
            return Ok(());
        }
        write!(formatter, "Plan: {}", counts.join(", "))?;
        if !notes.is_empty() {
            write!(formatter, "; {}", notes.join(", "))?;
        }
        formatter.write_str(".")
    }
}

impl Plan {
    /// The plan as text: one line per change, a blank line, the summary line.
    pub fn render(&self) -> String {
        let prefixes: Vec<String> = self
            .changes
            .iter()
            .map(|change| format!("{} {}", symbol(change), change.display))
            .collect();
        let width = prefixes
            .iter()
            .map(|prefix| prefix.chars().count())
            .max()
            .unwrap_or(0)
            .max(MINIMUM_NAME_WIDTH)
            + 2;
        let mut text = String::new();
        for (prefix, change) in prefixes.iter().zip(&self.changes) {
            let action = change.action.as_str();
            text.push_str(&format!(
                "{prefix:<width$}{action:<ACTION_WIDTH$}{}\n",
                change.describe()
            ));
        }
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&self.summary().to_string());
        text.push('\n');
        text
    }

    /// Counts per kind of change.
    pub fn summary(&self) -> Summary {
        let mut summary = Summary::default();
        for change in &self.changes {
            let count = match (change.action, &change.cause) {
                (Action::Create, _) => &mut summary.create,
                (Action::Update, _) => &mut summary.update,
                (Action::Recreate, _) => &mut summary.recreate,
                (Action::Start, _) => &mut summary.start,
                (Action::Remove, _) => &mut summary.remove,
                (Action::Keep, Cause::InTransition { .. }) => &mut summary.in_progress,
                (Action::Keep, _) => &mut summary.keep,
                (Action::Orphan, _) => &mut summary.orphan,
                (Action::Foreign, _) => &mut summary.foreign,
            };
            *count += 1;
        }
        summary
    }

    /// Whether applying the plan would change anything.
    pub fn has_changes(&self) -> bool {
        self.summary().has_changes()
    }

    /// Whether applying the plan would delete a sandbox (remove or recreate).
    pub fn is_destructive(&self) -> bool {
        self.changes
            .iter()
            .any(|change| matches!(change.action, Action::Remove | Action::Recreate))
    }
}

impl Serialize for Plan {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut plan = serializer.serialize_struct("Plan", 2)?;
        plan.serialize_field("changes", &self.changes)?;
        plan.serialize_field("summary", &self.summary())?;
        plan.end()
    }
}

impl Change {
    /// The cause in words, as the plan's last column shows it.
    pub fn describe(&self) -> String {
        let cause = match &self.cause {
            Cause::NoSandbox => "no sandbox".to_string(),
            Cause::LifecycleChanged { changes } | Cause::EnvChanged { changes } => {
                field_changes(changes)
            }
            Cause::SpecChanged {
                recorded: false, ..
            } => "spec changed (made by an older ralph-town: no values recorded)".to_string(),
            Cause::SpecChanged { changes, .. } if changes.is_empty() => "spec changed".to_string(),
            Cause::SpecChanged { changes, .. } => {
                format!("spec changed: {}", field_changes(changes))
            }
            Cause::Failed { state } => format!("sandbox is in state `{state}`"),
            Cause::SetupFailed => "setup failed (runs again in place)".to_string(),
            Cause::SetupIncomplete => "setup did not finish (runs again in place)".to_string(),
            Cause::ForceRecreate => "--force-recreate".to_string(),
            Cause::Stopped { state } => format!("sandbox is {state}"),
            Cause::UpToDate => "up to date".to_string(),
            Cause::InTransition { state } => format!("{state} (in progress)"),
            Cause::Duplicate { .. } => format!("duplicate sandbox for {}", self.teammate),
            Cause::NotInTeamFile if self.action == Action::Remove => {
                "not in team.toml (--prune)".to_string()
            }
            Cause::NotInTeamFile => "not in team.toml (kept; --prune removes it)".to_string(),
            Cause::OtherSource { .. } => {
                "made from another team file (left alone; --adopt takes it over)".to_string()
            }
            Cause::Adopted => "adopted from another team file".to_string(),
        };
        let mut cause = match &self.cause {
            Cause::SetupFailed | Cause::SetupIncomplete => cause,
            _ if self.setup => format!("{cause}; setup runs again"),
            _ => cause,
        };
        if !self.env.is_empty() && !matches!(self.cause, Cause::EnvChanged { .. }) {
            cause = format!("{cause}; {}", field_changes(&self.env));
        }
        match &self.cause {
            Cause::LifecycleChanged { .. } => cause,
            _ if self.lifecycle.is_empty() => cause,
            _ => format!("{cause}; {}", field_changes(&self.lifecycle)),
        }
    }
}

fn field_changes(changes: &[super::FieldChange]) -> String {
    changes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn symbol(change: &Change) -> &'static str {
    match change.action {
        Action::Create => "+",
        Action::Update => "~",
        Action::Recreate => "-/+",
        Action::Start => ">",
        Action::Keep => " ",
        Action::Remove => "-",
        Action::Orphan | Action::Foreign => "!",
    }
}

impl Action {
    /// Whether `up` does anything for it (keep, orphan and foreign are only reported).
    pub fn is_actionable(self) -> bool {
        !matches!(self, Action::Keep | Action::Orphan | Action::Foreign)
    }

    /// The action's name as the plan and its JSON show it (`create`, `recreate`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Recreate => "recreate",
            Action::Start => "start",
            Action::Keep => "keep",
            Action::Remove => "remove",
            Action::Orphan => "orphan",
            Action::Foreign => "foreign",
        }
    }
}

/// A lifecycle timer in minutes, compactly: `0`, `15m`, `1h30m`, `1d`; negative is `never`
/// (Daytona's auto-delete off).
pub(super) fn minutes(total: i64) -> String {
    if total < 0 {
        return "never".to_string();
    }
    if total == 0 {
        return "0".to_string();
    }
    let (days, hours, minutes) = (total / 1440, total % 1440 / 60, total % 60);
    [(days, "d"), (hours, "h"), (minutes, "m")]
        .into_iter()
        .filter(|(count, _)| *count > 0)
        .map(|(count, unit)| format!("{count}{unit}"))
        .collect()
}
