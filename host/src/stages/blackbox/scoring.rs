//! Idea cards and their judging (reference §2.3): strict parsing of the model's idea cards and
//! judge scores, the `df_overlap_v1` novelty penalty against recent prompts, and the
//! exploit/explore selection. Pure functions: the stages own the I/O (reading the generations
//! CSV, recording `blackbox_scoring`), this module owns the rules.
//!
//! Every parse error is a `String` starting with the reference's prefix
//! (`invalid_idea_card_json:`, `invalid_idea_cards_json:` or `invalid_judge_output:`); judge
//! errors end with a preview of the first 200 characters of the output. JSON inside a code fence
//! is found ([`extract_json`]); the reference refused a fenced answer.
//!
//! Deliberate differences from the Python code:
//! - `stopwords_hash` is FNV-1a 64 ([`plugin_api::hash::stable_hash64`], 16 hex digits) of the
//!   sorted stopwords joined by `"\n"`, not their SHA-256: it only fingerprints the set.
//! - The selection draws from `derive_rng(seed, "blackbox.select_idea_card")` (DESIGN §7)
//!   instead of `Random(seed ^ 0xB10C5C0F)`, and the explore pick is `unit_f64 * Σw`.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use plugin_api::hash::stable_hash64;
use plugin_api::seed::{derive_rng, unit_f64};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::stages::json_answer::extract_json;

/// The purpose label of the selection's generator.
pub const SELECT_PURPOSE: &str = "blackbox.select_idea_card";

/// The only novelty method.
pub const NOVELTY_METHOD: &str = "df_overlap_v1";

// ---------------------------------------------------------------------------------------------
// Idea cards

/// The four option lists of an idea card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdeaOptions {
    /// At least two.
    pub composition: Vec<String>,
    /// At least two.
    pub palette: Vec<String>,
    /// At least one.
    pub medium: Vec<String>,
    /// At least one.
    pub mood: Vec<String>,
}

/// One normalised idea card: every string trimmed, empty list items dropped. Serialises as
/// `{id, hook, narrative, options{composition, palette, medium, mood}, avoid}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdeaCard {
    pub id: String,
    pub hook: String,
    pub narrative: String,
    pub options: IdeaOptions,
    pub avoid: Vec<String>,
}

impl IdeaCard {
    /// The card as a JSON object, keys in the normalised order.
    pub fn to_value(&self) -> Value {
        json!({
            "id": self.id,
            "hook": self.hook,
            "narrative": self.narrative,
            "options": {
                "composition": self.options.composition,
                "palette": self.options.palette,
                "medium": self.options.medium,
                "mood": self.options.mood,
            },
            "avoid": self.avoid,
        })
    }
}

/// The ids of `n` idea cards, like spreadsheet columns: A..Z, AA, AB, ...
pub fn idea_ids(n: usize) -> Vec<String> {
    (0..n)
        .map(|index| {
            let mut rest = index + 1;
            let mut letters = Vec::new();
            while rest > 0 {
                let rem = (rest - 1) % 26;
                rest = (rest - 1) / 26;
                // rem < 26, so the cast and the addition stay inside A..=Z.
                letters.push(char::from(b'A' + rem as u8));
            }
            letters.iter().rev().collect()
        })
        .collect()
}

/// `{"ideas": [cards]}` pretty-printed with two-space indentation (the `idea_cards_json` output).
pub fn idea_cards_json(cards: &[IdeaCard]) -> String {
    let value = json!({ "ideas": cards.iter().map(IdeaCard::to_value).collect::<Vec<_>>() });
    serde_json::to_string_pretty(&value).unwrap_or_else(|_| value.to_string())
}

/// The ids of an [`idea_cards_json`] document, in order; empty when it is not one (the judge
/// then has nothing to score, and its parser says so).
pub fn idea_cards_ids(cards_json: &str) -> Vec<String> {
    let value: Value = serde_json::from_str(cards_json).unwrap_or(Value::Null);
    value
        .get("ideas")
        .and_then(Value::as_array)
        .map(|cards| {
            cards
                .iter()
                .filter_map(|card| card.get("id").and_then(Value::as_str))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// An answer the idea-card parser accepts: `card` pretty-printed with two-space indentation,
/// no fence (the offline backend answers with it).
pub fn idea_card_sample(card: &IdeaCard) -> String {
    let value = card.to_value();
    serde_json::to_string_pretty(&value).unwrap_or_else(|_| value.to_string())
}

/// Parses one model answer as the idea card `expected_id`.
///
/// Accepts the card object, `{"idea": {...}}` or `{"ideas": [one card]}`. The id must equal
/// `expected_id` (after trimming); `hook` and `narrative` must be non-empty strings; `options`
/// must hold `composition` (≥2), `palette` (≥2), `medium` (≥1) and `mood` (≥1) lists, whose
/// non-string and blank items are dropped before counting; `avoid` is an optional list of
/// strings (null or absent gives an empty list).
pub fn parse_idea_card(text: &str, expected_id: &str) -> Result<IdeaCard, String> {
    const P: &str = "invalid_idea_card_json";
    let payload: Value = serde_json::from_str(extract_json(text))
        .map_err(|e| format!("{P}: JSON parse error: {e}"))?;
    let card = match &payload {
        Value::Object(map) if map.contains_key("idea") => &map["idea"],
        Value::Object(map) if map.contains_key("ideas") => match &map["ideas"] {
            Value::Array(items) if items.len() == 1 => &items[0],
            _ => return Err(format!("{P}: ideas must be a list with exactly 1 item")),
        },
        other => other,
    };
    let Value::Object(card) = card else {
        return Err(format!("{P}: expected an object"));
    };
    let id = match card.get("id") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
        _ => return Err(format!("{P}: id must be a non-empty string")),
    };
    if id != expected_id {
        return Err(format!(
            "{P}: wrong id (expected={expected_id:?} got={id:?})"
        ));
    }
    let text_field = |key: &str| match card.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        _ => Err(format!("{P}: {key} must be a non-empty string")),
    };
    let hook = text_field("hook")?;
    let narrative = text_field("narrative")?;
    let Some(Value::Object(options)) = card.get("options") else {
        return Err(format!("{P}: options must be an object"));
    };
    // Non-string items are dropped here (unlike the cards array, where they raise).
    let option_list = |key: &str, min: usize| {
        let Some(Value::Array(items)) = options.get(key) else {
            return Err(format!("{P}: options.{key} must be a list[str]"));
        };
        let list: Vec<String> = items
            .iter()
            .filter_map(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        if list.len() < min {
            return Err(format!("{P}: options.{key} must have >= {min} items"));
        }
        Ok(list)
    };
    let options = IdeaOptions {
        composition: option_list("composition", 2)?,
        palette: option_list("palette", 2)?,
        medium: option_list("medium", 1)?,
        mood: option_list("mood", 1)?,
    };
    let avoid = match card.get("avoid") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => strict_str_list(items, &format!("{P}: avoid"))?,
        Some(_) => return Err(format!("{P}: avoid must be a list[str] if provided")),
    };
    Ok(IdeaCard {
        id,
        hook,
        narrative,
        options,
        avoid,
    })
}

/// The trimmed, non-blank items of `items`; a non-string item is an error `<path>[i] must be a
/// string` (`path` carries the prefix).
fn strict_str_list(items: &[Value], path: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Some(s) = item.as_str() else {
            return Err(format!("{path}[{i}] must be a string"));
        };
        if !s.trim().is_empty() {
            out.push(s.trim().to_string());
        }
    }
    Ok(out)
}

/// Parses the assembled cards (`idea_cards_json`): a list or `{"ideas": [...]}` of exactly
/// `num_ideas` cards whose ids are unique and exactly `idea_ids(num_ideas)` (in any order).
/// Unlike [`parse_idea_card`], a non-string list item is an error here.
pub fn parse_idea_cards(value: &Value, num_ideas: usize) -> Result<Vec<IdeaCard>, String> {
    const P: &str = "invalid_idea_cards_json";
    if num_ideas == 0 {
        return Err(format!("{P}: num_ideas must be > 0"));
    }
    let raw = match value {
        Value::Array(_) => value,
        Value::Object(map) if map.contains_key("ideas") => &map["ideas"],
        _ => {
            return Err(format!(
                "{P}: expected a list or an object with key 'ideas'"
            ))
        }
    };
    let Value::Array(raw) = raw else {
        return Err(format!("{P}: ideas must be a list"));
    };
    if raw.len() != num_ideas {
        return Err(format!(
            "{P}: wrong number of ideas (expected={num_ideas} got={})",
            raw.len()
        ));
    }
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut cards = Vec::with_capacity(raw.len());
    for (i, idea) in raw.iter().enumerate() {
        let Value::Object(idea) = idea else {
            return Err(format!("{P}: ideas[{i}] must be an object"));
        };
        let text = |key: &str| match idea.get(key) {
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_string()),
            Some(Value::String(_)) => Err(format!("{P}: ideas[{i}].{key} must be non-empty")),
            _ => Err(format!("{P}: ideas[{i}].{key} must be a string")),
        };
        let id = text("id")?;
        if !seen.insert(id.clone()) {
            return Err(format!("{P}: duplicate idea id: {id}"));
        }
        let hook = text("hook")?;
        let narrative = text("narrative")?;
        let Some(Value::Object(options)) = idea.get("options") else {
            return Err(format!("{P}: ideas[{i}].options must be an object"));
        };
        let list = |key: &str, min: usize| {
            let path = format!("{P}: ideas[{i}].options.{key}");
            let Some(Value::Array(items)) = options.get(key) else {
                return Err(format!("{path} must be a list[str]"));
            };
            let list = strict_str_list(items, &path)?;
            if list.len() < min {
                return Err(format!("{path} must have >= {min} items"));
            }
            Ok(list)
        };
        let options = IdeaOptions {
            composition: list("composition", 2)?,
            palette: list("palette", 2)?,
            medium: list("medium", 1)?,
            mood: list("mood", 1)?,
        };
        let avoid = match idea.get("avoid") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => strict_str_list(items, &format!("{P}: ideas[{i}].avoid"))?,
            Some(_) => {
                return Err(format!(
                    "{P}: ideas[{i}].avoid must be a list[str] if provided"
                ))
            }
        };
        cards.push(IdeaCard {
            id,
            hook,
            narrative,
            options,
            avoid,
        });
    }
    let expected: BTreeSet<String> = idea_ids(num_ideas).into_iter().collect();
    let missing: Vec<&String> = expected.difference(&seen).collect();
    let extra: Vec<&String> = seen.difference(&expected).collect();
    if !missing.is_empty() || !extra.is_empty() {
        return Err(format!(
            "{P}: idea ids must match expected stable ids (missing={missing:?} extra={extra:?})"
        ));
    }
    Ok(cards)
}

// ---------------------------------------------------------------------------------------------
// Judge scores

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

// ---------------------------------------------------------------------------------------------
// Novelty (df_overlap_v1)

/// The `scaling` values: how the overlap fraction becomes a penalty (`frac`, `sqrt(frac)`,
/// `frac²`).
pub const SCALINGS: [&str; 3] = ["linear", "sqrt", "quadratic"];

/// `frac` scaled by `scaling`. The stages accept only [`SCALINGS`]; anything else is linear,
/// as in the reference.
fn scale(scaling: &str, frac: f64) -> f64 {
    match scaling {
        "sqrt" => frac.sqrt(),
        "quadratic" => frac * frac,
        _ => frac,
    }
}

/// The `novelty.*` knobs of `blackbox.prepare` and `blackbox.select_idea_card`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoveltyConfig {
    pub enabled: bool,
    /// How many recent prompts to read; 0 disables novelty.
    pub window: usize,
    /// Always [`NOVELTY_METHOD`]; the stages reject anything else when they read the config.
    pub method: String,
    /// Minimum document frequency of a motif.
    pub df_min: usize,
    pub max_motifs: usize,
    pub min_token_len: usize,
    pub stopwords_extra: Vec<String>,
    pub max_penalty: i64,
    /// A motif's weight is `min(df, df_cap)`.
    pub df_cap: usize,
    /// Tokens are letters only; otherwise letters and digits (pure numbers dropped).
    pub alpha_only: bool,
    /// One of [`SCALINGS`].
    pub scaling: String,
}

impl Default for NoveltyConfig {
    fn default() -> Self {
        NoveltyConfig {
            enabled: false,
            window: 0,
            method: NOVELTY_METHOD.to_string(),
            df_min: 3,
            max_motifs: 200,
            min_token_len: 3,
            stopwords_extra: Vec::new(),
            max_penalty: 20,
            df_cap: 10,
            alpha_only: true,
            scaling: "linear".to_string(),
        }
    }
}

impl NoveltyConfig {
    /// Whether novelty applies at all: `enabled && window > 0`.
    pub fn is_active(&self) -> bool {
        self.enabled && self.window > 0
    }

    /// The extra stopwords as used: trimmed, lowercased, non-empty, sorted, unique.
    fn extra_stopwords(&self) -> Vec<String> {
        let set: BTreeSet<String> = self
            .stopwords_extra
            .iter()
            .map(|s| s.trim().to_lowercase())
            .filter(|s| !s.is_empty())
            .collect();
        set.into_iter().collect()
    }

    /// The full stopword set: [`BASE_STOPWORDS`] plus the extras.
    fn stopwords(&self) -> BTreeSet<String> {
        BASE_STOPWORDS
            .iter()
            .map(|s| (*s).to_string())
            .chain(self.extra_stopwords())
            .collect()
    }
}

/// English function words plus prompt scaffolding: never motifs (reference §2.3).
pub const BASE_STOPWORDS: &[&str] = &[
    // Function words.
    "a",
    "an",
    "and",
    "are",
    "as",
    "at",
    "be",
    "by",
    "for",
    "from",
    "in",
    "into",
    "is",
    "it",
    "its",
    "of",
    "on",
    "or",
    "over",
    "the",
    "this",
    "to",
    "with",
    "without",
    "your",
    "you",
    "we",
    "our",
    "they",
    "their",
    "that",
    "these",
    "those",
    // Prompt scaffolding.
    "prompt",
    "image",
    "scene",
    "style",
    "composition",
    "lighting",
    "camera",
    "lens",
    "shot",
    "subject",
    "background",
    "foreground",
    "render",
    "rendered",
    "rendering",
    "rules",
    "rule",
    "constraints",
    "constraint",
    "requirements",
    "requirement",
    "instructions",
    "instruction",
    "must",
    "avoid",
    "include",
    "including",
    "exclude",
    "excluding",
    "output",
    "section",
    "format",
    "json",
    "strict",
    "highly",
    "detailed",
    "detail",
    "photorealistic",
    "hyperrealistic",
    "realistic",
];

/// Motifs counted in `motif_counts` whenever they occur.
const MOTIF_WATCHLIST: [&str; 6] = ["sunset", "sunrise", "tree", "trees", "ocean", "moon"];

/// How many motifs `top_tokens` and a penalty's `top_motifs` show.
const TOP_TOKENS: usize = 30;
const TOP_MOTIFS: usize = 10;

/// The tokens of `text`: runs of ASCII letters (`[a-zA-Z]+`, or `[a-zA-Z0-9]+` without
/// `alpha_only`, dropping pure numbers), lowercased, at least `min_len` long, not stopwords.
fn tokenize(
    text: &str,
    min_len: usize,
    stopwords: &BTreeSet<String>,
    alpha_only: bool,
) -> Vec<String> {
    let in_token = |c: char| {
        if alpha_only {
            c.is_ascii_alphabetic()
        } else {
            c.is_ascii_alphanumeric()
        }
    };
    text.split(|c: char| !in_token(c))
        .filter(|t| !t.is_empty() && t.len() >= min_len)
        .map(str::to_ascii_lowercase)
        .filter(|t| !stopwords.contains(t))
        .filter(|t| alpha_only || !t.bytes().all(|b| b.is_ascii_digit()))
        .collect()
}

/// The summary written when novelty is off or the history is unavailable.
pub fn novelty_summary_disabled(window: usize) -> Value {
    json!({ "enabled": false, "window": window, "rows_considered": 0, "top_tokens": [] })
}

/// The `df_overlap_v1` motif summary of the last `cfg.window` of `recent_prompts` (oldest
/// first, as the generations CSV lists them).
///
/// A motif is a token found in at least `df_min` prompts; motifs are sorted by (-df, token),
/// truncated to `max_motifs`, and weigh `w = min(df, df_cap)`. When `cfg` is not active the
/// result is [`novelty_summary_disabled`]; an empty history still gives an enabled summary
/// with no motifs (the caller reports a missing history with the disabled summary).
pub fn novelty_summary(recent_prompts: &[String], cfg: &NoveltyConfig) -> Value {
    if !cfg.is_active() {
        return novelty_summary_disabled(cfg.window);
    }
    let prompts = &recent_prompts[recent_prompts.len().saturating_sub(cfg.window)..];
    let stopwords = cfg.stopwords();
    let joined: Vec<&str> = stopwords.iter().map(String::as_str).collect();
    let stopwords_hash = format!("{:016x}", stable_hash64(joined.join("\n").as_bytes()));

    let mut df: BTreeMap<String, usize> = BTreeMap::new();
    for prompt in prompts {
        let unique: BTreeSet<String> =
            tokenize(prompt, cfg.min_token_len, &stopwords, cfg.alpha_only)
                .into_iter()
                .collect();
        for token in unique {
            *df.entry(token).or_default() += 1;
        }
    }
    let mut items: Vec<(&String, usize)> = df
        .iter()
        .filter(|(_, &n)| n >= cfg.df_min)
        .map(|(t, &n)| (t, n))
        .collect();
    items.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    items.truncate(cfg.max_motifs);

    let motifs: Vec<Value> = items
        .iter()
        .map(|(token, n)| json!({ "token": token, "df": n, "w": (*n).min(cfg.df_cap) }))
        .collect();
    let total_weight: usize = items.iter().map(|(_, n)| (*n).min(cfg.df_cap)).sum();
    let top_tokens: Vec<Value> = items
        .iter()
        .take(TOP_TOKENS)
        .map(|(token, n)| json!({ "token": token, "count": n }))
        .collect();
    let mut motif_counts = Map::new();
    for motif in MOTIF_WATCHLIST {
        if let Some(&n) = df.get(motif) {
            motif_counts.insert(motif.to_string(), json!(n));
        }
    }
    json!({
        "enabled": true,
        "method": NOVELTY_METHOD,
        "window": cfg.window,
        "rows_considered": prompts.len(),
        "doc_count": prompts.len(),
        "df_min": cfg.df_min,
        "df_cap": cfg.df_cap,
        "max_motifs": cfg.max_motifs,
        "min_token_len": cfg.min_token_len,
        "alpha_only": cfg.alpha_only,
        "stopwords_extra": cfg.extra_stopwords(),
        "stopwords_count": stopwords.len(),
        "stopwords_hash": stopwords_hash,
        "motifs": motifs,
        "motif_counts": motif_counts,
        "total_weight": total_weight,
        "top_tokens": top_tokens,
    })
}

/// The text of a card the penalty looks at: hook, narrative, the avoid lines, then each option
/// list, one item per line.
pub fn novelty_text(card: &IdeaCard) -> String {
    let mut parts: Vec<String> = vec![
        card.hook.trim().to_string(),
        card.narrative.trim().to_string(),
    ];
    let lists = [
        &card.avoid,
        &card.options.composition,
        &card.options.palette,
        &card.options.medium,
        &card.options.mood,
    ];
    for list in lists {
        let items: Vec<&str> = list
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .collect();
        if !items.is_empty() {
            parts.push(items.join("\n"));
        }
    }
    parts.retain(|p| !p.is_empty());
    parts.join("\n")
}

fn no_penalty(reason: &str) -> Value {
    json!({ "penalty": 0, "reason": reason })
}

/// A non-negative JSON integer.
fn non_negative(value: Option<&Value>) -> Option<u64> {
    value.and_then(Value::as_u64)
}

/// The novelty breakdown of one card against `summary` (a [`novelty_summary`] value).
///
/// `frac = Σw(card tokens ∩ motifs) / total_weight`, clamped to [0, 1], scaled by
/// `cfg.scaling`; `penalty = round(max_penalty * scaled)` (ties to even, like Python's
/// `round`), clamped to [0, max_penalty]. The result is `{penalty, max_penalty,
/// overlap_weight, total_weight, overlap_fraction, top_motifs[{token, w, df}] (≤10, by -w then
/// token)}`, or `{penalty: 0, reason}` with reason `novelty_disabled` (config not active or
/// summary disabled), `invalid_novelty_summary` (no `motifs` list) or `no_motifs`.
pub fn novelty_penalty(card: &IdeaCard, summary: &Value, cfg: &NoveltyConfig) -> Value {
    novelty_penalty_for_text(&novelty_text(card), summary, cfg)
}

/// [`novelty_penalty`] of any text (the refine loop scores candidate prompts this way).
pub fn novelty_penalty_for_text(text: &str, summary: &Value, cfg: &NoveltyConfig) -> Value {
    if !cfg.is_active() || summary.get("enabled") != Some(&Value::Bool(true)) {
        return no_penalty("novelty_disabled");
    }
    let Some(Value::Array(motifs)) = summary.get("motifs") else {
        return no_penalty("invalid_novelty_summary");
    };
    // token -> (w, df); malformed motif entries are skipped, a missing `w` is recomputed.
    let mut weights: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for motif in motifs {
        let Some(token) = motif
            .get("token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        else {
            continue;
        };
        let Some(df) = non_negative(motif.get("df")).filter(|&df| df >= 1) else {
            continue;
        };
        let w = non_negative(motif.get("w")).unwrap_or_else(|| df.min(cfg.df_cap as u64));
        weights.insert(token, (w, df));
    }
    let total_weight = non_negative(summary.get("total_weight"))
        .unwrap_or_else(|| weights.values().map(|(w, _)| w).sum());
    if total_weight == 0 || weights.is_empty() {
        return no_penalty("no_motifs");
    }

    let stopwords = cfg.stopwords();
    let tokens: HashSet<String> = tokenize(text, cfg.min_token_len, &stopwords, cfg.alpha_only)
        .into_iter()
        .collect();
    let mut overlap: Vec<(&str, u64, u64)> = weights
        .iter()
        .filter(|(token, _)| tokens.contains(**token))
        .map(|(token, &(w, df))| (*token, w, df))
        .collect();
    let overlap_weight: u64 = overlap.iter().map(|(_, w, _)| w).sum();
    let frac = (overlap_weight as f64 / total_weight as f64).clamp(0.0, 1.0);
    let scaled = scale(&cfg.scaling, frac);
    let max_penalty = cfg.max_penalty;
    // The product is within [0, max_penalty] up to rounding, so the cast cannot overflow.
    let raw = (max_penalty as f64 * scaled).round_ties_even() as i64;
    let penalty = raw.min(max_penalty).max(0);

    overlap.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let top_motifs: Vec<Value> = overlap
        .iter()
        .take(TOP_MOTIFS)
        .map(|(token, w, df)| json!({ "token": token, "w": w, "df": df }))
        .collect();
    json!({
        "penalty": penalty,
        "max_penalty": max_penalty,
        "overlap_weight": overlap_weight,
        "total_weight": total_weight,
        "overlap_fraction": frac,
        "top_motifs": top_motifs,
    })
}

/// `(id, penalty, breakdown)` for every card, ready for [`select_candidate`].
pub fn novelty_penalties(
    cards: &[IdeaCard],
    summary: &Value,
    cfg: &NoveltyConfig,
) -> Vec<(String, i64, Value)> {
    cards
        .iter()
        .map(|card| {
            let detail = novelty_penalty(card, summary, cfg);
            let penalty = detail.get("penalty").and_then(Value::as_i64).unwrap_or(0);
            (card.id.clone(), penalty, detail)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Selection

/// One row of the score table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoreRow {
    pub id: String,
    pub score: i64,
    pub novelty_penalty: i64,
    pub novelty_detail: Value,
    /// `max(0, score - novelty_penalty)`.
    pub effective_score: i64,
}

/// Whether the top row was taken or the pool was sampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SelectionMode {
    Exploit,
    Explore,
}

impl SelectionMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SelectionMode::Exploit => "exploit",
            SelectionMode::Explore => "explore",
        }
    }
}

/// The outcome of [`select_candidate`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Selection {
    pub selected_id: String,
    pub mode: SelectionMode,
    /// The exploration roll in [0, 1).
    pub roll: f64,
    /// Every scored id, sorted by (-effective_score, -score, id).
    pub table: Vec<ScoreRow>,
}

impl Selection {
    /// The selected row.
    pub fn selected(&self) -> Option<&ScoreRow> {
        self.table.iter().find(|row| row.id == self.selected_id)
    }
}

/// Picks one idea (reference §2.3 steps 1–3).
///
/// 1. Each score loses its novelty penalty (`penalties`; an id without one has penalty 0 and
///    the `novelty_disabled` breakdown); the table is sorted by (-effective, -score, id).
/// 2. `roll = unit_f64` from `derive_rng(seed, "blackbox.select_idea_card")`.
/// 3. If `exploration_rate > 0 && roll < exploration_rate` (explore): from the top
///    `max(1, ceil(n/4))` rows, weights `max(1, effective)`, `pick = unit_f64 * Σw`, the first
///    row whose running weight reaches `pick`. Otherwise (exploit): the top row.
///
/// `scores` must not be empty ([`parse_judge_scores`] never returns an empty list for a
/// non-empty id set); an empty table selects the empty id.
pub fn select_candidate(
    scores: &[(String, i64)],
    penalties: &[(String, i64, Value)],
    exploration_rate: f64,
    seed: u64,
) -> Selection {
    debug_assert!(
        !scores.is_empty(),
        "select_candidate needs at least one score"
    );
    let mut table: Vec<ScoreRow> = scores
        .iter()
        .map(|(id, score)| {
            let (penalty, detail) = penalties.iter().find(|(pid, _, _)| pid == id).map_or_else(
                || (0, no_penalty("novelty_disabled")),
                |(_, p, d)| (*p, d.clone()),
            );
            ScoreRow {
                id: id.clone(),
                score: *score,
                novelty_penalty: penalty,
                novelty_detail: detail,
                effective_score: (score - penalty).max(0),
            }
        })
        .collect();
    table.sort_by(|a, b| {
        b.effective_score
            .cmp(&a.effective_score)
            .then_with(|| b.score.cmp(&a.score))
            .then_with(|| a.id.cmp(&b.id))
    });

    let mut rng = derive_rng(seed, SELECT_PURPOSE);
    let roll = unit_f64(&mut rng);
    let (mode, selected) = if exploration_rate > 0.0 && roll < exploration_rate {
        let k = table.len().div_ceil(4).max(1).min(table.len());
        let pool = &table[..k];
        let weights: Vec<i64> = pool.iter().map(|row| row.effective_score.max(1)).collect();
        let total: i64 = weights.iter().sum();
        let pick = unit_f64(&mut rng) * total as f64;
        let mut running = 0.0;
        let mut chosen = pool.last();
        for (row, weight) in pool.iter().zip(&weights) {
            running += *weight as f64;
            if pick <= running {
                chosen = Some(row);
                break;
            }
        }
        (SelectionMode::Explore, chosen)
    } else {
        (SelectionMode::Exploit, table.first())
    };
    let selected_id = selected.map(|row| row.id.clone()).unwrap_or_default();
    Selection {
        selected_id,
        mode,
        roll,
        table,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card_json(id: &str) -> Value {
        json!({
            "id": id,
            "hook": "A beekeeper reads the hive like a map",
            "narrative": "At dusk she traces routes on the comb. The bees follow.",
            "options": {
                "composition": ["low angle", "tight crop"],
                "palette": ["honey amber", "slate blue"],
                "medium": ["gouache"],
                "mood": ["patient"],
            },
            "avoid": ["cartoon bees"],
        })
    }

    fn card(id: &str) -> IdeaCard {
        parse_idea_card(&card_json(id).to_string(), id).expect("card")
    }

    /// `parse_idea_card` on `value` expecting id A: the error, which must carry the prefix.
    fn card_err(value: Value) -> String {
        let err = parse_idea_card(&value.to_string(), "A").expect_err("should fail");
        assert!(err.starts_with("invalid_idea_card_json: "), "{err}");
        err
    }

    fn with(mut value: Value, pointer: &str, replacement: Value) -> Value {
        *value
            .pointer_mut(pointer)
            .unwrap_or_else(|| panic!("no {pointer}")) = replacement;
        value
    }

    fn without(mut value: Value, pointer: &str) -> Value {
        let (parent, key) = pointer.rsplit_once('/').expect("pointer");
        let parent = if parent.is_empty() {
            &mut value
        } else {
            value.pointer_mut(parent).expect("parent")
        };
        parent.as_object_mut().expect("object").remove(key);
        value
    }

    #[test]
    fn idea_ids_are_spreadsheet_columns() {
        assert_eq!(idea_ids(0), Vec::<String>::new());
        assert_eq!(idea_ids(3), ["A", "B", "C"]);
        let ids = idea_ids(54);
        assert_eq!(
            (ids[25].as_str(), ids[26].as_str(), ids[27].as_str()),
            ("Z", "AA", "AB")
        );
        assert_eq!(
            (ids[51].as_str(), ids[52].as_str(), ids[53].as_str()),
            ("AZ", "BA", "BB")
        );
        assert_eq!(idea_ids(703).last().map(String::as_str), Some("AAA"));
    }

    #[test]
    fn card_accepts_object_idea_and_single_ideas() {
        let expected = card("A");
        assert_eq!(expected.id, "A");
        assert_eq!(expected.options.composition, ["low angle", "tight crop"]);
        assert_eq!(expected.avoid, ["cartoon bees"]);
        let wrapped = json!({ "idea": card_json("A") }).to_string();
        assert_eq!(parse_idea_card(&wrapped, "A"), Ok(expected.clone()));
        let listed = json!({ "ideas": [card_json("A")] }).to_string();
        assert_eq!(parse_idea_card(&listed, "A"), Ok(expected.clone()));
        // Whitespace around the document is fine.
        let spaced = format!("\n  {}  \n", card_json("A"));
        assert_eq!(parse_idea_card(&spaced, "A"), Ok(expected));
    }

    #[test]
    fn card_normalises_strings_and_lists() {
        let value = json!({
            "id": " B ",
            "hook": "  hook  ",
            "narrative": " story ",
            "options": {
                "composition": ["  one ", 7, "", "two", null],
                "palette": ["a", {"x": 1}, "b"],
                "medium": [" m "],
                "mood": ["calm", false],
            },
            "extra": "ignored",
        });
        let card = parse_idea_card(&value.to_string(), "B").expect("card");
        assert_eq!(
            card,
            IdeaCard {
                id: "B".into(),
                hook: "hook".into(),
                narrative: "story".into(),
                options: IdeaOptions {
                    composition: vec!["one".into(), "two".into()],
                    palette: vec!["a".into(), "b".into()],
                    medium: vec!["m".into()],
                    mood: vec!["calm".into()],
                },
                avoid: vec![],
            }
        );
        let null_avoid = with(card_json("A"), "/avoid", Value::Null);
        assert_eq!(
            parse_idea_card(&null_avoid.to_string(), "A")
                .expect("card")
                .avoid,
            Vec::<String>::new()
        );
        let blank_avoid = with(card_json("A"), "/avoid", json!([" x ", "  "]));
        assert_eq!(
            parse_idea_card(&blank_avoid.to_string(), "A")
                .expect("card")
                .avoid,
            ["x"]
        );
        // The normalised value has the reference's key order.
        let keys: Vec<String> = card
            .to_value()
            .as_object()
            .expect("object")
            .keys()
            .cloned()
            .collect();
        assert_eq!(keys, ["id", "hook", "narrative", "options", "avoid"]);
    }

    #[test]
    fn fenced_json_is_accepted_by_the_card_and_judge_parsers() {
        let fenced = format!("Here:\n```json\n{}\n```\n", card_json("A"));
        assert_eq!(parse_idea_card(&fenced, "A"), Ok(card("A")));
        let judged = "```json\n{\"scores\":[{\"id\":\"A\",\"score\":7}]}\n```";
        assert_eq!(
            parse_judge_scores(judged, &ids(&["A"])),
            Ok(vec![("A".to_string(), 7)])
        );
    }

    #[test]
    fn card_rejections() {
        let err = parse_idea_card("```json\n{ not json\n```", "A").expect_err("fenced");
        assert!(
            err.starts_with("invalid_idea_card_json: JSON parse error: "),
            "{err}"
        );
        assert!(parse_idea_card("", "A")
            .expect_err("empty")
            .starts_with("invalid_idea_card_json: JSON parse error"));

        let cases: Vec<(Value, &str)> = vec![
            (
                json!({"ideas": []}),
                "ideas must be a list with exactly 1 item",
            ),
            (
                json!({"ideas": [card_json("A"), card_json("B")]}),
                "ideas must be a list with exactly 1 item",
            ),
            (
                json!({"ideas": card_json("A")}),
                "ideas must be a list with exactly 1 item",
            ),
            (json!([card_json("A")]), "expected an object"),
            (json!("A card"), "expected an object"),
            (json!({"idea": "A"}), "expected an object"),
            (
                without(card_json("A"), "/id"),
                "id must be a non-empty string",
            ),
            (
                with(card_json("A"), "/id", json!(" ")),
                "id must be a non-empty string",
            ),
            (
                with(card_json("A"), "/id", json!(1)),
                "id must be a non-empty string",
            ),
            (
                with(card_json("A"), "/id", json!("B")),
                "wrong id (expected=\"A\" got=\"B\")",
            ),
            (
                with(card_json("A"), "/hook", json!("")),
                "hook must be a non-empty string",
            ),
            (
                with(card_json("A"), "/hook", json!(["x"])),
                "hook must be a non-empty string",
            ),
            (
                without(card_json("A"), "/narrative"),
                "narrative must be a non-empty string",
            ),
            (
                without(card_json("A"), "/options"),
                "options must be an object",
            ),
            (
                with(card_json("A"), "/options", json!([])),
                "options must be an object",
            ),
            (
                with(card_json("A"), "/options/composition", json!("low angle")),
                "options.composition must be a list[str]",
            ),
            (
                without(card_json("A"), "/options/composition"),
                "options.composition must be a list[str]",
            ),
            (
                with(
                    card_json("A"),
                    "/options/composition",
                    json!(["one", 2, " "]),
                ),
                "options.composition must have >= 2 items",
            ),
            (
                with(card_json("A"), "/options/palette", json!(["red"])),
                "options.palette must have >= 2 items",
            ),
            (
                with(card_json("A"), "/options/medium", json!([])),
                "options.medium must have >= 1 items",
            ),
            (
                with(card_json("A"), "/options/mood", json!([3])),
                "options.mood must have >= 1 items",
            ),
            (
                without(card_json("A"), "/options/mood"),
                "options.mood must be a list[str]",
            ),
            (
                with(card_json("A"), "/avoid", json!("cartoon bees")),
                "avoid must be a list[str] if provided",
            ),
            (
                with(card_json("A"), "/avoid", json!(["ok", 5])),
                "avoid[1] must be a string",
            ),
        ];
        for (value, reason) in cases {
            let err = card_err(value.clone());
            assert_eq!(
                err,
                format!("invalid_idea_card_json: {reason}"),
                "for {value}"
            );
        }
    }

    fn cards_value(ids: &[&str]) -> Value {
        json!({ "ideas": ids.iter().map(|id| card_json(id)).collect::<Vec<_>>() })
    }

    fn cards_err(value: Value, n: usize) -> String {
        let err = parse_idea_cards(&value, n).expect_err("should fail");
        assert!(err.starts_with("invalid_idea_cards_json: "), "{err}");
        err
    }

    #[test]
    fn cards_accept_list_or_ideas_object_in_any_order() {
        let cards = parse_idea_cards(&cards_value(&["A", "B", "C"]), 3).expect("cards");
        assert_eq!(
            cards.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
            ["A", "B", "C"]
        );
        assert_eq!(cards[1], card("B"));
        let list = json!([card_json("B"), card_json("A")]);
        let cards = parse_idea_cards(&list, 2).expect("cards");
        assert_eq!(
            cards.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
            ["B", "A"]
        );
        // What the assemble step writes reads back.
        let text = idea_cards_json(&cards);
        assert!(text.starts_with("{\n  \"ideas\": [\n"), "{text}");
        let reparsed: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(parse_idea_cards(&reparsed, 2), Ok(cards));
    }

    #[test]
    fn cards_rejections() {
        let two = cards_value(&["A", "B"]);
        let cases: Vec<(Value, usize, String)> = vec![
            (
                json!({"cards": []}),
                1,
                "expected a list or an object with key 'ideas'".into(),
            ),
            (
                json!("A"),
                1,
                "expected a list or an object with key 'ideas'".into(),
            ),
            (
                json!({"ideas": {"A": {}}}),
                1,
                "ideas must be a list".into(),
            ),
            (
                two.clone(),
                3,
                "wrong number of ideas (expected=3 got=2)".into(),
            ),
            (
                two.clone(),
                1,
                "wrong number of ideas (expected=1 got=2)".into(),
            ),
            (json!(["A"]), 1, "ideas[0] must be an object".into()),
            (
                without(two.clone(), "/ideas/1/id"),
                2,
                "ideas[1].id must be a string".into(),
            ),
            (
                with(two.clone(), "/ideas/0/id", json!("  ")),
                2,
                "ideas[0].id must be non-empty".into(),
            ),
            (cards_value(&["A", "A"]), 2, "duplicate idea id: A".into()),
            (
                with(two.clone(), "/ideas/0/hook", json!("")),
                2,
                "ideas[0].hook must be non-empty".into(),
            ),
            (
                with(two.clone(), "/ideas/1/narrative", json!(3)),
                2,
                "ideas[1].narrative must be a string".into(),
            ),
            (
                with(two.clone(), "/ideas/1/options", json!(null)),
                2,
                "ideas[1].options must be an object".into(),
            ),
            (
                with(two.clone(), "/ideas/0/options/composition", json!("x")),
                2,
                "ideas[0].options.composition must be a list[str]".into(),
            ),
            (
                with(two.clone(), "/ideas/0/options/composition", json!(["x", 2])),
                2,
                "ideas[0].options.composition[1] must be a string".into(),
            ),
            (
                with(two.clone(), "/ideas/0/options/palette", json!(["x", " "])),
                2,
                "ideas[0].options.palette must have >= 2 items".into(),
            ),
            (
                with(two.clone(), "/ideas/1/options/medium", json!([])),
                2,
                "ideas[1].options.medium must have >= 1 items".into(),
            ),
            (
                with(two.clone(), "/ideas/1/options/mood", json!([null])),
                2,
                "ideas[1].options.mood[0] must be a string".into(),
            ),
            (
                with(two.clone(), "/ideas/1/avoid", json!({})),
                2,
                "ideas[1].avoid must be a list[str] if provided".into(),
            ),
            (
                with(two.clone(), "/ideas/1/avoid", json!([1])),
                2,
                "ideas[1].avoid[0] must be a string".into(),
            ),
            (
                cards_value(&["A", "C"]),
                2,
                "idea ids must match expected stable ids (missing=[\"B\"] extra=[\"C\"])".into(),
            ),
            (cards_value(&["A"]), 0, "num_ideas must be > 0".into()),
        ];
        for (value, n, reason) in cases {
            assert_eq!(
                cards_err(value.clone(), n),
                format!("invalid_idea_cards_json: {reason}"),
                "for {value}"
            );
        }
        // A wrong count is reported as the select stage's config mismatch is described.
        assert!(cards_err(two, 6).starts_with("invalid_idea_cards_json: wrong number of ideas"));
    }

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_string()).collect()
    }

    fn judge_err(text: &str, expected: &[&str]) -> String {
        let err = parse_judge_scores(text, &ids(expected)).expect_err("should fail");
        assert!(err.starts_with("invalid_judge_output: "), "{err}");
        let preview: String = text.chars().take(200).collect();
        assert!(err.ends_with(&format!("; preview={preview:?}")), "{err}");
        err
    }

    #[test]
    fn judge_scores_accept_exact_ids_in_answer_order() {
        let text = r#"{"scores":[{"id":"B","score":100},{"id":" A ","score":0},{"id":"C","score":55,"why":"x"}]}"#;
        assert_eq!(
            parse_judge_scores(text, &ids(&["A", "B", "C"])),
            Ok(vec![("B".into(), 100), ("A".into(), 0), ("C".into(), 55)])
        );
        assert_eq!(parse_judge_scores(r#"{"scores":[]}"#, &[]), Ok(vec![]));
    }

    #[test]
    fn judge_scores_rejections() {
        let cases: Vec<(&str, &str)> = vec![
            ("not json", "JSON parse error: "),
            ("```json\n{\"scores\":[\n```", "JSON parse error: "),
            (
                r#"[{"id":"A","score":1}]"#,
                "expected object with key 'scores'",
            ),
            (r#"{"score":[]}"#, "expected object with key 'scores'"),
            (r#"{"scores":{"A":1}}"#, "scores must be a list"),
            (r#"{"scores":[5]}"#, "scores[0] must be an object"),
            (
                r#"{"scores":[{"score":5}]}"#,
                "scores[0].id must be a non-empty string",
            ),
            (
                r#"{"scores":[{"id":"","score":5}]}"#,
                "scores[0].id must be a non-empty string",
            ),
            (
                r#"{"scores":[{"id":1,"score":5}]}"#,
                "scores[0].id must be a non-empty string",
            ),
            (
                r#"{"scores":[{"id":"A","score":5},{"id":"A","score":6}]}"#,
                "duplicate id in scores: A",
            ),
            (
                r#"{"scores":[{"id":"A","score":true}]}"#,
                "scores[0].score must be an int",
            ),
            (
                r#"{"scores":[{"id":"A","score":80.0}]}"#,
                "scores[0].score must be an int",
            ),
            (
                r#"{"scores":[{"id":"A","score":"80"}]}"#,
                "scores[0].score must be an int",
            ),
            (
                r#"{"scores":[{"id":"A"}]}"#,
                "scores[0].score must be an int",
            ),
            (
                r#"{"scores":[{"id":"A","score":-1}]}"#,
                "scores[0].score must be in [0, 100]",
            ),
            (
                r#"{"scores":[{"id":"A","score":101}]}"#,
                "scores[0].score must be in [0, 100]",
            ),
            (
                r#"{"scores":[{"id":"A","score":18446744073709551615}]}"#,
                "scores[0].score must be in [0, 100]",
            ),
            (
                r#"{"scores":[]}"#,
                "score ids must match idea ids (missing=[\"A\"] extra=[])",
            ),
            (
                r#"{"scores":[{"id":"A","score":5},{"id":"Z","score":6}]}"#,
                "score ids must match idea ids (missing=[] extra=[\"Z\"])",
            ),
        ];
        for (text, reason) in cases {
            let err = judge_err(text, &["A"]);
            assert!(
                err.starts_with(&format!("invalid_judge_output: {reason}")),
                "{text}: {err}"
            );
        }
        // The preview stops at 200 characters.
        let long = format!("{{\"scores\": 1, \"pad\": \"{}\"}}", "é".repeat(300));
        let err = judge_err(&long, &["A"]);
        assert!(!err.contains(&"é".repeat(190)), "preview too long: {err}");
    }

    fn history() -> Vec<String> {
        [
            "ancient lighthouse, lighthouse again",
            "A lighthouse at sunset over the ocean, oil painting",
            "Lighthouse keeper reading by lantern light, ocean storm",
            "Ocean waves under the moon, lighthouse beam, sunset glow",
            "Fox under the moon in the forest at SUNSET, 35mm",
        ]
        .iter()
        .map(|s| (*s).to_string())
        .collect()
    }

    fn active(window: usize) -> NoveltyConfig {
        NoveltyConfig {
            enabled: true,
            window,
            df_min: 2,
            ..NoveltyConfig::default()
        }
    }

    #[test]
    fn novelty_defaults_match_the_reference() {
        let cfg = NoveltyConfig::default();
        assert!(!cfg.enabled && cfg.window == 0 && cfg.method == "df_overlap_v1");
        assert_eq!(
            (
                cfg.df_min,
                cfg.max_motifs,
                cfg.min_token_len,
                cfg.max_penalty,
                cfg.df_cap
            ),
            (3, 200, 3, 20, 10)
        );
        assert!(cfg.alpha_only && cfg.stopwords_extra.is_empty());
        assert_eq!(cfg.scaling, "linear");
        assert!(SCALINGS.contains(&cfg.scaling.as_str()));
    }

    #[test]
    fn novelty_summary_disabled_shapes() {
        let expected =
            json!({"enabled": false, "window": 0, "rows_considered": 0, "top_tokens": []});
        assert_eq!(
            novelty_summary(&history(), &NoveltyConfig::default()),
            expected
        );
        let off = NoveltyConfig {
            window: 4,
            ..NoveltyConfig::default()
        };
        assert_eq!(novelty_summary(&history(), &off)["window"], 4);
        assert_eq!(novelty_summary(&history(), &off)["enabled"], false);
        assert_eq!(novelty_summary(&history(), &active(0))["enabled"], false);
        assert_eq!(
            novelty_summary_disabled(7),
            json!({"enabled": false, "window": 7, "rows_considered": 0, "top_tokens": []})
        );
    }

    #[test]
    fn novelty_summary_counts_document_frequency_in_the_window() {
        // The oldest prompt (lighthouse twice) falls outside the window of 4.
        let summary = novelty_summary(&history(), &active(4));
        assert_eq!(
            summary["motifs"],
            json!([
                {"token": "lighthouse", "df": 3, "w": 3},
                {"token": "ocean", "df": 3, "w": 3},
                {"token": "sunset", "df": 3, "w": 3},
                {"token": "moon", "df": 2, "w": 2},
                {"token": "under", "df": 2, "w": 2},
            ])
        );
        assert_eq!(summary["total_weight"], 13);
        assert_eq!(
            summary["motif_counts"],
            json!({"sunset": 3, "ocean": 3, "moon": 2})
        );
        assert_eq!(
            summary["top_tokens"],
            json!([
                {"token": "lighthouse", "count": 3},
                {"token": "ocean", "count": 3},
                {"token": "sunset", "count": 3},
                {"token": "moon", "count": 2},
                {"token": "under", "count": 2},
            ])
        );
        let keys: Vec<&str> = summary
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "enabled",
                "method",
                "window",
                "rows_considered",
                "doc_count",
                "df_min",
                "df_cap",
                "max_motifs",
                "min_token_len",
                "alpha_only",
                "stopwords_extra",
                "stopwords_count",
                "stopwords_hash",
                "motifs",
                "motif_counts",
                "total_weight",
                "top_tokens"
            ]
        );
        assert_eq!(
            (
                summary["rows_considered"].clone(),
                summary["doc_count"].clone()
            ),
            (json!(4), json!(4))
        );
        assert_eq!(summary["method"], "df_overlap_v1");
        assert_eq!(summary["stopwords_count"], 73);
        let hash = summary["stopwords_hash"].as_str().expect("hash");
        assert_eq!(hash.len(), 16);
        assert!(
            hash.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
            "{hash}"
        );

        // The whole history: lighthouse reaches 4.
        let all = novelty_summary(&history(), &active(10));
        assert_eq!(
            all["motifs"][0],
            json!({"token": "lighthouse", "df": 4, "w": 4})
        );
        assert_eq!(all["rows_considered"], 5);
    }

    #[test]
    fn novelty_summary_knobs() {
        // df_cap, max_motifs, df_min.
        let cfg = NoveltyConfig {
            df_cap: 2,
            max_motifs: 2,
            ..active(4)
        };
        let summary = novelty_summary(&history(), &cfg);
        assert_eq!(
            summary["motifs"],
            json!([{"token": "lighthouse", "df": 3, "w": 2}, {"token": "ocean", "df": 3, "w": 2}])
        );
        assert_eq!(summary["total_weight"], 4);
        let strict = NoveltyConfig {
            df_min: 3,
            ..active(4)
        };
        assert_eq!(novelty_summary(&history(), &strict)["total_weight"], 9);
        // Extra stopwords are normalised, recorded and change the fingerprint.
        let extra = NoveltyConfig {
            stopwords_extra: vec![" Moon ".into(), "  ".into(), "under".into(), "moon".into()],
            ..active(4)
        };
        let with_extra = novelty_summary(&history(), &extra);
        assert_eq!(with_extra["stopwords_extra"], json!(["moon", "under"]));
        assert_eq!(with_extra["stopwords_count"], 75);
        assert_eq!(with_extra["total_weight"], 9);
        assert_ne!(
            with_extra["stopwords_hash"],
            novelty_summary(&history(), &active(4))["stopwords_hash"]
        );
        // Letters and digits: `35mm` becomes a token, pure numbers never do.
        let prompts: Vec<String> = ["35mm 2024 fox", "35mm 2024 owl", "a 35mm 2024"]
            .iter()
            .map(|s| (*s).to_string())
            .collect();
        let alnum = NoveltyConfig {
            alpha_only: false,
            ..active(3)
        };
        assert_eq!(
            novelty_summary(&prompts, &alnum)["motifs"],
            json!([{"token": "35mm", "df": 3, "w": 3}])
        );
        assert_eq!(novelty_summary(&prompts, &active(3))["motifs"], json!([]));
        // min_token_len.
        let short = NoveltyConfig {
            min_token_len: 2,
            ..active(3)
        };
        assert_eq!(
            novelty_summary(&prompts, &short)["motifs"],
            json!([{"token": "mm", "df": 3, "w": 3}])
        );
        // An empty history is still an enabled summary, with nothing in it.
        let empty = novelty_summary(&[], &active(4));
        assert_eq!(
            (
                empty["enabled"].clone(),
                empty["rows_considered"].clone(),
                empty["total_weight"].clone()
            ),
            (json!(true), json!(0), json!(0))
        );
    }

    /// A card whose text meets lighthouse, ocean and moon (8 of 13) but not sunset or under.
    fn motif_card() -> IdeaCard {
        let mut card = card("A");
        card.hook = "A lighthouse keeper tends bees".into();
        card.narrative = "The hives sit on the cliff; the OCEAN hums below.".into();
        card.options.mood = vec!["moon-lit calm".into()];
        card
    }

    #[test]
    fn novelty_text_joins_every_part() {
        assert_eq!(
            novelty_text(&card("A")),
            "A beekeeper reads the hive like a map\nAt dusk she traces routes on the comb. The bees follow.\n\
             cartoon bees\nlow angle\ntight crop\nhoney amber\nslate blue\ngouache\npatient"
        );
    }

    #[test]
    fn novelty_penalty_scalings() {
        let summary = novelty_summary(&history(), &active(4));
        let expected = |penalty: i64| {
            json!({
                "penalty": penalty,
                "max_penalty": 20,
                "overlap_weight": 8,
                "total_weight": 13,
                "overlap_fraction": 8.0 / 13.0,
                "top_motifs": [
                    {"token": "lighthouse", "w": 3, "df": 3},
                    {"token": "ocean", "w": 3, "df": 3},
                    {"token": "moon", "w": 2, "df": 2},
                ],
            })
        };
        // 20 * 8/13 = 12.31; 20 * sqrt(8/13) = 15.69; 20 * (8/13)^2 = 7.57.
        for (scaling, penalty) in [("linear", 12), ("sqrt", 16), ("quadratic", 8)] {
            let cfg = NoveltyConfig {
                scaling: scaling.to_string(),
                ..active(4)
            };
            assert_eq!(
                novelty_penalty(&motif_card(), &summary, &cfg),
                expected(penalty),
                "{scaling}"
            );
        }
        // No overlap at all.
        let plain = novelty_penalty(&card("A"), &summary, &active(4));
        assert_eq!(
            (plain["penalty"].clone(), plain["overlap_fraction"].clone()),
            (json!(0), json!(0.0))
        );
        assert_eq!(plain["top_motifs"], json!([]));
        // Stopwords from the config apply to the card too.
        let cfg = NoveltyConfig {
            stopwords_extra: vec!["ocean".into()],
            ..active(4)
        };
        assert_eq!(
            novelty_penalty(&motif_card(), &summary, &cfg)["overlap_weight"],
            5
        );
    }

    #[test]
    fn novelty_penalty_rounds_half_to_even_and_clamps() {
        let summary = json!({
            "enabled": true,
            "motifs": [{"token": "alpha", "df": 3, "w": 1}, {"token": "beta", "df": 3, "w": 1}],
            "total_weight": 2,
        });
        let mut card = card("A");
        card.hook = "alpha".into();
        // 5 * 0.5 = 2.5 rounds to 2, 7 * 0.5 = 3.5 to 4 (Python's round).
        for (max_penalty, penalty) in [(5, 2), (7, 4), (0, 0)] {
            let cfg = NoveltyConfig {
                max_penalty,
                ..active(4)
            };
            assert_eq!(
                novelty_penalty(&card, &summary, &cfg)["penalty"],
                penalty,
                "max {max_penalty}"
            );
        }
        // An overlap larger than the stated total is clamped to the whole penalty.
        let skewed = json!({"enabled": true, "motifs": [{"token": "alpha", "df": 9, "w": 9}], "total_weight": 3});
        let detail = novelty_penalty(&card, &skewed, &active(4));
        assert_eq!(
            (
                detail["penalty"].clone(),
                detail["overlap_fraction"].clone()
            ),
            (json!(20), json!(1.0))
        );
        // Missing `w` and `total_weight` are recomputed from df (capped); bad motifs skipped.
        let partial = json!({"enabled": true, "motifs": [{"token": "alpha", "df": 12}, {"token": "", "df": 3}, {"token": "beta", "df": 0}, "x", {"token": "gamma", "df": 4, "w": -1}]});
        let detail = novelty_penalty(&card, &partial, &active(4));
        assert_eq!(
            (
                detail["overlap_weight"].clone(),
                detail["total_weight"].clone()
            ),
            (json!(10), json!(14))
        );
    }

    #[test]
    fn novelty_penalty_reasons() {
        let summary = novelty_summary(&history(), &active(4));
        let reason =
            |summary: &Value, cfg: &NoveltyConfig| novelty_penalty(&motif_card(), summary, cfg);
        let disabled = json!({"penalty": 0, "reason": "novelty_disabled"});
        assert_eq!(reason(&summary, &NoveltyConfig::default()), disabled);
        assert_eq!(reason(&summary, &active(0)), disabled);
        assert_eq!(reason(&novelty_summary_disabled(4), &active(4)), disabled);
        assert_eq!(reason(&Value::Null, &active(4)), disabled);
        assert_eq!(
            reason(&json!({"enabled": true, "motifs": {}}), &active(4)),
            json!({"penalty": 0, "reason": "invalid_novelty_summary"})
        );
        let no_motifs = json!({"penalty": 0, "reason": "no_motifs"});
        assert_eq!(
            reason(&novelty_summary(&[], &active(4)), &active(4)),
            no_motifs
        );
        assert_eq!(
            reason(
                &json!({"enabled": true, "motifs": [{"token": "lighthouse", "df": 3}], "total_weight": 0}),
                &active(4)
            ),
            no_motifs
        );
        // The convenience list carries id and penalty.
        let list = novelty_penalties(&[motif_card(), card("B")], &summary, &active(4));
        assert_eq!(
            list.iter()
                .map(|(id, p, _)| (id.as_str(), *p))
                .collect::<Vec<_>>(),
            [("A", 12), ("B", 0)]
        );
    }

    fn scores(list: &[(&str, i64)]) -> Vec<(String, i64)> {
        list.iter().map(|(id, s)| ((*id).to_string(), *s)).collect()
    }

    #[test]
    fn exploit_takes_the_top_by_effective_then_score_then_id() {
        let s = scores(&[("A", 80), ("B", 90), ("C", 85), ("D", 85), ("E", 10)]);
        let penalties = vec![
            ("B".to_string(), 10, json!({"penalty": 10})),
            ("E".to_string(), 15, json!({"penalty": 15})),
        ];
        let selection = select_candidate(&s, &penalties, 0.0, 7);
        assert_eq!(selection.mode, SelectionMode::Exploit);
        let order: Vec<(&str, i64, i64)> = selection
            .table
            .iter()
            .map(|r| (r.id.as_str(), r.score, r.effective_score))
            .collect();
        // C and D tie on both scores (id decides); B ties A on effective but scores higher.
        assert_eq!(
            order,
            [
                ("C", 85, 85),
                ("D", 85, 85),
                ("B", 90, 80),
                ("A", 80, 80),
                ("E", 10, 0)
            ]
        );
        assert_eq!(selection.selected_id, "C");
        assert_eq!(selection.selected().map(|r| r.score), Some(85));
        assert_eq!(selection.table[2].novelty_detail, json!({"penalty": 10}));
        assert_eq!(
            selection.table[3].novelty_detail,
            json!({"penalty": 0, "reason": "novelty_disabled"})
        );
        assert!((0.0..1.0).contains(&selection.roll));
        let row = serde_json::to_value(&selection.table[4]).expect("row");
        assert_eq!(
            row,
            json!({"id": "E", "score": 10, "novelty_penalty": 15, "novelty_detail": {"penalty": 15}, "effective_score": 0})
        );
        assert_eq!(
            serde_json::to_value(selection.mode).expect("mode"),
            json!("exploit")
        );
    }

    #[test]
    fn selection_is_deterministic_per_seed() {
        let s = scores(&[
            ("A", 70),
            ("B", 72),
            ("C", 71),
            ("D", 40),
            ("E", 90),
            ("F", 89),
            ("G", 88),
            ("H", 60),
        ]);
        for seed in 0..50 {
            assert_eq!(
                select_candidate(&s, &[], 0.5, seed),
                select_candidate(&s, &[], 0.5, seed)
            );
        }
        let rolls: BTreeSet<u64> = (0..50)
            .map(|seed| select_candidate(&s, &[], 0.5, seed).roll.to_bits())
            .collect();
        assert!(rolls.len() > 45, "seeds should give different rolls");
        // The roll is the first draw of the purpose's generator.
        let mut rng = derive_rng(11, SELECT_PURPOSE);
        assert_eq!(select_candidate(&s, &[], 0.5, 11).roll, unit_f64(&mut rng));
    }

    #[test]
    fn explore_always_at_rate_one_never_at_zero_and_stays_in_the_pool() {
        // 8 rows: the pool is the top ceil(8/4) = 2 (E, F).
        let s = scores(&[
            ("A", 70),
            ("B", 72),
            ("C", 71),
            ("D", 40),
            ("E", 90),
            ("F", 89),
            ("G", 88),
            ("H", 60),
        ]);
        let mut picked = BTreeSet::new();
        for seed in 0..200 {
            let never = select_candidate(&s, &[], 0.0, seed);
            assert_eq!(
                (never.mode, never.selected_id.as_str()),
                (SelectionMode::Exploit, "E")
            );
            let always = select_candidate(&s, &[], 1.0, seed);
            assert_eq!(always.mode, SelectionMode::Explore);
            picked.insert(always.selected_id);
        }
        assert_eq!(
            picked,
            ["E", "F"].iter().map(|s| (*s).to_string()).collect()
        );

        for (n, pool) in [(1, 1), (4, 1), (5, 2), (9, 3), (12, 3), (13, 4)] {
            let ids = idea_ids(n);
            // Distinct scores: the table order is the id order.
            let s: Vec<(String, i64)> = ids
                .iter()
                .enumerate()
                .map(|(i, id)| (id.clone(), 100 - i as i64))
                .collect();
            let picked: BTreeSet<String> = (0..300)
                .map(|seed| select_candidate(&s, &[], 1.0, seed).selected_id)
                .collect();
            assert_eq!(picked, ids[..pool].iter().cloned().collect(), "n = {n}");
        }
    }

    #[test]
    fn explore_weights_by_effective_score_with_a_floor_of_one() {
        // Pool of two (n = 5): A weighs 99, B weighs max(1, 0) = 1, so A is nearly always taken.
        let s = scores(&[("A", 99), ("B", 5), ("C", 0), ("D", 0), ("E", 0)]);
        let penalties = vec![("B".to_string(), 20, json!({"penalty": 20}))];
        let picks: Vec<String> = (0..400)
            .map(|seed| select_candidate(&s, &penalties, 1.0, seed).selected_id)
            .collect();
        let b = picks.iter().filter(|id| *id == "B").count();
        assert!(b < 20, "B picked {b} times of 400");
        // A rate above zero but below the roll exploits.
        let seed = (0..100)
            .find(|&seed| select_candidate(&s, &[], 1.0, seed).roll > 0.5)
            .expect("a high roll");
        assert_eq!(
            select_candidate(&s, &[], 0.5, seed).mode,
            SelectionMode::Exploit
        );
    }

    #[test]
    fn samples_round_trip_through_their_parsers() {
        let card = IdeaCard {
            id: "AB".into(),
            hook: "A kite over salt flats.".into(),
            narrative: "The kite climbs. The flats shine.".into(),
            options: IdeaOptions {
                composition: vec!["low horizon".into(), "centered".into()],
                palette: vec!["teal".into(), "rust".into()],
                medium: vec!["gouache".into()],
                mood: vec!["calm".into()],
            },
            avoid: vec!["text".into()],
        };
        let sample = idea_card_sample(&card);
        assert_eq!(parse_idea_card(&sample, "AB"), Ok(card.clone()));
        let document = idea_cards_json(std::slice::from_ref(&card));
        assert_eq!(idea_cards_ids(&document), ["AB"]);
        assert_eq!(idea_cards_ids("not json"), Vec::<String>::new());

        let scores: Vec<(String, i64)> = vec![("B".into(), 40), ("A".into(), 95)];
        let ids: Vec<String> = vec!["A".into(), "B".into()];
        assert_eq!(
            parse_judge_scores(&judge_scores_sample(&scores), &ids),
            Ok(scores)
        );
    }
}
