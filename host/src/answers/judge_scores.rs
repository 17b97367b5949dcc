//! Judge scores (`blackbox.judge_scores`): the strict parser of a judge's answer and a sample
//! answer it accepts. Every parse error starts with `invalid_judge_output:` and ends with a
//! preview of the answer. What the scores decide is `stages::blackbox::scoring`'s.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::extract_json;

/// Parses the judge's answer: an object whose `scores` list holds one `{id, score}` per
/// expected id, each id a non-empty string, each score an integer (not a bool, not a float) in
/// `[0, 100]`. Returns `(id, score)` in the answer's order. Every error ends with
/// `preview=<first 200 characters of text>`.
pub fn parse_judge_scores(
    text: &str,
    expected_ids: &[String],
) -> Result<Vec<(String, i64)>, String> {
    let fail = |reason: String| {
        let preview: String = text.chars().take(200).collect();
        format!("invalid_judge_output: {reason}; preview={preview:?}")
    };
    let payload: Value = serde_json::from_str(extract_json(text))
        .map_err(|e| fail(format!("JSON parse error: {e}")))?;
    let Some(raw) = payload.as_object().and_then(|map| map.get("scores")) else {
        return Err(fail("expected object with key 'scores'".into()));
    };
    let Value::Array(raw) = raw else {
        return Err(fail("scores must be a list".into()));
    };
    let mut scores: Vec<(String, i64)> = Vec::with_capacity(raw.len());
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for (i, item) in raw.iter().enumerate() {
        let Value::Object(item) = item else {
            return Err(fail(format!("scores[{i}] must be an object")));
        };
        let id = match item.get("id") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
            _ => return Err(fail(format!("scores[{i}].id must be a non-empty string"))),
        };
        if !seen.insert(id.clone()) {
            return Err(fail(format!("duplicate id in scores: {id}")));
        }
        // Integers only: JSON `true` is not a number here, and `80.0` parses as a float.
        let score = match item.get("score") {
            Some(Value::Number(n)) if n.is_i64() || n.is_u64() => n.as_i64(),
            _ => return Err(fail(format!("scores[{i}].score must be an int"))),
        };
        match score {
            Some(score) if (0..=100).contains(&score) => scores.push((id, score)),
            _ => return Err(fail(format!("scores[{i}].score must be in [0, 100]"))),
        }
    }
    let expected: BTreeSet<String> = expected_ids.iter().cloned().collect();
    let missing: Vec<&String> = expected.difference(&seen).collect();
    let extra: Vec<&String> = seen.difference(&expected).collect();
    if !missing.is_empty() || !extra.is_empty() {
        return Err(fail(format!(
            "score ids must match idea ids (missing={missing:?} extra={extra:?})"
        )));
    }
    Ok(scores)
}

/// An answer the judge-score parser accepts: `{"scores":[{"id","score"}...]}` on one line, in
/// the order given (the offline backend answers with it).
pub fn judge_scores_sample(scores: &[(String, i64)]) -> String {
    let scores: Vec<Value> = scores
        .iter()
        .map(|(id, score)| json!({ "id": id, "score": score }))
        .collect();
    json!({ "scores": scores }).to_string()
}
