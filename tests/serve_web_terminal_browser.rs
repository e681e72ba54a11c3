//! The web terminal's page in a real browser: Chromium, driven by playwright-core from
//! `tests/sdk-ts/web_terminal_browser.mjs`, opens a started sandbox's signed port 22222 link on
//! an in-process `serve` and types, resizes and reads through xterm.js's rendered rows. This
//! side makes the sandbox and the link, checks the screenshot the browser took, and checks
//! that closing the page ended the shell and what it ran. The protocol itself is tested by
//! hand in `serve_web_terminal`; nothing here may leave loopback.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common;
use crate::serve_support::{self, run_node_script};
use crate::serve_web_terminal::{alive, parent_of, sandbox_with_terminal, signed_link, until};
use crate::sessions_local::running;

/// The folder of the script, with playwright-core and the pinned headless Chromium
/// (`@sparticuz/chromium`) installed, when they are there; else skips (fails under `CI=true`).
pub(crate) fn browser() -> Option<PathBuf> {
    if !common::have("node") {
        return None;
    }
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk-ts");
    let installed = ["playwright-core", "@sparticuz/chromium"]
        .iter()
        .all(|package| {
            folder
                .join("node_modules")
                .join(package)
                .join("package.json")
                .is_file()
        });
    if installed {
        return Some(folder);
    }
    common::skip(&format!(
        "playwright-core and @sparticuz/chromium in `{}` (install them with `scripts/sdk-node.sh`)",
        folder.join("node_modules").display()
    ));
    None
}

#[tokio::test(flavor = "multi_thread")]
async fn the_web_terminal_page_works_in_chromium_typing_resizing_and_closing() {
    let Some(folder) = browser() else {
        return;
    };
    let server = serve_support::start("").await;
    let (id, ..) = sandbox_with_terminal(&server).await;
    let link = signed_link(&server, &id).await;
    assert!(link.starts_with("http://127.0.0.1:"), "{link}");

    let work = tempfile::tempdir().unwrap();
    let seen = work.path().join("seen");
    // An argument no other process on the machine uses.
    let seconds = format!(
        "86{:03}.{:06}",
        fastrand::u32(..1000),
        fastrand::u32(..1_000_000)
    );
    let env = [
        ("TERMINAL_URL", link.as_str()),
        ("WORK", work.path().to_str().unwrap()),
        // The browser unpacks itself into the temporary directory: this test's own.
        ("TMPDIR", work.path().to_str().unwrap()),
        ("SLEEP", seconds.as_str()),
        ("SEEN", seen.to_str().unwrap()),
    ];
    let script = run_node_script(
        &folder,
        "web_terminal_browser.mjs",
        &server,
        &env,
        "web-terminal-browser: done",
    );
    tokio::pin!(script);

    // The script leaves `sleep` running in the terminal and closes the page only once this side
    // has seen it and its shell.
    let sleeper = ["sleep", seconds.as_str()];
    let deadline = Instant::now() + Duration::from_secs(600);
    let shell = loop {
        tokio::select! {
            _ = &mut script => panic!("the script ended without waiting for the sleep"),
            () = tokio::time::sleep(Duration::from_millis(50)) => {
                if running(&sleeper) == 1 {
                    break parent_of(&sleeper);
                }
                assert!(Instant::now() < deadline, "the sleep never ran");
            }
        }
    };
    assert!(alive(shell));
    std::fs::write(&seen, "").unwrap();
    script.await;

    until("the sleeper ends", || running(&sleeper) == 0).await;
    until("the shell ends", || !alive(shell)).await;

    // A PNG of the last viewport's size (640x360 at a device scale of 1).
    let png = std::fs::read(work.path().join("terminal.png")).expect("the screenshot");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert_eq!(&png[12..16], b"IHDR");
    let dimension = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    assert_eq!((dimension(16), dimension(20)), (640, 360));
}
