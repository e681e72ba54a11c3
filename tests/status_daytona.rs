//! `status` of several teammates at once on the `daytona` provider against a spawned `ralph-town
//! serve`: every row carries its own teammate's command state and work (commits ahead, dirty
//! files, pushed or not, the last commit), whatever the bound on probes at once, and a teammate's
//! probe is one toolbox request.

use crate::common::World;
use crate::work::ready;
use crate::work_daytona::{KEY, daytona_team, serve};

use std::path::Path;

use serde_json::{Value, json};

/// Four teammates whose command and repository each end up in another state: alice's command
/// committed twice on a new branch, bob's left a file and failed, carol committed on a branch
/// the origin has, dave has no command and the origin's branch as it is.
fn team_file(world: &World, origin: &Path) {
    daytona_team(
        world,
        origin,
        "status-workers",
        r#"[[teammate]]
name = "alice"
branch = "feature/alice"
command = "git commit -q --allow-empty -m 'alice one' && git commit -q --allow-empty -m 'alice two'"

[[teammate]]
name = "bob"
branch = "feature/bob"
command = "echo draft > draft.txt; exit 3"

[[teammate]]
name = "carol"
branch = "feature/carol"
command = "git commit -q --allow-empty -m 'carol local'"

[[teammate]]
name = "dave"
branch = "feature/dave"
"#,
    );
}

/// What `status --json` says of each teammate's command and work.
fn findings(stdout: &str) -> Value {
    let rows: Value = serde_json::from_str(stdout).unwrap();
    let mut found = serde_json::Map::new();
    for row in rows.as_array().unwrap() {
        let work = &row["work"];
        found.insert(
            row["teammate"].as_str().unwrap().to_string(),
            json!({
                "state": row["command"]["state"],
                "exit_code": row["command"]["exit_code"],
                "ahead": work["ahead"],
                "dirty": work["dirty"],
                "pushed": work["pushed"],
                "unpushed": work["unpushed"],
                "last_commit": work["last_commit"],
                "probe_error": row["probe_error"],
            }),
        );
    }
    Value::Object(found)
}

/// How many requests each route of the server has answered.
fn requests(server_url: &str) -> Value {
    let stats: Value = reqwest::blocking::Client::new()
        .get(format!("{server_url}/_ralph/stats"))
        .bearer_auth(KEY)
        .send()
        .and_then(reqwest::blocking::Response::json)
        .expect("serve's stats");
    let mut counts = serde_json::Map::new();
    for (route, entry) in stats["routes"].as_object().unwrap() {
        counts.insert(route.clone(), entry["requests"].clone());
    }
    Value::Object(counts)
}

/// How many more requests each route answered between two readings.
fn sent_between(before: &Value, after: &Value) -> Value {
    let mut sent = serde_json::Map::new();
    for (route, count) in after.as_object().unwrap() {
        let earlier = before[route].as_u64().unwrap_or(0);
        let more = count.as_u64().unwrap() - earlier;
        if more > 0 {
            sent.insert(route.clone(), json!(more));
        }
    }
    Value::Object(sent)
}

#[test]
fn status_reports_each_teammates_own_command_and_work_with_one_request_each() {
    if !ready() {
        return;
    }
    let world = World::new();
    let origin = world.origin(&["feature/carol", "feature/dave"]);
    let serve = serve(&world, &origin);
    let server_url = serve.api.trim_end_matches("/api").to_string();
    let run = |args: &[&str]| {
        world.run_with(
            args,
            &[
                ("DAYTONA_API_URL", serve.api.as_str()),
                ("DAYTONA_API_KEY", KEY),
            ],
        )
    };
    team_file(&world, &origin);
    run(&["up", "--progress", "plain"]).success();
    // bob's command fails, so `wait` says 1 once every command is done.
    run(&["wait", "--timeout", "120"]).code(1);

    let expected = json!({
        "alice": {
            "state": "exited", "exit_code": 0, "ahead": 2, "dirty": 0,
            "pushed": null, "unpushed": null, "last_commit": "alice two", "probe_error": null,
        },
        "bob": {
            "state": "failed", "exit_code": 3, "ahead": 0, "dirty": 1,
            "pushed": null, "unpushed": null, "last_commit": "first", "probe_error": null,
        },
        "carol": {
            "state": "exited", "exit_code": 0, "ahead": 2, "dirty": 0,
            "pushed": false, "unpushed": 1, "last_commit": "carol local", "probe_error": null,
        },
        "dave": {
            "state": null, "exit_code": null, "ahead": 1, "dirty": 0,
            "pushed": true, "unpushed": 0, "last_commit": "on feature/dave", "probe_error": null,
        },
    });
    let before = requests(&server_url);
    let status = run(&["status", "--json"]).success();
    let after = requests(&server_url);
    assert_eq!(findings(&status.stdout), expected, "{}", status.stdout);
    // The list, then one exec per teammate: no request of its own for a sandbox's home or
    // record before its probe.
    assert_eq!(
        sent_between(&before, &after),
        json!({"GET /api/sandbox": 1, "POST /toolbox/{sandbox}/process/execute": 4}),
    );

    // Probed one at a time, every row still gets its own teammate's findings.
    let one_at_a_time = run(&["status", "--json", "--parallel", "1"]).success();
    assert_eq!(findings(&one_at_a_time.stdout), expected);

    let table = run(&["status"]).success().stdout;
    let line = |teammate: &str| -> String {
        table
            .lines()
            .find(|line| line.starts_with(teammate))
            .unwrap_or_else(|| panic!("no row of {teammate} in\n{table}"))
            .to_string()
    };
    for (teammate, shown) in [
        (
            "alice",
            ["exited 0", "2 ahead, 0 dirty, not pushed", "alice two"],
        ),
        ("bob", ["failed 3", "0 ahead, 1 dirty, not pushed", "first"]),
        (
            "carol",
            ["exited 0", "2 ahead, 0 dirty, 1 unpushed", "carol local"],
        ),
        ("dave", ["", "1 ahead, 0 dirty, pushed", "on feature/dave"]),
    ] {
        let row = line(teammate);
        if teammate == "dave" {
            // No `command`: no command state, not "not started".
            assert!(!row.contains("not started"), "{row}");
        }
        for part in shown {
            assert!(row.contains(part), "{teammate}: `{part}` not in {row}");
        }
    }
    run(&["down", "--force"]).success();
}
