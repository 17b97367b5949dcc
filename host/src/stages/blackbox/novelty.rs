//! The `df_overlap_v1` novelty rules (reference §2.3): the motif summary of recent prompts
//! (document frequency of their tokens, minus stopwords) and the penalty of a text or an idea
//! card against it. Pure functions: `blackbox.prepare` reads the history and records the summary,
//! `blackbox.select_idea_card` and the refine loop apply the penalty; this module owns the rules.
//!
//! Deliberate difference from the Python code: `stopwords_hash` is FNV-1a 64
//! ([`plugin_api::hash::stable_hash64`], 16 hex digits) of the sorted stopwords joined by `"\n"`,
//! not their SHA-256: it only fingerprints the set.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use plugin_api::hash::stable_hash64;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::scoring::no_penalty;
use crate::answers::IdeaCard;

/// The only novelty method.
pub const NOVELTY_METHOD: &str = "df_overlap_v1";

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answers::parse_idea_card;

    fn card(id: &str) -> IdeaCard {
        let value = json!({
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
        });
        parse_idea_card(&value.to_string(), id).expect("card")
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
}
