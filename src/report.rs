//! The reporting seam: the phases a teammate's change goes through and the [`Reporter`] that
//! hears about them. `apply`, the guard and the workflow report through it and know nothing
//! about terminals; `progress.rs` implements it for people and machines, tests by recording.

use std::time::Duration;

use serde::Serialize;

/// The phase a teammate's change is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    Queued,
    Checking,
    Creating,
    Starting,
    Updating,
    Setup,
    /// Starting (or restarting, or stopping) the teammate's command.
    Command,
    Removing,
    Ready,
    Removed,
    Failed {
        error: String,
    },
}

/// Receives progress from `apply` and the guard. Implementations must be cheap and must not block.
pub trait Reporter: Send + Sync {
    /// `teammate` (its display name) entered `phase`; `elapsed` since its change began.
    fn phase(&self, teammate: &str, phase: &Phase, elapsed: Duration);
    /// A warning not tied to a phase.
    fn warn(&self, message: &str);
    /// The run is over: clear or finish any live display.
    fn finish(&self);
}
