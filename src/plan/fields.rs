//! The values a plan compares to say exactly what changes: the teammate's spec fields as the
//! `ralph-town/fields` label records them, and the field-by-field differences (`repo a -> b`,
//! `env LOG_LEVEL from the host: info -> debug`).
//!
//! Pure, like the planner. It never holds a secret value: secrets appear by name only.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::FieldChange;
use crate::vocabulary::{Lifecycle, Resources, labels};

/// A teammate's spec as a sandbox records it. Every value here is already visible in the team
/// file or the provider's API; secrets are names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SpecFields {
    pub repo: String,
    pub branch: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_branch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// `Name <email>`.
    pub git: String,
    pub workdir: String,
    /// Secret names, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_minutes: Option<u32>,
    #[serde(default)]
    pub resources: Resources,
    /// A digest of the rendered setup script (its text can be long).
    pub setup: String,
    /// The plain environment: applied in place, so not part of the spec hash.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
}

impl SpecFields {
    /// The label value.
    pub(crate) fn to_label(&self) -> String {
        serde_json::to_string(self).expect("spec fields serialize")
    }

    /// The fields a sandbox's labels record, if any (sandboxes made by older versions have
    /// none, and a label that does not parse is treated the same).
    pub(crate) fn of(labels: &BTreeMap<String, String>) -> Option<SpecFields> {
        serde_json::from_str(labels.get(labels::FIELDS)?).ok()
    }
}

/// How a missing value shows.
const UNSET: &str = "(unset)";

/// The spec fields that differ (not env: that is [`env_changes`]), old to new.
pub(super) fn spec_changes(desired: &SpecFields, observed: &SpecFields) -> Vec<FieldChange> {
    let optional = |value: &Option<String>| value.clone().unwrap_or_else(|| UNSET.to_string());
    let number = |value: Option<u32>| value.map_or_else(|| UNSET.to_string(), |n| n.to_string());
    let secrets = |names: &[String]| match names {
        [] => "(none)".to_string(),
        names => names.join(", "),
    };
    let candidates = [
        ("repo", observed.repo.clone(), desired.repo.clone()),
        ("branch", observed.branch.clone(), desired.branch.clone()),
        (
            "base_branch",
            optional(&observed.base_branch),
            optional(&desired.base_branch),
        ),
        (
            "snapshot",
            optional(&observed.snapshot),
            optional(&desired.snapshot),
        ),
        ("git", observed.git.clone(), desired.git.clone()),
        ("workdir", observed.workdir.clone(), desired.workdir.clone()),
        (
            "secrets",
            secrets(&observed.secrets),
            secrets(&desired.secrets),
        ),
        (
            "ttl_minutes",
            number(observed.ttl_minutes),
            number(desired.ttl_minutes),
        ),
        (
            "resources.cpu",
            number(observed.resources.cpu),
            number(desired.resources.cpu),
        ),
        (
            "resources.memory",
            number(observed.resources.memory),
            number(desired.resources.memory),
        ),
        (
            "resources.disk",
            number(observed.resources.disk),
            number(desired.resources.disk),
        ),
        ("setup", observed.setup.clone(), desired.setup.clone()),
    ];
    candidates
        .into_iter()
        .filter(|(_, from, to)| from != to)
        .map(|(field, from, to)| FieldChange::new(field, from, to))
        .collect()
}

/// The environment's differences, by name; `from_host` marks values taken from this host.
pub(super) fn env_changes(
    desired: &BTreeMap<String, String>,
    observed: &BTreeMap<String, String>,
    from_host: &BTreeSet<String>,
) -> Vec<FieldChange> {
    let names: BTreeSet<&String> = desired.keys().chain(observed.keys()).collect();
    names
        .into_iter()
        .filter_map(|name| {
            let (from, to) = (observed.get(name), desired.get(name));
            (from != to).then(|| FieldChange {
                from_host: from_host.contains(name),
                ..FieldChange::new(
                    &format!("env {name}"),
                    from.map_or(UNSET, String::as_str),
                    to.map_or(UNSET, String::as_str),
                )
            })
        })
        .collect()
}

/// The timers that differ, a timer the file does not set counting as its default (so removing
/// a key converges back to the default).
pub(super) fn lifecycle_changes(desired: &Lifecycle, observed: &Lifecycle) -> Vec<FieldChange> {
    let (desired_all, observed_all) = (desired.or_default(), observed.or_default());
    let fields = [
        (
            "auto_stop",
            desired.auto_stop.is_none(),
            desired_all.auto_stop.map(i64::from),
            observed_all.auto_stop.map(i64::from),
        ),
        (
            "auto_archive",
            desired.auto_archive.is_none(),
            desired_all.auto_archive.map(i64::from),
            observed_all.auto_archive.map(i64::from),
        ),
        (
            "auto_delete",
            desired.auto_delete.is_none(),
            desired_all.auto_delete.map(i64::from),
            observed_all.auto_delete.map(i64::from),
        ),
    ];
    fields
        .into_iter()
        .filter_map(|(field, default, wanted, have)| {
            let (wanted, have) = (wanted?, have?);
            (have != wanted).then(|| {
                let to = super::render::timer(field, wanted);
                let to = if default {
                    format!("{to} (default)")
                } else {
                    to
                };
                FieldChange::new(field, super::render::timer(field, have), to)
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_changes_name_added_removed_and_host_values() {
        let desired = BTreeMap::from([
            ("A".to_string(), "1".to_string()),
            ("LOG_LEVEL".to_string(), "debug".to_string()),
        ]);
        let observed = BTreeMap::from([
            ("LOG_LEVEL".to_string(), "info".to_string()),
            ("OLD".to_string(), "x".to_string()),
        ]);
        let host = BTreeSet::from(["LOG_LEVEL".to_string()]);
        let changes = env_changes(&desired, &observed, &host);
        let shown: Vec<String> = changes.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "env A: (unset) -> 1",
                "env LOG_LEVEL from the host: info -> debug",
                "env OLD: x -> (unset)",
            ]
        );
    }

    #[test]
    fn a_removed_timer_converges_to_its_default() {
        let desired = Lifecycle::default();
        let observed = Lifecycle {
            auto_stop: Some(30),
            ..Lifecycle::DEFAULT
        };
        let shown: Vec<String> = lifecycle_changes(&desired, &observed)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(shown, ["auto_stop 30m -> 15m (default)"]);
        assert!(lifecycle_changes(&desired, &Lifecycle::default()).is_empty());
    }

    #[test]
    fn spec_changes_show_values_and_secrets_by_name() {
        let observed = SpecFields {
            repo: "https://x/a.git".to_string(),
            git: "A <a@x>".to_string(),
            secrets: vec!["GH_TOKEN".to_string()],
            ..SpecFields::default()
        };
        let desired = SpecFields {
            repo: "https://x/b.git".to_string(),
            base_branch: Some("develop".to_string()),
            git: "B <b@x>".to_string(),
            secrets: vec!["GH_TOKEN".to_string(), "NPM_TOKEN".to_string()],
            ..SpecFields::default()
        };
        let shown: Vec<String> = spec_changes(&desired, &observed)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            shown,
            [
                "repo https://x/a.git -> https://x/b.git",
                "base_branch (unset) -> develop",
                "git A <a@x> -> B <b@x>",
                "secrets GH_TOKEN -> GH_TOKEN, NPM_TOKEN",
            ]
        );
        let label = desired.to_label();
        let labels = BTreeMap::from([(labels::FIELDS.to_string(), label)]);
        assert_eq!(SpecFields::of(&labels), Some(desired));
    }
}
