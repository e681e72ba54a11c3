//! No input makes the loader panic, and every rejection points somewhere in the file.
//!
//! Inputs: every prefix of a full team file, the file with a troublesome fragment inserted at
//! every position, and a list of hand-written oddities. Each result is rendered by miette too,
//! so a label outside the source would show up here.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme};
use ralph_town::team::{self, FileDiagnostic, LoadOptions};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/team")
}

fn host(name: &str) -> Option<String> {
    match name {
        "PR_NUMBER" => Some("7".into()),
        "GH_TOKEN" => Some("sentinel-secret-value".into()),
        "WEIRD" => Some("${X} $( ) ` \" ' \n".into()),
        _ => None,
    }
}

/// Loads `source`; panics (with the input) if the loader panics or a diagnostic is unusable.
fn check(source: &str, options: &LoadOptions) {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        team::load_str(source, "team.toml", &fixtures(), &host, options)
    }));
    let Ok(result) = outcome else {
        panic!("the loader panicked on:\n{source:?}");
    };
    let diagnostics: Vec<&FileDiagnostic> = match &result {
        Ok(loaded) => loaded.warnings.iter().collect(),
        Err(error) => {
            assert!(
                !error.diagnostics().is_empty(),
                "no diagnostic for:\n{source:?}"
            );
            error.diagnostics().iter().collect()
        }
    };
    for diagnostic in diagnostics {
        // Only the count of warnings not listed has no place in the file.
        if diagnostic.kind == team::ProblemKind::MoreWarnings {
            continue;
        }
        for (range, _) in &diagnostic.labels {
            assert!(
                source.get(range.clone()).is_some(),
                "label {range:?} is not in:\n{source:?}"
            );
        }
        // What miette reads: labels on the diagnostic's own excerpt of the file.
        let excerpt = diagnostic.source_code().expect("source code");
        let labels: Vec<_> = diagnostic.labels().expect("labels").collect();
        assert!(
            !labels.is_empty(),
            "{diagnostic:?} has no label, for:\n{source:?}"
        );
        for label in labels {
            assert!(
                excerpt.read_span(label.inner(), 1, 1).is_ok(),
                "label {label:?} is not in its excerpt, for:\n{source:?}"
            );
        }
        assert!(diagnostic.help().is_some(), "{diagnostic:?} has no help");
        let mut out = String::new();
        GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
            .render_report(&mut out, diagnostic)
            .unwrap();
        assert!(
            !out.contains("sentinel-secret-value"),
            "a secret value was printed:\n{out}"
        );
    }
}

fn full() -> String {
    std::fs::read_to_string(fixtures().join("full.toml")).unwrap()
}

#[test]
fn every_prefix_of_a_good_file() {
    let source = full();
    for (end, _) in source.char_indices() {
        check(&source[..end], &LoadOptions::default());
    }
}

#[test]
fn troublesome_fragments_at_every_position() {
    let source = full();
    let fragments = [
        "\"", "'", "$", "${", "}", "[", "]]", "=", "\n", "\0", "é", "'''", ",", "#", "\\",
    ];
    let strict = LoadOptions {
        require_secrets: true,
    };
    for (position, _) in source.char_indices() {
        for (index, fragment) in fragments.iter().enumerate() {
            let mutated = format!("{}{}{}", &source[..position], fragment, &source[position..]);
            let options = if index % 2 == 0 {
                LoadOptions::default()
            } else {
                strict.clone()
            };
            check(&mutated, &options);
        }
    }
}

#[test]
fn hand_written_oddities() {
    let long_name = "x".repeat(10_000);
    let deep = format!(
        "name = \"{}\"\n",
        "${A:-".repeat(2_000) + &"}".repeat(2_000)
    );
    let cases = [
        String::new(),
        "\u{feff}".to_string(),
        "name".to_string(),
        "name = \"t\"\nteammate = 5\n".to_string(),
        "name = \"t\"\nteammate = [1, 2]\n".to_string(),
        "name = \"t\"\ndefaults = []\n".to_string(),
        "name = \"t\"\n[defaults]\ngit = \"x\"\n".to_string(),
        "name = \"t\"\n[defaults.git]\nuser_name = 1\n".to_string(),
        "name = \"t\"\n[defaults]\nenv = [1]\n".to_string(),
        "name = \"t\"\n[defaults]\nenv = [[\"A=1\"]]\n".to_string(),
        "name = \"t\"\n[[teammate]]\n[[teammate]]\n".to_string(),
        "name = \"t\"\n[[teammate]]\nname = \"a\"\nbranch = \"a\"\nrepo = \"\"\n".to_string(),
        "name = \"t\"\n[[teammate]]\nname = \"a\"\nbranch = \"a\"\nrepo = \"/\"\n".to_string(),
        "name = \"t\"\n[[teammate]]\nname = \"a\"\nbranch = \"a\"\nrepo = \"/r\"\nttl = 99999999999999\n".to_string(),
        "name = \"t\"\n[[teammate]]\nname = \"a\"\nbranch = \"a\"\nrepo = \"/r\"\nauto_stop = 1.5\n".to_string(),
        "name = \"t\"\n[[teammate]]\nname = \"a\"\nbranch = \"a\"\nrepo = \"/r\"\nenv = [\"W=$WEIRD\"]\nsecrets = [\"GH_TOKEN\"]\n".to_string(),
        "name = \"t\"\n[[teammate]]\nname = \"a\"\nbranch = \"a\"\nrepo = \"/r\"\nresources = { cpu = 99999999999 }\n".to_string(),
        "name = \"t\"\n[[teammate]]\nname = \"a\"\nbranch = \"${WEIRD}\"\nrepo = \"/r\"\n".to_string(),
        "name = 2024-01-01T00:00:00Z\n".to_string(),
        format!("name = \"{long_name}\"\n"),
        deep,
        "name = \"t\"\n[[teammate]]\nname = \"ü\"\nbranch = \"ü/ß\"\nrepo = \"/r\"\n".to_string(),
        "name = \"t\"\r\n[[teammate]]\r\nname = \"a\"\r\nbranch = \"a b\"\r\nrepo = '/r'\r\n".to_string(),
    ];
    for case in &cases {
        check(case, &LoadOptions::default());
        check(
            case,
            &LoadOptions {
                require_secrets: true,
            },
        );
    }
}
