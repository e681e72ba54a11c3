//! Keeps the docs honest: every example team file validates and plans, and every `toml` block
//! in the README parses as TOML.

use crate::common;

use std::path::Path;

use common::World;

fn examples() -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/teams");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 3,
        "expected the local, daytona and ci examples"
    );
    files
}

/// Variables the examples need on the host.
const ENV: [(&str, &str); 4] = [
    ("GH_TOKEN", "example-token"),
    ("PR_NUMBER", "42"),
    ("TEAM", "ci-42"),
    ("ANTHROPIC_API_KEY", "example-key"),
];

#[test]
fn every_example_validates() {
    let world = World::new();
    for file in examples() {
        let file = file.to_string_lossy();
        let run = world.run_with(&["validate", &file], &ENV).success();
        assert!(run.stdout.contains("is valid"), "{file}: {}", run.stdout);
    }
}

#[test]
fn every_local_example_plans() {
    let world = World::new();
    for file in examples() {
        let text = std::fs::read_to_string(&file).unwrap();
        if !text.contains("provider = \"local\"") {
            continue;
        }
        let file = file.to_string_lossy();
        let run = world
            .run_with(&["plan", "--detailed-exitcode", &file], &ENV)
            .code(2);
        assert!(run.stdout.contains("create"), "{file}: {}", run.stdout);
    }
}

#[test]
fn every_toml_block_in_the_readme_parses() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let mut blocks = 0;
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "```toml" {
            let block: Vec<&str> = lines
                .by_ref()
                .take_while(|line| line.trim() != "```")
                .collect();
            let text = block.join("\n");
            if let Err(error) = text.parse::<toml::Table>() {
                panic!("README toml block {blocks} does not parse: {error}\n{text}");
            }
            blocks += 1;
        }
    }
    assert!(blocks > 0, "the README has no toml block");
}
