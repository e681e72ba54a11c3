//! The rules of `apply`, against the in-memory provider: bounded concurrency, interrupts,
//! partial failure, the quota rule, the recreate order, setup in place, retries and adoption.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::{ApplyOptions, ChangeResult, apply};
use crate::desired::{self, DesiredTeammate};
use crate::plan::{Desired, Plan, PlanOptions, reconcile};
use crate::provider::memory::{Call, MemoryProvider, Operation};
use crate::provider::{ExecOutput, Provider, ProviderError, Sandbox};
use crate::report::{Phase, Reporter};
use crate::secret::{Secret, Secrets};
use crate::team::{self, LoadOptions};
use crate::vocabulary::labels;

const SENTINEL: &str = "apply-test-sentinel-4f1e";

/// A team of `names`, resolved as `up` resolves it.
fn team_of(names: &[&str]) -> (String, BTreeMap<String, DesiredTeammate>) {
    let mut source =
        "name = \"crew\"\n[defaults]\nrepo = \"https://example.com/app.git\"\n".to_string();
    for name in names {
        source.push_str(&format!(
            "[[teammate]]\nname = \"{name}\"\nbranch = \"feature/{name}\"\n"
        ));
    }
    let loaded = team::load_str(
        &source,
        "team.toml",
        Path::new("/"),
        &|_| None,
        &LoadOptions::default(),
    )
    .expect("team loads");
    let resolved = desired::resolve(&loaded.team).expect("team resolves");
    let map = resolved
        .into_iter()
        .map(|entry| (entry.teammate.name.clone(), entry))
        .collect();
    (loaded.team.name, map)
}

fn plan_for(
    provider: &MemoryProvider,
    desired: &BTreeMap<String, DesiredTeammate>,
    options: &PlanOptions,
) -> Plan {
    let wanted: Vec<Desired> = desired
        .values()
        .map(|entry| entry.desired.clone())
        .collect();
    reconcile(&wanted, &provider.sandboxes(), options)
}

/// Records every phase and warning.
#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<(String, Phase)>>,
}

impl Reporter for Recorder {
    fn phase(&self, teammate: &str, phase: &Phase, _elapsed: Duration) {
        self.events
            .lock()
            .unwrap()
            .push((teammate.to_string(), phase.clone()));
    }
    fn warn(&self, _message: &str) {}
    fn finish(&self) {}
}

struct Run {
    provider: Arc<MemoryProvider>,
    team: String,
    desired: BTreeMap<String, DesiredTeammate>,
    secrets: BTreeMap<String, Secrets>,
    parallel: usize,
}

impl Run {
    fn new(provider: MemoryProvider, names: &[&str]) -> Run {
        let (team, desired) = team_of(names);
        Run {
            provider: Arc::new(provider),
            team,
            desired,
            secrets: BTreeMap::new(),
            parallel: 8,
        }
    }

    async fn apply_with(&self, plan: &Plan, interrupted: &AtomicBool) -> Vec<ChangeResult> {
        let options = ApplyOptions {
            parallel: self.parallel,
            no_setup: false,
            team: self.team.clone(),
            no_start: false,
        };
        let recorder = Recorder::default();
        apply(
            self.provider.clone() as Arc<dyn Provider>,
            plan,
            &self.desired,
            &self.secrets,
            &options,
            &recorder,
            interrupted,
        )
        .await
    }

    async fn up(&self) -> Vec<ChangeResult> {
        let plan = plan_for(&self.provider, &self.desired, &PlanOptions::default());
        self.apply_with(&plan, &AtomicBool::new(false)).await
    }

    fn live(&self) -> Vec<Sandbox> {
        self.provider.sandboxes()
    }

    fn creates(&self) -> usize {
        self.provider
            .calls()
            .iter()
            .filter(|call| matches!(call, Call::Create(_)))
            .count()
    }
}

#[tokio::test]
async fn a_create_sets_up_and_labels_every_teammate() {
    let run = Run::new(MemoryProvider::new(), &["alice", "bob"]);
    let results = run.up().await;
    assert!(results.iter().all(|result| result.ok), "{results:?}");
    let live = run.live();
    assert_eq!(live.len(), 2);
    for sandbox in &live {
        assert_eq!(sandbox.labels[labels::SETUP], "ok");
        assert_eq!(sandbox.labels[labels::TEAM], "crew");
    }
    // Up to date afterwards: a second run changes nothing.
    let plan = plan_for(&run.provider, &run.desired, &PlanOptions::default());
    assert!(!plan.has_changes(), "{}", plan.render());
}

#[tokio::test(start_paused = true)]
async fn concurrency_is_bounded_by_parallel() {
    let names: Vec<String> = (0..12).map(|index| format!("mate{index}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut run = Run::new(
        MemoryProvider::new().with_create_latency(Duration::from_secs(1)),
        &names,
    );
    run.parallel = 3;
    let results = run.up().await;
    assert_eq!(results.len(), 12);
    assert!(results.iter().all(|result| result.ok));
    assert_eq!(run.provider.max_creates_in_flight(), 3);
}

#[tokio::test]
async fn one_failure_does_not_stop_the_others() {
    let run = Run::new(MemoryProvider::new(), &["alice", "bob", "carol"]);
    run.provider
        .fail_next(Operation::Create, || ProviderError::Api {
            status: Some(400),
            message: "snapshot `nope` not found".to_string(),
            retryable: false,
        });
    let results = run.up().await;
    let failed: Vec<&ChangeResult> = results.iter().filter(|result| !result.ok).collect();
    assert_eq!(failed.len(), 1, "{results:?}");
    assert_eq!(failed[0].error.as_ref().unwrap().kind, "api");
    assert_eq!(run.live().len(), 2);
}

#[tokio::test]
async fn a_quota_error_stops_further_creates() {
    let mut run = Run::new(
        MemoryProvider::new().with_quota(1),
        &["alice", "bob", "carol", "dave"],
    );
    run.parallel = 1;
    let results = run.up().await;
    let kinds: Vec<Option<&str>> = results
        .iter()
        .map(|result| result.error.as_ref().map(|error| error.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            None,
            Some("quota_exceeded"),
            Some("not_attempted"),
            Some("not_attempted")
        ]
    );
    // One create succeeded, one hit the quota; the rest were never sent.
    assert_eq!(run.creates(), 2);
    let message = &results[1].error.as_ref().unwrap().message;
    assert!(
        message.contains("this plan creates 4 sandboxes"),
        "{message}"
    );
}

#[tokio::test]
async fn an_interrupt_lets_changes_in_flight_finish_and_starts_no_more() {
    let mut run = Run::new(MemoryProvider::new(), &["alice", "bob", "carol"]);
    run.parallel = 1;
    let interrupted = Arc::new(AtomicBool::new(false));
    let flag = interrupted.clone();
    // The first setup command raises the interrupt, as Ctrl-C would mid-run.
    let provider = MemoryProvider::new().with_exec(move |_, _| {
        flag.store(true, Ordering::SeqCst);
        ExecOutput::exec(0, "")
    });
    run.provider = Arc::new(provider);
    let plan = plan_for(&run.provider, &run.desired, &PlanOptions::default());
    let results = run.apply_with(&plan, &interrupted).await;
    assert_eq!(
        results.len(),
        1,
        "only the change in flight ran: {results:?}"
    );
    assert!(results[0].ok);
    assert_eq!(run.live().len(), 1);
    assert_eq!(run.live()[0].labels[labels::SETUP], "ok");
}

#[tokio::test]
async fn a_recreate_creates_the_new_sandbox_before_removing_the_old() {
    let run = Run::new(MemoryProvider::new(), &["alice"]);
    run.up().await;
    let old = run.live()[0].id.clone();
    let plan = plan_for(
        &run.provider,
        &run.desired,
        &PlanOptions {
            force_recreate: true,
            ..PlanOptions::default()
        },
    );
    let results = run.apply_with(&plan, &AtomicBool::new(false)).await;
    assert!(results[0].ok, "{results:?}");
    let calls = run.provider.calls();
    let created = calls
        .iter()
        .rposition(|call| matches!(call, Call::Create(_)))
        .unwrap();
    let removed = calls
        .iter()
        .position(|call| *call == Call::Delete(old.clone()))
        .unwrap();
    assert!(created < removed, "{calls:?}");
    let live = run.live();
    assert_eq!(live.len(), 1);
    assert_ne!(live[0].id, old);
}

#[tokio::test]
async fn a_failed_create_of_a_recreate_keeps_the_old_sandbox() {
    let run = Run::new(MemoryProvider::new(), &["alice"]);
    run.up().await;
    let old = run.live()[0].id.clone();
    run.provider
        .fail_next(Operation::Create, || ProviderError::QuotaExceeded {
            message: "Total CPU limit exceeded".to_string(),
        });
    let plan = plan_for(
        &run.provider,
        &run.desired,
        &PlanOptions {
            force_recreate: true,
            ..PlanOptions::default()
        },
    );
    let results = run.apply_with(&plan, &AtomicBool::new(false)).await;
    assert!(!results[0].ok);
    let live = run.live();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].id, old);
}

#[tokio::test]
async fn a_failed_setup_is_kept_labelled_and_runs_again_in_place() {
    let failing = Arc::new(AtomicBool::new(true));
    let fail = failing.clone();
    let provider = MemoryProvider::new().with_exec(move |_, _| {
        ExecOutput::exec(
            if fail.load(Ordering::SeqCst) { 3 } else { 0 },
            format!("cloning\nfatal: token {SENTINEL} rejected\n"),
        )
    });
    let mut run = Run::new(provider, &["alice"]);
    run.secrets.insert(
        "alice".to_string(),
        Secrets::from([("GH_TOKEN".to_string(), Secret::new(SENTINEL.to_string()))]),
    );
    let results = run.up().await;
    let error = results[0].error.as_ref().unwrap();
    assert_eq!(error.kind, "setup_failed");
    assert!(!error.message.contains(SENTINEL), "{}", error.message);
    assert!(error.message.contains("<secret>"), "{}", error.message);
    let kept = run.live();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].labels[labels::SETUP], "failed");
    assert_eq!(results[0].sandbox_id.as_deref(), Some(kept[0].id.as_str()));

    failing.store(false, Ordering::SeqCst);
    let plan = plan_for(&run.provider, &run.desired, &PlanOptions::default());
    assert!(!plan.is_destructive(), "{}", plan.render());
    let results = run.apply_with(&plan, &AtomicBool::new(false)).await;
    assert!(results[0].ok, "{results:?}");
    let live = run.live();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].id, kept[0].id, "set up again in the same sandbox");
    assert_eq!(live[0].labels[labels::SETUP], "ok");
}

#[tokio::test]
async fn a_sandbox_whose_setup_never_finished_is_set_up_without_a_recreate() {
    let run = Run::new(MemoryProvider::new(), &["alice"]);
    run.up().await;
    let mut sandbox = run.live().remove(0);
    sandbox.labels.remove(labels::SETUP);
    run.provider.insert(sandbox.clone());
    let results = run.up().await;
    assert!(results[0].ok);
    let live = run.live();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].id, sandbox.id);
    assert_eq!(live[0].labels[labels::SETUP], "ok");
}

#[tokio::test(start_paused = true)]
async fn steps_that_are_safe_to_repeat_survive_transient_failures() {
    let run = Run::new(MemoryProvider::new(), &["alice"]);
    let transport = || ProviderError::Transport {
        message: "connection reset".to_string(),
    };
    run.provider.fail_next(Operation::Upload, transport);
    run.provider.fail_next(Operation::Exec, transport);
    run.provider
        .fail_next(Operation::Exec, || ProviderError::Api {
            status: Some(502),
            message: "bad gateway".to_string(),
            retryable: true,
        });
    run.provider.fail_next(Operation::SetLabels, transport);
    let results = run.up().await;
    assert!(results[0].ok, "{results:?}");
    assert_eq!(run.live()[0].labels[labels::SETUP], "ok");
    assert_eq!(run.creates(), 1, "a create is never repeated");
}

#[tokio::test]
async fn two_runs_at_once_leave_one_sandbox_per_teammate() {
    let provider = Arc::new(MemoryProvider::new().with_create_latency(Duration::from_millis(20)));
    let first = Run {
        provider: provider.clone(),
        ..Run::new(MemoryProvider::new(), &["alice", "bob", "carol"])
    };
    let second = Run {
        provider: provider.clone(),
        ..Run::new(MemoryProvider::new(), &["alice", "bob", "carol"])
    };
    // Both plan against the same empty provider, then apply at once.
    let (one, two) = tokio::join!(first.up(), second.up());
    assert!(
        one.iter().chain(&two).all(|result| result.ok),
        "{one:?} {two:?}"
    );
    let live = provider.sandboxes();
    let teammates: BTreeSet<&str> = live
        .iter()
        .map(|sandbox| sandbox.labels[labels::TEAMMATE].as_str())
        .collect();
    assert_eq!(live.len(), 3, "{live:?}");
    assert_eq!(teammates.len(), 3);
    // Both runs report the same sandbox for each teammate.
    for (mine, theirs) in one.iter().zip(&two) {
        assert_eq!(mine.sandbox_id, theirs.sandbox_id);
    }
}

#[tokio::test(start_paused = true)]
async fn a_delete_in_transition_is_waited_for() {
    let run = Run::new(MemoryProvider::new(), &["alice"]);
    run.up().await;
    let id = run.live()[0].id.clone();
    run.provider
        .fail_next(Operation::Delete, || ProviderError::Conflict {
            message: "Sandbox state change in progress".to_string(),
        });
    super::delete(run.provider.as_ref(), &id).await.unwrap();
    assert!(run.live().is_empty());
}
