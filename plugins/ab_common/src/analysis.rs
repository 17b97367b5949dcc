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
    let quoted = text_in_scene.len() >= 2
        && text_in_scene.starts_with('"')
        && text_in_scene.ends_with('"');
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
        issues.push(issue("scenespec_generic_subject", "subject appears generic"));
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

    Ok(Some(json!({
        "final_prompt": final_prompt_checks(&prompt, token),
        "scenespec_json": scenespec,
        "token_presence": token_presence(&outcome.outputs, token),
    })))
}

/// Per-variant totals over the stored result entries, variants in order of first appearance:
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
    json!({ "variants": variants })
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
        if !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
        {
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
