//! `ttl` on `local`, `gc` and `ls`: a sandbox whose ttl has passed goes the next time anything
//! lists the state root, `gc` also clears what a crashed run left in `staging/` and `trash/`,
//! and `ls` shows every team with its age and file, without the file.

use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::common::{World, have};

/// A sandbox of `team` with `ttl_minutes` recorded, created `age` ago; returns its id.
fn sandbox(world: &World, team: &str, ttl_minutes: Option<u32>, age: Duration) -> String {
    let id = world
        .run(&[
            "sandbox",
            "create",
            "--label",
            &format!("ralph-town/team={team}"),
            "--label",
            "ralph-town/teammate=alice",
        ])
        .success()
        .stdout
        .trim()
        .to_string();
    // `sandbox create` takes no ttl: write what `up` would have recorded, and backdate it.
    let path = world
        .state()
        .join("sandboxes")
        .join(&id)
        .join("sandbox.json");
    let mut record: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    record["ttl_minutes"] = ttl_minutes.into();
    record["created_at"] = humantime::format_rfc3339_millis(SystemTime::now() - age)
        .to_string()
        .into();
    std::fs::write(&path, serde_json::to_vec(&record).unwrap()).unwrap();
    id
}

fn exists(world: &World, id: &str) -> bool {
    world.state().join("sandboxes").join(id).exists()
}

const HOUR: Duration = Duration::from_secs(3600);

/// `ttl` was only recorded on `local`: a CI team whose `down` never ran lived for ever.
#[test]
fn a_sandbox_past_its_ttl_goes_when_the_state_root_is_listed() {
    if !have("git") {
        return;
    }
    let world = World::new();
    let expired = sandbox(&world, "pr-1", Some(60), 2 * HOUR);
    let fresh = sandbox(&world, "pr-1", Some(240), 2 * HOUR);
    let unlimited = sandbox(&world, "pr-1", None, 100 * HOUR);
    assert!(exists(&world, &expired));

    let listed = world.run(&["sandbox", "list", "--json"]).success();
    let rows: Value = serde_json::from_str(&listed.stdout).unwrap();
    let listed_ids: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["id"].as_str().unwrap())
        .collect();
    assert!(!listed_ids.contains(&expired.as_str()), "{listed_ids:?}");
    assert!(!exists(&world, &expired));
    assert!(exists(&world, &fresh) && exists(&world, &unlimited));

    // `down` of the team sees only what is left, and `status` too.
    let plan = world.run(&["down", "--team", "pr-1", "--json"]).success();
    let answer: Value = serde_json::from_str(&plan.stdout).unwrap();
    assert_eq!(answer["removed"].as_array().unwrap().len(), 2, "{answer}");
}

#[test]
fn gc_removes_expired_sandboxes_and_what_crashed_runs_left() {
    if !have("git") {
        return;
    }
    let world = World::new();
    let expired = sandbox(&world, "pr-2", Some(30), HOUR);
    let kept = sandbox(&world, "pr-2", Some(600), HOUR);
    // A sandbox a crashed `create` was building, and one a crashed `delete` was removing.
    let staging = world.state().join("staging/0123456789ab");
    let trash = world.state().join("trash/0123456789cd-1a2b3c4d");
    for entry in [&staging, &trash] {
        std::fs::create_dir_all(entry.join("home/app")).unwrap();
        std::fs::write(entry.join("home/app/file"), "left behind").unwrap();
    }

    // Fresh entries may belong to a run still going: kept under the default grace period.
    let first = world.run(&["gc", "--json"]).success();
    let garbage: Value = serde_json::from_str(&first.stdout).unwrap();
    assert_eq!(garbage["expired"].as_array().unwrap().len(), 1, "{garbage}");
    assert_eq!(garbage["expired"][0]["sandbox"]["id"], expired.as_str());
    assert_eq!(garbage["expired"][0]["ttl_minutes"], 30);
    assert_eq!(garbage["stale"], serde_json::json!([]), "{garbage}");
    assert!(staging.exists() && trash.exists());
    assert!(!exists(&world, &expired) && exists(&world, &kept));

    let second = world
        .run(&["gc", "--json", "--stale-after", "0s"])
        .success();
    let garbage: Value = serde_json::from_str(&second.stdout).unwrap();
    let mut stale: Vec<&str> = garbage["stale"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["path"].as_str().unwrap())
        .collect();
    stale.sort();
    assert_eq!(
        stale,
        ["staging/0123456789ab", "trash/0123456789cd-1a2b3c4d"]
    );
    assert!(!staging.exists() && !trash.exists());
    assert!(exists(&world, &kept), "a live sandbox is never stale");
    let text = world.run(&["gc"]).success();
    assert_eq!(
        text.stdout,
        "0 expired sandboxes, 0 stale entries removed\n"
    );
}

#[test]
fn ls_lists_teams_with_states_age_and_file_without_the_file() {
    if !have("git") {
        return;
    }
    let world = World::new();
    let origin = world.origin(&[]);
    let file = world.file(
        "ci/team.toml",
        &format!(
            "name = \"pr-3\"\nprovider = \"local\"\n[defaults]\nrepo = \"{}\"\n\
             [[teammate]]\nname = \"alice\"\nbranch = \"a\"\n",
            origin.display()
        ),
    );
    world
        .run(&["up", "--no-setup", file.to_str().unwrap()])
        .success();
    sandbox(&world, "old-team", None, 50 * HOUR);
    world
        .run(&["sandbox", "create", "--name", "loose"])
        .success();
    std::fs::remove_file(&file).unwrap();

    let listed = world.run(&["ls", "--json"]).success();
    let teams: Value = serde_json::from_str(&listed.stdout).unwrap();
    let teams = teams.as_array().unwrap();
    assert_eq!(teams.len(), 2, "{teams:?}");
    assert_eq!(teams[0]["team"], "old-team");
    assert_eq!(teams[1]["team"], "pr-3");
    assert_eq!(teams[1]["provider"], "local");
    assert_eq!(teams[1]["sandboxes"], 1);
    assert_eq!(teams[1]["states"]["started"], 1);
    assert_eq!(teams[1]["file"], file.to_str().unwrap());
    assert!(teams[0]["file"].is_null());

    let text = world.run(&["ls"]).success().stdout;
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("TEAM"), "{text}");
    assert!(
        lines[1].starts_with("old-team")
            && lines[1].contains("1 started")
            && lines[1].contains("2d"),
        "{text}"
    );
    assert!(lines[2].contains(file.to_str().unwrap()), "{text}");
    world.run(&["ls", "--provider", "nowhere"]).code(2);
}
