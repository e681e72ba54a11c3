//! Computer use of local sandboxes (`/toolbox/{id}/computeruse/...`) against an in-process
//! `serve`: the official Python SDK starts a real `Xvfb` in a sandbox, drives a real `xterm` on
//! it with the mouse and keyboard, takes screenshots and stops it (`tests/sdk/computer_use_test.py`,
//! which also checks on the host that stop and delete leave no `Xvfb`); the screenshots are
//! decoded here. Raw HTTP checks the errors: not started, and a missing program named with its
//! package.

use serde_json::json;

use crate::common;
use crate::serve_support::{self, run_python_script, sdk_python};

/// The programs the display routes run in the sandbox, and `xterm` for a window to drive.
fn have_x_tools() -> bool {
    ["Xvfb", "xdotool", "xwd", "xterm"]
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
    // Recordings are not served: Daytona's error body, not a route miss.
    let reply = server
        .get(&format!("/toolbox/{id}/computeruse/recordings"))
        .await;
    let message = reply.daemon_error(422, "UNPROCESSABLE_ENTITY");
    assert!(message.contains("recordings"), "{message}");

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
