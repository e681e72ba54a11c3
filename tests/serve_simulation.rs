//! `serve`'s simulated cloud behaviour: rate limits with Daytona's 429 and headers, quotas with
//! Daytona's 400 messages, injected faults, the old exec defect and the lifecycle timers.

use crate::serve_support;

use ralph_town::provider::{Labels, Provider};
use serde_json::json;
use serve_support::{KEY, start};

#[tokio::test(flavor = "multi_thread")]
async fn the_create_throttler_answers_429_with_daytonas_headers() {
    let server = start("rate-create=2/1h").await;
    for remaining in ["1", "0"] {
        let reply = server.post("/api/sandbox", json!({})).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        assert_eq!(reply.header("x-ratelimit-limit-sandbox-create"), Some("2"));
        assert_eq!(
            reply.header("x-ratelimit-remaining-sandbox-create"),
            Some(remaining)
        );
        let reset: u64 = reply
            .header("x-ratelimit-reset-sandbox-create")
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=3600).contains(&reset), "{reset}");
    }
    let refused = server.post("/api/sandbox", json!({})).await;
    assert_eq!(
        refused.api_error(429),
        "ThrottlerException: Too Many Requests"
    );
    assert_eq!(refused.body["error"], "Too Many Requests");
    let retry: u64 = refused
        .header("retry-after-sandbox-create")
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3600).contains(&retry), "{retry}");
    // Other routes count against other throttlers, which are off here.
    let list = server.get("/api/sandbox").await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["items"].as_array().unwrap().len(), 2);
    assert!(list.header("x-ratelimit-limit-sandbox-create").is_none());
    assert_eq!(server.requests("POST /api/sandbox").await, 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn lifecycle_and_authenticated_throttlers_count_their_own_routes() {
    let server = start("rate-lifecycle=1/1h,rate-authenticated=3/1h").await;
    let id = server.create(json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let stop = server
        .post(&format!("/api/sandbox/{id}/stop"), json!({}))
        .await;
    assert_eq!(stop.status, 200);
    assert_eq!(
        stop.header("x-ratelimit-remaining-sandbox-lifecycle"),
        Some("0")
    );
    let start_again = server
        .post(&format!("/api/sandbox/{id}/start"), json!({}))
        .await;
    start_again.api_error(429);
    assert!(
        start_again
            .header("retry-after-sandbox-lifecycle")
            .is_some()
    );
    // `create` polled GET once or more; the authenticated budget of 3 runs out soon.
    let mut refused = None;
    for _ in 0..4 {
        let reply = server.get("/api/sandbox").await;
        if reply.status == 429 {
            refused = Some(reply);
            break;
        }
        assert_eq!(reply.header("x-ratelimit-limit-authenticated"), Some("3"));
    }
    let refused = refused.expect("the authenticated throttler never refused");
    assert!(refused.header("retry-after-authenticated").is_some());
    // The toolbox is not throttled by the API's throttlers.
    assert_eq!(server.exec(&id, "true").await.status, 409);
}

#[tokio::test(flavor = "multi_thread")]
async fn quotas_refuse_creates_with_daytonas_messages() {
    let server = start("quota-cpu=2,quota-disk=8").await;
    let first = server.create(json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    server.create(json!({})).await;
    let refused = server.post("/api/sandbox", json!({})).await;
    let message = refused.api_error(400);
    assert!(
        message.starts_with(
            "Total CPU limit exceeded. Maximum allowed: 2.\nTo increase concurrency limits"
        ),
        "{message}"
    );
    // A stopped sandbox frees its CPU but keeps its disk.
    server
        .post(&format!("/api/sandbox/{first}/stop"), json!({}))
        .await;
    server.wait_state(&first, "stopped").await;
    let disk = server.post("/api/sandbox", json!({})).await;
    let message = disk.api_error(400);
    assert!(
        message
            .starts_with("Total disk limit exceeded. Maximum allowed: 8GiB.\nConsider archiving"),
        "{message}"
    );
    server.delete(&format!("/api/sandbox/{first}")).await;
    server.create(json!({})).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn starting_a_sandbox_counts_against_the_quota() {
    let server = start("quota-memory=1").await;
    let first = server.create(json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    server
        .post(&format!("/api/sandbox/{first}/stop"), json!({}))
        .await;
    server.wait_state(&first, "stopped").await;
    server.create(json!({})).await;
    let refused = server
        .post(&format!("/api/sandbox/{first}/start"), json!({}))
        .await;
    assert!(
        refused
            .api_error(400)
            .starts_with("Total memory limit exceeded. Maximum allowed: 1GiB.")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn injected_errors_are_500_with_the_api_body_before_anything_happens() {
    let server = start("error-rate=1").await;
    let reply = server.post("/api/sandbox", json!({})).await;
    assert_eq!(reply.api_error(500), "An unexpected error occurred.");
    assert!(
        server
            .provider
            .list(&Labels::new())
            .await
            .unwrap()
            .is_empty()
    );
    let toolbox = server.exec("any", "true").await;
    toolbox.daemon_error(502, "BAD_GATEWAY");
    // The counters stay reachable.
    assert_eq!(server.requests("POST /api/sandbox").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_connection_loses_the_reply_not_the_create() {
    let server = start("drop-rate=1").await;
    let result = server
        .client
        .post(server.url("/api/sandbox"))
        .bearer_auth(KEY)
        .json(&json!({"name": "orphan", "labels": {"team": "x"}}))
        .send()
        .await;
    assert!(result.is_err(), "the reply arrived: {result:?}");
    let labels: Labels = [("team".to_string(), "x".to_string())].into();
    let found = server.provider.list(&labels).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].name, "orphan");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_exec_defect_loses_exit_codes_but_runs_the_command() {
    let server = start("exec-defect").await;
    let id = server.create(json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let reply = server.exec(&id, "echo ran > marker; exit 5").await;
    assert_eq!(reply.body, json!({"exitCode": -1, "result": ""}));
    let home = server.provider.home_dir(&id);
    assert_eq!(
        std::fs::read_to_string(home.join("marker")).unwrap(),
        "ran\n"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_request_still_answers() {
    let server = start("stall-rate=1,stall=50ms,latency=10ms").await;
    assert_eq!(server.get("/api/sandbox").await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_sandboxes_stop_and_ttl_destroys() {
    // A lifecycle minute of 100 ms: timers fire within seconds.
    let server = start("minute=100ms").await;
    // Posted without waiting for `started`: a 100 ms timer may beat the first poll.
    let post = |body| {
        let server = &server;
        async move {
            let reply = server.post("/api/sandbox", body).await;
            assert_eq!(reply.status, 200, "{:?}", reply.body);
            reply.body
        }
    };
    let idle = post(json!({"autoStopInterval": 1})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let short_lived = post(json!({"ttlMinutes": 2, "autoStopInterval": 0})).await;
    assert!(short_lived["autoDestroyAt"].is_string());
    let short_lived = short_lived["id"].as_str().unwrap().to_string();
    let kept = server.create(json!({"autoStopInterval": 0})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let ephemeral_later = post(json!({"autoStopInterval": 1, "autoDeleteInterval": 1})).await["id"]
        .as_str()
        .unwrap()
        .to_string();

    server.wait_state(&idle, "stopped").await;
    server.wait_gone(&short_lived).await;
    server.wait_gone(&ephemeral_later).await;
    // Still there, and still started, after all that.
    let kept = server.get(&format!("/api/sandbox/{kept}")).await;
    assert_eq!(kept.body["state"], "started");
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_creates_never_overshoot_a_quota() {
    let server = start("quota-cpu=3").await;
    let replies =
        futures::future::join_all((0..6).map(|_| server.post("/api/sandbox", json!({})))).await;
    let admitted = replies.iter().filter(|reply| reply.status == 200).count();
    let refused = replies.iter().filter(|reply| reply.status == 400).count();
    assert_eq!((admitted, refused), (3, 3), "{replies:?}");
}
