//! Progress reporters for `apply`: the only module that imports indicatif.
//!
//! [`reporter`] picks one of four [`Reporter`] implementations: live indicatif lines on a
//! terminal, plain lines, NDJSON events, or nothing. All of them write to stderr (results go to
//! stdout, elsewhere); the plain and JSON ones take any writer so tests can read what they wrote.
//! Colour is decoration only and is never emitted when `NO_COLOR` is set. Writes are best
//! effort: a closed stderr must not fail the run whose progress it reports.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use crate::report::{Phase, Reporter};

/// How progress is shown (`--progress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ProgressMode {
    /// `tty` when stderr is a terminal, else `plain`.
    #[default]
    Auto,
    /// A live line per teammate.
    Tty,
    /// One line per phase change.
    Plain,
    /// One NDJSON event per phase change or warning.
    Json,
    /// No progress; warnings are still printed.
    None,
}

/// The reporter for `mode`, writing to stderr. `teammates` (display names) get their TTY lines
/// up front, in this order; others get a line on their first event.
pub(crate) fn reporter(mode: ProgressMode, teammates: &[String]) -> Box<dyn Reporter> {
    let stderr = || -> Box<dyn Write + Send> { Box::new(std::io::stderr()) };
    match mode {
        ProgressMode::Auto if std::io::stderr().is_terminal() => {
            reporter(ProgressMode::Tty, teammates)
        }
        ProgressMode::Auto | ProgressMode::Plain => Box::new(PlainReporter::new(stderr())),
        ProgressMode::Tty => Box::new(TtyReporter::new(
            teammates,
            ProgressDrawTarget::stderr(),
            color_enabled(),
        )),
        ProgressMode::Json => Box::new(JsonReporter::new(stderr())),
        ProgressMode::None => Box::new(SilentReporter::new(stderr())),
    }
}

/// `NO_COLOR` set to anything but the empty string turns colour off (https://no-color.org).
pub(crate) fn color_enabled() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
}

/// The phase's stable name, as plain lines and JSON events show it.
pub(crate) fn describe(phase: &Phase) -> &'static str {
    match phase {
        Phase::Queued => "queued",
        Phase::Checking => "checking",
        Phase::Creating => "creating",
        Phase::Starting => "starting",
        Phase::Updating => "updating",
        Phase::Setup => "setup",
        Phase::Command => "command",
        Phase::Removing => "removing",
        Phase::Ready => "ready",
        Phase::Removed => "removed",
        Phase::Failed { .. } => "failed",
    }
}

/// Whether the teammate's change is over once it reaches `phase`.
fn is_final(phase: &Phase) -> bool {
    matches!(phase, Phase::Ready | Phase::Removed | Phase::Failed { .. })
}

/// Elapsed time, short: `0.9s`, `1m05s`, `1h02m`.
fn seconds(elapsed: Duration) -> String {
    let total = elapsed.as_secs();
    match total {
        0..60 => format!("{:.1}s", elapsed.as_secs_f64()),
        60..3600 => format!("{}m{:02}s", total / 60, total % 60),
        _ => format!("{}h{:02}m", total / 3600, total % 3600 / 60),
    }
}

/// A writer shared by concurrent changes. The lock is held only for one synchronous write,
/// never across an `.await`.
struct Output(Mutex<Box<dyn Write + Send>>);

impl Output {
    fn line(&self, line: &str) {
        let mut writer = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = writeln!(writer, "{line}");
        let _ = writer.flush();
    }
}

/// One line per phase change: `alice: creating`, `alice: ready (1.4s)`,
/// `alice: failed (0.9s): <error>`; warnings as `warning: ...`. Never any colour.
pub(crate) struct PlainReporter {
    output: Output,
}

impl PlainReporter {
    pub(crate) fn new(writer: Box<dyn Write + Send>) -> PlainReporter {
        PlainReporter {
            output: Output(Mutex::new(writer)),
        }
    }
}

impl Reporter for PlainReporter {
    fn phase(&self, teammate: &str, phase: &Phase, elapsed: Duration) {
        let name = describe(phase);
        let line = match phase {
            Phase::Failed { error } => {
                format!("{teammate}: {name} ({}): {error}", seconds(elapsed))
            }
            _ if is_final(phase) => format!("{teammate}: {name} ({})", seconds(elapsed)),
            _ => format!("{teammate}: {name}"),
        };
        self.output.line(&line);
    }

    fn warn(&self, message: &str) {
        self.output.line(&format!("warning: {message}"));
    }

    fn finish(&self) {}
}

/// One NDJSON object per event: `{"event":"phase","teammate":..,"phase":..,"elapsed_ms":..}`
/// (plus `"error"` for a failure) and `{"event":"warning","message":..}`.
pub(crate) struct JsonReporter {
    output: Output,
}

impl JsonReporter {
    pub(crate) fn new(writer: Box<dyn Write + Send>) -> JsonReporter {
        JsonReporter {
            output: Output(Mutex::new(writer)),
        }
    }
}

/// A plan as one NDJSON event, `{"event": "plan", "plan": {...}}`: what `--progress json`
/// writes before the phases, where other modes print the plan's text.
pub(crate) fn plan_event(plan: &crate::plan::Plan) -> String {
    serde_json::json!({"event": "plan", "plan": plan}).to_string()
}

impl Reporter for JsonReporter {
    fn phase(&self, teammate: &str, phase: &Phase, elapsed: Duration) {
        let mut event = serde_json::json!({
            "event": "phase",
            "teammate": teammate,
            "phase": describe(phase),
            "elapsed_ms": u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        });
        if let Phase::Failed { error } = phase {
            event["error"] = error.as_str().into();
        }
        self.output.line(&event.to_string());
    }

    fn warn(&self, message: &str) {
        let event = serde_json::json!({"event": "warning", "message": message});
        self.output.line(&event.to_string());
    }

    fn finish(&self) {}
}

/// No progress at all; warnings still print as plain lines, since they may need action.
pub(crate) struct SilentReporter {
    warnings: PlainReporter,
}

impl SilentReporter {
    pub(crate) fn new(writer: Box<dyn Write + Send>) -> SilentReporter {
        SilentReporter {
            warnings: PlainReporter::new(writer),
        }
    }
}

impl Reporter for SilentReporter {
    fn phase(&self, _teammate: &str, _phase: &Phase, _elapsed: Duration) {}

    fn warn(&self, message: &str) {
        self.warnings.warn(message);
    }

    fn finish(&self) {}
}

/// A live spinner line per teammate: `⠋ alice  creating… 1.2s`, ending as
/// `✔ alice  ready 1.4s` or `✘ alice  failed: <error> 0.9s`.
pub(crate) struct TtyReporter {
    multi: MultiProgress,
    /// Lines by display name. Locked only for synchronous bar updates, never across `.await`.
    lines: Mutex<BTreeMap<String, ProgressBar>>,
    /// Names are padded to this width so the phases line up.
    width: usize,
    color: bool,
}

impl TtyReporter {
    /// Draws on `target` (`ProgressDrawTarget::stderr()` outside tests); `color` false emits no
    /// ANSI colour codes at all.
    pub(crate) fn new(
        teammates: &[String],
        target: ProgressDrawTarget,
        color: bool,
    ) -> TtyReporter {
        let width = teammates
            .iter()
            .map(|name| name.chars().count())
            .max()
            .unwrap_or(0);
        let reporter = TtyReporter {
            multi: MultiProgress::with_draw_target(target),
            lines: Mutex::new(BTreeMap::new()),
            width,
            color,
        };
        {
            let mut lines = reporter.lock();
            for teammate in teammates {
                reporter.line(&mut lines, teammate);
            }
        }
        reporter
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, ProgressBar>> {
        self.lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The teammate's line, added (waiting) on first sight.
    fn line(&self, lines: &mut BTreeMap<String, ProgressBar>, teammate: &str) -> ProgressBar {
        lines
            .entry(teammate.to_string())
            .or_insert_with(|| {
                // Built whole before it is added, so no half-made line is ever drawn.
                let bar = ProgressBar::new_spinner()
                    .with_style(template("  {prefix}  {msg}"))
                    .with_prefix(format!("{teammate:<0$}", self.width))
                    .with_message(self.paint("2", "waiting"));
                self.multi.add(bar)
            })
            .clone()
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

fn template(text: &str) -> ProgressStyle {
    ProgressStyle::with_template(text)
        .expect("progress templates are valid")
        .tick_strings(&["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏", " "])
}

/// The running line, its clock counting from `origin`: when the change began, which is what
/// `apply` measures `elapsed` from (the bar itself counts from when the run began).
fn running(origin: Instant) -> ProgressStyle {
    template("{spinner} {prefix}  {msg} {seconds}").with_key(
        "seconds",
        move |_: &ProgressState, writer: &mut dyn std::fmt::Write| {
            let _ = writer.write_str(&seconds(origin.elapsed()));
        },
    )
}

impl Reporter for TtyReporter {
    fn phase(&self, teammate: &str, phase: &Phase, elapsed: Duration) {
        let bar = self.line(&mut self.lock(), teammate);
        if bar.is_finished() {
            return;
        }
        let name = describe(phase);
        if is_final(phase) {
            let (mark, text) = match phase {
                Phase::Failed { error } => (
                    self.paint("31", "✘"),
                    format!("{name}: {}", error.replace('\n', " ")),
                ),
                _ => (self.paint("32", "✔"), name.to_string()),
            };
            bar.set_style(template("{msg}"));
            bar.finish_with_message(format!(
                "{mark} {}  {text} {}",
                bar.prefix(),
                seconds(elapsed)
            ));
        } else if *phase == Phase::Queued {
            bar.set_message(self.paint("2", "waiting"));
        } else {
            let origin = Instant::now()
                .checked_sub(elapsed)
                .unwrap_or_else(Instant::now);
            bar.set_style(running(origin));
            bar.set_message(format!("{name}…"));
            bar.enable_steady_tick(Duration::from_millis(100));
        }
    }

    fn warn(&self, message: &str) {
        let line = format!("{} {message}", self.paint("33", "warning:"));
        // A hidden target (stderr is not a terminal) would swallow the warning.
        if self.multi.is_hidden() || self.multi.println(&line).is_err() {
            eprintln!("{line}");
        }
    }

    fn finish(&self) {
        for bar in self.lock().values() {
            if !bar.is_finished() {
                bar.abandon();
            }
        }
    }
}

#[cfg(test)]
mod tests;
