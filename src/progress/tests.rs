//! The reporters fed a fixed sequence of events, their output read back from memory.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{ProgressDrawTarget, TermLike};

use super::{JsonReporter, PlainReporter, SilentReporter, TtyReporter, seconds};
use crate::report::{Phase, Reporter};

/// A writer whose bytes the test can read after handing it to a reporter.
#[derive(Debug, Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Buffer {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A terminal that records what indicatif writes (cursor moves are not text, so skipped).
#[derive(Debug, Clone, Default)]
struct Screen(Arc<Mutex<String>>);

impl Screen {
    fn text(&self) -> String {
        self.0.lock().unwrap().clone()
    }
}

impl TermLike for Screen {
    fn width(&self) -> u16 {
        100
    }
    fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn write_line(&self, line: &str) -> std::io::Result<()> {
        self.0.lock().unwrap().push_str(&format!("{line}\n"));
        Ok(())
    }
    fn write_str(&self, text: &str) -> std::io::Result<()> {
        self.0.lock().unwrap().push_str(text);
        Ok(())
    }
    fn clear_line(&self) -> std::io::Result<()> {
        Ok(())
    }
    fn flush(&self) -> std::io::Result<()> {
        Ok(())
    }
}

fn milliseconds(count: u64) -> Duration {
    Duration::from_millis(count)
}

/// Two teammates, one succeeding and one failing, a warning, and a name not known up front.
fn play(reporter: &dyn Reporter) {
    reporter.phase("alice", &Phase::Queued, milliseconds(0));
    reporter.phase("alice", &Phase::Creating, milliseconds(12));
    reporter.phase("bob", &Phase::Creating, milliseconds(15));
    reporter.warn("`LOG_TOKEN` looks like a credential");
    reporter.phase("alice", &Phase::Setup, milliseconds(800));
    let error = "clone failed: `git` exited with 128".to_string();
    reporter.phase("bob", &Phase::Failed { error }, milliseconds(900));
    reporter.phase("alice", &Phase::Ready, milliseconds(1400));
    reporter.phase("bob#2", &Phase::Removing, milliseconds(5));
    reporter.phase("bob#2", &Phase::Removed, milliseconds(65_000));
    reporter.finish();
}

#[test]
fn plain_lines_for_a_sequence() {
    let buffer = Buffer::default();
    play(&PlainReporter::new(Box::new(buffer.clone())));
    assert_eq!(
        buffer.text(),
        "alice: queued\n\
         alice: creating\n\
         bob: creating\n\
         warning: `LOG_TOKEN` looks like a credential\n\
         alice: setup\n\
         bob: failed (0.9s): clone failed: `git` exited with 128\n\
         alice: ready (1.4s)\n\
         bob#2: removing\n\
         bob#2: removed (1m05s)\n"
    );
}

#[test]
fn json_events_for_a_sequence() {
    let buffer = Buffer::default();
    play(&JsonReporter::new(Box::new(buffer.clone())));
    let events: Vec<serde_json::Value> = buffer
        .text()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(events.len(), 9);
    assert_eq!(
        events[1],
        serde_json::json!({"event": "phase", "teammate": "alice", "phase": "creating", "elapsed_ms": 12})
    );
    assert_eq!(
        events[3],
        serde_json::json!({"event": "warning", "message": "`LOG_TOKEN` looks like a credential"})
    );
    assert_eq!(
        events[5],
        serde_json::json!({
            "event": "phase", "teammate": "bob", "phase": "failed", "elapsed_ms": 900,
            "error": "clone failed: `git` exited with 128",
        })
    );
    assert_eq!(events[8]["elapsed_ms"], 65_000);
    assert!(
        events
            .iter()
            .all(|event| event.get("error").is_none() || event["phase"] == "failed")
    );
}

#[test]
fn silent_reporter_prints_only_warnings() {
    let buffer = Buffer::default();
    play(&SilentReporter::new(Box::new(buffer.clone())));
    assert_eq!(
        buffer.text(),
        "warning: `LOG_TOKEN` looks like a credential\n"
    );
}

fn tty_output(color: bool) -> String {
    let screen = Screen::default();
    let target = ProgressDrawTarget::term_like(Box::new(screen.clone()));
    let teammates = ["alice".to_string(), "bob".to_string(), "carol".to_string()];
    let reporter = TtyReporter::new(&teammates, target, color);
    play(&reporter);
    screen.text()
}

#[test]
fn tty_lines_end_with_outcome() {
    let text = tty_output(false);
    assert!(text.contains("✔ alice  ready 1.4s"), "{text}");
    assert!(
        text.contains("✘ bob    failed: clone failed: `git` exited with 128 0.9s"),
        "{text}"
    );
    assert!(text.contains("✔ bob#2  removed 1m05s"), "{text}");
    assert!(
        text.contains("warning: `LOG_TOKEN` looks like a credential"),
        "{text}"
    );
    // Never started: left as it was when the run ended.
    assert!(text.contains("carol  waiting"), "{text}");
}

#[test]
fn no_color_means_no_escape_codes() {
    let plain = Buffer::default();
    play(&PlainReporter::new(Box::new(plain.clone())));
    assert!(!plain.text().contains("\x1b["));
    assert!(!tty_output(false).contains("\x1b["));
    // The same run with colour does colour, so the check above can fail.
    assert!(tty_output(true).contains("\x1b[32m✔\x1b[0m"));
}

#[test]
fn elapsed_is_short() {
    let rendered: Vec<String> = [0, 940, 59_940, 65_000, 3_720_000]
        .into_iter()
        .map(|count| seconds(milliseconds(count)))
        .collect();
    assert_eq!(rendered, ["0.0s", "0.9s", "59.9s", "1m05s", "1h02m"]);
}
