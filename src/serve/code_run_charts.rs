//! Matplotlib charts of `process/code-run`, as Daytona's daemon makes them: Python code that
//! mentions matplotlib runs inside `code_run_charts.py` (shipped in this binary, written into
//! the sandbox as the code file and run by the sandbox's own `python3`), which prints each
//! figure `plt.show()` shows as one line `dtn_artifact_k39fd2:{"type":"chart","value":{...}}`;
//! [`take_charts`] cuts those lines out of any run's output and reads them as
//! `artifacts.charts`.
//!
//! The code travels inside the file, in base64, never on a command line. Code that does not
//! mention matplotlib outside a comment runs unwrapped, exactly as before; so does code in a
//! sandbox without matplotlib, whose import fails as it would anyway. A marker line that does
//! not read as a chart is dropped, as the daemon drops it.

use crate::daytona_api::{Chart, CodeRunArtifacts};

const BOOTSTRAP: &str = include_str!("code_run_charts.py");
/// The line of [`BOOTSTRAP`] that receives the code.
const CODE_LINE: &str = "CODE = \"{code}\"";
const MARKER: &str = "dtn_artifact_k39fd2:";

/// Whether Python `code` names matplotlib outside a comment (the daemon looks for its imports;
/// any mention is wider and harmless: the bootstrap acts only when `pyplot` is imported).
pub(super) fn uses_matplotlib(code: &str) -> bool {
    code.lines().any(|line| {
        line.split('#')
            .next()
            .is_some_and(|code| code.contains("matplotlib"))
    })
}

/// The bootstrap carrying `code`: what the sandbox's `python3 -u -` reads instead of it.
pub(super) fn wrap(code: &str) -> String {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(code);
    BOOTSTRAP.replacen(CODE_LINE, &format!("CODE = \"{encoded}\""), 1)
}

/// A run's output without its chart lines, and the charts they carried (none: `None`).
pub(super) fn take_charts(output: &str) -> (String, Option<CodeRunArtifacts>) {
    if !output.contains(MARKER) {
        return (output.to_owned(), None);
    }
    let mut charts = Vec::new();
    let mut kept = Vec::new();
    for line in output.split('\n') {
        match line.strip_prefix(MARKER) {
            Some(payload) => charts.extend(chart(payload.trim())),
            None => kept.push(line),
        }
    }
    let artifacts = (!charts.is_empty()).then_some(CodeRunArtifacts { charts });
    (kept.join("\n"), artifacts)
}

fn chart(payload: &str) -> Option<Chart> {
    #[derive(serde::Deserialize)]
    struct Artifact {
        #[serde(rename = "type")]
        kind: String,
        value: Option<Chart>,
    }
    let artifact: Artifact = serde_json::from_str(payload).ok()?;
    (artifact.kind == "chart")
        .then_some(artifact.value)
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_that_names_matplotlib_outside_comments_is_wrapped() {
        assert!(uses_matplotlib("import matplotlib.pyplot as plt\n"));
        assert!(uses_matplotlib(
            "x = 1\nfrom matplotlib import pyplot  # plots\n"
        ));
        assert!(!uses_matplotlib("print('no charts')  # not matplotlib\n"));
        assert!(!uses_matplotlib("# import matplotlib\nprint(1)\n"));
    }

    #[test]
    fn the_code_travels_in_base64_inside_the_bootstrap() {
        let wrapped = wrap("print('\"quoted\"')\n");
        assert!(!wrapped.contains(CODE_LINE), "the placeholder stayed");
        assert!(
            wrapped.contains("CODE = \"cHJpbnQoJyJxdW90ZWQiJykK\""),
            "{wrapped}"
        );
        assert!(!wrapped.contains("quoted"));
    }

    #[test]
    fn chart_lines_leave_the_output_and_become_charts() {
        let line = r#"dtn_artifact_k39fd2:{"type":"chart","value":{"type":"bar","title":"Bars","png":"iVBO","x_label":"","elements":[{"label":"A","group":"_container0","value":"40"}]}}"#;
        let output = format!("before\n{line}\n{MARKER}not json\nafter\n");
        let (result, artifacts) = take_charts(&output);
        assert_eq!(result, "before\nafter\n");
        let charts = artifacts.expect("one chart").charts;
        assert_eq!(charts.len(), 1);
        assert_eq!(charts[0].kind, "bar");
        assert_eq!(charts[0].elements[0].value.as_deref(), Some("40"));
        let wire = serde_json::to_value(&charts[0]).unwrap();
        assert_eq!(
            wire,
            serde_json::json!({"type": "bar", "title": "Bars", "png": "iVBO",
                "elements": [{"label": "A", "group": "_container0", "value": "40"}]})
        );
    }

    #[test]
    fn output_without_charts_is_left_as_it_is() {
        assert_eq!(take_charts("a\nb"), ("a\nb".to_owned(), None));
        let (result, artifacts) = take_charts(&format!("{MARKER}{{\"type\":\"text\"}}\nx"));
        assert_eq!((result.as_str(), artifacts), ("x", None));
    }
}
