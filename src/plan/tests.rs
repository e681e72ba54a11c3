//! Table tests for the planner: build desired teammates and observed sandboxes with small
//! helpers, reconcile, and compare the rendered plan with the expected text.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use super::{Desired, Plan, PlanOptions, SpecFields, labels, reconcile, render::minutes};
use crate::provider::{Lifecycle, Sandbox, SandboxState};

const HASH: &str = "v1:aaaa";

fn desired(teammate: &str) -> Desired {
    Desired {
        teammate: teammate.to_string(),
        spec_hash: HASH.to_string(),
        fields: SpecFields {
            repo: "https://example.com/app.git".to_string(),
            branch: format!("feature/{teammate}"),
            snapshot: Some("dev".to_string()),
            git: "Ralph <ralph@example.com>".to_string(),
            workdir: "app".to_string(),
            setup: "0123456789ab".to_string(),
            env: BTreeMap::from([("LOG_LEVEL".to_string(), "debug".to_string())]),
            ..SpecFields::default()
        },
        env_from_host: BTreeSet::new(),
        lifecycle: Lifecycle {
            auto_stop: Some(15),
            auto_archive: None,
            auto_delete: None,
        },
        source: None,
    }
}

/// A healthy sandbox for `teammate` matching `desired(teammate)`, created at `age` seconds past
/// the epoch (bigger is newer).
fn sandbox(teammate: &str, id: &str, age: u64) -> Sandbox {
    let wanted = desired(teammate);
    Sandbox {
        id: id.to_string(),
        name: format!("team-{teammate}"),
        state: SandboxState::Started,
        labels: BTreeMap::from([
            (labels::TEAM.to_string(), "team".to_string()),
            (labels::TEAMMATE.to_string(), teammate.to_string()),
            (labels::SPEC.to_string(), HASH.to_string()),
            (labels::SETUP.to_string(), "ok".to_string()),
            (labels::BRANCH.to_string(), wanted.fields.branch.clone()),
            (labels::FIELDS.to_string(), wanted.fields.to_label()),
        ]),
        env: wanted.fields.env.clone(),
        snapshot: wanted.fields.snapshot.clone(),
        created_at: SystemTime::UNIX_EPOCH + Duration::from_secs(age),
        lifecycle: Lifecycle {
            auto_stop: Some(15),
            auto_archive: Some(10080),
            auto_delete: Some(-1),
        },
        error_reason: None,
    }
}

fn in_state(mut sandbox: Sandbox, state: &str) -> Sandbox {
    sandbox.state = SandboxState::parse(state);
    sandbox
}

fn with_label(mut sandbox: Sandbox, key: &str, value: Option<&str>) -> Sandbox {
    match value {
        Some(value) => sandbox.labels.insert(key.to_string(), value.to_string()),
        None => sandbox.labels.remove(key),
    };
    sandbox
}

#[track_caller]
fn case_with(desired: &[Desired], observed: &[Sandbox], options: &PlanOptions, expected: &str) {
    let plan = reconcile(desired, observed, options);
    assert_eq!(plan.render(), expected, "\n{}", plan.render());
}

#[track_caller]
fn case(desired: &[Desired], observed: &[Sandbox], expected: &str) {
    case_with(desired, observed, &PlanOptions::default(), expected);
}

#[test]
fn create_when_no_sandbox() {
    case(
        &[desired("alice")],
        &[],
        "+ alice        create     no sandbox\n\nPlan: 1 to create.\n",
    );
}

#[test]
fn destroying_sandbox_counts_as_absent() {
    let observed = [
        in_state(sandbox("alice", "a1", 1), "destroying"),
        in_state(sandbox("alice", "a2", 2), "destroyed"),
    ];
    case(
        &[desired("alice")],
        &observed,
        "+ alice        create     no sandbox\n\nPlan: 1 to create.\n",
    );
}

#[test]
fn keep_when_up_to_date() {
    case(
        &[desired("erin")],
        &[sandbox("erin", "e1", 1)],
        "  erin         keep       up to date\n\nNo changes. 1 up to date.\n",
    );
}

#[test]
fn setup_skipped_counts_as_finished() {
    let observed = [with_label(
        sandbox("erin", "e1", 1),
        labels::SETUP,
        Some("skipped"),
    )];
    case(
        &[desired("erin")],
        &observed,
        "  erin         keep       up to date\n\nNo changes. 1 up to date.\n",
    );
}

#[test]
fn update_when_lifecycle_differs() {
    let mut wanted = desired("bob");
    wanted.lifecycle = Lifecycle {
        auto_stop: Some(30),
        auto_archive: None,
        auto_delete: Some(1440),
    };
    case(
        &[wanted],
        &[sandbox("bob", "b1", 1)],
        "~ bob          update     auto_stop 15m -> 30m, auto_delete never -> 1d\n\n\
         Plan: 1 to update.\n",
    );
}

#[test]
fn unset_lifecycle_fields_are_left_alone() {
    let mut wanted = desired("bob");
    wanted.lifecycle = Lifecycle::default();
    case(
        &[wanted],
        &[sandbox("bob", "b1", 1)],
        "  bob          keep       up to date\n\nNo changes. 1 up to date.\n",
    );
}

#[test]
fn minutes_render_compactly() {
    let rendered: Vec<String> = [0, 15, 60, 90, 1440, 1500, 10081, -1]
        .into_iter()
        .map(minutes)
        .collect();
    assert_eq!(
        rendered,
        ["0", "15m", "1h", "1h30m", "1d", "1d1h", "7d1m", "never"]
    );
}

#[test]
fn recreate_when_failed_state() {
    let observed = [
        in_state(sandbox("carol", "c1", 1), "error"),
        in_state(sandbox("dave", "d1", 1), "build_failed"),
    ];
    case(
        &[desired("carol"), desired("dave")],
        &observed,
        "-/+ carol      recreate   sandbox is in state `error`\n\
         -/+ dave       recreate   sandbox is in state `build_failed`\n\n\
         Plan: 2 to recreate.\n",
    );
}

#[test]
fn failed_setup_runs_again_in_place() {
    let observed = [with_label(
        sandbox("carol", "c1", 1),
        labels::SETUP,
        Some("failed"),
    )];
    let plan = reconcile(&[desired("carol")], &observed, &PlanOptions::default());
    assert_eq!(
        plan.render(),
        "~ carol        update     setup failed (runs again in place)\n\nPlan: 1 to update.\n"
    );
    assert!(plan.changes[0].setup);
    assert!(!plan.is_destructive());
}

#[test]
fn setup_that_did_not_finish_runs_again_in_place() {
    let observed = [
        with_label(sandbox("carol", "c1", 1), labels::SETUP, None),
        with_label(
            in_state(sandbox("dave", "d1", 1), "stopped"),
            labels::SETUP,
            None,
        ),
    ];
    let plan = reconcile(
        &[desired("carol"), desired("dave")],
        &observed,
        &PlanOptions::default(),
    );
    assert_eq!(
        plan.render(),
        "~ carol        update     setup did not finish (runs again in place)\n\
         > dave         start      sandbox is stopped; setup runs again\n\n\
         Plan: 1 to update, 1 to start.\n"
    );
    assert!(plan.changes.iter().all(|change| change.setup));
}

#[test]
fn a_changed_spec_recreates_even_when_setup_did_not_finish() {
    let mut carol = desired("carol");
    carol.spec_hash = "v1:bbbb".to_string();
    case(
        &[carol],
        &[with_label(sandbox("carol", "c1", 1), labels::SETUP, None)],
        "-/+ carol      recreate   spec changed\n\nPlan: 1 to recreate.\n",
    );
}

#[test]
fn recreate_when_spec_changed_shows_old_and_new_values() {
    let mut carol = desired("carol");
    carol.spec_hash = "v2:bbbb".to_string();
    carol.fields.snapshot = Some("node-22".to_string());
    carol.fields.branch = "feature/other".to_string();
    let mut dave = desired("dave");
    dave.spec_hash = "v2:bbbb".to_string();
    dave.fields.repo = "https://example.com/other.git".to_string();
    dave.fields.base_branch = Some("develop".to_string());
    dave.fields.git = "Bot <bot@example.com>".to_string();
    dave.fields.secrets = vec!["GH_TOKEN".to_string()];
    // Made by an older version: no values recorded, only the hash differs.
    let mut erin = desired("erin");
    erin.spec_hash = "v2:bbbb".to_string();
    let erin_sandbox = with_label(sandbox("erin", "e1", 1), labels::FIELDS, None);
    let plan = reconcile(
        &[carol, dave, erin],
        &[
            sandbox("carol", "c1", 1),
            sandbox("dave", "d1", 1),
            erin_sandbox,
        ],
        &PlanOptions::default(),
    );
    assert_eq!(
        plan.render(),
        "-/+ carol      recreate   spec changed: branch feature/carol -> feature/other, snapshot dev -> node-22\n\
         -/+ dave       recreate   spec changed: repo https://example.com/app.git -> https://example.com/other.git, base_branch (unset) -> develop, git Ralph <ralph@example.com> -> Bot <bot@example.com>, secrets (none) -> GH_TOKEN\n\
         -/+ erin       recreate   spec changed (made by an older ralph-town: no values recorded)\n\n\
         Plan: 3 to recreate.\n"
    );
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(
        json["changes"][0]["cause"]["fields"],
        serde_json::json!(["branch", "snapshot"])
    );
    assert_eq!(
        json["changes"][1]["cause"]["changes"][0],
        serde_json::json!({"field": "repo", "from": "https://example.com/app.git", "to": "https://example.com/other.git"})
    );
}

#[test]
fn an_env_change_is_an_update_in_place_and_host_values_are_named() {
    let mut alice = desired("alice");
    alice
        .fields
        .env
        .insert("LOG_LEVEL".to_string(), "trace".to_string());
    alice.env_from_host.insert("LOG_LEVEL".to_string());
    let mut bob = desired("bob");
    bob.fields
        .env
        .insert("FEATURE".to_string(), "on".to_string());
    let plan = reconcile(
        &[alice, bob],
        &[sandbox("alice", "a1", 1), sandbox("bob", "b1", 1)],
        &PlanOptions::default(),
    );
    assert_eq!(
        plan.render(),
        "~ alice        update     env LOG_LEVEL from the host: debug -> trace\n\
         ~ bob          update     env FEATURE: (unset) -> on\n\n\
         Plan: 2 to update.\n"
    );
    assert!(!plan.is_destructive());
    assert!(
        plan.changes
            .iter()
            .all(|change| change.relabel && change.env.len() == 1)
    );
}

#[test]
fn a_removed_lifecycle_key_converges_to_its_default() {
    let mut alice = desired("alice");
    alice.lifecycle.auto_stop = None;
    let mut observed = sandbox("alice", "a1", 1);
    observed.lifecycle.auto_stop = Some(30);
    case(
        &[alice],
        &[observed],
        "~ alice        update     auto_stop 30m -> 15m (default)\n\nPlan: 1 to update.\n",
    );
}

#[test]
fn sandboxes_of_another_team_file_are_left_alone_unless_adopted() {
    let mut alice = desired("alice");
    alice.source = Some("ours".to_string());
    let mut bob = desired("bob");
    bob.source = Some("ours".to_string());
    let theirs = |teammate: &str, id: &str| {
        with_label(sandbox(teammate, id, 1), labels::SOURCE, Some("theirs"))
    };
    let observed = [
        theirs("alice", "a1"),
        theirs("carol", "c1"),
        sandbox("bob", "b1", 1),
    ];
    let plan = reconcile(
        &[alice.clone(), bob.clone()],
        &observed,
        &PlanOptions {
            prune: true,
            ..PlanOptions::default()
        },
    );
    assert_eq!(
        plan.render(),
        "+ alice        create     no sandbox\n\
         ! alice#2      foreign    made from another team file (left alone; --adopt takes it over)\n\
         \x20 bob          keep       up to date\n\
         ! carol        foreign    made from another team file (left alone; --adopt takes it over)\n\n\
         Plan: 1 to create; 2 of another team file left alone.\n"
    );
    let adopted = reconcile(
        &[alice, bob],
        &observed,
        &PlanOptions {
            adopt: true,
            ..PlanOptions::default()
        },
    );
    assert_eq!(
        adopted.render(),
        "~ alice        update     adopted from another team file\n\
         \x20 bob          keep       up to date\n\
         ! carol        orphan     not in team.toml (kept; --prune removes it)\n\n\
         Plan: 1 to update; 1 orphan kept.\n"
    );
    assert!(adopted.changes[0].relabel);
}

#[test]
fn recreate_when_forced() {
    let options = PlanOptions {
        force_recreate: true,
        ..PlanOptions::default()
    };
    case_with(
        &[desired("alice"), desired("erin")],
        &[sandbox("erin", "e1", 1)],
        &options,
        "+ alice        create     no sandbox\n\
         -/+ erin       recreate   --force-recreate\n\n\
         Plan: 1 to create, 1 to recreate.\n",
    );
}

#[test]
fn start_when_stopped_or_archived() {
    let observed = [
        in_state(sandbox("dave", "d1", 1), "stopped"),
        in_state(sandbox("erin", "e1", 1), "archived"),
    ];
    case(
        &[desired("dave"), desired("erin")],
        &observed,
        "> dave         start      sandbox is stopped\n\
         > erin         start      sandbox is archived\n\n\
         Plan: 2 to start.\n",
    );
}

#[test]
fn start_carries_lifecycle_changes() {
    let mut wanted = desired("dave");
    wanted.lifecycle.auto_stop = Some(0);
    let plan = reconcile(
        &[wanted],
        &[in_state(sandbox("dave", "d1", 1), "stopped")],
        &PlanOptions::default(),
    );
    assert_eq!(
        plan.render(),
        "> dave         start      sandbox is stopped; auto_stop 15m -> 0\n\nPlan: 1 to start.\n"
    );
    assert_eq!(plan.changes[0].lifecycle.len(), 1);
}

#[test]
fn keep_while_in_transition() {
    let observed = [
        in_state(sandbox("bob", "b1", 1), "pulling_snapshot"),
        in_state(sandbox("carol", "c1", 1), "stopping"),
    ];
    case(
        &[desired("bob"), desired("carol")],
        &observed,
        "  bob          keep       pulling_snapshot (in progress)\n\
         \x20 carol        keep       stopping (in progress)\n\n\
         No changes. 2 in progress.\n",
    );
}

#[test]
fn a_sandbox_still_creating_without_setup_is_set_up_once_started() {
    // After a run was killed mid-create, nothing else would ever set this sandbox up.
    let observed = [with_label(
        in_state(sandbox("alice", "a1", 1), "creating"),
        labels::SETUP,
        None,
    )];
    let plan = reconcile(&[desired("alice")], &observed, &PlanOptions::default());
    assert_eq!(
        plan.render(),
        "~ alice        update     setup did not finish (runs again in place)\n\nPlan: 1 to update.\n"
    );
    assert!(plan.changes[0].setup);
}

#[test]
fn duplicate_keeps_newest_healthy() {
    // b3 is the newest but failed; b2 is healthy; b1 is healthy but older.
    let observed = [
        sandbox("bob", "b1", 1),
        sandbox("bob", "b2", 2),
        in_state(sandbox("bob", "b3", 3), "error"),
    ];
    let plan = reconcile(&[desired("bob")], &observed, &PlanOptions::default());
    assert_eq!(
        plan.render(),
        "  bob          keep       up to date\n\
         - bob#2        remove     duplicate sandbox for bob\n\
         - bob#3        remove     duplicate sandbox for bob\n\n\
         Plan: 2 to remove.\n"
    );
    let ids: Vec<&str> = plan
        .changes
        .iter()
        .map(|change| change.sandbox.as_ref().unwrap().id.as_str())
        .collect();
    assert_eq!(ids, ["b2", "b1", "b3"]);
    assert!(plan.is_destructive());
}

#[test]
fn duplicate_prefers_current_spec_over_newer() {
    let stale = with_label(sandbox("bob", "b2", 2), labels::SPEC, Some("v1:old"));
    let plan = reconcile(
        &[desired("bob")],
        &[stale, sandbox("bob", "b1", 1)],
        &PlanOptions::default(),
    );
    assert_eq!(plan.changes[0].sandbox.as_ref().unwrap().id, "b1");
}

#[test]
fn orphan_is_not_removed_without_prune() {
    let plan = reconcile(&[], &[sandbox("frank", "f1", 1)], &PlanOptions::default());
    assert_eq!(
        plan.render(),
        "! frank        orphan     not in team.toml (kept; --prune removes it)\n\n\
         No changes. 1 orphan kept.\n"
    );
    assert!(!plan.has_changes());
    assert!(!plan.is_destructive());
}

#[test]
fn orphan_is_removed_with_prune() {
    let options = PlanOptions {
        prune: true,
        ..PlanOptions::default()
    };
    let observed = [sandbox("frank", "f1", 1), sandbox("frank", "f2", 2)];
    case_with(
        &[],
        &observed,
        &options,
        "- frank        remove     not in team.toml (--prune)\n\
         - frank#2      remove     not in team.toml (--prune)\n\n\
         Plan: 2 to remove.\n",
    );
}

#[test]
fn unlabelled_sandbox_is_an_orphan_named_after_itself() {
    // Even when its name matches a declared teammate, it is not that teammate's sandbox.
    let mut stray = with_label(sandbox("alice", "x1", 1), labels::TEAMMATE, None);
    stray.name = "alice".to_string();
    case(
        &[desired("alice")],
        &[stray],
        "+ alice        create     no sandbox\n\
         ! alice        orphan     not in team.toml (kept; --prune removes it)\n\n\
         Plan: 1 to create; 1 orphan kept.\n",
    );
}

#[test]
fn only_restricts_to_named_teammates() {
    let options = PlanOptions {
        only: Some(BTreeSet::from(["bob".to_string()])),
        force_recreate: true,
        prune: true,
        adopt: false,
    };
    let observed = [
        sandbox("alice", "a1", 1),
        sandbox("bob", "b1", 1),
        sandbox("bob", "b2", 2),
        sandbox("frank", "f1", 1),
    ];
    case_with(
        &[desired("alice"), desired("bob"), desired("carol")],
        &observed,
        &options,
        "-/+ bob        recreate   --force-recreate\n\
         - bob#2        remove     duplicate sandbox for bob\n\n\
         Plan: 1 to recreate, 1 to remove.\n",
    );
}

#[test]
fn order_does_not_depend_on_input_order() {
    let mut wanted = vec![desired("carol"), desired("alice"), desired("bob")];
    let mut observed = vec![
        sandbox("bob", "b1", 5),
        sandbox("zed", "z1", 1),
        sandbox("bob", "b3", 5),
        sandbox("bob", "b2", 5),
        in_state(sandbox("carol", "c1", 1), "stopped"),
        sandbox("bob", "b4", 1),
    ];
    let expected = reconcile(&wanted, &observed, &PlanOptions::default());
    assert_eq!(
        expected.render(),
        "+ alice        create     no sandbox\n\
         \x20 bob          keep       up to date\n\
         - bob#2        remove     duplicate sandbox for bob\n\
         - bob#3        remove     duplicate sandbox for bob\n\
         - bob#4        remove     duplicate sandbox for bob\n\
         > carol        start      sandbox is stopped\n\
         ! zed          orphan     not in team.toml (kept; --prune removes it)\n\n\
         Plan: 1 to create, 1 to start, 3 to remove; 1 orphan kept.\n"
    );
    for _ in 0..3 {
        wanted.rotate_left(1);
        observed.reverse();
        observed.rotate_left(2);
        assert_eq!(
            reconcile(&wanted, &observed, &PlanOptions::default()),
            expected
        );
    }
    // Equal health and age: the smallest id is kept.
    assert_eq!(expected.changes[1].sandbox.as_ref().unwrap().id, "b1");
}

#[test]
fn design_example_renders_in_style() {
    let mut bob = desired("bob");
    bob.lifecycle.auto_stop = Some(30);
    let mut carol = desired("carol");
    carol.spec_hash = "v2:bbbb".to_string();
    carol.fields.snapshot = Some("node-22".to_string());
    let observed = [
        sandbox("bob", "b1", 2),
        sandbox("bob", "b2", 1),
        sandbox("carol", "c1", 1),
        in_state(sandbox("dave", "d1", 1), "stopped"),
        sandbox("erin", "e1", 1),
        sandbox("frank", "f1", 1),
    ];
    case(
        &[
            desired("alice"),
            bob,
            carol,
            desired("dave"),
            desired("erin"),
        ],
        &observed,
        "+ alice        create     no sandbox\n\
         ~ bob          update     auto_stop 15m -> 30m\n\
         - bob#2        remove     duplicate sandbox for bob\n\
         -/+ carol      recreate   spec changed: snapshot dev -> node-22\n\
         > dave         start      sandbox is stopped\n\
         \x20 erin         keep       up to date\n\
         ! frank        orphan     not in team.toml (kept; --prune removes it)\n\n\
         Plan: 1 to create, 1 to update, 1 to recreate, 1 to start, 1 to remove; 1 orphan kept.\n",
    );
}

#[test]
fn long_names_widen_the_column() {
    let name = "a-rather-long-teammate-name";
    case(
        &[desired(name), desired("bo")],
        &[],
        "+ a-rather-long-teammate-name  create     no sandbox\n\
         + bo                           create     no sandbox\n\n\
         Plan: 2 to create.\n",
    );
}

#[test]
fn empty_plan_text() {
    let plan = reconcile(&[], &[], &PlanOptions::default());
    assert_eq!(plan.render(), "No changes.\n");
    assert!(!plan.has_changes());
    assert!(!plan.is_destructive());
}

#[test]
fn json_form_shape() {
    let mut bob = desired("bob");
    bob.lifecycle.auto_stop = Some(30);
    let plan: Plan = reconcile(
        &[desired("alice"), bob],
        &[sandbox("bob", "b1", 1)],
        &PlanOptions::default(),
    );
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "changes": [
                {
                    "teammate": "alice",
                    "display": "alice",
                    "action": "create",
                    "cause": {"kind": "no_sandbox"},
                    "sandbox": null,
                },
                {
                    "teammate": "bob",
                    "display": "bob",
                    "action": "update",
                    "cause": {
                        "kind": "lifecycle_changed",
                        "changes": [{"field": "auto_stop", "from": "15m", "to": "30m"}],
                    },
                    "sandbox": {"id": "b1", "name": "team-bob", "running": true},
                    "lifecycle": [{"field": "auto_stop", "from": "15m", "to": "30m"}],
                },
            ],
            "summary": {
                "create": 1, "update": 1, "recreate": 0, "start": 0, "remove": 0,
                "keep": 0, "in_progress": 0, "orphan": 0, "foreign": 0,
            },
        })
    );
}

#[test]
fn force_recreate_overrides_transition() {
    let options = PlanOptions {
        force_recreate: true,
        ..PlanOptions::default()
    };
    case_with(
        &[desired("alice")],
        &[in_state(sandbox("alice", "a1", 1), "starting")],
        &options,
        "-/+ alice      recreate   --force-recreate\n\nPlan: 1 to recreate.\n",
    );
}
