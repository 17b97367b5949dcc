//! The A/B analysis: checks of one finished run, and the A-vs-B summary over the stored results.
//!
//! Everything here is a pure function of its input (no host, no I/O), so the checks are tested
//! by value. The checks follow the reference's `ab_scenespec_json_intermediary` analysis (key
//! order, issue codes and messages, result shapes) with one deliberate change: clichés are
//! matched as whole words or phrases, so `epic` no longer hits `epicenter`.
//!
//! - [`final_prompt_checks`]: the strict one-line prompt `SUBJECT=… | … | AR=16:9`.
//! - [`scenespec_checks`]: the raw SceneSpec JSON of the SceneSpec variant.
//! - [`token_presence`]: where the run's token shows up in the intermediate outputs.
//! - [`analyze_run`]: the three above for one successful run; [`summarize`]: per-variant totals.
//!
//! A failed check sets `ok: false` in the analysis; it never fails the run. Only a run whose
//! spec carries no token is an error.

use plugin_api::{ExperimentError, RunOutcome, RunSpec, RunStatus};
use serde_json::{json, Map, Value};

/// The keys of the final prompt, in the order they must appear.
pub const FINAL_PROMPT_KEYS: [&str; 10] = [
    "SUBJECT",
    "SETTING",
    "ACTION",
    "COMPOSITION",
    "CAMERA",
    "LIGHTING",
    "COLOR",
    "STYLE",
    "TEXT_IN_SCENE",
    "AR",
];

/// The separator between final-prompt segments: space, pipe, space.
pub const SEGMENT_SEPARATOR: &str = " | ";

/// The only accepted `AR` value.
pub const EXPECTED_AR: &str = "16:9";

/// Minimum words per final-prompt field; a shortfall is a recorded violation, not an issue.
pub const SPECIFICITY_MIN_WORDS: [(&str, u64); 8] = [
    ("SUBJECT", 5),
    ("SETTING", 6),
    ("ACTION", 5),
    ("COMPOSITION", 5),
    ("CAMERA", 3),
    ("LIGHTING", 3),
    ("COLOR", 3),
    ("STYLE", 3),
];

/// Cliché phrases, reported in this order (informational; they never affect `ok`).
pub const CLICHES: [&str; 16] = [
    "masterpiece",
    "highly detailed",
    "ultra detailed",
    "ultra-detailed",
    "ultra realistic",
    "ultra-realistic",
    "hyper realistic",
    "hyper-realistic",
    "photorealistic",
    "cinematic",
    "award-winning",
    "epic",
    "stunning",
    "breathtaking",
    "8k",
    "hdr",
];

/// The keys a SceneSpec object must have; the last two are lists, the rest strings.
pub const SCENESPEC_KEYS: [&str; 11] = [
    "subject",
    "setting",
    "action",
    "composition",
    "camera",
    "lighting",
    "color",
    "style",
    "text_in_scene",
    "must_keep",
    "avoid",
];

/// The SceneSpec keys whose value is a non-empty list of non-blank strings.
const SCENESPEC_LIST_KEYS: [&str; 2] = ["must_keep", "avoid"];

/// A subject equal to one of these, or starting with one followed by a space, is generic.
pub const GENERIC_SUBJECTS: [&str; 15] = [
    "a person",
    "a man",
    "a woman",
    "a child",
    "someone",
    "a figure",
    "a portrait",
    "a scene",
    "an object",
    "a thing",
    "a landscape",
    "a city",
    "a building",
    "a creature",
    "an animal",
];

/// The run outputs the analysis reads.
pub mod outputs {
    /// The scene draft (`ab.scene_draft`).
    pub const SCENE_DRAFT: &str = "ab_scene_draft";
    /// The refined scene (the refinement stages).
    pub const SCENE_REFINED: &str = "ab_scene_refined";
    /// The raw SceneSpec JSON (`ab.scene_spec_json`).
    pub const SCENE_SPEC_JSON: &str = "ab_scene_spec_json";
    /// The final prompt, when the outcome's `final_prompt` is empty.
    pub const IMAGE_PROMPT: &str = "image_prompt";
}

/// Checks the strict one-line final prompt against the run's `token`.
///
/// Returns `{ok, issues: [{code, message}], fields, word_counts, specificity: {min_words,
/// violations}, token_expected, token_ok, ar_ok, cliches}`, or only `{ok: false, issues}` when
/// the prompt is blank. `ok` means no issues; specificity violations and clichés do not count.
pub fn final_prompt_checks(prompt: &str, token: &str) -> Value {
    let raw = prompt.trim();
    if raw.is_empty() {
        return json!({
            "ok": false,
            "issues": [issue("final_prompt_missing", "Final prompt is empty or missing")],
        });
    }

    let mut issues = Vec::new();
    if raw.contains('\n') || raw.contains('\r') {
        issues.push(issue(
            "final_prompt_multiline",
            "Final prompt contains newline(s)",
        ));
    }

    let parts: Vec<&str> = raw.split(SEGMENT_SEPARATOR).map(str::trim).collect();
    if parts.len() != FINAL_PROMPT_KEYS.len() {
        issues.push(issue(
            "final_prompt_segment_count",
            format!(
                "Expected {} segments but got {}",
                FINAL_PROMPT_KEYS.len(),
                parts.len()
            ),
        ));
    }

    // A key found at the wrong position is still stored, under the key as written.
    let mut fields = Map::new();
    for (position, (expected, segment)) in FINAL_PROMPT_KEYS.iter().zip(&parts).enumerate() {
        let Some((key, value)) = segment.split_once('=') else {
            issues.push(issue(
                "final_prompt_bad_segment",
                format!("Missing '=' in segment: {}", py_repr(segment)),
            ));
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        if key != *expected {
            issues.push(issue(
                "final_prompt_bad_key_order",
                format!(
                    "Expected key {expected} at position {} but got {key}",
                    position + 1
                ),
            ));
        }
        fields.insert(key.to_owned(), Value::String(value.to_owned()));
    }

    let missing: Vec<&str> = FINAL_PROMPT_KEYS
        .into_iter()
        .filter(|key| !fields.contains_key(*key))
        .collect();
    if !missing.is_empty() {
        issues.push(issue(
            "final_prompt_missing_keys",
            format!("Missing keys: {}", missing.join(", ")),
        ));
    }

    let mut empty = Vec::new();
    let mut placeholders = Vec::new();
    let mut word_counts = Map::new();
    let mut violations = Map::new();
    for (key, value) in &fields {
        let value = value.as_str().unwrap_or_default();
        if value.is_empty() {
            empty.push(key.as_str());
        }
        if value.contains("<...>") || value == "..." {
            placeholders.push(key.as_str());
        }
        let words = word_count(value.trim_matches('"'));
        word_counts.insert(key.clone(), json!(words));
        if let Some(min) = min_words(key) {
            if words < min {
                violations.insert(key.clone(), json!(words));
            }
        }
    }
    if !empty.is_empty() {
        issues.push(issue(
            "final_prompt_empty_fields",
            format!("Empty fields: {}", empty.join(", ")),
        ));
    }
    if !placeholders.is_empty() {
        issues.push(issue(
            "final_prompt_placeholders",
            format!("Placeholder values present: {}", placeholders.join(", ")),
        ));
    }

    let text_in_scene = fields
        .get("TEXT_IN_SCENE")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let quoted =
        text_in_scene.len() >= 2 && text_in_scene.starts_with('"') && text_in_scene.ends_with('"');
    let inner = if quoted {
        &text_in_scene[1..text_in_scene.len() - 1]
    } else {
        issues.push(issue(
            "final_prompt_text_in_scene_quotes",
            "TEXT_IN_SCENE value must be quoted like \"...\"",
        ));
        text_in_scene
    };
    let token_ok = inner == token;
    if !token_ok {
        issues.push(issue(
            "final_prompt_token_mismatch",
            format!("TEXT_IN_SCENE \"{inner}\" does not match token \"{token}\""),
        ));
    }

    let ar_ok = fields.get("AR").and_then(Value::as_str) == Some(EXPECTED_AR);
    if !ar_ok {
        issues.push(issue(
            "final_prompt_ar_mismatch",
            format!("AR must equal \"{EXPECTED_AR}\""),
        ));
    }

    let min_words: Map<String, Value> = SPECIFICITY_MIN_WORDS
        .iter()
        .map(|(key, min)| ((*key).to_owned(), json!(min)))
        .collect();
    json!({
        "ok": issues.is_empty(),
        "issues": issues,
        "fields": fields,
        "word_counts": word_counts,
        "specificity": {"min_words": min_words, "violations": violations},
        "token_expected": token,
        "token_ok": token_ok,
        "ar_ok": ar_ok,
        "cliches": cliche_hits(raw),
    })
}

/// Checks the raw SceneSpec JSON text against the run's `token`.
///
/// Returns `{ok, issues, parsed (string fields stripped), word_counts, token_expected, token_ok,
/// subject_generic}`, or only `{ok: false, issues}` when the text is blank, not JSON (code
/// fences included) or not an object.
pub fn scenespec_checks(raw: &str, token: &str) -> Value {
    let raw = raw.trim();
    if raw.is_empty() {
        return failed("scenespec_missing", "SceneSpec JSON is empty or missing");
    }
    let mut parsed = match serde_json::from_str::<Value>(raw) {
        Ok(Value::Object(parsed)) => parsed,
        Ok(_) => return failed("scenespec_not_object", "SceneSpec JSON must be an object"),
        Err(error) => return failed("scenespec_invalid_json", format!("Invalid JSON: {error}")),
    };

    let mut issues = Vec::new();
    let missing: Vec<&str> = SCENESPEC_KEYS
        .into_iter()
        .filter(|key| !parsed.contains_key(*key))
        .collect();
    if !missing.is_empty() {
        issues.push(issue(
            "scenespec_missing_keys",
            format!("Missing keys: {}", missing.join(", ")),
        ));
    }

    let mut empty = Vec::new();
    let mut type_errors = Vec::new();
    let mut word_counts = Map::new();
    for key in SCENESPEC_KEYS {
        let Some(value) = parsed.get(key) else {
            continue;
        };
        if SCENESPEC_LIST_KEYS.contains(&key) {
            if !is_filled_string_list(value) {
                type_errors.push(format!("{key} (expected non-empty list[str])"));
            }
            continue;
        }
        let Some(text) = value.as_str() else {
            type_errors.push(format!("{key} (expected string)"));
            continue;
        };
        let cleaned = text.trim().to_owned();
        if cleaned.is_empty() {
            empty.push(key);
        }
        word_counts.insert(key.to_owned(), json!(word_count(&cleaned)));
        parsed.insert(key.to_owned(), Value::String(cleaned));
    }
    if !empty.is_empty() {
        issues.push(issue(
            "scenespec_empty_fields",
            format!("Empty/too-short fields: {}", empty.join(", ")),
        ));
    }
    if !type_errors.is_empty() {
        issues.push(issue(
            "scenespec_type_errors",
            format!("Type issues: {}", type_errors.join(", ")),
        ));
    }

    let subject_generic = is_generic_subject(&value_text(parsed.get("subject")));
    if subject_generic {
        issues.push(issue(
            "scenespec_generic_subject",
            "subject appears generic",
        ));
    }

    let text_in_scene = value_text(parsed.get("text_in_scene"));
    let token_ok = text_in_scene == token;
    if !token_ok {
        issues.push(issue(
            "scenespec_token_mismatch",
            format!("text_in_scene \"{text_in_scene}\" does not match token \"{token}\""),
        ));
    }

    json!({
        "ok": issues.is_empty(),
        "issues": issues,
        "parsed": parsed,
        "word_counts": word_counts,
        "token_expected": token,
        "token_ok": token_ok,
        "subject_generic": subject_generic,
    })
}

/// Whether `token` appears (as plain text) in the draft, the refined scene and the raw
/// SceneSpec JSON: `{in_scene_draft, in_scene_refined, in_scenespec_raw}`; `false` when the
/// output is missing or blank.
pub fn token_presence(outputs: &Map<String, Value>, token: &str) -> Value {
    let found = |key: &str| {
        let text = output_text(outputs, key);
        !text.is_empty() && text.contains(token)
    };
    json!({
        "in_scene_draft": found(outputs::SCENE_DRAFT),
        "in_scene_refined": found(outputs::SCENE_REFINED),
        "in_scenespec_raw": found(outputs::SCENE_SPEC_JSON),
    })
}

/// The analysis of one finished run: `{final_prompt, scenespec_json, token_presence}`, checked
/// against the planned token `spec.meta.random_token`. `scenespec_json` is checked only for the
/// variant named by `scenespec_variant` and is `null` otherwise. A failed run has no analysis.
///
/// The final prompt is the outcome's `final_prompt`, or the `image_prompt` output when that is
/// absent or blank.
///
/// # Errors
///
/// The spec's meta has no string `random_token`.
pub fn analyze_run(
    spec: &RunSpec,
    outcome: &RunOutcome,
    scenespec_variant: Option<&str>,
) -> Result<Option<Value>, ExperimentError> {
    if outcome.status != RunStatus::Success {
        return Ok(None);
    }
    let token = spec
        .meta
        .get("random_token")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            ExperimentError::new(format!(
                "run `{}` has no string `meta.random_token` to check its prompt against",
                spec.generation_id
            ))
        })?;

    let prompt = match outcome.final_prompt.as_deref() {
        Some(prompt) if !prompt.trim().is_empty() => prompt.to_owned(),
        _ => output_text(&outcome.outputs, outputs::IMAGE_PROMPT),
    };
    let scenespec = if scenespec_variant == Some(spec.variant.as_str()) {
        scenespec_checks(
            &output_text(&outcome.outputs, outputs::SCENE_SPEC_JSON),
            token,
        )
    } else {
        Value::Null
    };

    let final_prompt = final_prompt_checks(&prompt, token);
    let metrics = run_metrics(&prompt, &final_prompt, &scenespec);
    Ok(Some(json!({
        "final_prompt": final_prompt,
        "scenespec_json": scenespec,
        "token_presence": token_presence(&outcome.outputs, token),
        "metrics": metrics,
    })))
}

/// The metrics of one run (the runner aggregates them by name; [`metric_info`] describes them):
/// the final-prompt checks and token match as bools, the SceneSpec checks for the SceneSpec
/// variant only, the words of each descriptive final-prompt field, the cliché hits, and the
/// final prompt's length in characters.
pub fn run_metrics(prompt: &str, final_prompt: &Value, scenespec: &Value) -> Value {
    let mut metrics = Map::new();
    let flag =
        |checks: &Value, key: &str| checks.get(key).and_then(Value::as_bool).unwrap_or(false);
    metrics.insert("final_prompt_ok".into(), json!(flag(final_prompt, "ok")));
    metrics.insert("token_ok".into(), json!(flag(final_prompt, "token_ok")));
    if scenespec.is_object() {
        metrics.insert("scenespec_ok".into(), json!(flag(scenespec, "ok")));
        metrics.insert(
            "scenespec_token_ok".into(),
            json!(flag(scenespec, "token_ok")),
        );
    }
    if let Some(counts) = final_prompt.get("word_counts").and_then(Value::as_object) {
        for &key in WORD_METRIC_KEYS {
            if let Some(words) = counts.get(key).and_then(Value::as_u64) {
                metrics.insert(word_metric(key), json!(words));
            }
        }
    }
    let cliches = final_prompt
        .get("cliches")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    metrics.insert("cliche_count".into(), json!(cliches));
    metrics.insert("final_prompt_chars".into(), json!(prompt.chars().count()));
    Value::Object(metrics)
}

/// The final-prompt fields whose word counts are metrics: the descriptive ones, every key but
/// the last two (`TEXT_IN_SCENE`, `AR`).
const WORD_METRIC_KEYS: &[&str] = FINAL_PROMPT_KEYS.split_at(FINAL_PROMPT_KEYS.len() - 2).0;

fn word_metric(key: &str) -> String {
    format!("words_{}", key.to_ascii_lowercase())
}

/// `metric_info` for the summary: label, direction and unit of every metric of [`run_metrics`].
pub fn metric_info() -> Value {
    let mut info = Map::new();
    let mut add = |name: String, label: String, direction: &str, unit: Option<&str>| {
        let mut entry = json!({"label": label, "direction": direction});
        if let Some(unit) = unit {
            entry["unit"] = json!(unit);
        }
        info.insert(name, entry);
    };
    add(
        "final_prompt_ok".into(),
        "final prompt ok".into(),
        "higher",
        None,
    );
    add("token_ok".into(), "token ok".into(), "higher", None);
    add("scenespec_ok".into(), "SceneSpec ok".into(), "higher", None);
    add(
        "scenespec_token_ok".into(),
        "SceneSpec token ok".into(),
        "higher",
        None,
    );
    for key in WORD_METRIC_KEYS {
        add(
            word_metric(key),
            format!("{key} length"),
            "none",
            Some("words"),
        );
    }
    add("cliche_count".into(), "clichés".into(), "lower", None);
    add(
        "final_prompt_chars".into(),
        "final prompt length".into(),
        "none",
        Some("chars"),
    );
    Value::Object(info)
}

/// Per-variant totals over the stored result entries, variants in order of first appearance,
/// and the [`metric_info`] of the run metrics:
/// `{"variants": {"<variant>": {runs, ok, final_prompt_ok_rate, token_ok_rate,
/// mean_word_counts, cliche_count}}}`.
///
/// - `runs`: the variant's entries; `ok`: those with `status == "success"`.
/// - The rates are over the *analysed* entries (those with an `analysis.final_prompt` object):
///   the fraction whose `ok` / `token_ok` is `true`; `null` when none was analysed.
/// - `mean_word_counts`: one entry per final-prompt key, in key order: the mean of that key's
///   word count over the analysed entries that have it, rounded to 2 decimals; `null` when none
///   has it.
/// - `cliche_count`: the number of cliché hits over the analysed entries.
///
/// Entries that are not objects or carry no string `variant` are skipped.
pub fn summarize(results: &[Value]) -> Value {
    let mut tallies: Vec<(&str, Tally)> = Vec::new();
    for entry in results {
        let Some(variant) = entry.get("variant").and_then(Value::as_str) else {
            continue;
        };
        let index = match tallies.iter().position(|(name, _)| *name == variant) {
            Some(index) => index,
            None => {
                tallies.push((variant, Tally::default()));
                tallies.len() - 1
            }
        };
        tallies[index].1.add(entry);
    }

    let variants: Map<String, Value> = tallies
        .into_iter()
        .map(|(variant, tally)| (variant.to_owned(), tally.into_json()))
        .collect();
    json!({ "variants": variants, "metric_info": metric_info() })
}

/// The running totals of one variant in [`summarize`].
#[derive(Debug, Default)]
struct Tally {
    runs: u64,
    ok: u64,
    analysed: u64,
    prompt_ok: u64,
    token_ok: u64,
    /// Per final-prompt key: the sum of word counts and how many entries had one.
    word_counts: [(f64, u64); FINAL_PROMPT_KEYS.len()],
    cliches: u64,
}

impl Tally {
    fn add(&mut self, entry: &Value) {
        self.runs += 1;
        if entry.get("status").and_then(Value::as_str) == Some("success") {
            self.ok += 1;
        }
        let Some(checks) = entry
            .get("analysis")
            .and_then(|analysis| analysis.get("final_prompt"))
            .and_then(Value::as_object)
        else {
            return;
        };
        self.analysed += 1;
        if checks.get("ok") == Some(&Value::Bool(true)) {
            self.prompt_ok += 1;
        }
        if checks.get("token_ok") == Some(&Value::Bool(true)) {
            self.token_ok += 1;
        }
        if let Some(counts) = checks.get("word_counts").and_then(Value::as_object) {
            for (key, (sum, seen)) in FINAL_PROMPT_KEYS.iter().zip(&mut self.word_counts) {
                if let Some(count) = counts.get(*key).and_then(Value::as_f64) {
                    *sum += count;
                    *seen += 1;
                }
            }
        }
        if let Some(cliches) = checks.get("cliches").and_then(Value::as_array) {
            self.cliches += cliches.len() as u64;
        }
    }

    fn into_json(self) -> Value {
        let rate = |hits: u64| {
            if self.analysed == 0 {
                Value::Null
            } else {
                json!(hits as f64 / self.analysed as f64)
            }
        };
        let means: Map<String, Value> = FINAL_PROMPT_KEYS
            .iter()
            .zip(self.word_counts)
            .map(|(key, (sum, seen))| {
                let mean = if seen == 0 {
                    Value::Null
                } else {
                    json!(round2(sum / seen as f64))
                };
                ((*key).to_owned(), mean)
            })
            .collect();
        json!({
            "runs": self.runs,
            "ok": self.ok,
            "final_prompt_ok_rate": rate(self.prompt_ok),
            "token_ok_rate": rate(self.token_ok),
            "mean_word_counts": means,
            "cliche_count": self.cliches,
        })
    }
}

/// The clichés in `text`, in [`CLICHES`] order, each once. Case-insensitive; a hit must be a
/// whole word or phrase: the characters on both sides are not alphanumeric (or the text ends).
pub fn cliche_hits(text: &str) -> Vec<&'static str> {
    let haystack = text.to_lowercase();
    CLICHES
        .into_iter()
        .filter(|phrase| contains_phrase(&haystack, phrase))
        .collect()
}

/// Whether some occurrence of `phrase` in `haystack` stands alone (no alphanumeric neighbour).
fn contains_phrase(haystack: &str, phrase: &str) -> bool {
    let mut from = 0;
    while let Some(found) = haystack[from..].find(phrase) {
        let start = from + found;
        let end = start + phrase.len();
        let before = haystack[..start].chars().next_back();
        let after = haystack[end..].chars().next();
        if !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric) {
            return true;
        }
        // Step one character on: occurrences may overlap.
        from = start + haystack[start..].chars().next().map_or(1, char::len_utf8);
    }
    false
}

/// Whether a SceneSpec subject is generic: blank, equal to a [`GENERIC_SUBJECTS`] phrase, or
/// starting with one followed by a space (lower-cased, whitespace collapsed).
pub fn is_generic_subject(subject: &str) -> bool {
    let cleaned = subject
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    cleaned.is_empty()
        || GENERIC_SUBJECTS.iter().any(|phrase| {
            cleaned == *phrase
                || cleaned
                    .strip_prefix(phrase)
                    .is_some_and(|rest| rest.starts_with(' '))
        })
}

/// The minimum word count of a final-prompt key, if it has one.
fn min_words(key: &str) -> Option<u64> {
    SPECIFICITY_MIN_WORDS
        .iter()
        .find(|(name, _)| *name == key)
        .map(|(_, min)| *min)
}

/// Whitespace-separated words in `text`.
fn word_count(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// A non-empty array whose items are all strings with non-whitespace text.
fn is_filled_string_list(value: &Value) -> bool {
    value.as_array().is_some_and(|items| {
        !items.is_empty()
            && items
                .iter()
                .all(|item| item.as_str().is_some_and(|text| !text.trim().is_empty()))
    })
}

/// A run output as stripped text: a string as it is, a missing or null output as "", anything
/// else as its JSON text.
fn output_text(outputs: &Map<String, Value>, key: &str) -> String {
    value_text(outputs.get(key))
}

/// A value as stripped text: a string as it is, missing or null as "", anything else as JSON.
fn value_text(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => text.trim().to_owned(),
        Some(other) => other.to_string(),
    }
}

/// One `{code, message}` issue.
fn issue(code: &str, message: impl Into<String>) -> Value {
    json!({"code": code, "message": message.into()})
}

/// The short result of a check that could not look further: `{ok: false, issues: [one]}`.
fn failed(code: &str, message: impl Into<String>) -> Value {
    json!({"ok": false, "issues": [issue(code, message)]})
}

/// `x` rounded to 2 decimals.
fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// A string quoted the way Python's `repr` does, as the reference's messages show segments.
fn py_repr(text: &str) -> String {
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(text.len() + 2);
    out.push(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "RV-40-123456";

    /// A prompt that passes every check, as its ten segments.
    const CLEAN: [&str; 10] = [
        "SUBJECT=an elderly lighthouse keeper with a salt-stained wool coat",
        "SETTING=a rocky windswept island at the edge of a grey northern sea",
        "ACTION=hauling a coil of wet rope up the stone steps",
        "COMPOSITION=low wide shot with the tower filling the right third",
        "CAMERA=35mm lens, f/8",
        "LIGHTING=overcast diffuse morning light",
        "COLOR=slate grey, rust, faded teal",
        "STYLE=documentary film photograph, muted grain",
        "TEXT_IN_SCENE=\"RV-40-123456\"",
        "AR=16:9",
    ];

    /// The clean prompt with segment `index` replaced by `segment`.
    fn with(index: usize, segment: &str) -> String {
        let mut segments = CLEAN.to_vec();
        segments[index] = segment;
        segments.join(" | ")
    }

    fn clean() -> String {
        CLEAN.join(" | ")
    }

    fn codes(checks: &Value) -> Vec<&str> {
        checks["issues"]
            .as_array()
            .unwrap()
            .iter()
            .map(|issue| issue["code"].as_str().unwrap())
            .collect()
    }

    fn messages(checks: &Value) -> Vec<&str> {
        checks["issues"]
            .as_array()
            .unwrap()
            .iter()
            .map(|issue| issue["message"].as_str().unwrap())
            .collect()
    }

    fn keys(value: &Value) -> Vec<&str> {
        value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect()
    }

    // ---- final prompt ------------------------------------------------------------------------

    #[test]
    fn a_clean_prompt_passes_with_every_field_in_key_order() {
        let checks = final_prompt_checks(&format!("  {}\n", clean()), TOKEN);
        assert_eq!(
            checks,
            json!({
                "ok": true,
                "issues": [],
                "fields": {
                    "SUBJECT": "an elderly lighthouse keeper with a salt-stained wool coat",
                    "SETTING": "a rocky windswept island at the edge of a grey northern sea",
                    "ACTION": "hauling a coil of wet rope up the stone steps",
                    "COMPOSITION": "low wide shot with the tower filling the right third",
                    "CAMERA": "35mm lens, f/8",
                    "LIGHTING": "overcast diffuse morning light",
                    "COLOR": "slate grey, rust, faded teal",
                    "STYLE": "documentary film photograph, muted grain",
                    "TEXT_IN_SCENE": "\"RV-40-123456\"",
                    "AR": "16:9",
                },
                "word_counts": {
                    "SUBJECT": 9, "SETTING": 12, "ACTION": 10, "COMPOSITION": 10, "CAMERA": 3,
                    "LIGHTING": 4, "COLOR": 5, "STYLE": 5, "TEXT_IN_SCENE": 1, "AR": 1,
                },
                "specificity": {
                    "min_words": {
                        "SUBJECT": 5, "SETTING": 6, "ACTION": 5, "COMPOSITION": 5, "CAMERA": 3,
                        "LIGHTING": 3, "COLOR": 3, "STYLE": 3,
                    },
                    "violations": {},
                },
                "token_expected": "RV-40-123456",
                "token_ok": true,
                "ar_ok": true,
                "cliches": [],
            })
        );
        // serde_json's map equality ignores order; the order is part of the contract.
        assert_eq!(
            keys(&checks),
            [
                "ok",
                "issues",
                "fields",
                "word_counts",
                "specificity",
                "token_expected",
                "token_ok",
                "ar_ok",
                "cliches"
            ]
        );
        assert_eq!(keys(&checks["fields"]), FINAL_PROMPT_KEYS);
        assert_eq!(keys(&checks["word_counts"]), FINAL_PROMPT_KEYS);
        assert_eq!(keys(&checks["specificity"]), ["min_words", "violations"]);
        assert_eq!(
            keys(&checks["specificity"]["min_words"]),
            FINAL_PROMPT_KEYS[..8]
        );
    }

    #[test]
    fn a_blank_prompt_is_missing_and_checked_no_further() {
        for blank in ["", "  \n\t "] {
            let checks = final_prompt_checks(blank, TOKEN);
            assert_eq!(
                checks,
                json!({"ok": false, "issues": [
                    {"code": "final_prompt_missing", "message": "Final prompt is empty or missing"},
                ]})
            );
            assert_eq!(keys(&checks), ["ok", "issues"]);
        }
    }

    #[test]
    fn a_newline_inside_is_multiline() {
        let checks = final_prompt_checks(
            &with(7, "STYLE=documentary film photograph,\nmuted grain"),
            TOKEN,
        );
        assert_eq!(codes(&checks), ["final_prompt_multiline"]);
        assert_eq!(messages(&checks), ["Final prompt contains newline(s)"]);
        assert_eq!(checks["word_counts"]["STYLE"], 5);
        assert_eq!(checks["ok"], false);

        let checks = final_prompt_checks(&with(7, "STYLE=documentary\rfilm photo"), TOKEN);
        assert_eq!(codes(&checks), ["final_prompt_multiline"]);
    }

    #[test]
    fn a_wrong_segment_count_is_reported_with_what_follows_from_it() {
        let nine = CLEAN[..9].join(" | ");
        let checks = final_prompt_checks(&nine, TOKEN);
        assert_eq!(
            checks["issues"],
            json!([
                {"code": "final_prompt_segment_count", "message": "Expected 10 segments but got 9"},
                {"code": "final_prompt_missing_keys", "message": "Missing keys: AR"},
                {"code": "final_prompt_ar_mismatch", "message": "AR must equal \"16:9\""},
            ])
        );
        assert_eq!(checks["ar_ok"], false);
        assert_eq!(checks["token_ok"], true);

        // Extra segments are counted but not parsed; a pipe without spaces does not split.
        let eleven = format!("{} | EXTRA=1", clean());
        let checks = final_prompt_checks(&eleven, TOKEN);
        assert_eq!(messages(&checks), ["Expected 10 segments but got 11"]);
        assert_eq!(keys(&checks["fields"]), FINAL_PROMPT_KEYS);
        let checks = final_prompt_checks(&with(7, "STYLE=ink|wash, loose brushwork"), TOKEN);
        assert_eq!(codes(&checks), Vec::<&str>::new());
        assert_eq!(checks["fields"]["STYLE"], "ink|wash, loose brushwork");
    }

    #[test]
    fn a_segment_without_equals_is_bad_and_skipped() {
        let checks = final_prompt_checks(&with(4, "CAMERA 35mm lens"), TOKEN);
        assert_eq!(
            checks["issues"],
            json!([
                {"code": "final_prompt_bad_segment", "message": "Missing '=' in segment: 'CAMERA 35mm lens'"},
                {"code": "final_prompt_missing_keys", "message": "Missing keys: CAMERA"},
            ])
        );
        assert!(checks["fields"].get("CAMERA").is_none());
        assert!(checks["word_counts"].get("CAMERA").is_none());
        assert_eq!(py_repr("it's"), "\"it's\"");
        assert_eq!(py_repr("a\\b\n'\""), "'a\\\\b\\n\\'\"'");
    }

    #[test]
    fn a_key_out_of_order_is_reported_and_stored_as_written() {
        let mut segments = CLEAN.to_vec();
        segments.swap(0, 1);
        let checks = final_prompt_checks(&segments.join(" | "), TOKEN);
        assert_eq!(
            checks["issues"],
            json!([
                {"code": "final_prompt_bad_key_order", "message": "Expected key SUBJECT at position 1 but got SETTING"},
                {"code": "final_prompt_bad_key_order", "message": "Expected key SETTING at position 2 but got SUBJECT"},
            ])
        );
        assert_eq!(
            keys(&checks["fields"])[..3],
            ["SETTING", "SUBJECT", "ACTION"]
        );
        assert_eq!(
            checks["fields"]["SUBJECT"],
            "an elderly lighthouse keeper with a salt-stained wool coat"
        );
        assert_eq!(checks["word_counts"]["SETTING"], 12);

        // An unknown key is stored too, counted, and never a specificity violation.
        let checks = final_prompt_checks(&with(2, "MOOD = calm"), TOKEN);
        assert_eq!(
            messages(&checks),
            [
                "Expected key ACTION at position 3 but got MOOD",
                "Missing keys: ACTION"
            ]
        );
        assert_eq!(keys(&checks["fields"])[..3], ["SUBJECT", "SETTING", "MOOD"]);
        assert_eq!(checks["fields"]["MOOD"], "calm");
        assert_eq!(checks["word_counts"]["MOOD"], 1);
        assert_eq!(checks["specificity"]["violations"], json!({}));

        // A repeated key keeps its first position and its last value.
        let checks = final_prompt_checks(&with(1, "SUBJECT=a fox"), TOKEN);
        assert_eq!(
            codes(&checks),
            ["final_prompt_bad_key_order", "final_prompt_missing_keys"]
        );
        assert_eq!(keys(&checks["fields"])[..2], ["SUBJECT", "ACTION"]);
        assert_eq!(checks["fields"]["SUBJECT"], "a fox");
    }

    #[test]
    fn empty_values_are_flagged() {
        let checks = final_prompt_checks(&with(5, "LIGHTING="), TOKEN);
        assert_eq!(
            checks["issues"],
            json!([{"code": "final_prompt_empty_fields", "message": "Empty fields: LIGHTING"}])
        );
        assert_eq!(checks["fields"]["LIGHTING"], "");
        assert_eq!(checks["word_counts"]["LIGHTING"], 0);
        assert_eq!(checks["specificity"]["violations"], json!({"LIGHTING": 0}));
        assert_eq!(checks["ok"], false);
    }

    #[test]
    fn placeholders_are_flagged() {
        let mut segments = CLEAN.to_vec();
        segments[0] = "SUBJECT=<...>";
        segments[4] = "CAMERA=...";
        segments[6] = "COLOR=warm reds <...> and deep blues";
        let checks = final_prompt_checks(&segments.join(" | "), TOKEN);
        assert_eq!(
            checks["issues"],
            json!([{
                "code": "final_prompt_placeholders",
                "message": "Placeholder values present: SUBJECT, CAMERA, COLOR",
            }])
        );
        // Dots inside a real value are not a placeholder.
        let checks = final_prompt_checks(&with(4, "CAMERA=35mm lens... f/8"), TOKEN);
        assert_eq!(checks["ok"], true);
    }

    #[test]
    fn text_in_scene_must_be_the_quoted_token() {
        let checks = final_prompt_checks(&with(8, "TEXT_IN_SCENE=RV-40-123456"), TOKEN);
        assert_eq!(
            checks["issues"],
            json!([{
                "code": "final_prompt_text_in_scene_quotes",
                "message": "TEXT_IN_SCENE value must be quoted like \"...\"",
            }])
        );
        assert_eq!(checks["token_ok"], true);

        let checks = final_prompt_checks(&with(8, "TEXT_IN_SCENE=\"RV-40-999999\""), TOKEN);
        assert_eq!(
            checks["issues"],
            json!([{
                "code": "final_prompt_token_mismatch",
                "message": "TEXT_IN_SCENE \"RV-40-999999\" does not match token \"RV-40-123456\"",
            }])
        );
        assert_eq!(checks["token_ok"], false);
        assert_eq!(checks["token_expected"], TOKEN);

        let checks = final_prompt_checks(&with(8, "TEXT_IN_SCENE=\""), TOKEN);
        assert_eq!(
            messages(&checks),
            [
                "TEXT_IN_SCENE value must be quoted like \"...\"",
                "TEXT_IN_SCENE \"\"\" does not match token \"RV-40-123456\"",
            ]
        );

        // Absent: quotes and token both fail on "".
        let mut segments = CLEAN.to_vec();
        segments.remove(8);
        let checks = final_prompt_checks(&segments.join(" | "), TOKEN);
        assert_eq!(
            codes(&checks),
            [
                "final_prompt_segment_count",
                "final_prompt_bad_key_order",
                "final_prompt_missing_keys",
                "final_prompt_text_in_scene_quotes",
                "final_prompt_token_mismatch",
            ]
        );
        assert_eq!(
            messages(&checks)[4],
            "TEXT_IN_SCENE \"\" does not match token \"RV-40-123456\""
        );
        // AR was stored as written at position 9, so it still passes.
        assert_eq!(checks["ar_ok"], true);
    }

    #[test]
    fn ar_must_be_exactly_16_9() {
        for ar in ["AR=16:10", "AR=16 : 9", "AR=", "AR=16:9 landscape"] {
            let checks = final_prompt_checks(&with(9, ar), TOKEN);
            assert!(codes(&checks).contains(&"final_prompt_ar_mismatch"), "{ar}");
            assert_eq!(checks["ar_ok"], false, "{ar}");
        }
        let checks = final_prompt_checks(&with(9, "AR = 16:9  "), TOKEN);
        assert_eq!(
            (checks["ok"].clone(), checks["ar_ok"].clone()),
            (json!(true), json!(true))
        );
    }

    #[test]
    fn specificity_violations_are_recorded_without_affecting_ok() {
        let mut segments = CLEAN.to_vec();
        segments[0] = "SUBJECT=a red fox";
        segments[4] = "CAMERA=\"35mm lens\"";
        let checks = final_prompt_checks(&segments.join(" | "), TOKEN);
        assert_eq!(checks["ok"], true);
        assert_eq!(checks["issues"], json!([]));
        assert_eq!(
            checks["specificity"]["violations"],
            json!({"SUBJECT": 3, "CAMERA": 2})
        );
        assert_eq!(
            keys(&checks["specificity"]["violations"]),
            ["SUBJECT", "CAMERA"]
        );
    }

    #[test]
    fn cliches_are_whole_words_in_list_order_and_do_not_affect_ok() {
        let checks = final_prompt_checks(
            &with(7, "STYLE=Cinematic EPIC hdr, 8K masterpiece, epic again"),
            TOKEN,
        );
        assert_eq!(checks["ok"], true);
        assert_eq!(
            checks["cliches"],
            json!(["masterpiece", "cinematic", "epic", "8k", "hdr"])
        );

        let none: Vec<&str> = Vec::new();
        assert_eq!(cliche_hits("the epicenter, 18k gold, two HDRs, 8kb"), none);
        assert_eq!(cliche_hits("cinematically hyperrealistic"), none);
        assert_eq!(cliche_hits("epic"), ["epic"]);
        assert_eq!(cliche_hits("EPIC."), ["epic"]);
        assert_eq!(cliche_hits("(8k)"), ["8k"]);
        assert_eq!(cliche_hits("the epicenter of an epic"), ["epic"]);
        assert_eq!(cliche_hits("an épicé epic"), ["epic"]);
        assert_eq!(
            cliche_hits("Ultra-Detailed and ultra   detailed, ultra detailed"),
            ["ultra detailed", "ultra-detailed"]
        );
        assert_eq!(
            cliche_hits("award-winning, stunning & breathtaking, highly detailed, photorealistic"),
            [
                "highly detailed",
                "photorealistic",
                "award-winning",
                "stunning",
                "breathtaking"
            ]
        );
        assert_eq!(
            cliche_hits("hyper-realistic, ultra realistic, hyper realistic, ultra-realistic"),
            [
                "ultra realistic",
                "ultra-realistic",
                "hyper realistic",
                "hyper-realistic"
            ]
        );
        assert_eq!(CLICHES.len(), 16);
    }

    // ---- SceneSpec ---------------------------------------------------------------------------

    /// A SceneSpec that passes every check, with an extra key.
    fn spec_json() -> Value {
        json!({
            "subject": "  an elderly lighthouse keeper in a salt-stained wool coat ",
            "setting": "a rocky windswept island at the edge of a grey sea",
            "action": "hauling a coil of wet rope",
            "composition": "low wide shot, tower in the right third",
            "camera": "35mm lens, f/8",
            "lighting": "overcast diffuse light",
            "color": "slate grey and rust",
            "style": "documentary photograph",
            "text_in_scene": "RV-40-123456",
            "must_keep": ["rope", "tower", "wool coat"],
            "avoid": ["text overlays"],
            "mood": " calm ",
        })
    }

    /// The SceneSpec with `key` set to `value` (`Value::Null` removes it), as JSON text.
    fn spec_with(changes: &[(&str, Value)]) -> String {
        let mut spec = spec_json();
        let object = spec.as_object_mut().unwrap();
        for (key, value) in changes {
            if value.is_null() {
                object.shift_remove(*key);
            } else {
                object.insert((*key).to_owned(), value.clone());
            }
        }
        spec.to_string()
    }

    #[test]
    fn a_clean_scenespec_passes_with_stripped_values() {
        let checks = scenespec_checks(&format!("\n {} \n", spec_json()), TOKEN);
        assert_eq!(
            checks,
            json!({
                "ok": true,
                "issues": [],
                "parsed": {
                    "subject": "an elderly lighthouse keeper in a salt-stained wool coat",
                    "setting": "a rocky windswept island at the edge of a grey sea",
                    "action": "hauling a coil of wet rope",
                    "composition": "low wide shot, tower in the right third",
                    "camera": "35mm lens, f/8",
                    "lighting": "overcast diffuse light",
                    "color": "slate grey and rust",
                    "style": "documentary photograph",
                    "text_in_scene": "RV-40-123456",
                    "must_keep": ["rope", "tower", "wool coat"],
                    "avoid": ["text overlays"],
                    "mood": " calm ",
                },
                "word_counts": {
                    "subject": 9, "setting": 11, "action": 6, "composition": 8, "camera": 3,
                    "lighting": 3, "color": 4, "style": 2, "text_in_scene": 1,
                },
                "token_expected": "RV-40-123456",
                "token_ok": true,
                "subject_generic": false,
            })
        );
        assert_eq!(
            keys(&checks),
            [
                "ok",
                "issues",
                "parsed",
                "word_counts",
                "token_expected",
                "token_ok",
                "subject_generic"
            ]
        );
        let mut parsed_keys = SCENESPEC_KEYS.to_vec();
        parsed_keys.push("mood");
        assert_eq!(keys(&checks["parsed"]), parsed_keys);
        assert_eq!(keys(&checks["word_counts"]), SCENESPEC_KEYS[..9]);
    }

    #[test]
    fn blank_unparsable_and_non_object_scenespecs_stop_early() {
        let short = |code: &str, message: &str| json!({"ok": false, "issues": [{"code": code, "message": message}]});
        assert_eq!(
            scenespec_checks(" \n ", TOKEN),
            short("scenespec_missing", "SceneSpec JSON is empty or missing")
        );
        let fenced = format!("```json\n{}\n```", spec_json());
        assert_eq!(
            scenespec_checks(&fenced, TOKEN),
            short(
                "scenespec_invalid_json",
                "Invalid JSON: expected value at line 1 column 1"
            )
        );
        assert_eq!(
            scenespec_checks("{\"subject\": \"a fox\",}", TOKEN),
            short(
                "scenespec_invalid_json",
                "Invalid JSON: trailing comma at line 1 column 21"
            )
        );
        for not_object in ["[1, 2]", "\"RV-40-123456\"", "null"] {
            let checks = scenespec_checks(not_object, TOKEN);
            assert_eq!(
                checks,
                short("scenespec_not_object", "SceneSpec JSON must be an object")
            );
            assert_eq!(keys(&checks), ["ok", "issues"]);
        }
    }

    #[test]
    fn missing_scenespec_keys_are_listed_in_key_order() {
        let checks = scenespec_checks(
            &spec_with(&[("avoid", Value::Null), ("camera", Value::Null)]),
            TOKEN,
        );
        assert_eq!(
            checks["issues"],
            json!([{"code": "scenespec_missing_keys", "message": "Missing keys: camera, avoid"}])
        );
        assert!(checks["word_counts"].get("camera").is_none());
    }

    #[test]
    fn blank_scenespec_strings_are_empty_fields() {
        let checks = scenespec_checks(
            &spec_with(&[("lighting", json!("   ")), ("style", json!(""))]),
            TOKEN,
        );
        assert_eq!(
            checks["issues"],
            json!([{"code": "scenespec_empty_fields", "message": "Empty/too-short fields: lighting, style"}])
        );
        assert_eq!(checks["parsed"]["lighting"], "");
        assert_eq!(checks["word_counts"]["lighting"], 0);
    }

    #[test]
    fn wrong_scenespec_types_are_type_errors() {
        for bad_list in [
            json!([]),
            json!([""]),
            json!(["rope", "  "]),
            json!(["rope", 3]),
            json!("rope"),
        ] {
            let checks = scenespec_checks(&spec_with(&[("must_keep", bad_list.clone())]), TOKEN);
            assert_eq!(
                checks["issues"],
                json!([{
                    "code": "scenespec_type_errors",
                    "message": "Type issues: must_keep (expected non-empty list[str])",
                }]),
                "{bad_list}"
            );
        }
        let checks = scenespec_checks(
            &spec_with(&[
                ("color", json!(5)),
                ("avoid", json!([])),
                ("camera", json!(["35mm"])),
            ]),
            TOKEN,
        );
        assert_eq!(
            messages(&checks),
            ["Type issues: camera (expected string), color (expected string), avoid (expected non-empty list[str])"]
        );
        // A mistyped value is left as it was and not counted.
        assert_eq!(checks["parsed"]["color"], 5);
        assert!(checks["word_counts"].get("color").is_none());
    }

    #[test]
    fn generic_subjects_are_flagged() {
        for generic in [
            "a man in a red coat",
            "A  Man",
            "someone",
            "an animal",
            "a city at night",
            "   ",
        ] {
            let checks = scenespec_checks(&spec_with(&[("subject", json!(generic))]), TOKEN);
            assert_eq!(checks["subject_generic"], true, "{generic}");
            assert!(
                codes(&checks).contains(&"scenespec_generic_subject"),
                "{generic}"
            );
        }
        let checks = scenespec_checks(
            &spec_with(&[("subject", json!("a man in a red coat"))]),
            TOKEN,
        );
        assert_eq!(
            checks["issues"],
            json!([{"code": "scenespec_generic_subject", "message": "subject appears generic"}])
        );
        for specific in [
            "a mannequin in a shop window",
            "someone's abandoned bicycle",
            "a cityscape",
        ] {
            assert!(!is_generic_subject(specific), "{specific}");
        }
        // A missing subject is missing and generic.
        let checks = scenespec_checks(&spec_with(&[("subject", Value::Null)]), TOKEN);
        assert_eq!(
            codes(&checks),
            ["scenespec_missing_keys", "scenespec_generic_subject"]
        );
    }

    #[test]
    fn text_in_scene_must_be_the_bare_token() {
        let checks = scenespec_checks(
            &spec_with(&[("text_in_scene", json!("\"RV-40-123456\""))]),
            TOKEN,
        );
        assert_eq!(
            checks["issues"],
            json!([{
                "code": "scenespec_token_mismatch",
                "message": "text_in_scene \"\"RV-40-123456\"\" does not match token \"RV-40-123456\"",
            }])
        );
        assert_eq!(checks["token_ok"], false);
        let checks = scenespec_checks(
            &spec_with(&[("text_in_scene", json!(" RV-40-123456 "))]),
            TOKEN,
        );
        assert_eq!(checks["token_ok"], true);
        assert_eq!(checks["ok"], true);
    }

    // ---- token presence, one run, summary ----------------------------------------------------

    fn outputs(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn token_presence_is_a_plain_substring_test() {
        let found = token_presence(
            &outputs(json!({
                "ab_scene_draft": "a sign reading RV-40-123456.",
                "ab_scene_refined": "a sign reading RV-40-12345",
                "ab_scene_spec_json": "{\"text_in_scene\": \"RV-40-123456\"}",
            })),
            TOKEN,
        );
        assert_eq!(
            found,
            json!({"in_scene_draft": true, "in_scene_refined": false, "in_scenespec_raw": true})
        );
        assert_eq!(
            keys(&found),
            ["in_scene_draft", "in_scene_refined", "in_scenespec_raw"]
        );
        assert_eq!(
            token_presence(
                &outputs(json!({"ab_scene_draft": "", "ab_scene_refined": null})),
                TOKEN
            ),
            json!({"in_scene_draft": false, "in_scene_refined": false, "in_scenespec_raw": false})
        );
    }

    fn run_spec(variant: &str, meta: Value) -> RunSpec {
        RunSpec {
            variant: variant.to_owned(),
            variant_name: None,
            run: 1,
            seed: Some(40),
            generation_id: format!("{variant}1_gen"),
            config: json!({}),
            tags: Vec::new(),
            notes: None,
            meta: outputs(meta),
        }
    }

    fn outcome(status: RunStatus, final_prompt: Option<&str>, outs: Value) -> RunOutcome {
        RunOutcome {
            status,
            final_prompt: final_prompt.map(str::to_owned),
            outputs: outputs(outs),
            image_path: None,
            error: None,
        }
    }

    #[test]
    fn analyze_run_checks_the_scenespec_of_its_variant_only() {
        let meta = json!({"random_token": TOKEN, "data_mode": "config"});
        let outs = json!({
            "ab_random_token": TOKEN,
            "ab_scene_draft": "draft with RV-40-123456",
            "ab_scene_spec_json": spec_json().to_string(),
            "image_prompt": clean(),
        });
        let done = outcome(RunStatus::Success, Some(&clean()), outs.clone());

        let a = analyze_run(&run_spec("A", meta.clone()), &done, Some("B"))
            .unwrap()
            .unwrap();
        assert_eq!(
            keys(&a),
            [
                "final_prompt",
                "scenespec_json",
                "token_presence",
                "metrics"
            ]
        );
        // A has no SceneSpec metrics; the clean prompt passes every check.
        assert_eq!(a["metrics"]["final_prompt_ok"], true);
        assert_eq!(a["metrics"]["token_ok"], true);
        assert!(a["metrics"].get("scenespec_ok").is_none());
        assert_eq!(a["metrics"]["cliche_count"], 0);
        assert_eq!(a["metrics"]["final_prompt_chars"], clean().chars().count());
        assert_eq!(
            a["metrics"]["words_subject"],
            a["final_prompt"]["word_counts"]["SUBJECT"]
        );
        for name in keys(&a["metrics"]) {
            assert!(metric_info().get(name).is_some(), "{name} is declared");
        }
        assert_eq!(a["final_prompt"], final_prompt_checks(&clean(), TOKEN));
        assert_eq!(a["scenespec_json"], Value::Null);
        assert_eq!(
            a["token_presence"],
            json!({"in_scene_draft": true, "in_scene_refined": false, "in_scenespec_raw": true})
        );

        let b = analyze_run(&run_spec("B", meta.clone()), &done, Some("B"))
            .unwrap()
            .unwrap();
        assert_eq!(
            b["scenespec_json"],
            scenespec_checks(&spec_json().to_string(), TOKEN)
        );
        assert_eq!(b["scenespec_json"]["ok"], true);
        assert_eq!(b["metrics"]["scenespec_ok"], true);
        assert_eq!(b["metrics"]["scenespec_token_ok"], true);

        // Without a SceneSpec variant nothing gets the SceneSpec checks.
        let b = analyze_run(&run_spec("B", meta.clone()), &done, None)
            .unwrap()
            .unwrap();
        assert_eq!(b["scenespec_json"], Value::Null);

        // The SceneSpec variant without its output is `scenespec_missing`.
        let bare = outcome(RunStatus::Success, Some(&clean()), json!({}));
        let b = analyze_run(&run_spec("B", meta.clone()), &bare, Some("B"))
            .unwrap()
            .unwrap();
        assert_eq!(codes(&b["scenespec_json"]), ["scenespec_missing"]);
    }

    #[test]
    fn analyze_run_uses_the_planned_token_and_falls_back_to_image_prompt() {
        let meta = json!({"random_token": "RV-41-654321"});
        let done = outcome(
            RunStatus::Success,
            Some("  "),
            json!({"ab_random_token": TOKEN, "image_prompt": clean()}),
        );
        let a = analyze_run(&run_spec("A", meta), &done, Some("B"))
            .unwrap()
            .unwrap();
        assert_eq!(
            a["final_prompt"]["fields"]["SUBJECT"],
            CLEAN[0]["SUBJECT=".len()..]
        );
        assert_eq!(a["final_prompt"]["token_expected"], "RV-41-654321");
        assert_eq!(codes(&a["final_prompt"]), ["final_prompt_token_mismatch"]);

        let nothing = outcome(RunStatus::Success, None, json!({}));
        let a = analyze_run(
            &run_spec("A", json!({"random_token": TOKEN})),
            &nothing,
            None,
        )
        .unwrap()
        .unwrap();
        assert_eq!(codes(&a["final_prompt"]), ["final_prompt_missing"]);
    }

    #[test]
    fn analyze_run_skips_failed_runs_and_needs_a_token() {
        let failed = outcome(RunStatus::Error, None, json!({}));
        assert_eq!(
            analyze_run(&run_spec("A", json!({})), &failed, Some("B")).unwrap(),
            None
        );
        let done = outcome(RunStatus::Success, Some(&clean()), json!({}));
        for meta in [json!({}), json!({"random_token": 7})] {
            let error = analyze_run(&run_spec("B", meta), &done, Some("B")).unwrap_err();
            assert_eq!(
                error.message(),
                "run `B1_gen` has no string `meta.random_token` to check its prompt against"
            );
        }
    }

    #[test]
    fn summarize_counts_runs_and_averages_the_analysed_ones() {
        let full_counts = json!({
            "SUBJECT": 9, "SETTING": 12, "ACTION": 10, "COMPOSITION": 10, "CAMERA": 3,
            "LIGHTING": 4, "COLOR": 5, "STYLE": 5, "TEXT_IN_SCENE": 1, "AR": 1,
        });
        let results = vec![
            json!({"variant": "A", "status": "success", "analysis": {"final_prompt": {
                "ok": true, "token_ok": true, "word_counts": full_counts, "cliches": ["epic"]}}}),
            json!({"variant": "B", "status": "success", "analysis": {"final_prompt": {
                "ok": false, "token_ok": true, "word_counts": {"SUBJECT": 4, "MOOD": 3}, "cliches": []}}}),
            json!({"variant": "A", "status": "error", "error": {"type": "X", "message": "boom"}}),
            json!({"variant": "A", "status": "success", "analysis": {"final_prompt": {
                "ok": false, "token_ok": false, "word_counts": {"SUBJECT": 6, "SETTING": 7},
                "cliches": ["8k", "hdr"]}}}),
            json!({"variant": "A", "status": "success", "analysis_error": {"type": "X", "message": "m"}}),
            json!(42),
            json!({"status": "success"}),
            json!({"variant": 7, "status": "success"}),
            json!({"variant": "C", "status": "error"}),
            json!({"variant": "A", "status": "success", "analysis": {"final_prompt": {
                "ok": false, "issues": [{"code": "final_prompt_missing", "message": "m"}]}}}),
            json!({"variant": "A", "status": "success", "analysis": {"final_prompt": {
                "ok": true, "token_ok": "yes", "word_counts": {"SUBJECT": 5}, "cliches": []}}}),
            json!({"variant": "B", "status": "success", "analysis": {"final_prompt": null}}),
            json!({"variant": "B", "analysis": "oops"}),
        ];
        let summary = summarize(&results);
        let nulls: Map<String, Value> = FINAL_PROMPT_KEYS
            .iter()
            .map(|key| ((*key).to_owned(), Value::Null))
            .collect();
        let mut b_means = nulls.clone();
        b_means.insert("SUBJECT".into(), json!(4.0));
        assert_eq!(
            summary,
            json!({"variants": {
                "A": {
                    "runs": 6,
                    "ok": 5,
                    "final_prompt_ok_rate": 0.5,
                    "token_ok_rate": 0.25,
                    "mean_word_counts": {
                        "SUBJECT": 6.67, "SETTING": 9.5, "ACTION": 10.0, "COMPOSITION": 10.0,
                        "CAMERA": 3.0, "LIGHTING": 4.0, "COLOR": 5.0, "STYLE": 5.0,
                        "TEXT_IN_SCENE": 1.0, "AR": 1.0,
                    },
                    "cliche_count": 3,
                },
                "B": {
                    "runs": 3,
                    "ok": 2,
                    "final_prompt_ok_rate": 0.0,
                    "token_ok_rate": 1.0,
                    "mean_word_counts": b_means,
                    "cliche_count": 0,
                },
                "C": {
                    "runs": 1,
                    "ok": 0,
                    "final_prompt_ok_rate": null,
                    "token_ok_rate": null,
                    "mean_word_counts": nulls,
                    "cliche_count": 0,
                },
            }, "metric_info": metric_info()})
        );
        assert_eq!(keys(&summary["variants"]), ["A", "B", "C"]);
        assert_eq!(
            keys(&summary["variants"]["A"]),
            [
                "runs",
                "ok",
                "final_prompt_ok_rate",
                "token_ok_rate",
                "mean_word_counts",
                "cliche_count"
            ]
        );
        assert_eq!(
            keys(&summary["variants"]["A"]["mean_word_counts"]),
            FINAL_PROMPT_KEYS
        );
        assert_eq!(
            summarize(&[]),
            json!({"variants": {}, "metric_info": metric_info()})
        );
    }

    #[test]
    fn analyze_dispatches_on_the_scope_with_the_pairs_scenespec_variant() {
        const SIDE: crate::AbVariant = crate::AbVariant {
            variant_name: "side",
            sequence: &[],
            capture_stage: "ab.final_prompt_format",
            tags: &[],
            notes: "",
        };
        let pair = |scenespec_variant| crate::AbPair {
            a: SIDE,
            b: SIDE,
            scenespec_variant,
        };
        let run = plugin_api::AnalyzeRequest::Run {
            spec: run_spec("B", json!({"random_token": TOKEN})),
            outcome: outcome(RunStatus::Success, Some(&clean()), json!({})),
        };
        let with_spec = crate::analyze(&pair(Some("B")), &run).unwrap().unwrap();
        assert_eq!(codes(&with_spec["scenespec_json"]), ["scenespec_missing"]);
        let without = crate::analyze(&pair(None), &run).unwrap().unwrap();
        assert_eq!(without["scenespec_json"], Value::Null);
        assert_eq!(without["final_prompt"]["ok"], true);

        let results = vec![json!({"variant": "A", "status": "error"})];
        let summary = plugin_api::AnalyzeRequest::Summary {
            results: results.clone(),
        };
        assert_eq!(
            crate::analyze(&pair(None), &summary).unwrap(),
            Some(summarize(&results))
        );
    }

    #[test]
    fn a_thirds_rate_is_not_rounded() {
        let entry = |ok: bool| {
            json!({"variant": "A", "status": "success", "analysis": {"final_prompt": {
                "ok": ok, "token_ok": ok, "word_counts": {}, "cliches": []}}})
        };
        let summary = summarize(&[entry(true), entry(true), entry(false)]);
        assert_eq!(
            summary["variants"]["A"]["final_prompt_ok_rate"],
            json!(2.0 / 3.0)
        );
    }
}
