//! Computer use of local sandboxes (`/toolbox/{id}/computeruse/...`) against an in-process
//! `serve`: the official Python SDK starts a real `Xvfb` in a sandbox, drives a real `xterm` on
//! it with the mouse and keyboard, takes screenshots and stops it (`tests/sdk/computer_use_test.py`,
//! which also checks on the host that stop and delete leave no `Xvfb`); the screenshots are
//! decoded here. Raw HTTP checks the errors (not started, a missing program named with its
//! package), and every served route's answer against the toolbox spec through the recording
//! proxy.

use serde_json::json;

use crate::common;
use crate::serve_openapi::{assert_contract, recording};
use crate::serve_support::{self, run_python_script, sdk_python};

/// The programs the display routes run in the sandbox, `xterm` for a window to drive and
/// `ffprobe` to read a recording.
pub(crate) fn have_x_tools() -> bool {
    ["Xvfb", "xdotool", "xwd", "xterm", "ffmpeg", "ffprobe"]
        .iter()
        .all(|tool| common::have(tool))
}

#[track_caller]
fn image(dir: &std::path::Path, name: &str, format: image::ImageFormat) -> image::RgbImage {
    let bytes = std::fs::read(dir.join(name)).unwrap();
    assert_eq!(image::guess_format(&bytes).unwrap(), format, "{name}");
    image::load_from_memory(&bytes).unwrap().to_rgb8()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_official_python_sdk_drives_a_real_display() {
    let Some(python) = sdk_python(&["daytona"]).await else {
        return;
    };
    if !have_x_tools() {
        return;
    }
    let server = serve_support::start("").await;
    let shots = tempfile::tempdir().unwrap();
    let shots_dir = shots.path().to_str().unwrap();
    run_python_script(
        &python,
        "computer_use_test.py",
        &server,
        &[("SHOTS", shots_dir)],
        "computer use: done",
    )
    .await;

    let full = image(shots.path(), "full.png", image::ImageFormat::Png);
    assert_eq!(full.dimensions(), (1024, 768));
    // The xterm (white, with black text) on the black root window.
    let first = *full.get_pixel(0, 0);
    assert!(
        full.pixels().any(|pixel| *pixel != first),
        "a uniform screenshot although a window is shown"
    );
    let cursor = image(shots.path(), "cursor.png", image::ImageFormat::Png);
    assert_eq!(
        cursor.get_pixel(120, 140).0,
        [255, 0, 0],
        "the cursor's red centre"
    );
    assert_ne!(
        full.get_pixel(120, 140).0,
        [255, 0, 0],
        "no cursor unless asked"
    );
    let region = image(shots.path(), "region.png", image::ImageFormat::Png);
    assert_eq!(region.dimensions(), (300, 200));
    assert_eq!(
        region.get_pixel(0, 0),
        full.get_pixel(10, 20),
        "the region starts at its x, y"
    );
    let compressed = image(shots.path(), "compressed.jpg", image::ImageFormat::Jpeg);
    assert_eq!(compressed.dimensions(), (512, 384));
    let small_region = image(
        shots.path(),
        "region-compressed.png",
        image::ImageFormat::Png,
    );
    assert_eq!(small_region.dimensions(), (150, 100));

    let probe = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0"])
        .args([
            "-show_entries",
            "stream=codec_name,width,height",
            "-of",
            "csv=p=0",
        ])
        .arg(shots.path().join("recording.mp4"))
        .output()
        .unwrap();
    let stream = String::from_utf8_lossy(&probe.stdout);
    assert_eq!(stream.trim(), "h264,1024,768", "{probe:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn display_routes_answer_the_daemon_error_before_start_and_name_a_missing_package() {
    let server = serve_support::start("").await;
    let sandbox = server.create(json!({})).await;
    let id = sandbox["id"].as_str().unwrap();

    let reply = server
        .get(&format!("/toolbox/{id}/computeruse/mouse/position"))
        .await;
    let message = reply.daemon_error(400, "BAD_REQUEST");
    assert!(message.contains("computer use is not started"), "{message}");
    let reply = server
        .get(&format!("/toolbox/{id}/computeruse/status"))
        .await;
    assert_eq!(reply.body, json!({"status": "inactive"}));

    // A sandbox whose PATH holds no `Xvfb`.
    let bare = server
        .create(json!({"env": {"PATH": "/nonexistent"}}))
        .await;
    let bare = bare["id"].as_str().unwrap();
    let reply = server
        .post(&format!("/toolbox/{bare}/computeruse/start"), json!({}))
        .await;
    let message = reply.daemon_error(503, "SERVICE_UNAVAILABLE");
    assert!(
        message.contains("`Xvfb` is not installed") && message.contains("the `xvfb` package"),
        "{message}"
    );
    let reply = server
        .get(&format!("/toolbox/{bare}/computeruse/status"))
        .await;
    assert_eq!(reply.body, json!({"status": "inactive"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn computer_use_answers_keep_the_toolbox_contract() {
    let Some((python, harness, client)) = recording().await else {
        return;
    };
    if !have_x_tools() {
        return;
    }
    let id = client.started(json!({})).await;
    let toolbox = format!("/toolbox/{id}/computeruse");
    let position = json!({"x": 30, "y": 40});
    for (method, path, body, status) in [
        ("GET", "mouse/position", None, 400),
        ("POST", "start", None, 200),
        ("GET", "status", None, 200),
        ("GET", "process-status", None, 200),
        ("GET", "process/xvfb/status", None, 200),
        ("GET", "process/xvfb/logs", None, 200),
        ("GET", "process/xvfb/errors", None, 200),
        ("GET", "process/novnc/logs", None, 400),
        ("POST", "mouse/move", Some(position.clone()), 200),
        ("GET", "mouse/position", None, 200),
        (
            "POST",
            "mouse/click",
            Some(json!({"x": 5, "y": 5, "button": "left", "double": true})),
            200,
        ),
        (
            "POST",
            "mouse/drag",
            Some(json!({"startX": 1, "startY": 2, "endX": 3, "endY": 4, "button": "left"})),
            200,
        ),
        (
            "POST",
            "mouse/scroll",
            Some(json!({"x": 5, "y": 5, "direction": "up", "amount": 1})),
            200,
        ),
        ("POST", "keyboard/type", Some(json!({"text": "ok"})), 200),
        (
            "POST",
            "keyboard/key",
            Some(json!({"key": "a", "modifiers": ["ctrl"]})),
            200,
        ),
        (
            "POST",
            "keyboard/hotkey",
            Some(json!({"keys": "alt+tab"})),
            200,
        ),
        ("GET", "display/info", None, 200),
        ("GET", "display/windows", None, 200),
        ("GET", "screenshot", None, 200),
        (
            "GET",
            "screenshot/region?x=0&y=0&width=10&height=10",
            None,
            200,
        ),
        (
            "GET",
            "screenshot/compressed?format=jpeg&quality=50&scale=0.5",
            None,
            200,
        ),
        (
            "GET",
            "screenshot/region/compressed?x=0&y=0&width=10&height=10",
            None,
            200,
        ),
        (
            "GET",
            "screenshot/region?x=0&y=0&width=0&height=10",
            None,
            400,
        ),
        (
            "POST",
            "recordings/start",
            Some(json!({"label": "contract"})),
            201,
        ),
        ("GET", "recordings", None, 200),
        (
            "POST",
            "recordings/stop",
            Some(json!({"id": "missing"})),
            404,
        ),
        ("GET", "recordings/missing", None, 404),
        ("DELETE", "recordings/missing", None, 404),
        ("GET", "recordings/missing/download", None, 404),
        ("POST", "process/xvfb/restart", None, 200),
        ("POST", "stop", None, 200),
    ] {
        client
            .ok(method, &format!("{toolbox}/{path}"), body, status)
            .await;
    }
    client
        .ok("POST", &format!("{toolbox}/start"), None, 200)
        .await;
    let recording = client
        .ok("POST", &format!("{toolbox}/recordings/start"), None, 201)
        .await;
    let recording = recording["id"].as_str().unwrap();
    let stop = json!({ "id": recording });
    client
        .ok(
            "POST",
            &format!("{toolbox}/recordings/stop"),
            Some(stop),
            200,
        )
        .await;
    let one = format!("{toolbox}/recordings/{recording}");
    client.ok("GET", &one, None, 200).await;
    client
        .ok("GET", &format!("{one}/download"), None, 200)
        .await;
    client.ok("DELETE", &one, None, 204).await;
    client
        .ok("DELETE", &format!("/api/sandbox/{id}"), None, 200)
        .await;
    assert_contract(&python, &harness).await;
}
