//! The concept list of a rewrite (`preprompt.concept_list`): the parser of the rewritten list
//! and a sample answer it accepts. Asking for the rewrite is `stages::preprompt`'s business.

use serde_json::{json, Value};

use super::extract_json;

/// An answer [`parse_concept_list`] accepts: `{"concepts": [...]}` on one line (the offline
/// backend answers with it).
pub fn concept_list_sample(concepts: &[String]) -> String {
    json!({ "concepts": concepts }).to_string()
}

/// The rewritten list: `{"concepts": [...]}` (what the prompt asks for, an object so that JSON
/// mode can ask for it) or a bare array, of `expected` non-empty strings, found inside a code
/// fence when there is one ([`extract_json`]).
pub fn parse_concept_list(raw: &str, expected: usize) -> Result<Vec<String>, String> {
    const SHAPE: &str = "not `{\"concepts\": [...]}` nor a JSON array";
    let value: Value = serde_json::from_str(extract_json(raw).trim())
        .map_err(|e| format!("the rewrite is {SHAPE}: {e}"))?;
    let items = match &value {
        Value::Array(items) => items,
        Value::Object(map) => match map.get("concepts") {
            Some(Value::Array(items)) => items,
            _ => return Err(format!("the rewrite is {SHAPE}: no `concepts` list")),
        },
        _ => return Err(format!("the rewrite is {SHAPE}")),
    };
    let concepts: Vec<String> = items
        .iter()
        .map(|item| {
            item.as_str()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
        })
        .collect::<Option<_>>()
        .ok_or("the rewrite holds something other than non-empty strings")?;
    if concepts.len() != expected {
        return Err(format!(
            "the rewrite has {} concepts, expected {expected}",
            concepts.len()
        ));
    }
    Ok(concepts)
}
