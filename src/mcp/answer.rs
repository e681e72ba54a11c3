//! Tool answers: a text summary for the model plus the same facts as `structured_content`, and
//! failures as tool errors that carry the rendered diagnostic.
//!
//! Every answer passes through a [`Redactor`] last, so a secret value that slipped into a
//! message (an error echoed from inside a sandbox, say) is replaced before it leaves.

use std::sync::Mutex;
use std::time::Duration;

use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme};
use rmcp::model::{CallToolResult, ContentBlock};
use serde::Serialize;
use serde_json::{Value, json};

use crate::progress::PlainReporter;
use crate::report::{Phase, Reporter};

/// A successful answer: `summary` for the model, `value` as structured content.
pub(super) fn success(summary: String, value: &impl Serialize) -> CallToolResult {
    answer(summary, to_value(value), false)
}

/// A failed answer that still carries a result (a command's output, a partial `up`).
pub(super) fn failure(summary: String, value: &impl Serialize) -> CallToolResult {
    answer(summary, to_value(value), true)
}

/// A failed answer for an error: its diagnostic rendered as text (source excerpt, labels, help),
/// and `{"error": .., "code": .., "help": ..}` plus `extra`'s fields as structured content.
pub(super) fn error(error: &(dyn Diagnostic + 'static), extra: Value) -> CallToolResult {
    let rendered = render(error);
    let mut value = json!({
        "error": error.to_string(),
        "code": error.code().map(|code| code.to_string()),
        "help": error.help().map(|help| help.to_string()),
        "diagnostic": rendered,
    });
    if let (Value::Object(value), Value::Object(extra)) = (&mut value, extra) {
        value.extend(extra);
    }
    // The rendered diagnostic already says everything; the JSON stays structured only.
    let mut result = CallToolResult::error(vec![ContentBlock::text(rendered)]);
    result.structured_content = Some(value);
    result
}

/// A diagnostic as plain text, the way the command line shows it but without colour.
pub(super) fn render(diagnostic: &(dyn Diagnostic + 'static)) -> String {
    let mut text = String::new();
    let handler =
        GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor()).with_width(100);
    if handler.render_report(&mut text, diagnostic).is_err() {
        text = diagnostic.to_string();
    }
    text.trim_end().to_string()
}

fn answer(summary: String, value: Value, is_error: bool) -> CallToolResult {
    let mut result = if is_error {
        CallToolResult::error(vec![ContentBlock::text(summary)])
    } else {
        CallToolResult::success(vec![ContentBlock::text(summary)])
    };
    // Clients that ignore `structured_content` still get every fact, as JSON text.
    result.content.push(ContentBlock::text(
        serde_json::to_string_pretty(&value).unwrap_or_default(),
    ));
    result.structured_content = Some(value);
    result
}

fn to_value(value: &impl Serialize) -> Value {
    serde_json::to_value(value).unwrap_or_else(|error| json!({ "error": error.to_string() }))
}

/// Replaces known secret values in every string of an answer with `<secret>`.
#[derive(Debug, Default)]
pub(super) struct Redactor {
    text: crate::secret::Redactor,
}

/// Credentials this process holds for its providers: never part of an answer.
const PROCESS_CREDENTIALS: [&str; 3] = [
    "DAYTONA_API_KEY",
    "DAYTONA_JWT_TOKEN",
    "RALPH_TOWN_SERVE_API_KEY",
];

impl Redactor {
    /// A redactor that knows this process's own provider credentials.
    pub(super) fn new() -> Redactor {
        let mut redactor = Redactor::default();
        for name in PROCESS_CREDENTIALS {
            if let Some(value) = crate::team::host_env(name) {
                redactor.add(value.trim());
            }
        }
        redactor
    }

    /// Adds a value to redact; empty values are ignored (they would match everywhere).
    pub(super) fn add(&mut self, value: impl Into<String>) {
        self.text.add(value);
    }

    pub(super) fn apply(&self, mut result: CallToolResult) -> CallToolResult {
        if self.text.is_empty() {
            return result;
        }
        for block in &mut result.content {
            if let Some(text) = block.as_text() {
                *block = ContentBlock::text(self.text(&text.text));
            }
        }
        if let Some(value) = result.structured_content.as_mut() {
            self.value(value);
        }
        result
    }

    fn text(&self, text: &str) -> String {
        self.text.redact(text)
    }

    fn value(&self, value: &mut Value) {
        match value {
            Value::String(text) => *text = self.text(text),
            Value::Array(items) => items.iter_mut().for_each(|item| self.value(item)),
            Value::Object(fields) => fields.values_mut().for_each(|field| self.value(field)),
            _ => {}
        }
    }
}

/// Progress for tools that apply changes: plain lines on stderr (stdout is the protocol), and
/// warnings kept for the answer.
pub(super) struct Progress {
    log: PlainReporter,
    warnings: Mutex<Vec<String>>,
}

impl Progress {
    pub(super) fn new() -> Progress {
        Progress {
            log: PlainReporter::new(Box::new(std::io::stderr())),
            warnings: Mutex::new(Vec::new()),
        }
    }

    /// The warnings reported so far.
    pub(super) fn warnings(&self) -> Vec<String> {
        self.lock().clone()
    }

    // Held only to push or clone, never across an `.await`.
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.warnings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Reporter for Progress {
    fn phase(&self, teammate: &str, phase: &Phase, elapsed: Duration) {
        self.log.phase(teammate, phase, elapsed);
    }

    fn warn(&self, message: &str) {
        self.log.warn(message);
        self.lock().push(message.to_string());
    }

    fn finish(&self) {
        self.log.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_reaches_every_string_and_prefers_the_longest_value() {
        let mut redactor = Redactor::default();
        redactor.add("abc");
        redactor.add("abcdef");
        redactor.add("");
        let value = json!({"list": ["xabcdefx", {"deep": "abc"}], "number": 3});
        let answer = redactor.apply(success("abcdef abc".to_string(), &value));
        assert_eq!(
            answer.structured_content.unwrap(),
            json!({"list": ["x<secret>x", {"deep": "<secret>"}], "number": 3})
        );
        assert_eq!(
            answer.content[0].as_text().unwrap().text,
            "<secret> <secret>"
        );
        assert!(!answer.content[1].as_text().unwrap().text.contains("abc"));
    }

    #[test]
    fn errors_are_tool_errors_with_the_rendered_diagnostic() {
        let error = crate::error::Error::Refused {
            message: "refusing to delete `alice`".to_string(),
            hint: Some("pass `force: true`".to_string()),
        };
        let answer = error_answer(&error);
        assert_eq!(answer.is_error, Some(true));
        let text = &answer.content[0].as_text().unwrap().text;
        assert!(text.contains("refusing to delete `alice`"), "{text}");
        assert!(text.contains("pass `force: true`"), "{text}");
        let value = answer.structured_content.unwrap();
        assert_eq!(value["help"], "pass `force: true`");
        assert_eq!(value["code"], "run::refused");
    }

    fn error_answer(error: &crate::error::Error) -> CallToolResult {
        super::error(error, json!({}))
    }
}
