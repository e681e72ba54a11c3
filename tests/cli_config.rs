//! `ralph-town config`: the resolved team, loadable back as the same team, secrets by name.

use crate::common::{SENTINEL, World};

const TEAM: &str = r#"name = "crew-${PR:-local}"
[defaults]
repo = "https://example.com/acme/app.git"
env = ["LOG_LEVEL=debug", "FROM_HOST", "PRICE=$$5"]
secrets = ["GH_TOKEN", "ANTHROPIC_API_KEY=HOST_KEY"]
auto_stop = "30m"
ttl = "4h"

[[teammate]]
name = "alice"
branch = "feature/a"

[[teammate]]
name = "bob"
branch = "feature/b"
env = ["LOG_LEVEL=info"]
"#;

#[test]
fn config_prints_the_resolved_team_which_loads_back_the_same() {
    let world = World::new();
    world.file("team.toml", TEAM);
    let env = [
        ("PR", "42"),
        ("FROM_HOST", "laptop"),
        ("GH_TOKEN", SENTINEL),
        ("HOST_KEY", SENTINEL),
    ];
    let toml = world.run_with(&["config"], &env).success().stdout;
    assert!(!toml.contains(SENTINEL), "{toml}");
    assert!(toml.contains("name = \"crew-42\""), "{toml}");
    assert!(
        toml.contains("env = [\"FROM_HOST=laptop\", \"LOG_LEVEL=info\", \"PRICE=$$5\"]"),
        "{toml}"
    );
    assert!(
        toml.contains("secrets = [\"ANTHROPIC_API_KEY=HOST_KEY\", \"GH_TOKEN\"]"),
        "{toml}"
    );

    // The printed file is a team file that resolves to exactly the same team, on a host
    // without the variables the original needed (they are resolved now).
    world.file("resolved.toml", &toml);
    let secrets_only = [("GH_TOKEN", SENTINEL), ("HOST_KEY", SENTINEL)];
    let again = world
        .run_with(&["config", "resolved.toml"], &secrets_only)
        .success()
        .stdout;
    assert_eq!(again, toml);
    world
        .run_with(&["validate", "resolved.toml"], &secrets_only)
        .success();

    let json = world.run_with(&["config", "--json"], &env).success().stdout;
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        value["teammate"][0]["env"][2], "PRICE=$5",
        "JSON holds the values"
    );
    assert_eq!(value["teammate"][0]["ttl"], "240m");
    assert!(!json.contains(SENTINEL));
}
