//! How the `daytona` provider behaves when the API misbehaves, against `ralph-town serve`'s
//! simulation: 5xx and dropped connections, 429 with `Retry-After-<throttler>`, quotas, a pinned
//! key, command timeouts; and what travels on the wire (headers, no secret outside `envs`).
//!
//! Faults are dice rolls of the server (seeded), so each test keeps working until the server
//! reports that the fault it is about really happened, and asserts what must hold whatever the
//! dice said: one successful create per sandbox, no duplicates.

use crate::daytona_support;

use std::collections::BTreeMap;
use std::time::Duration;

use ralph_town::provider::daytona::DaytonaProvider;
use ralph_town::provider::{
    CreateSandbox, ExecRequest, Labels, Provider, ProviderError, Sandbox, SandboxState,
};
use ralph_town::serve::Simulation;

use daytona_support::{Harness, Options, settings, start, token};

const CREATE: &str = "POST /api/sandbox";
const LIST: &str = "GET /api/sandbox";
const GET: &str = "GET /api/sandbox/{sandbox}";
const EXECUTE: &str = "POST /toolbox/{sandbox}/process/execute";

fn simulation(text: &str) -> Simulation {
    text.parse().expect("simulation settings")
}

fn request(run: &str, index: usize) -> CreateSandbox {
    CreateSandbox {
        name: format!("rs-{run}-{index}"),
        labels: Labels::from([("ralph-town-test/run".to_string(), run.to_string())]),
        ..CreateSandbox::default()
    }
}

/// A provider on the harness's server whose retries outlast any plausible run of dice.
fn patient(harness: &Harness) -> DaytonaProvider {
    let mut settings = settings(&harness.api_url, "dtn_test_key");
    settings.retry.attempts = 12;
    DaytonaProvider::new(settings).expect("provider")
}

async fn listed(provider: &dyn Provider, run: &str) -> Vec<Sandbox> {
    let filter = Labels::from([("ralph-town-test/run".to_string(), run.to_string())]);
    provider.list(&filter).await.expect("list")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_create_answers_are_adopted_not_repeated() {
    let harness = start(Options {
        simulation: simulation("drop-rate=0.3,seed=11"),
        ..Options::default()
    })
    .await;
    let provider = patient(&harness);
    let run = token();
    let mut created = Vec::new();
    // The server acts on a request, then closes the connection without answering; a create
    // whose answer was lost must find its sandbox instead of making a second one.
    while harness.requests(LIST).await < 2 {
        assert!(
            created.len() < 40,
            "the server never dropped a create answer"
        );
        let sandbox = provider
            .create(&request(&run, created.len()))
            .await
            .expect("create survives a dropped connection");
        assert_eq!(sandbox.state, SandboxState::Started);
        created.push(sandbox);
    }
    assert_eq!(harness.count(CREATE, 200).await, created.len() as u64);
    let mut names: Vec<String> = listed(&provider, &run)
        .await
        .into_iter()
        .map(|sandbox| sandbox.name)
        .collect();
    names.sort();
    let mut expected: Vec<String> = created.iter().map(|sandbox| sandbox.name.clone()).collect();
    expected.sort();
    assert_eq!(names, expected, "one sandbox per create, none twice");

    // A DELETE whose answer was lost is done; its retry's 404 is not an error.
    for sandbox in &created {
        provider.delete(&sandbox.id).await.expect("delete");
    }
    assert!(listed(&provider, &run).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried_and_a_failed_create_is_sent_once_more() {
    let harness = start(Options {
        simulation: simulation("error-rate=0.3,seed=5"),
        ..Options::default()
    })
    .await;
    let provider = patient(&harness);
    let run = token();
    let (mut created, mut failed) = (Vec::new(), Vec::new());
    while harness.count(CREATE, 500).await < 2 || harness.count(GET, 500).await < 1 {
        let index = created.len() + failed.len();
        assert!(
            index < 40,
            "the server never failed the calls this test is about"
        );
        let request = request(&run, index);
        match provider.create(&request).await {
            Ok(sandbox) => created.push(sandbox.name),
            // Both attempts met a 5xx: the error says so and may be retried later.
            Err(
                error @ ProviderError::Api {
                    retryable: true, ..
                },
            ) => {
                assert!(error.is_retryable());
                failed.push(request.name);
            }
            Err(other) => panic!("create: {other:?}"),
        }
    }
    // Idempotent calls ride over 5xx answers.
    for name in &created {
        let sandbox = provider.get(name).await.expect("get");
        assert_eq!(&sandbox.name, name);
    }
    assert_eq!(harness.count(CREATE, 200).await, created.len() as u64);
    let names: Vec<String> = listed(&provider, &run)
        .await
        .into_iter()
        .map(|sandbox| sandbox.name)
        .collect();
    assert_eq!(names.len(), created.len(), "{names:?}");
    assert!(failed.iter().all(|name| !names.contains(name)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_creates_wait_for_retry_after_and_succeed() {
    let harness = start(Options {
        simulation: simulation("rate-create=2/2s"),
        ..Options::default()
    })
    .await;
    let provider = harness.provider.as_ref();
    let run = token();
    for index in 0..4 {
        provider
            .create(&request(&run, index))
            .await
            .expect("create");
    }
    assert!(harness.count(CREATE, 429).await >= 1);
    assert_eq!(harness.count(CREATE, 200).await, 4);
    assert_eq!(listed(provider, &run).await.len(), 4);

    // With no time left to wait, the caller hears how long the server asked it to.
    let mut settings = settings(&harness.api_url, "dtn_test_key");
    settings.retry.rate_limited_budget = Duration::ZERO;
    let impatient = DaytonaProvider::new(settings).expect("provider");
    let mut outcome = Ok(());
    for index in 4..8 {
        if let Err(error) = impatient.create(&request(&run, index)).await {
            outcome = Err(error);
            break;
        }
    }
    match outcome {
        Err(ProviderError::RateLimited {
            retry_after: Some(wait),
        }) => assert!(wait > Duration::ZERO),
        other => panic!("expected RateLimited with the server's Retry-After, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_errors_carry_the_server_message_and_are_not_retried() {
    let harness = start(Options {
        simulation: simulation("quota-cpu=1"),
        ..Options::default()
    })
    .await;
    let provider = harness.provider.as_ref();
    let run = token();
    provider
        .create(&request(&run, 0))
        .await
        .expect("the first fits");
    match provider.create(&request(&run, 1)).await {
        Err(ProviderError::QuotaExceeded { message }) => {
            assert!(message.starts_with("Total CPU limit exceeded"), "{message}");
        }
        other => panic!("expected QuotaExceeded, got {other:?}"),
    }
    assert_eq!(
        harness.requests(CREATE).await,
        2,
        "a quota error is not retried"
    );
    assert_eq!(listed(provider, &run).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_key_names_the_variable_and_never_shows_the_key() {
    let sentinel = format!("dtn_wrong_sentinel_{}", token());
    let harness = start(Options {
        pinned_key: Some("dtn_the_right_key".to_string()),
        client_key: sentinel.clone(),
        ..Options::default()
    })
    .await;
    let error = harness
        .provider
        .list(&Labels::new())
        .await
        .expect_err("a wrong key is refused");
    let shown = format!("{error} {error:?} {:?}", harness.provider);
    assert!(
        matches!(error, ProviderError::Unauthorized { .. }),
        "{shown}"
    );
    assert!(
        shown.contains("the Daytona API rejected the credentials in `DAYTONA_API_KEY`"),
        "{shown}"
    );
    assert!(!shown.contains(&sentinel), "the key leaked: {shown}");
    assert_eq!(harness.requests(LIST).await, 1, "a 401 is not retried");

    let right = DaytonaProvider::new(settings(&harness.api_url, "dtn_the_right_key")).unwrap();
    assert!(right.list(&Labels::new()).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_over_its_timeout_is_a_timeout_error() {
    let harness = start(Options::default()).await;
    let provider = harness.provider.as_ref();
    let sandbox = provider
        .create(&request(&token(), 0))
        .await
        .expect("create");
    let slow = ExecRequest {
        command: "sleep 30".to_string(),
        timeout: Some(Duration::from_secs(1)),
        ..ExecRequest::default()
    };
    match provider.exec(&sandbox.id, &slow).await {
        Err(ProviderError::Timeout { message }) => assert!(message.contains("1s"), "{message}"),
        other => panic!("expected Timeout, got {other:?}"),
    }
    assert_eq!(harness.count(EXECUTE, 408).await, 1);
    assert_eq!(
        harness.requests(EXECUTE).await,
        1,
        "an exec is never repeated"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_is_a_transport_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let provider = DaytonaProvider::new(settings(
        &format!("http://{address}/api"),
        "dtn_unreachable_sentinel",
    ))
    .unwrap();
    let error = provider
        .list(&Labels::new())
        .await
        .expect_err("nobody listens");
    let shown = format!("{error} {error:?}");
    assert!(matches!(error, ProviderError::Transport { .. }), "{shown}");
    assert!(shown.contains(&address.to_string()), "{shown}");
    assert!(!shown.contains("dtn_unreachable_sentinel"), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_travel_only_in_exec_envs_and_the_key_only_in_authorization() {
    let key = format!("dtn_key_sentinel_{}", token());
    let secret = format!("secret-sentinel-{}", token());
    let harness = start(Options {
        client_key: key.clone(),
        record: true,
        ..Options::default()
    })
    .await;
    let provider = harness.provider.as_ref();
    let run = token();
    let mut create = request(&run, 0);
    create.env = BTreeMap::from([("PLAIN".to_string(), "plain".to_string())]);
    let sandbox = provider.create(&create).await.expect("create");

    let setup = ExecRequest {
        command: "printf %s \"$SANDBOX_SECRET\" | wc -c".to_string(),
        env: BTreeMap::from([("SANDBOX_SECRET".to_string(), secret.clone())]),
        ..ExecRequest::default()
    };
    let output = provider.exec(&sandbox.id, &setup).await.expect("exec");
    assert_eq!(output.output.trim(), secret.len().to_string());
    let timed_out = ExecRequest {
        command: "sleep 30".to_string(),
        timeout: Some(Duration::from_secs(1)),
        ..setup.clone()
    };
    let error = provider.exec(&sandbox.id, &timed_out).await.unwrap_err();
    assert!(!format!("{error} {error:?}").contains(&secret));
    provider
        .upload(&sandbox.id, "setup.sh", b"echo configured")
        .await
        .expect("upload");
    assert_eq!(
        provider
            .download(&sandbox.id, "setup.sh")
            .await
            .expect("download"),
        b"echo configured"
    );
    let mut labels = sandbox.labels.clone();
    labels.insert("ralph-town/setup".to_string(), "ok".to_string());
    provider
        .set_labels(&sandbox.id, &labels)
        .await
        .expect("labels");
    listed(provider, &run).await;
    provider
        .shell_access(&sandbox.id, None, 5)
        .await
        .expect("ssh");
    provider.delete(&sandbox.id).await.expect("delete");

    let recorded = harness.recorded();
    assert!(
        recorded
            .iter()
            .any(|request| request.target.starts_with("/toolbox/"))
    );
    let mut envs_seen = 0;
    for request in &recorded {
        let line = format!("{} {}", request.method, request.target);
        let header = |name: &str| {
            request
                .headers
                .iter()
                .find(|(header, _)| header == name)
                .map(|(_, value)| value.as_str())
        };
        assert_eq!(
            header("authorization"),
            Some(format!("Bearer {key}").as_str()),
            "{line}"
        );
        assert_eq!(header("x-daytona-source"), Some("ralph-town"), "{line}");
        assert!(header("user-agent").is_some_and(|agent| agent.starts_with("ralph-town/")));
        for (name, value) in &request.headers {
            assert!(
                name == "authorization" || !value.contains(&key),
                "{line}: key in `{name}`"
            );
            assert!(!value.contains(&secret), "{line}: secret in `{name}`");
        }
        assert!(
            !request.target.contains(&key) && !request.target.contains(&secret),
            "{line}"
        );
        let body = String::from_utf8_lossy(&request.body);
        assert!(!body.contains(&key), "{line}: key in the body");
        if body.contains(&secret) {
            assert!(
                line.ends_with("/process/execute"),
                "{line}: secret in the body"
            );
            let json: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
            assert_eq!(json["envs"]["SANDBOX_SECRET"], secret.as_str(), "{line}");
            assert!(!json["command"].as_str().unwrap().contains(&secret));
            envs_seen += 1;
        }
    }
    assert_eq!(envs_seen, 2, "both execs carried the secret in `envs`");
}
