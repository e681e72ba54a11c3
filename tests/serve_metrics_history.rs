//! `get_metrics` over time: `serve` samples every started sandbox on an interval (here
//! `--simulate metrics-interval=300ms`) and answers the SDK's `from`/`to` window from the samples
//! it keeps (`tests/sdk/metrics_history_test.py`); a sandbox not sampled yet is sampled when
//! asked, and a time serve cannot read is refused with the parameter named. The SDK comes from `scripts/sdk-venv.sh`; without it the SDK test skips, and
//! fails under `CI=true`. Nothing reaches beyond 127.0.0.1.

use serde_json::json;

use crate::serve_support::{run_python_script, sdk_python, start};

#[tokio::test(flavor = "multi_thread")]
async fn the_python_sdk_reads_sampled_metrics_over_a_window_and_a_stopped_sandbox_gets_none() {
    let Some(python) = sdk_python(&["daytona"]).await else {
        return;
    };
    let server = start("metrics-interval=300ms").await;
    run_python_script(
        &python,
        "metrics_history_test.py",
        &server,
        &[("METRICS_INTERVAL_SECONDS", "0.3")],
        "sdk-metrics-history: done",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sandbox_not_sampled_yet_is_sampled_when_asked_and_a_bad_time_is_refused() {
    // No sampling pass after the first (which ran before the sandbox existed).
    let server = start("metrics-interval=1h").await;
    let id = server.create(json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/api/sandbox/{id}/telemetry/metrics");
    let reply = server.get(&format!("{path}?from=yesterday")).await;
    let message = reply.api_error(400);
    assert!(
        message.contains("`from` is not an ISO 8601 time"),
        "{message}"
    );
    // Sampled on the first request, whose window (none: up to now) holds that sample; then
    // kept, inside an explicit window with offsets.
    for query in [
        "",
        "?from=2026-01-01T00:00:00%2B01:00&to=2100-01-01T00:00:00Z",
    ] {
        let reply = server.get(&format!("{path}{query}")).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        let series = reply.body["series"].as_array().unwrap();
        assert_eq!(series.len(), 7);
        assert!(
            series
                .iter()
                .all(|s| s["dataPoints"].as_array().unwrap().len() == 1),
            "{query}: {series:?}"
        );
    }
    server.shutdown().await;
}
