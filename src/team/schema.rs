//! The JSON Schema of `team.toml`, generated from the raw model in `raw`.
//!
//! Editors (taplo, Even Better TOML) use it for completion and checks. Draft 7, which those
//! tools support. The checked-in `schemas/team.schema.json` must equal this output; a test
//! says how to regenerate it.

use schemars::Schema;
use schemars::generate::SchemaSettings;
use schemars::transform::RecursiveTransform;
use serde_json::{Value, json};

use super::raw::TeamFile;

/// The schema as pretty JSON with a trailing newline.
pub fn schema_json() -> String {
    let mut settings = SchemaSettings::draft07();
    // First, so that the draft 7 clean-ups after it see the final shape.
    settings
        .transforms
        .insert(0, Box::new(RecursiveTransform(without_null)));
    let schema = settings.into_generator().into_root_schema_for::<TeamFile>();
    let mut text = serde_json::to_string_pretty(&schema)
        .expect("a schema is plain JSON and always serializes");
    text.push('\n');
    text
}

/// TOML has no null: an optional key is one that is left out, so `null` is dropped from
/// every type.
fn without_null(schema: &mut Schema) {
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    if let Some(Value::Array(types)) = object.get_mut("type") {
        types.retain(|kind| kind != "null");
        if types.len() == 1 {
            let only = types.remove(0);
            object.insert("type".into(), only);
        }
    }
    if let Some(Value::Array(alternatives)) = object.get_mut("anyOf") {
        alternatives.retain(|alternative| *alternative != json!({ "type": "null" }));
        if alternatives.len() == 1
            && let Value::Object(only) = alternatives.remove(0)
        {
            object.remove("anyOf");
            for (key, value) in only {
                object.entry(key).or_insert(value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::team::keys;

    fn property_names(schema: &Value) -> Vec<String> {
        let mut names: Vec<String> = schema["properties"]
            .as_object()
            .expect("properties")
            .keys()
            .cloned()
            .collect();
        names.sort();
        names
    }

    fn sorted(lists: &[&[&str]]) -> Vec<String> {
        let mut names: Vec<String> = lists
            .iter()
            .flat_map(|list| list.iter())
            .map(std::string::ToString::to_string)
            .collect();
        names.sort();
        names
    }

    // The unknown-key check and the schema must accept the same keys.
    #[test]
    fn key_lists_match_the_schema() {
        let schema: Value = serde_json::from_str(&schema_json()).unwrap();
        let definitions = &schema["definitions"];
        assert_eq!(property_names(&schema), sorted(&[keys::TOP]));
        assert_eq!(
            property_names(&definitions["Defaults"]),
            sorted(&[keys::SETTINGS])
        );
        assert_eq!(
            property_names(&definitions["Teammate"]),
            sorted(&[keys::SETTINGS, keys::TEAMMATE_OWN])
        );
        assert_eq!(
            property_names(&definitions["GitIdentity"]),
            sorted(&[keys::GIT])
        );
        assert_eq!(
            property_names(&definitions["Resources"]),
            sorted(&[keys::RESOURCES])
        );
    }

    #[test]
    fn no_null_anywhere() {
        assert!(!schema_json().contains("null"));
    }
}
