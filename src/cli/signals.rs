//! The signals that ask a long run to stop: SIGINT (Ctrl-C), SIGTERM (what CI runners, `timeout`
//! and service managers send on cancel) and SIGHUP (a closed terminal or SSH session). All three
//! mean the same thing here, so a cancelled CI job stops as gently as a Ctrl-C.
//!
//! This file only listens; what stopping means (skip new work, clean up, the exit code) is the
//! caller's. Once a signal is listened for, its default action (ending the process at once) is
//! gone for the rest of the process, which is why [`listener`] exits on the second signal.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::error::exit;

/// The stop signals, listened for from the moment this is made.
struct StopSignals(Vec<Signal>);

impl StopSignals {
    fn new() -> StopSignals {
        let kinds = [
            SignalKind::interrupt(),
            SignalKind::terminate(),
            SignalKind::hangup(),
        ];
        // A signal that cannot be listened for keeps its default action: it still stops us.
        StopSignals(
            kinds
                .into_iter()
                .filter_map(|kind| signal(kind).ok())
                .collect(),
        )
    }

    /// The next stop signal; never, when none could be listened for.
    async fn next(&mut self) {
        if self.0.is_empty() {
            std::future::pending::<()>().await;
        }
        let waits = self.0.iter_mut().map(|signal| Box::pin(signal.recv()));
        futures::future::select_all(waits).await;
    }
}

/// Resolves on the first SIGINT, SIGTERM or SIGHUP.
pub(super) async fn stopped() {
    StopSignals::new().next().await;
}

/// Listens from now on (not from the first poll), and resolves on the first SIGINT, SIGTERM or
/// SIGHUP; from then on another one exits at once with the interrupt exit code, for a user who
/// will not wait for the stop to finish.
pub(super) fn stopped_then_exit_on_another() -> impl Future<Output = ()> {
    let mut signals = StopSignals::new();
    async move {
        signals.next().await;
        tokio::spawn(async move {
            signals.next().await;
            eprintln!("interrupt: stopping at once");
            std::process::exit(exit::INTERRUPTED);
        });
    }
}

/// Listens from now on: the first stop signal sets `flag` (the run stops starting new work and
/// lets the work in flight finish), a second one exits at once with the interrupt exit code.
pub(super) fn listener(flag: Arc<AtomicBool>) -> tokio::task::JoinHandle<()> {
    let mut signals = StopSignals::new();
    tokio::spawn(async move {
        signals.next().await;
        flag.store(true, Ordering::SeqCst);
        eprintln!("interrupt: finishing changes in flight (interrupt again to abort)");
        signals.next().await;
        std::process::exit(exit::INTERRUPTED);
    })
}
