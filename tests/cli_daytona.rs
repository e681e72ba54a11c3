//! `ralph-town up examples/teams/daytona.toml` end to end with the `daytona` provider against
//! `ralph-town serve` (both the real binary): sandboxes, labels, setup, clone, branch, `exec`,
//! `status`, then `down`.

use crate::common;

use std::path::Path;
use std::process::Stdio;

use crate::work_daytona::{KEY, Serve, serve_with};
use common::{SENTINEL, World, have};

/// `serve` with `readable` visible to its sandboxes, and its SSH gateway.
fn serve(world: &World, readable: &Path) -> Serve {
    serve_with(world, readable, &["--ssh-listen", "127.0.0.1:0"])
}

#[test]
fn up_and_down_of_the_daytona_example_against_serve() {
    if !(have("git") && have("bash")) {
        return;
    }
    let world = World::new();
    let origin = world.origin(&["feature/login"]);
    let serve = serve(&world, &origin);
    let client = reqwest::blocking::Client::new();
    let snapshot: serde_json::Value = client
        .post(format!("{}/snapshots", serve.api))
        .bearer_auth(KEY)
        .json(&serde_json::json!({"name": "ralph-town-dev", "imageName": "debian:bookworm-slim"}))
        .send()
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(snapshot["name"], "ralph-town-dev");
    wait_until_active(&client, &serve.api);

    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/teams/daytona.toml");
    let example = example.to_str().unwrap();
    let origin = origin.to_str().unwrap();
    let env = [
        ("DAYTONA_API_URL", serve.api.as_str()),
        ("DAYTONA_API_KEY", KEY),
        ("GH_TOKEN", SENTINEL),
        ("REPO_URL", origin),
    ];
    let up = world
        .run_with(&["up", example, "--progress", "plain"], &env)
        .success();
    assert!(up.stderr.contains("+ alice"), "{}", up.stderr);
    assert!(!up.all().contains(SENTINEL));

    let status = world
        .run_with(&["status", example, "--json"], &env)
        .success();
    let rows: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(
        rows.iter()
            .all(|row| row["state"] == "started" && row["setup"] == "ok"),
        "{rows:?}"
    );

    // Labels on the server, found with Daytona's JSON label filter.
    let listed: serde_json::Value = client
        .get(format!("{}/sandbox", serve.api))
        .query(&[(
            "labels",
            r#"{"ralph-town/team":"auth-squad","ralph-town/teammate":"alice"}"#,
        )])
        .bearer_auth(KEY)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{listed}");
    assert!(
        items[0]["labels"]["ralph-town/spec"]
            .as_str()
            .unwrap()
            .starts_with("v2:")
    );
    assert!(!listed.to_string().contains(SENTINEL));

    let exec = |teammate: &str, command: &[&str]| {
        let mut args = vec!["exec", teammate, "-f", example, "--"];
        args.extend_from_slice(command);
        world
            .run_with(&args, &env)
            .success()
            .stdout
            .trim()
            .to_string()
    };
    assert_eq!(
        exec(
            "alice",
            &["git", "rev-parse", "--abbrev-ref", "@{upstream}"]
        ),
        "origin/feature/login"
    );
    assert_eq!(
        exec("bob", &["git", "rev-parse", "--abbrev-ref", "HEAD"]),
        "feature/signup"
    );
    assert_eq!(
        exec("bob", &["git", "config", "--global", "credential.helper"]),
        "store"
    );
    assert_eq!(exec("bob", &["printenv", "FEATURE_FLAG"]), "signup");

    // `ssh TEAMMATE` through serve's SSH gateway, starting in the teammate's clone.
    if have("ssh") {
        let mut ssh = world
            .command(&["ssh", "bob", "-f", example])
            .envs(env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        ssh.stdin
            .take()
            .unwrap()
            .write_all(b"git rev-parse --abbrev-ref HEAD; exit 4\n")
            .unwrap();
        let output = ssh.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(
            output.status.code(),
            Some(4),
            "{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(stdout.contains("feature/signup"), "{stdout}");
    }

    // A second `up` has nothing to do.
    world
        .run_with(&["plan", example, "--detailed-exitcode"], &env)
        .success();

    world.run_with(&["down", example], &env).success();
    let listed: serde_json::Value = client
        .get(format!("{}/sandbox", serve.api))
        .bearer_auth(KEY)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(listed["items"].as_array().unwrap().len(), 0, "{listed}");
    world.assert_host_git_untouched();
}

fn wait_until_active(client: &reqwest::blocking::Client, api_url: &str) {
    for _ in 0..200 {
        let snapshot: serde_json::Value = client
            .get(format!("{api_url}/snapshots/ralph-town-dev"))
            .bearer_auth(KEY)
            .send()
            .unwrap()
            .json()
            .unwrap();
        if snapshot["state"] == "active" {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("the snapshot never became active");
}
