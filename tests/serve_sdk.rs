//! The official Daytona Python SDK (`pip install daytona`) against an in-process `serve`:
//! `tests/sdk/daytona_sdk_test.py` creates, gets, lists, executes, uploads and downloads, opens
//! SSH access and deletes, all through the SDK's own models, which refuse records missing the
//! fields they require.
//!
//! The SDK lives in a virtual environment under `target/sdk-venv`, made on first use. Without
//! `python3` or the package registry the test skips and says why; with `CI=true` it fails.

mod serve_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serve_support::{KEY, start};

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value == "true")
}

/// Skips (or, under CI, fails) with `reason`.
fn unavailable(reason: &str) -> Option<PathBuf> {
    assert!(!in_ci(), "the SDK test needs {reason} when CI=true");
    eprintln!("skipping the Daytona SDK test: {reason}");
    None
}

fn has_sdk(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import daytona"])
        .output()
        .is_ok_and(|output| output.status.success())
}

/// The virtual environment's python with `daytona` installed, made if needed.
fn sdk_python() -> Option<PathBuf> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/sdk-venv");
    let python = venv.join("bin/python");
    if has_sdk(&python) {
        return Some(python);
    }
    let Ok(system_python) = which::which("python3") else {
        return unavailable("`python3`");
    };
    let made = Command::new(system_python)
        .args(["-m", "venv"])
        .arg(&venv)
        .output();
    match made {
        Ok(output) if output.status.success() => {}
        Ok(output) => {
            return unavailable(&format!(
                "`python3 -m venv` (it failed: {})",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        Err(error) => return unavailable(&format!("`python3 -m venv` ({error})")),
    }
    let installed = Command::new(&python)
        .args(["-m", "pip", "install", "--quiet", "daytona"])
        .output();
    match installed {
        Ok(output) if output.status.success() && has_sdk(&python) => Some(python),
        Ok(output) => unavailable(&format!(
            "`pip install daytona` (it failed: {})",
            String::from_utf8_lossy(&output.stderr).trim()
        )),
        Err(error) => unavailable(&format!("`pip install daytona` ({error})")),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_official_python_sdk_works_against_serve() {
    let Some(python) = tokio::task::spawn_blocking(sdk_python).await.unwrap() else {
        return;
    };
    let server = start("").await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/daytona_sdk_test.py");
    let run = tokio::process::Command::new(python)
        .arg(script)
        .env("DAYTONA_API_URL", &server.api_url)
        .env("DAYTONA_API_KEY", KEY)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env_remove("DAYTONA_JWT_TOKEN")
        .env_remove("DAYTONA_TARGET")
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(300), run)
        .await
        .expect("the SDK script did not finish within 5 minutes")
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the SDK script failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    assert!(stdout.contains("sdk: done"), "{stdout}");
    // The SDK really went through the routes this test is about.
    for (route, at_least) in [
        ("POST /api/sandbox", 2),
        ("GET /api/sandbox", 1),
        ("GET /api/sandbox/{sandbox}", 3),
        ("DELETE /api/sandbox/{sandbox}", 2),
        ("POST /api/sandbox/{sandbox}/ssh-access", 1),
        ("POST /api/snapshots", 1),
        ("POST /toolbox/{sandbox}/process/execute", 2),
        ("POST /toolbox/{sandbox}/files/bulk-upload", 1),
        ("POST /toolbox/{sandbox}/files/bulk-download", 1),
    ] {
        let count = server.requests(route).await;
        assert!(
            count >= at_least,
            "{route}: {count} requests\n{stdout}\n{stderr}"
        );
    }
}
