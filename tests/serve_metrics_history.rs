//! `get_metrics` over time: `serve` samples every started sandbox on an interval (here
//! `--simulate metrics-interval=300ms`) and answers the SDK's `from`/`to` window from the samples
//! it keeps (`tests/sdk/metrics_history_test.py`); a sandbox not sampled yet is sampled when
//! asked, and a time serve cannot read is refused with the parameter named. The history is
//! journaled under the state root: a restarted serve answers the window before the restart, a
//! line a kill cut short is skipped, and a deleted sandbox's file goes. The SDK comes from `scripts/sdk-venv.sh`; without it the SDK test skips, and
//! fails under `CI=true`. Nothing reaches beyond 127.0.0.1.

use serde_json::json;

use crate::serve_support::{Options, Server, run_python_script, sdk_python, start, start_with};

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

/// The one journal file under `state`'s metrics directory.
fn journal_file(state: &std::path::Path) -> std::path::PathBuf {
    let files: Vec<_> = std::fs::read_dir(state.join("serve-metrics"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].clone()
}

/// The timestamps of the CPU series in `id`'s window up to `to`.
async fn timestamps(server: &Server, id: &str, to: &str) -> Vec<String> {
    let path = format!("/api/sandbox/{id}/telemetry/metrics?from=2000-01-01T00:00:00Z&to={to}");
    let reply = server.get(&path).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body["series"][0]["dataPoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|point| point["timestamp"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_history_survives_a_restart_and_a_line_cut_short_by_a_kill_is_skipped() {
    let simulation = "metrics-interval=200ms";
    let server = start(simulation).await;
    let id = server.create(json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let far = "2100-01-01T00:00:00Z";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while timestamps(&server, &id, far).await.len() < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "never sampled 3 times"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // The journal is under the state root, which the sandbox cannot read.
    let state = server.root.as_ref().unwrap().path().join("state");
    let file = journal_file(&state);
    let peek = server
        .exec(
            &id,
            &format!(
                "cat {} >/dev/null 2>&1 && echo visible || echo hidden",
                file.display()
            ),
        )
        .await;
    assert_eq!(peek.body["result"].as_str().unwrap().trim(), "hidden");
    let root = server.shutdown().await;
    let before = {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.ends_with('\n'));
        text.lines().count()
    };
    // A serve killed mid-append leaves the start of a line without its end.
    let mut text = std::fs::read(&file).unwrap();
    text.extend_from_slice(b"{\"at\":17000000");
    std::fs::write(&file, &text).unwrap();

    let stopped = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
    let server = start_with(Options {
        simulation: simulation.parse().unwrap(),
        root: Some(root),
        ..Options::default()
    })
    .await;
    let kept = timestamps(&server, &id, &stopped).await;
    assert_eq!(
        kept.len(),
        before,
        "the window before the restart: {kept:?}"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while timestamps(&server, &id, far).await.len() < before + 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "no samples after the restart"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.lines()
            .all(|line| serde_json::from_str::<serde_json::Value>(line).is_ok()),
        "the cut line is still there: {text}"
    );

    // A deleted sandbox's history goes, file included.
    assert_eq!(
        server.delete(&format!("/api/sandbox/{id}")).await.status,
        200
    );
    server.wait_gone(&id).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while file.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the file of a deleted sandbox stayed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    server.shutdown().await;
}
