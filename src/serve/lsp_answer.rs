//! What a language server answered, in the toolbox's shapes: `CompletionList` and `LspSymbol`
//! lists as Daytona's daemon sends them. Servers answer the same questions in several forms
//! (a completion list or a bare array, flat symbol information or a tree of document symbols,
//! workspace symbols without a range); every form becomes the one the SDKs parse. Pure: no I/O.

use serde_json::{Map, Value, json};

/// The fields of a completion item the daemon passes on.
const COMPLETION_FIELDS: [&str; 7] = [
    "label",
    "kind",
    "detail",
    "documentation",
    "sortText",
    "filterText",
    "insertText",
];

/// A `textDocument/completion` result as a `CompletionList`. Documentation given as a bare
/// string becomes plain-text markup content: the spec (and the Python SDK's model) has an
/// object there.
pub(crate) fn completion_list(result: Value) -> Value {
    let (incomplete, items) = match result {
        Value::Array(items) => (false, items),
        Value::Object(mut list) => (
            list.get("isIncomplete")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            match list.remove("items") {
                Some(Value::Array(items)) => items,
                _ => Vec::new(),
            },
        ),
        _ => (false, Vec::new()),
    };
    let items: Vec<Value> = items
        .into_iter()
        .filter_map(|item| match item {
            Value::Object(item) if item.get("label").is_some_and(Value::is_string) => {
                Some(completion_item(item))
            }
            _ => None,
        })
        .collect();
    json!({ "isIncomplete": incomplete, "items": items })
}

fn completion_item(mut item: Map<String, Value>) -> Value {
    let mut kept = Map::new();
    for field in COMPLETION_FIELDS {
        match item.remove(field) {
            None | Some(Value::Null) => {}
            Some(Value::String(text)) if field == "documentation" => {
                kept.insert(
                    field.to_string(),
                    json!({ "kind": "plaintext", "value": text }),
                );
            }
            Some(value) => {
                kept.insert(field.to_string(), value);
            }
        }
    }
    Value::Object(kept)
}

/// A `textDocument/documentSymbol` or `workspace/symbol` result as a flat `LspSymbol` list.
/// `document` is the URI of the document asked about: document symbols carry none of their own.
pub(crate) fn symbols(result: Value, document: Option<&str>) -> Vec<Value> {
    let mut flat = Vec::new();
    if let Value::Array(symbols) = result {
        for symbol in symbols {
            push_symbol(&mut flat, symbol, document);
        }
    }
    flat
}

fn push_symbol(flat: &mut Vec<Value>, mut symbol: Value, document: Option<&str>) {
    let (Some(name), Some(kind)) = (
        symbol
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_string),
        symbol.get("kind").and_then(Value::as_i64),
    ) else {
        return;
    };
    let location = match symbol.get_mut("location").map(Value::take) {
        // Symbol information, or a workspace symbol (whose location may lack a range).
        Some(Value::Object(location)) => json!({
            "uri": location.get("uri").cloned().unwrap_or_else(|| json!(document.unwrap_or_default())),
            "range": location.get("range").cloned().unwrap_or_else(empty_range),
        }),
        // A document symbol: located by its range in the document asked about.
        _ => json!({
            "uri": document.unwrap_or_default(),
            "range": symbol.get("range").cloned().unwrap_or_else(empty_range),
        }),
    };
    flat.push(json!({ "name": name, "kind": kind, "location": location }));
    if let Some(Value::Array(children)) = symbol.get_mut("children").map(Value::take) {
        for child in children {
            push_symbol(flat, child, document);
        }
    }
}

fn empty_range() -> Value {
    json!({ "start": { "line": 0, "character": 0 }, "end": { "line": 0, "character": 0 } })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(line: u32) -> Value {
        json!({ "start": { "line": line, "character": 0 }, "end": { "line": line, "character": 3 } })
    }

    #[test]
    fn a_bare_array_of_completions_is_a_complete_list_of_the_daemon_fields() {
        let list = completion_list(json!([
            { "label": "append", "kind": 2, "data": { "private": 1 }, "documentation": "Adds." },
            { "kind": 2 },
        ]));
        assert_eq!(
            list,
            json!({ "isIncomplete": false, "items": [
                { "label": "append", "kind": 2,
                  "documentation": { "kind": "plaintext", "value": "Adds." } },
            ] })
        );
        assert_eq!(
            completion_list(Value::Null),
            json!({ "isIncomplete": false, "items": [] })
        );
        let list = completion_list(json!({ "isIncomplete": true, "items": [{ "label": "x" }] }));
        assert_eq!(list["isIncomplete"], true);
    }

    #[test]
    fn document_symbol_trees_are_flattened_and_located_in_their_document() {
        let symbols = symbols(
            json!([{ "name": "Greeter", "kind": 5, "range": range(1), "selectionRange": range(1),
                     "children": [{ "name": "greet", "kind": 6, "range": range(2), "selectionRange": range(2) }] }]),
            Some("file:///p/a.ts"),
        );
        assert_eq!(
            symbols,
            vec![
                json!({ "name": "Greeter", "kind": 5, "location": { "uri": "file:///p/a.ts", "range": range(1) } }),
                json!({ "name": "greet", "kind": 6, "location": { "uri": "file:///p/a.ts", "range": range(2) } }),
            ]
        );
    }

    #[test]
    fn workspace_symbols_without_a_range_get_an_empty_one() {
        let symbols = symbols(
            json!([
                { "name": "a", "kind": 12, "location": { "uri": "file:///p/b.py", "range": range(4) } },
                { "name": "b", "kind": 12, "location": { "uri": "file:///p/c.py" } },
            ]),
            None,
        );
        assert_eq!(symbols[0]["location"]["range"], range(4));
        assert_eq!(symbols[1]["location"]["range"], empty_range());
        assert_eq!(symbols[1]["location"]["uri"], "file:///p/c.py");
    }
}
