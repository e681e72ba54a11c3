//! Bad input: every malformed team file gets a diagnostic that says what and where, with exit
//! code 3, and nothing is created.

use crate::common;

use common::World;

/// Runs `validate` on `text` and checks the exit code and that stderr names `expected` and
/// quotes the offending `source_line`.
#[track_caller]
fn rejects(text: &str, expected: &str, source_line: &str) {
    let world = World::new();
    world.file("team.toml", text);
    let run = world.run(&["validate"]).code(3);
    assert!(
        run.stderr.contains(expected),
        "expected `{expected}` in:\n{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(source_line),
        "expected the line `{source_line}` in:\n{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("team.toml"),
        "the diagnostic names no file:\n{}",
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert!(world.sandbox_dirs().is_empty());
}

const GOOD: &str = "name = \"squad\"\n[defaults]\nrepo = \"/tmp/repo\"\n[[teammate]]\nname = \"alice\"\nbranch = \"feature/a\"\n";

#[test]
fn toml_syntax_error() {
    rejects(
        &GOOD.replace("name = \"squad\"", "name = \"squad"),
        "squad",
        "name = \"squad",
    );
}

#[test]
fn unknown_key_suggests_the_right_one() {
    rejects(
        &GOOD.replace("branch =", "brnach ="),
        "branch",
        "brnach = \"feature/a\"",
    );
}

#[test]
fn invalid_teammate_name() {
    rejects(
        &GOOD.replace("\"alice\"", "\"Alice Smith\""),
        "name",
        "\"Alice Smith\"",
    );
}

#[test]
fn duplicate_teammate() {
    let text = format!("{GOOD}[[teammate]]\nname = \"alice\"\nbranch = \"feature/b\"\n");
    rejects(&text, "alice", "name = \"alice\"");
}

#[test]
fn two_teammates_on_one_branch() {
    let text = format!("{GOOD}[[teammate]]\nname = \"bob\"\nbranch = \"feature/a\"\n");
    rejects(&text, "feature/a", "branch = \"feature/a\"");
}

#[test]
fn missing_variable_points_at_the_reference() {
    rejects(
        &GOOD.replace("feature/a", "feature/${NOT_SET_ANYWHERE}"),
        "NOT_SET_ANYWHERE",
        "${NOT_SET_ANYWHERE}",
    );
}

#[test]
fn malformed_env_entry() {
    rejects(
        &GOOD.replace("[[teammate]]", "env = [\"1BAD=x\"]\n[[teammate]]"),
        "1BAD",
        "1BAD=x",
    );
}

#[test]
fn secret_missing_on_the_host() {
    rejects(
        &GOOD.replace(
            "[[teammate]]",
            "secrets = [\"NOT_ON_THIS_HOST_TOKEN\"]\n[[teammate]]",
        ),
        "NOT_ON_THIS_HOST_TOKEN",
        "NOT_ON_THIS_HOST_TOKEN",
    );
}

#[test]
fn branch_with_shell_metacharacters_is_refused() {
    rejects(
        &GOOD.replace("feature/a", "x$(touch pwned)"),
        "branch",
        "x$(touch pwned)",
    );
}

#[test]
fn missing_file_is_a_clear_error() {
    let world = World::new();
    let run = world.run(&["validate", "nope.toml"]);
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("nope.toml"), "{}", run.stderr);
}

#[test]
fn init_writes_a_valid_file_and_never_overwrites() {
    let world = World::new();
    world.run(&["init"]).success();
    world.run(&["validate"]).success();
    let before = std::fs::read_to_string(world.path().join("team.toml")).unwrap();
    world.run(&["init"]).code(4);
    assert_eq!(
        std::fs::read_to_string(world.path().join("team.toml")).unwrap(),
        before
    );
}
