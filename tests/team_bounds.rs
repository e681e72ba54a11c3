//! Every team file gets a bounded answer from `ralph-town validate`: exit 0 or 3 (never a
//! panic's 101), a few hundred kilobytes of diagnostics at most, and no hang, whatever its
//! size, its line lengths or its number of problems.
//!
//! A deterministic generator mutates a good team file a few hundred times (insertions of
//! troublesome fragments, long runs, repeated lines, deletions), plus the files that once broke
//! it: a 70,000-column line (miette panicked past column 65,535), 500 problems (each rendered
//! with the whole file), 50,000 duplicate teammates (quadratic rendering) and a 12 MB file.
//! Each runs through the real binary with a generous timeout that detects a hang; no test here
//! asserts a speed.

use std::fs::File;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use ralph_town::team::{self, LoadOptions, MAX_LISTED};

use crate::common::{SENTINEL, World};

/// Longer than any run takes, even on a loaded machine: reaching it means a hang.
const HANG: Duration = Duration::from_secs(90);
/// What a bounded answer fits in: 50 problems with their excerpts and help lines.
const MAX_STDERR: usize = 256 * 1024;

const BASE: &str = r#"name = "fuzz-${PR_NUMBER:-local}"
provider = "local"

[defaults]
repo = "."
base_branch = "main"
env = ["LOG_LEVEL=debug", "CI"]
secrets = ["GH_TOKEN"]
git = { user_name = "Ralph Bot", user_email = "ralph@example.com" }
auto_stop = "30m"
ttl = "4h"

[[teammate]]
name = "alice"
branch = "feature/login"

[[teammate]]
name = "bob"
branch = "feature/signup"
env = ["FEATURE_FLAG=signup"]
workdir = "src/app"
"#;

const FRAGMENTS: &[&str] = &[
    "\"",
    "'",
    "$",
    "${",
    "}",
    "[",
    "]]",
    "=",
    "\n",
    "\0",
    "é",
    "'''",
    ",",
    "#",
    "\\",
    "\t",
    "\r",
    "\u{202E}",
    "\u{200B}",
    "[[teammate]]\n",
    "name = \"a\"\n",
    "branch = \"b\"\n",
    "ext::sh -c x",
    "fd::3",
    "..",
    "~",
    "${A:-${B:-${C:-x}}}",
    "[defaults]\n",
];

/// What one run of `validate` gave.
struct Outcome {
    code: Option<i32>,
    stderr: String,
}

/// Runs `ralph-town validate FILE` with the world's environment; panics on a hang.
fn validate(world: &World, file: &Path) -> Outcome {
    let out = world.path().join("out.txt");
    let err = world.path().join("err.txt");
    // `--verbose`: the diagnostic codes these tests look for are shown only with it.
    let mut command = world.command(&["validate", "--verbose", file.to_str().unwrap()]);
    command
        .env("GH_TOKEN", SENTINEL)
        .stdout(Stdio::from(File::create(&out).unwrap()))
        .stderr(Stdio::from(File::create(&err).unwrap()));
    let child = command.spawn().expect("run ralph-town");
    let code = wait(child, file);
    Outcome {
        code,
        stderr: String::from_utf8_lossy(&std::fs::read(&err).unwrap()).into_owned(),
    }
}

fn wait(mut child: Child, file: &Path) -> Option<i32> {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        if started.elapsed() > HANG {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`validate {}` did not answer within {HANG:?}",
                file.display()
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The answer every file must get.
#[track_caller]
fn assert_bounded(outcome: &Outcome, what: &str) {
    assert!(
        matches!(outcome.code, Some(0 | 3)),
        "{what}: exit {:?}\n{}",
        outcome.code,
        &outcome.stderr[..outcome.stderr.len().min(4000)]
    );
    assert!(
        outcome.stderr.len() <= MAX_STDERR,
        "{what}: {} bytes of diagnostics",
        outcome.stderr.len()
    );
    assert!(
        !outcome.stderr.contains(SENTINEL),
        "{what}: a secret value was printed"
    );
}

fn char_boundary(text: &str, rng: &mut fastrand::Rng) -> usize {
    let mut index = rng.usize(..=text.len());
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

/// One mutation of `text`.
fn mutate(text: &mut String, rng: &mut fastrand::Rng) {
    match rng.u8(..6) {
        0 => {
            let at = char_boundary(text, rng);
            text.insert_str(at, FRAGMENTS[rng.usize(..FRAGMENTS.len())]);
        }
        1 => {
            let start = char_boundary(text, rng);
            let mut end = (start + rng.usize(..20)).min(text.len());
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.replace_range(start..end, "");
        }
        2 => {
            let lines: Vec<&str> = text.lines().collect();
            if let Some(line) = lines.get(rng.usize(..lines.len().max(1))) {
                let repeated = format!("{line}\n").repeat(rng.usize(1..2_000));
                let at = text.find(line).unwrap_or(0);
                text.insert_str(at, &repeated);
            }
        }
        3 => {
            let at = char_boundary(text, rng);
            let run = ["x", "é", "\t", " ", "$"][rng.usize(..5)].repeat(rng.usize(1_000..100_000));
            text.insert_str(at, &run);
        }
        4 => {
            // A string value replaced by something long and strange.
            if let Some(quote) = text.match_indices("= \"").nth(rng.usize(..12)) {
                let start = quote.0 + 3;
                let end = text[start..].find('"').map_or(start, |end| start + end);
                let junk: String = (0..rng.usize(1..80_000))
                    .map(|_| ['a', '-', '/', '.', ' ', '\u{202E}', 'Z', '_'][rng.usize(..8)])
                    .collect();
                text.replace_range(start..end, &junk);
            }
        }
        _ => {
            let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
            if lines.len() > 1 {
                let (a, b) = (rng.usize(..lines.len()), rng.usize(..lines.len()));
                lines.swap(a, b);
            }
            *text = lines.join("\n") + "\n";
        }
    }
}

#[test]
fn mutated_team_files_get_a_bounded_answer() {
    let world = World::new();
    let mut rng = fastrand::Rng::with_seed(0x7ea1_f11e);
    let mut codes = [0usize; 2];
    for case in 0..300 {
        let mut text = BASE.to_string();
        for _ in 0..rng.usize(1..4) {
            mutate(&mut text, &mut rng);
        }
        let file = world.file("team.toml", &text);
        let outcome = validate(&world, &file);
        assert_bounded(&outcome, &format!("case {case}"));
        codes[usize::from(outcome.code == Some(3))] += 1;
    }
    // The generator produces both kinds of file, or it tests little.
    assert!(codes[0] > 0 && codes[1] > 100, "valid, invalid: {codes:?}");
}

#[test]
fn a_problem_past_column_65535_is_shown_in_a_window() {
    let world = World::new();
    let long = "x".repeat(70_000);
    let text = format!(
        "name = \"t\"\n[[teammate]]\nname = \"a\"\nbranch = \"b\"\nrepo = \".\"\ngit = {{ user_name = \"{long}\", bogus = 1 }}\n"
    );
    let file = world.file("team.toml", &text);
    let outcome = validate(&world, &file);
    assert_bounded(&outcome, "70,000 columns");
    assert_eq!(outcome.code, Some(3));
    assert!(
        outcome.stderr.contains("unknown key `bogus` in `git`"),
        "{}",
        outcome.stderr
    );
    // The real line and column, and the line cut around the label.
    assert!(
        outcome.stderr.contains("team.toml:6:70"),
        "{}",
        outcome.stderr
    );
    assert!(outcome.stderr.contains("…"), "{}", outcome.stderr);
    assert!(outcome.stderr.len() < 4_000, "{}", outcome.stderr);
}

#[test]
fn five_hundred_problems_list_fifty_and_count_the_rest() {
    let world = World::new();
    let mut text = String::from("name = \"t\"\n[defaults]\nrepo = \".\"\n");
    for index in 0..500 {
        text.push_str(&format!(
            "[[teammate]]\nname = \"Bad{index}\"\nbranch = \"b{index}\"\n"
        ));
    }
    let file = world.file("team.toml", &text);
    let outcome = validate(&world, &file);
    assert_bounded(&outcome, "500 problems");
    assert_eq!(outcome.code, Some(3));
    let stderr = &outcome.stderr;
    assert!(
        stderr.contains("500 problems in `"),
        "{}",
        &stderr[..stderr.len().min(2000)]
    );
    assert!(stderr.contains("450 more not listed"), "{stderr}");
    assert_eq!(stderr.matches("is not a valid name").count(), MAX_LISTED);
    // The first fifty in file order.
    assert!(stderr.contains("`Bad0`") && stderr.contains("`Bad49`"));
    assert!(!stderr.contains("`Bad50`"), "{stderr}");
}

#[test]
fn fifty_thousand_duplicate_teammates_are_answered() {
    let world = World::new();
    // Written compactly to fit the size limit; each also lacks its `branch`.
    let text = format!(
        "name = \"t\"\nteammate = [{}]\n[defaults]\nrepo = \".\"\n",
        "{ name = \"a\" },".repeat(50_000)
    );
    assert!(text.len() as u64 <= team::MAX_FILE_BYTES);
    let file = world.file("team.toml", &text);
    let outcome = validate(&world, &file);
    assert_bounded(&outcome, "50,000 duplicates");
    assert_eq!(outcome.code, Some(3));
    // 49,999 names declared again, 50,000 missing branches.
    assert!(
        outcome.stderr.contains("99999 problems"),
        "{}",
        &outcome.stderr[..outcome.stderr.len().min(2000)]
    );
    assert!(outcome.stderr.contains("teammate `a` is declared twice"));
    // Written out in full, 50,000 teammates are over the limit, and refused unread.
    let text = format!(
        "name = \"t\"\n[defaults]\nrepo = \".\"\n{}",
        "[[teammate]]\nname = \"a\"\nbranch = \"b\"\n".repeat(50_000)
    );
    let file = world.file("team.toml", &text);
    let outcome = validate(&world, &file);
    assert_bounded(&outcome, "50,000 duplicates written out");
    assert!(
        outcome.stderr.contains("team::too_large"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn a_12_mb_file_is_refused_before_it_is_parsed() {
    let world = World::new();
    let mut text = String::from("name = \"t\"\n");
    while text.len() < 12_000_000 {
        text.push_str("[[teammate]]\nname = \"a\"\nbranch = \"b\"\nrepo = \".\"\n");
    }
    let file = world.file("team.toml", &text);
    let outcome = validate(&world, &file);
    assert_bounded(&outcome, "12 MB");
    assert_eq!(outcome.code, Some(3));
    assert!(
        outcome.stderr.contains("is larger than 1 MiB"),
        "{}",
        outcome.stderr
    );
    assert!(outcome.stderr.contains("team::too_large"));
    // Just over the limit is refused too; just under is read.
    let limit = usize::try_from(team::MAX_FILE_BYTES).unwrap();
    let padded = |size: usize| {
        let head = "name = \"t\"\n[[teammate]]\nname = \"a\"\nbranch = \"b\"\nrepo = \".\"\n";
        format!("{head}{}\n", "#".repeat(size - head.len() - 1))
    };
    let file = world.file("team.toml", &padded(limit + 1));
    let outcome = validate(&world, &file);
    assert!(outcome.stderr.contains("larger than"), "{}", outcome.stderr);
    let file = world.file("team.toml", &padded(limit));
    let outcome = validate(&world, &file);
    assert_eq!(outcome.code, Some(0), "{}", outcome.stderr);
}

#[test]
fn warnings_are_listed_up_to_the_limit_and_counted() {
    let world = World::new();
    let entries: Vec<String> = (0..500)
        .map(|index| format!("\"TOKEN_{index}=x\""))
        .collect();
    let text = format!(
        "name = \"t\"\n[defaults]\nrepo = \".\"\nenv = [{}]\n[[teammate]]\nname = \"a\"\nbranch = \"b\"\n",
        entries.join(", ")
    );
    let file = world.file("team.toml", &text);
    let outcome = validate(&world, &file);
    assert_bounded(&outcome, "500 warnings");
    assert_eq!(outcome.code, Some(0), "{}", outcome.stderr);
    assert_eq!(
        outcome
            .stderr
            .matches("looks like a credential but is in `env`")
            .count(),
        MAX_LISTED
    );
    assert!(
        outcome.stderr.contains("450 more warnings not listed"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn the_loader_keeps_the_first_problems_in_file_order() {
    let mut text = String::from("name = \"t\"\n[defaults]\nrepo = \"/\"\nworkdir = \"app\"\n");
    for index in 0..500 {
        text.push_str(&format!(
            "[[teammate]]\nname = \"m{index}\"\nbranch = \"b..{index}\"\n"
        ));
    }
    let error = team::load_str(
        &text,
        "team.toml",
        Path::new("/"),
        &|_| None,
        &LoadOptions::default(),
    )
    .unwrap_err();
    let ralph_town::team::TeamError::Invalid(invalid) = &error else {
        panic!("{error:?}");
    };
    assert_eq!(invalid.total, 500);
    assert_eq!(invalid.omitted(), 450);
    assert_eq!(invalid.diagnostics.len(), MAX_LISTED);
    let underlined: Vec<&str> = invalid
        .diagnostics
        .iter()
        .map(|diagnostic| diagnostic.labelled_text()[0])
        .collect();
    assert!(
        underlined.iter().all(|text| *text == ".."),
        "{underlined:?}"
    );
    let starts: Vec<usize> = invalid
        .diagnostics
        .iter()
        .map(|diagnostic| diagnostic.labels[0].0.start)
        .collect();
    assert!(starts.is_sorted(), "{starts:?}");
    let last_listed = text.find("b..49\"").unwrap() + 1;
    assert_eq!(starts.last(), Some(&last_listed));
}
