//! `schemas/team.schema.json` is generated from the Rust types; this test keeps it fresh.

use std::path::Path;

#[test]
fn checked_in_schema_is_fresh() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/team.schema.json");
    let generated = ralph_town::team::schema_json();
    if std::env::var("RALPH_TOWN_BLESS").as_deref() == Ok("1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "`schemas/team.schema.json` is stale; regenerate it with\n\
         \n    RALPH_TOWN_BLESS=1 cargo test --test integration team_schema\n\
         \n(or `cargo run -- schema > schemas/team.schema.json`)"
    );
}

#[test]
fn schema_describes_every_key_and_refuses_unknown_ones() {
    let schema: serde_json::Value = serde_json::from_str(&ralph_town::team::schema_json()).unwrap();
    assert_eq!(schema["additionalProperties"], false);
    let teammate = &schema["definitions"]["Teammate"];
    assert_eq!(teammate["additionalProperties"], false);
    for key in [
        "name", "branch", "repo", "env", "secrets", "git", "ttl", "workdir", "setup",
    ] {
        let description = teammate["properties"][key]["description"].as_str();
        assert!(
            description.is_some_and(|text| !text.is_empty()),
            "teammate key `{key}` has no description"
        );
    }
}
