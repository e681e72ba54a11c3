//! Keeps the README, the examples and `--help` honest, as just checks its README: every command
//! they show parses with the real command line, the commands table names every command and
//! only flags that exist, the team file table matches the schema key for key and place for
//! place, the exit codes table matches `error::exit`, the "Try it" commands work as written,
//! and the CI recipe is valid YAML whose `ralph-town` commands all parse.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::{CommandFactory, Parser};
use ralph_town::cli::Arguments;
use serde_json::Value;

use crate::common::{self, World};

fn repository() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn readme() -> String {
    std::fs::read_to_string(repository().join("README.md")).unwrap()
}

/// The lines of the section under `heading` (up to the next heading of its level or higher;
/// a `#` in a fenced block is no heading).
fn section(text: &str, heading: &str) -> Vec<String> {
    let level = heading.chars().take_while(|c| *c == '#').count();
    let mut lines = text.lines().skip_while(|line| line.trim() != heading);
    lines
        .next()
        .unwrap_or_else(|| panic!("no `{heading}` in the README"));
    let mut fenced = false;
    lines
        .take_while(|line| {
            if line.starts_with("```") {
                fenced = !fenced;
            }
            let depth = line.chars().take_while(|c| *c == '#').count();
            fenced || depth == 0 || depth > level
        })
        .map(String::from)
        .collect()
}

/// The rows of the first table in `lines`, split into trimmed cells (header and rule dropped).
fn table(lines: &[String]) -> Vec<Vec<String>> {
    let rows: Vec<&String> = lines
        .iter()
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'))
        .collect();
    rows.iter()
        .skip(2)
        .map(|row| {
            // `\|` inside a cell is a literal bar.
            let row = row.replace("\\|", "\u{0}");
            row.trim_matches('|')
                .split('|')
                .map(|cell| cell.trim().replace('\u{0}', "|"))
                .collect()
        })
        .collect()
}

/// The `code spans` of a cell.
fn spans(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(String::from)
        .collect()
}

/// The arguments of a `ralph-town` (or `cargo run --release --`) command line, with leading
/// `NAME=value` assignments, comments and anything after a redirection or `&` dropped; `None`
/// for a line that runs something else.
fn command_line(line: &str) -> Option<Vec<String>> {
    let words = shlex::split(line.trim())?;
    let mut words = words
        .into_iter()
        .skip_while(|word| word.contains('=') && !word.starts_with('-'))
        .take_while(|word| !word.starts_with('#'))
        .take_while(|word| !matches!(word.as_str(), ">" | ">>" | "|" | "&" | "&&" | ";" | "||"));
    let first = words.next()?;
    let mut arguments = vec!["ralph-town".to_string()];
    match first.as_str() {
        "ralph-town" => {}
        "cargo" => {
            let prefix: Vec<String> = words.by_ref().take(3).collect();
            if prefix != ["run", "--release", "--"] {
                return None;
            }
        }
        _ => return None,
    }
    arguments.extend(words);
    Some(arguments)
}

#[track_caller]
fn assert_parses(arguments: &[String], source: &str) {
    if let Err(error) = Arguments::try_parse_from(arguments) {
        panic!(
            "{source}: `{}` does not parse:\n{error}",
            arguments.join(" ")
        );
    }
}

/// Lines of code blocks: indented by four spaces after a blank line, or fenced `sh`/`bash`.
fn code_lines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced && ["```sh", "```bash", "```console"].contains(&line.trim());
            continue;
        }
        if fenced || line.starts_with("    ") {
            lines.push(line.to_string());
        }
    }
    lines
}

#[test]
fn the_first_two_commands_stay_as_written() {
    let commands: Vec<String> = code_lines(&readme())
        .into_iter()
        .map(|line| line.trim().to_string())
        .filter(|line| line.starts_with("cargo ") || line.starts_with("ralph-town "))
        .collect();
    assert_eq!(
        commands[0],
        "cargo run --release -- up examples/teams/local.toml"
    );
    let tests = commands
        .iter()
        .position(|line| line == "cargo test")
        .expect("`cargo test` in the README");
    assert!(
        commands[1..tests]
            .iter()
            .all(|line| line.starts_with("cargo run --release -- "))
    );
}

/// The README names the Rust it needs; Cargo.toml says the same to cargo.
#[test]
fn the_rust_version_the_readme_names_is_cargos() {
    let manifest: toml::Table = std::fs::read_to_string(repository().join("Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let version = manifest["package"]["rust-version"].as_str().unwrap();
    let readme = readme().split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        readme.contains(&format!("needs Rust {version} or later")),
        "the README does not say Rust {version}"
    );
}

#[test]
fn every_command_the_readme_and_the_examples_show_parses() {
    let mut checked = 0;
    for line in code_lines(&readme()) {
        if let Some(arguments) = command_line(&line) {
            assert_parses(&arguments, "README.md");
            checked += 1;
        }
    }
    assert!(checked >= 15, "only {checked} commands found in the README");
    for entry in std::fs::read_dir(repository().join("examples/teams")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for line in text.lines().filter_map(|line| line.strip_prefix('#')) {
            if let Some(arguments) = command_line(line) {
                assert_parses(&arguments, &path.display().to_string());
            }
        }
    }
}

/// Every long flag of `command` and of the commands under it, and the global ones.
fn flags(command: &clap::Command, into: &mut BTreeSet<String>) {
    for argument in command.get_arguments() {
        if let Some(long) = argument.get_long() {
            into.insert(format!("--{long}"));
        }
    }
    for subcommand in command.get_subcommands() {
        flags(subcommand, into);
    }
}

fn long_flags(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|word| word.starts_with("--") && word.len() > 2)
        .map(String::from)
        .collect()
}

#[test]
fn the_commands_table_names_every_command_and_only_real_flags() {
    let root = Arguments::command();
    let rows = table(&section(&readme(), "## Commands"));
    let mut documented = BTreeSet::new();
    for row in &rows {
        let names: BTreeSet<String> = spans(&row[0])
            .iter()
            .filter_map(|span| span.split_whitespace().next().map(String::from))
            .collect();
        for name in names {
            let command = root
                .find_subcommand(&name)
                .unwrap_or_else(|| panic!("the README lists `{name}`, which is no command"));
            let mut known = BTreeSet::from(["--help".to_string()]);
            flags(command, &mut known);
            flags(&root, &mut known);
            for flag in long_flags(&row.join(" ")) {
                assert!(
                    known.contains(&flag),
                    "`{name}` has no `{flag}` (README row {row:?})"
                );
            }
            documented.insert(command.get_name().to_string());
        }
    }
    for command in root.get_subcommands() {
        let name = command.get_name();
        assert!(
            name == "help" || documented.contains(name),
            "`ralph-town {name}` is missing from the README's commands table"
        );
    }
}

#[test]
fn the_team_file_table_matches_the_schema() {
    let schema: Value = serde_json::from_str(&ralph_town::team::schema_json()).unwrap();
    let keys = |value: &Value| -> BTreeSet<String> {
        value["properties"]
            .as_object()
            .unwrap()
            .keys()
            .filter(|key| !matches!(key.as_str(), "defaults" | "teammate"))
            .cloned()
            .collect()
    };
    let schema_places = BTreeMap::from([
        ("top", keys(&schema)),
        ("defaults", keys(&schema["definitions"]["Defaults"])),
        ("teammate", keys(&schema["definitions"]["Teammate"])),
    ]);
    let mut readme_places: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for row in table(&section(&readme(), "## The team file")) {
        for place in row[1].split(',').map(str::trim) {
            let place = schema_places
                .get_key_value(place)
                .unwrap_or_else(|| panic!("unknown place `{place}` in {row:?}"))
                .0;
            readme_places
                .entry(place)
                .or_default()
                .extend(spans(&row[0]));
        }
    }
    for (place, keys) in &schema_places {
        assert_eq!(
            readme_places.get(place).cloned().unwrap_or_default(),
            *keys,
            "the README's team file table and the schema disagree on `{place}`"
        );
    }
}

#[test]
fn the_exit_codes_table_lists_the_codes_there_are() {
    use ralph_town::error::exit;
    let rows = table(&section(&readme(), "### Exit codes"));
    let listed: BTreeSet<i32> = rows.iter().map(|row| row[0].parse().unwrap()).collect();
    let defined = BTreeSet::from([
        exit::SUCCESS,
        exit::FAILURE,
        exit::USAGE,
        exit::CHANGES,
        exit::INVALID,
        exit::REFUSED,
        exit::TIMED_OUT,
        exit::INTERRUPTED,
    ]);
    assert_eq!(listed, defined);
}

/// The "Try it" commands, run as written (the binary standing in for `cargo run --release --`)
/// from the repository's root, on a state root of their own.
#[test]
fn the_try_it_commands_work_as_written() {
    if !(common::have("git") && common::have("bash")) {
        return;
    }
    let world = World::new();
    let commands: Vec<Vec<String>> = code_lines(&section(&readme(), "## Try it").join("\n"))
        .iter()
        .filter_map(|line| command_line(line))
        .collect();
    assert_eq!(commands.len(), 4, "{commands:?}");
    for arguments in &commands {
        let output = world
            .command(
                &arguments[1..]
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>(),
            )
            .current_dir(repository())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "`{}` failed:\n{}",
            arguments.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert!(world.sandbox_dirs().is_empty());
}

/// `examples/ci/pull-request.yml`: valid YAML, the shape the README promises, and every
/// `ralph-town` command in it parses with the flags it uses.
#[test]
fn the_ci_recipe_parses_and_runs_only_real_commands() {
    let Some(python) = common::sdk_python(&["yaml"]) else {
        return;
    };
    let recipe = repository().join("examples/ci/pull-request.yml");
    let workflow = yaml(&python, &recipe);
    // PyYAML reads the key `on` as YAML 1.1's `true`.
    let events = workflow.get("on").or_else(|| workflow.get("true")).unwrap();
    assert!(events.get("pull_request").is_some() && events.get("delete").is_some());
    let jobs = workflow["jobs"].as_object().unwrap();
    let team = &jobs["team"];
    assert!(
        team["concurrency"]["group"]
            .as_str()
            .unwrap()
            .contains("github.event.pull_request.number")
    );
    let steps = team["steps"].as_array().unwrap();
    let run = |step: &Value| step["run"].as_str().unwrap_or_default().to_string();
    assert!(
        steps
            .iter()
            .any(|step| run(step).contains("ralph-town up "))
    );
    let teardown = steps
        .iter()
        .find(|step| run(step).contains("ralph-town down"))
        .expect("a teardown step");
    assert_eq!(teardown["if"], "always()");
    assert!(run(teardown).contains("--force"));
    let deleted = jobs
        .values()
        .find(|job| job["if"].as_str().unwrap_or_default().contains("'delete'"))
        .expect("a job for deleted branches");
    assert!(
        deleted["steps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|step| run(step).contains("ralph-town down --team"))
    );
    let text = std::fs::read_to_string(&recipe).unwrap();
    assert!(text.contains("secrets.DAYTONA_API_KEY") && text.contains("secrets.GH_TOKEN"));
    let ci_team = std::fs::read_to_string(repository().join("examples/teams/ci.toml")).unwrap();
    assert!(
        ci_team.contains("\nttl = "),
        "the backstop is the team file's `ttl`"
    );
    // A CI teardown without `--force` exits 4 whenever a teammate left work unpushed.
    for line in ci_team.lines().filter_map(|line| line.strip_prefix('#')) {
        if let Some(arguments) = command_line(line).filter(|arguments| arguments[1] == "down") {
            assert!(arguments.contains(&"--force".to_string()), "{line}");
        }
    }

    let mut checked = 0;
    for job in jobs.values() {
        for step in job["steps"].as_array().unwrap() {
            for line in run(step).lines() {
                if let Some(arguments) = command_line(line) {
                    assert_parses(&arguments, &recipe.display().to_string());
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 4, "only {checked} commands in the recipe");
}

/// A YAML file as JSON, read by PyYAML.
fn yaml(python: &PathBuf, path: &Path) -> Value {
    let output = Command::new(python)
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{} is not valid YAML: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}
