//! What a plan shows is what `up` does: field values old -> new, the environment changed in
//! place, values that came from this host, lifecycle keys removed, and sandboxes of another team
//! file left alone. Real binary, `local` provider, real git origin.

use std::path::Path;

use crate::common::{World, have};

fn ready() -> bool {
    have("git") && have("bash")
}

fn team(world: &World, directory: &str, origin: &Path, extra: &str) {
    world.file(
        &format!("{directory}/team.toml"),
        &format!(
            "name = \"crew\"\n[defaults]\nrepo = \"{}\"\nbase_branch = \"main\"\n{extra}\n\
             [[teammate]]\nname = \"alice\"\nbranch = \"feature/a\"\n",
            origin.display()
        ),
    );
}

fn sandbox_id(world: &World, directory: &str) -> String {
    let status = world
        .run(&["status", "--json", &format!("{directory}/team.toml")])
        .success()
        .stdout;
    let rows: serde_json::Value = serde_json::from_str(&status).unwrap();
    let ids: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|row| row["sandbox_id"].as_str())
        .collect();
    assert_eq!(ids.len(), 1, "{status}");
    ids[0].to_string()
}

#[test]
fn an_env_change_is_applied_in_place_and_a_host_value_is_named() {
    if !ready() {
        return;
    }
    let world = World::new();
    let origin = world.origin(&[]);
    team(
        &world,
        "one",
        &origin,
        "env = [\"LOG_LEVEL\", \"MODE=fast\"]",
    );
    let file = "one/team.toml";
    world
        .run_with(&["up", file], &[("LOG_LEVEL", "info")])
        .success();
    let before = sandbox_id(&world, "one");

    // The same file on a machine whose LOG_LEVEL differs: the plan says where it comes from.
    let plan = world
        .run_with(
            &["plan", "--detailed-exitcode", file],
            &[("LOG_LEVEL", "debug")],
        )
        .code(2);
    assert!(
        plan.stdout
            .contains("~ alice        update     env LOG_LEVEL from the host: info -> debug"),
        "{}",
        plan.stdout
    );

    team(
        &world,
        "one",
        &origin,
        "env = [\"LOG_LEVEL\", \"MODE=slow\", \"NEW=1\"]",
    );
    let plan = world
        .run_with(&["plan", "--json", file], &[("LOG_LEVEL", "info")])
        .success()
        .stdout;
    let plan: serde_json::Value = serde_json::from_str(&plan).unwrap();
    let change = &plan["changes"][0];
    assert_eq!(change["action"], "update", "{plan}");
    assert_eq!(change["cause"]["kind"], "env_changed", "{plan}");
    assert_eq!(
        change["cause"]["changes"],
        serde_json::json!([
            {"field": "env MODE", "from": "fast", "to": "slow"},
            {"field": "env NEW", "from": "(unset)", "to": "1"},
        ])
    );

    // Applied without `--yes` (nothing is destroyed) and in the same sandbox.
    world
        .run_with(&["up", file], &[("LOG_LEVEL", "info")])
        .success();
    assert_eq!(sandbox_id(&world, "one"), before);
    let seen = world
        .run(&[
            "exec",
            "alice",
            "-f",
            file,
            "--",
            "sh",
            "-c",
            "echo $MODE $NEW",
        ])
        .success();
    assert_eq!(seen.stdout.trim(), "slow 1");
    let login = world
        .run(&[
            "exec",
            "alice",
            "-f",
            file,
            "--",
            "bash",
            "-lc",
            "echo $MODE $NEW $LOG_LEVEL",
        ])
        .success();
    assert_eq!(login.stdout.trim(), "slow 1 info");
    let again = world
        .run_with(
            &["plan", "--detailed-exitcode", file],
            &[("LOG_LEVEL", "info")],
        )
        .success();
    assert!(again.stdout.contains("No changes."), "{}", again.stdout);
    world.run(&["down", "--force", file]).success();
}

#[test]
fn a_spec_change_shows_old_and_new_values_and_a_removed_timer_its_default() {
    if !ready() {
        return;
    }
    let world = World::new();
    let origin = world.origin(&["develop"]);
    team(&world, "one", &origin, "auto_stop = \"30m\"");
    let file = "one/team.toml";
    world.run(&["up", file]).success();

    team(&world, "one", &origin, "");
    let plan = world.run(&["plan", file]).success();
    assert!(
        plan.stdout
            .contains("~ alice        update     auto_stop 30m -> 15m (default)"),
        "{}",
        plan.stdout
    );
    world.run(&["up", file]).success();
    let settled = world.run(&["plan", file]).success();
    assert!(settled.stdout.contains("No changes."), "{}", settled.stdout);

    let renamed = std::fs::read_to_string(world.path().join(file))
        .unwrap()
        .replace("base_branch = \"main\"", "base_branch = \"develop\"");
    world.file(file, &renamed);
    let plan = world.run(&["plan", file]).success();
    assert!(
        plan.stdout
            .contains("-/+ alice      recreate   spec changed: base_branch main -> develop"),
        "{}",
        plan.stdout
    );
    world.run(&["down", "--force", file]).success();
}

#[test]
fn two_team_files_with_one_team_name_leave_each_other_alone() {
    if !ready() {
        return;
    }
    let world = World::new();
    let origin = world.origin(&[]);
    team(&world, "project-a", &origin, "");
    team(&world, "project-b", &origin, "");
    world.run(&["up", "project-a/team.toml"]).success();
    let theirs = sandbox_id(&world, "project-a");

    let plan = world.run(&["plan", "project-b/team.toml"]).success();
    assert!(
        plan.stdout
            .contains("! alice#2      foreign    made from another team file"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains("+ alice        create"),
        "{}",
        plan.stdout
    );
    world.run(&["up", "project-b/team.toml"]).success();
    // Project A's sandbox is untouched, and A's `exec` still reaches it, not B's.
    world
        .run(&[
            "exec",
            "alice",
            "-f",
            "project-a/team.toml",
            "--",
            "sh",
            "-c",
            "touch \"$HOME/mark-a\"",
        ])
        .success();
    let marked = world
        .state()
        .join("sandboxes")
        .join(&theirs)
        .join("home/mark-a");
    assert!(marked.exists(), "A's exec reached another sandbox");
    let plan_a = world.run(&["plan", "project-a/team.toml"]).success();
    assert!(
        plan_a.stdout.contains("  alice        keep"),
        "{}",
        plan_a.stdout
    );
    assert!(plan_a.stdout.contains("foreign"), "{}", plan_a.stdout);
    let status = world
        .run(&["status", "--json", "project-a/team.toml"])
        .success()
        .stdout;
    assert!(status.contains(&theirs), "{status}");

    // `--adopt` takes the other file's sandbox over (relabelled, not recreated).
    let adopt = world
        .run(&["plan", "--adopt", "project-a/team.toml"])
        .success();
    assert!(
        adopt
            .stdout
            .contains("- alice#2      remove     duplicate sandbox for alice"),
        "{}",
        adopt.stdout
    );
}
