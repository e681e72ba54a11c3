//! `ralph-town init` names the team after the directory it writes the file in, so that two
//! projects get two teams: the name is the ownership label, and a shared one let one project's
//! `down` delete the other's sandboxes.

use crate::common::World;

/// The `name = ...` line of a team file.
fn name_line(text: &str) -> &str {
    text.lines()
        .find(|line| line.starts_with("name = "))
        .expect("a name line")
}

#[test]
fn two_projects_get_two_team_names() {
    let world = World::new();
    let mut names = Vec::new();
    for project in ["Project A", "project_b"] {
        let directory = world.path().join(project);
        std::fs::create_dir_all(&directory).unwrap();
        let file = directory.join("team.toml");
        world.run(&["init", file.to_str().unwrap()]).success();
        world.run(&["validate", file.to_str().unwrap()]).success();
        let text = std::fs::read_to_string(&file).unwrap();
        names.push(name_line(&text).to_string());
    }
    assert_eq!(
        names,
        [
            "name = \"project-a\"".to_string(),
            "name = \"project-b\"".to_string()
        ]
    );
}

#[test]
fn the_name_comes_from_the_directory_the_file_is_written_in() {
    let world = World::new();
    std::fs::create_dir_all(world.path().join("Web.App/deploy")).unwrap();
    // A relative path with `..`: the directory is resolved, not read from the argument.
    let run = world
        .run(&["init", "Web.App/deploy/../team.toml"])
        .success();
    assert!(run.stdout.contains("wrote"), "{run:?}");
    let text = std::fs::read_to_string(world.path().join("Web.App/team.toml")).unwrap();
    assert_eq!(name_line(&text), "name = \"web-app\"");
}

#[test]
fn a_directory_without_a_usable_character_gives_team() {
    let world = World::new();
    std::fs::create_dir_all(world.path().join("日本")).unwrap();
    world.run(&["init", "日本/team.toml"]).success();
    let text = std::fs::read_to_string(world.path().join("日本/team.toml")).unwrap();
    assert_eq!(name_line(&text), "name = \"team\"");
}

#[test]
fn the_daytona_starter_keeps_its_pull_request_suffix() {
    let world = World::new();
    let long = "a".repeat(80);
    std::fs::create_dir_all(world.path().join(&long)).unwrap();
    let file = format!("{long}/team.toml");
    world
        .run(&["init", "--provider", "daytona", &file])
        .success();
    let text = std::fs::read_to_string(world.path().join(&file)).unwrap();
    // Cut so that a pull request number still fits in the 63 characters of a name.
    let name = format!("name = \"{}-${{PR_NUMBER:-local}}\"", "a".repeat(50));
    assert!(text.contains(&name), "{text}");
    world
        .run_with(
            &["validate", &file],
            &[("PR_NUMBER", "123456789012"), ("GH_TOKEN", "x")],
        )
        .success();
}
