//! `up` and `down` under injected faults: one `up` of a team on `daytona` against `serve
//! --simulate` with 5xx answers, dropped connections (after the server acted), stalls and a
//! create throttler converges, makes no duplicate, and `down` leaves nothing. The server's dice
//! are seeded; which requests they fall on depends on how the run's requests interleave. Also
//! the two timing rules of the `daytona` provider that faults rely on: a stalled request of a
//! call that is safe to repeat is abandoned and sent again, and the wait for `started` counts
//! from the create's answer.
//!
//! `scripts/fault-trials.sh` runs the same profile for 24 seeds with a larger team and a 95 s
//! stall; here the stall is short, to keep the suite quick. Timeouts are hang detectors only.

use std::time::Duration;

use ralph_town::provider::daytona::DaytonaProvider;
use ralph_town::provider::{CreateSandbox, Labels, Provider, SandboxState};

use crate::common::have;
use crate::daytona_support::{self, Options, settings, start, token};
use crate::team_support::{Shape, Squad};

/// The profile of `scripts/fault-trials.sh`, with a short stall and a tighter create throttler
/// for a team of five.
const PROFILE: &str = "error-rate=0.04,drop-rate=0.03,stall-rate=0.02,stall=2s,\
                       rate-create=3/1s,create-delay=200ms,transition-delay=100ms";

/// Longer than any healthy run on a loaded CI machine; only a hang gets there.
const HANG: Duration = Duration::from_secs(600);

/// Seeds under which `up` or `down` failed before stalled, dropped and failed requests were
/// all retried where safe (the dice fall on different requests as runs interleave, so each seed
/// only usually meets the same faults).
fn converges_under_faults(seed: u64) {
    let simulate = format!("{PROFILE},seed={seed}");
    let squad = Squad::new(Shape {
        size: 5,
        simulate: Some(&simulate),
        ..Shape::default()
    });
    let up = squad.run_within(&["up", "--progress", "plain"], HANG);
    let context = format!("seed {seed}");
    assert_eq!(up.code, 0, "{context}\n{}{}", up.stdout, up.stderr);
    squad.assert_converged(&context);
    let down = squad.run_within(&["down"], HANG);
    assert_eq!(down.code, 0, "{context}\n{}{}", down.stdout, down.stderr);
    squad.assert_empty(&context);
}

#[test]
fn one_up_converges_under_faults_seed_2() {
    if have("git") && have("bash") {
        converges_under_faults(2);
    }
}

#[test]
fn one_up_converges_under_faults_seed_4() {
    if have("git") && have("bash") {
        converges_under_faults(4);
    }
}

#[test]
fn one_up_converges_under_faults_seed_6() {
    if have("git") && have("bash") {
        converges_under_faults(6);
    }
}

#[test]
fn one_up_converges_under_faults_seed_10() {
    if have("git") && have("bash") {
        converges_under_faults(10);
    }
}

fn request(run: &str) -> CreateSandbox {
    CreateSandbox {
        name: format!("faults-{run}"),
        labels: Labels::from([("ralph-town-test/run".to_string(), run.to_string())]),
        ..CreateSandbox::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_request_of_a_safe_call_is_abandoned_and_sent_again() {
    let harness = start(Options {
        simulation: "stall-rate=0.5,stall=5s,seed=5".parse().unwrap(),
        ..Options::default()
    })
    .await;
    let mut settings = settings(&harness.api_url, daytona_support::KEY);
    settings.request_timeout = Duration::from_millis(300);
    settings.retry.attempts = 20;
    let provider = DaytonaProvider::new(settings).unwrap();
    let sandbox = provider.create(&request(&token())).await.expect("create");
    let before = harness.requests("GET /api/sandbox/{sandbox}").await;
    // Each read may meet a stall far longer than the request timeout; none may fail for it.
    for _ in 0..12 {
        let got = tokio::time::timeout(HANG, provider.get(&sandbox.id))
            .await
            .expect("hung")
            .expect("a stalled read is abandoned and sent again");
        assert_eq!(got.state, SandboxState::Started);
    }
    let sent = harness.requests("GET /api/sandbox/{sandbox}").await - before;
    assert!(sent > 12, "no read was ever stalled: {sent} requests");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_create_answer_does_not_count_against_the_start_timeout() {
    // Every answer takes 1.2 s; the sandbox starts 100 ms after the create is handled.
    let harness = start(Options {
        simulation: "latency=1200ms,create-delay=100ms".parse().unwrap(),
        ..Options::default()
    })
    .await;
    let mut settings = settings(&harness.api_url, daytona_support::KEY);
    settings.start_timeout = Duration::from_secs(1);
    let provider = DaytonaProvider::new(settings).unwrap();
    let sandbox = provider
        .create(&request(&token()))
        .await
        .expect("the start timeout counts from the create's answer");
    assert_eq!(sandbox.state, SandboxState::Started);
}
