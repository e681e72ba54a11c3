//! The vault's rules: names, the private file, what a mount resolves to, and deleting a
//! mounted secret.

use super::*;

fn fields(value: &str, hosts: &[&str]) -> SecretFields {
    SecretFields {
        value: Some(Secret::new(value.to_string())),
        description: None,
        hosts: Some(hosts.iter().map(ToString::to_string).collect()),
    }
}

#[test]
fn names_follow_daytonas_pattern_and_are_unique() {
    let vault = Vault::open(None).unwrap();
    vault.create("gh", fields("v", &[])).unwrap();
    let error = vault.create("gh", fields("w", &[])).unwrap_err();
    assert_eq!(error.status, axum::http::StatusCode::CONFLICT);
}

#[test]
fn the_value_is_kept_in_the_private_vault_file_and_never_printed() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let vault = Vault::open(Some(dir.path())).unwrap();
    let secret = vault
        .create("token", fields("sentinel-value", &["h"]))
        .unwrap();
    assert!(!format!("{secret:?}").contains("sentinel-value"));
    let path = dir.path().join(VAULT_FILE);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let reopened = Vault::open(Some(dir.path())).unwrap();
    vault
        .mount(
            "sb",
            BTreeMap::from([("T".into(), "token".into())]),
            "t".into(),
        )
        .unwrap();
    assert!(reopened.substitutions("sb", "h").is_empty());
    let reopened = Vault::open(Some(dir.path())).unwrap();
    let found = reopened.substitutions("sb", "h");
    assert_eq!(found[0].value.expose(), "sentinel-value");
    assert!(reopened.substitutions("sb", "other").is_empty());
    assert!(reopened.substitutions("other", "h").is_empty());
}

#[test]
fn a_deleted_secret_is_unmounted_and_a_sandbox_left_with_none_loses_its_credential() {
    let vault = Vault::open(None).unwrap();
    let gone = vault.create("gone", fields("v1", &[])).unwrap();
    vault.create("stays", fields("v2", &[])).unwrap();
    let both = BTreeMap::from([("A".into(), "gone".into()), ("B".into(), "stays".into())]);
    vault.mount("both", both, "t1".into()).unwrap();
    let only = BTreeMap::from([("C".into(), "gone".into()), ("D".into(), "gone".into())]);
    vault.mount("only", only, "t2".into()).unwrap();
    let mut unmounted = vault.delete(&gone.id).unwrap();
    unmounted.sort_by(|a, b| a.sandbox.cmp(&b.sandbox));
    assert_eq!(
        unmounted,
        [
            Unmounted {
                sandbox: "both".into(),
                variables: vec!["A".into()],
                last: false
            },
            Unmounted {
                sandbox: "only".into(),
                variables: vec!["C".into(), "D".into()],
                last: true
            },
        ]
    );
    assert_eq!(vault.mount_of("both").unwrap().env.len(), 1);
    assert!(
        !vault.sandbox_of("only", "t2"),
        "the credential outlived its last secret"
    );
    // A secret made later under the name is not mounted by the old mapping.
    vault.create("gone", fields("v3", &[])).unwrap();
    let values: Vec<String> = vault
        .substitutions("both", "h")
        .iter()
        .map(|s| s.value.expose().to_string())
        .collect();
    assert_eq!(values, ["v2"]);
    assert_eq!(
        vault.delete(&gone.id).unwrap_err().status,
        axum::http::StatusCode::NOT_FOUND
    );
}
