//! The accessibility routes of computer use (`/toolbox/{id}/computeruse/a11y/...`) against an
//! in-process `serve`: the official Python SDK starts computer use, runs a real GTK 3 window in
//! the sandbox and reads, finds, sets, clicks and focuses its nodes through the real AT-SPI
//! buses (`tests/sdk/a11y_test.py`, which also checks on the host that stop and delete leave
//! none of the buses' processes).

use crate::common;
use crate::serve_support::{self, run_python_script, sdk_python};

/// The display, the buses, and a toolkit that speaks AT-SPI for the window under test.
fn have_a11y_tools() -> bool {
    let programs = ["Xvfb", "dbus-daemon", "python3"]
        .iter()
        .all(|tool| common::have(tool));
    let launcher = [
        "/usr/libexec/at-spi-bus-launcher",
        "/usr/lib/at-spi2-core/at-spi-bus-launcher",
    ]
    .iter()
    .any(|path| std::path::Path::new(path).is_file());
    if !launcher {
        common::skip("`at-spi-bus-launcher` (the `at-spi2-core` package)");
        return false;
    }
    let gtk = std::process::Command::new("/usr/bin/python3")
        .args([
            "-c",
            "import gi; gi.require_version('Gtk', '3.0'); from gi.repository import Gtk, Gio",
        ])
        .output()
        .is_ok_and(|output| output.status.success());
    if !gtk {
        common::skip("GTK 3 for Python (the `python3-gi` and `gir1.2-gtk-3.0` packages)");
        return false;
    }
    programs
}

#[tokio::test(flavor = "multi_thread")]
async fn the_official_python_sdk_reads_and_drives_a_real_gtk_window() {
    let Some(python) = sdk_python(&["daytona"]).await else {
        return;
    };
    if !have_a11y_tools() {
        return;
    }
    let server = serve_support::start("").await;
    run_python_script(&python, "a11y_test.py", &server, &[], "a11y: done").await;
}
