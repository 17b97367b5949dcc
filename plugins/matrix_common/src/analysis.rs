//! The analysis the 3×3 experiments share. Pure functions of the hook input.
//!
//! Per run (a successful run with a final prompt), `analysis` holds:
//! - `metrics`, which the runner aggregates per set by name: `final_prompt_chars`,
//!   `final_prompt_words`; `chat_steps` and `model_calls` (from the host's
//!   [`PIPELINE_STATS_OUTPUT`]: model requests of the pipeline, and the HTTP attempts they took);
//!   `selected_idea_score` (plans that pick an idea card: the judge's score of the card picked);
//!   `refine_winner_score` (`blackbox_refine`: the judges' combined score of the prompt the refine
//!   loop kept). A value the outcome does not hold is left out, never guessed.
//! - `selected_idea`: the id of the idea card picked (text, so not a metric).
//!
//! The summary compares the sets (a set is one variant: `A`, `B`, `C`) over the stored results:
//! per set its runs, the mean final-prompt words and the lexical diversity of its final prompts
//! (the mean pairwise Jaccard distance of their word sets across seeds), which set writes the
//! longest and which the most diverse prompts, and `metric_info` for the runner's table. The
//! per-set diversity is also a `variant_metrics` entry, the runner's convention for figures that
//! belong to a whole variant (docs/plugins.md), so the terminal table shows it.

use std::collections::BTreeSet;

use plugin_api::{AnalyzeRequest, RunOutcome, RunStatus, PIPELINE_STATS_OUTPUT};
use serde_json::{json, Map, Value};

/// The `analyze` hook of a 3×3 experiment.
pub fn analyze(request: &AnalyzeRequest) -> Option<Value> {
    match request {
        AnalyzeRequest::Run { outcome, .. } => run_analysis(outcome),
        AnalyzeRequest::Summary { results } => Some(summarize(results)),
    }
}

/// The analysis of one run (module docs); `None` for a failed run or one without a final prompt
/// (nothing to measure).
pub fn run_analysis(outcome: &RunOutcome) -> Option<Value> {
    if outcome.status != RunStatus::Success {
        return None;
    }
    let prompt = outcome.final_prompt.as_deref()?;
    let mut metrics = Map::new();
    metrics.insert("final_prompt_chars".into(), json!(prompt.chars().count()));
    metrics.insert("final_prompt_words".into(), json!(word_count(prompt)));
    let stats = outcome.outputs.get(PIPELINE_STATS_OUTPUT);
    for key in ["chat_steps", "model_calls"] {
        if let Some(count) = stats.and_then(|s| s.get(key)).and_then(Value::as_u64) {
            metrics.insert(key.into(), json!(count));
        }
    }
    let scoring = outcome.outputs.get("blackbox_scoring");
    if let Some(score) = scoring
        .and_then(|s| s.get("selected_score"))
        .and_then(Value::as_f64)
    {
        metrics.insert("selected_idea_score".into(), json!(score));
    }
    if let Some(score) = scoring.and_then(refine_winner_score) {
        metrics.insert("refine_winner_score".into(), json!(score));
    }
    let mut analysis = Map::new();
    analysis.insert("metrics".into(), Value::Object(metrics));
    if let Some(id) = scoring
        .and_then(|s| s.get("selected_id"))
        .and_then(Value::as_str)
    {
        analysis.insert("selected_idea".into(), json!(id));
    }
    Some(Value::Object(analysis))
}

/// The score of beam 1 after the last refine round: the refine loop's final prompt is beam 1
/// (`blackbox_refine`'s `finalize`), so this is the winning candidate's combined judge score.
fn refine_winner_score(scoring: &Value) -> Option<f64> {
    scoring
        .get("prompt_refine")?
        .get("iterations")?
        .as_array()?
        .last()?
        .get("beams_out")?
        .as_array()?
        .iter()
        .find(|beam| beam.get("beam_index").and_then(Value::as_u64) == Some(1))?
        .get("score")?
        .as_f64()
}

/// Words as the length metrics count them: whitespace-separated pieces.
pub fn word_count(text: &str) -> usize {
    text.split_whitespace().count()
}

/// The word set of a prompt for diversity: whitespace-separated pieces, lowercased, with
/// punctuation trimmed from both ends (so `Dusk,` and `dusk` are one word); empty pieces dropped.
pub fn word_set(text: &str) -> BTreeSet<String> {
    text.split_whitespace()
        .map(|piece| {
            piece
                .trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase()
        })
        .filter(|word| !word.is_empty())
        .collect()
}

/// Jaccard distance `1 − |a ∩ b| / |a ∪ b|`: 0 for the same words, 1 for none shared. Two empty
/// sets are the same (0).
pub fn jaccard_distance(a: &BTreeSet<String>, b: &BTreeSet<String>) -> f64 {
    let union = a.union(b).count();
    if union == 0 {
        return 0.0;
    }
    let shared = a.intersection(b).count();
    1.0 - shared as f64 / union as f64
}

/// The mean Jaccard distance over every pair of the prompts' word sets; `None` with fewer than
/// two prompts (no pair to compare).
pub fn mean_pairwise_distance(prompts: &[&str]) -> Option<f64> {
    let sets: Vec<BTreeSet<String>> = prompts.iter().map(|prompt| word_set(prompt)).collect();
    let mut total = 0.0;
    let mut pairs = 0usize;
    for (i, a) in sets.iter().enumerate() {
        for b in &sets[i + 1..] {
            total += jaccard_distance(a, b);
            pairs += 1;
        }
    }
    (pairs > 0).then(|| total / pairs as f64)
}

/// One set's stored results.
#[derive(Default)]
struct SetResults<'a> {
    variant_name: Option<&'a str>,
    runs: usize,
    /// Final prompts of the successful runs, in plan order.
    prompts: Vec<&'a str>,
}

/// The summary over the stored result entries (module docs). Sets appear in plan order.
pub fn summarize(results: &[Value]) -> Value {
    let mut sets: Vec<(&str, SetResults<'_>)> = Vec::new();
    for entry in results {
        let variant = entry.get("variant").and_then(Value::as_str).unwrap_or("");
        let slot = match sets.iter().position(|(known, _)| *known == variant) {
            Some(slot) => slot,
            None => {
                sets.push((variant, SetResults::default()));
                sets.len() - 1
            }
        };
        let set = &mut sets[slot].1;
        set.runs += 1;
        if set.variant_name.is_none() {
            set.variant_name = entry.get("variant_name").and_then(Value::as_str);
        }
        let succeeded = entry.get("status").and_then(Value::as_str) == Some("success");
        if let (true, Some(prompt)) = (succeeded, entry.get("final_prompt").and_then(Value::as_str))
        {
            set.prompts.push(prompt);
        }
    }

    let mut table = Map::new();
    let mut diversity_values = Map::new();
    // (set, value) of the largest value so far; a tie keeps the earlier set in plan order.
    let mut longest: Option<(&str, f64)> = None;
    let mut most_diverse: Option<(&str, f64)> = None;
    for (set, results) in &sets {
        let mean_words = (!results.prompts.is_empty()).then(|| {
            let words: usize = results.prompts.iter().map(|p| word_count(p)).sum();
            words as f64 / results.prompts.len() as f64
        });
        let diversity = mean_pairwise_distance(&results.prompts);
        if let Some(words) = mean_words {
            if longest.is_none_or(|(_, best)| words > best) {
                longest = Some((set, words));
            }
        }
        if let Some(value) = diversity {
            if most_diverse.is_none_or(|(_, best)| value > best) {
                most_diverse = Some((set, value));
            }
        }
        table.insert(
            (*set).to_owned(),
            json!({
                "variant_name": results.variant_name,
                "runs": results.runs,
                "ok_prompts": results.prompts.len(),
                "mean_final_prompt_words": mean_words,
                "diversity": diversity,
            }),
        );
        diversity_values.insert((*set).to_owned(), json!(diversity));
    }
    json!({
        "metric_info": metric_info(results),
        "sets": table,
        "longest_set": longest.map(|(set, _)| set),
        "most_diverse_set": most_diverse.map(|(set, _)| set),
        "variant_metrics": {
            "final_prompt_diversity": {
                "label": "final prompt diversity",
                "unit": "mean Jaccard distance",
                "values": diversity_values,
            },
        },
    })
}

/// Labels and directions of the per-run metrics, each declared only when a stored run reported
/// it (so a plan without idea cards gets no empty score rows).
pub fn metric_info(results: &[Value]) -> Value {
    let reported = |name: &str| {
        results.iter().any(|entry| {
            entry
                .get("analysis")
                .and_then(|a| a.get("metrics"))
                .and_then(|m| m.get(name))
                .is_some()
        })
    };
    let declared = [
        (
            "final_prompt_chars",
            json!({"label": "final prompt length", "direction": "none", "unit": "chars"}),
        ),
        (
            "final_prompt_words",
            json!({"label": "final prompt words", "direction": "none", "unit": "words"}),
        ),
        (
            "chat_steps",
            json!({"label": "chat steps", "direction": "lower"}),
        ),
        (
            "model_calls",
            json!({"label": "model calls", "direction": "lower", "unit": "HTTP attempts"}),
        ),
        (
            "selected_idea_score",
            json!({"label": "selected idea score", "direction": "higher", "unit": "0-100"}),
        ),
        (
            "refine_winner_score",
            json!({"label": "refine winner score", "direction": "higher", "unit": "0-100"}),
        ),
    ];
    Value::Object(
        declared
            .into_iter()
            .filter(|(name, _)| reported(name))
            .map(|(name, info)| (name.to_owned(), info))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(status: RunStatus, prompt: Option<&str>, outputs: Value) -> RunOutcome {
        RunOutcome {
            status,
            final_prompt: prompt.map(str::to_owned),
            outputs: outputs.as_object().cloned().unwrap_or_default(),
            image_path: None,
            error: None,
        }
    }

    fn words(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|word| (*word).to_owned()).collect()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn a_successful_run_reports_prompt_length_in_chars_and_words() {
        let analysis = run_analysis(&outcome(
            RunStatus::Success,
            Some("a quiet fox, dusk"),
            json!({}),
        ))
        .unwrap();
        assert_eq!(
            analysis,
            json!({"metrics": {"final_prompt_chars": 17, "final_prompt_words": 4}})
        );
        assert_eq!(
            run_analysis(&outcome(RunStatus::Error, Some("x"), json!({}))),
            None
        );
        assert_eq!(
            run_analysis(&outcome(RunStatus::Success, None, json!({}))),
            None
        );
    }

    #[test]
    fn a_run_reports_its_model_calls_and_the_scores_its_plan_records() {
        let outputs = json!({
            "pipeline_stats": {"chat_steps": 11, "model_calls": 12},
            "blackbox_scoring": {
                "selected_id": "H",
                "selected_score": 92,
                "prompt_refine": {"iterations": [
                    {"beams_out": [{"beam_index": 1, "score": 70.0}]},
                    // The last round decides, and within it beam 1 (the final prompt).
                    {"beams_out": [{"beam_index": 2, "score": 99.0}, {"beam_index": 1, "score": 75.5}]},
                ]},
            },
        });
        let analysis = run_analysis(&outcome(RunStatus::Success, Some("a b"), outputs)).unwrap();
        assert_eq!(
            analysis,
            json!({
                "metrics": {
                    "final_prompt_chars": 3,
                    "final_prompt_words": 2,
                    "chat_steps": 11,
                    "model_calls": 12,
                    "selected_idea_score": 92.0,
                    "refine_winner_score": 75.5,
                },
                "selected_idea": "H",
            })
        );
        // A plan without idea cards (set C) reports the counts only.
        let plain = json!({"pipeline_stats": {"chat_steps": 2, "model_calls": 2}});
        assert_eq!(
            run_analysis(&outcome(RunStatus::Success, Some("a"), plain)).unwrap()["metrics"],
            json!({"final_prompt_chars": 1, "final_prompt_words": 1, "chat_steps": 2, "model_calls": 2})
        );
    }

    #[test]
    fn word_sets_ignore_case_and_surrounding_punctuation() {
        assert_eq!(
            word_set("A quiet fox, dusk... (Dusk)"),
            words(&["a", "dusk", "fox", "quiet"])
        );
        assert_eq!(word_set(" -- "), BTreeSet::new());
        // Inner punctuation stays: `worm's-eye` is one word.
        assert_eq!(word_set("worm's-eye"), words(&["worm's-eye"]));
    }

    #[test]
    fn jaccard_distance_matches_hand_computed_values() {
        let a = words(&["a", "quiet", "fox", "dusk"]);
        let b = words(&["a", "loud", "fox", "at", "dawn"]);
        let c = words(&["quiet", "dusk"]);
        // a, b share {a, fox} of 7 words: 1 − 2/7.
        assert!(close(jaccard_distance(&a, &b), 5.0 / 7.0));
        // c ⊂ a: 1 − 2/4.
        assert!(close(jaccard_distance(&a, &c), 0.5));
        assert!(close(jaccard_distance(&b, &c), 1.0));
        assert!(close(jaccard_distance(&a, &a), 0.0));
        assert!(close(
            jaccard_distance(&BTreeSet::new(), &BTreeSet::new()),
            0.0
        ));
    }

    #[test]
    fn diversity_is_the_mean_over_every_pair() {
        let prompts = ["a quiet fox, dusk", "A loud fox at dawn.", "quiet dusk"];
        // (5/7 + 1/2 + 1) / 3 = (30 + 21 + 42) / 42 / 3 = 31/42.
        let diversity = mean_pairwise_distance(&prompts).unwrap();
        assert!(close(diversity, 31.0 / 42.0), "{diversity}");
        assert_eq!(mean_pairwise_distance(&["only one"]), None);
        assert_eq!(mean_pairwise_distance(&[]), None);
    }

    fn entry(variant: &str, status: &str, prompt: Option<&str>) -> Value {
        json!({
            "variant": variant,
            "variant_name": format!("{variant}_name"),
            "status": status,
            "final_prompt": prompt,
        })
    }

    #[test]
    fn the_summary_compares_the_sets_length_and_diversity() {
        let mut first = entry("A", "success", Some("a quiet fox, dusk"));
        first["analysis"] = json!({"metrics": {"final_prompt_words": 4, "chat_steps": 2}});
        let results = [
            first,
            entry("A", "success", Some("A loud fox at dawn.")),
            entry("A", "error", None),
            entry("B", "success", Some("quiet dusk")),
            entry("B", "success", Some("Quiet dusk!")),
            entry("C", "success", Some("one two three four five six")),
        ];
        let summary = summarize(&results);
        let a = &summary["sets"]["A"];
        assert_eq!(
            (&a["variant_name"], &a["runs"], &a["ok_prompts"]),
            (&json!("A_name"), &json!(3), &json!(2))
        );
        assert_eq!(a["mean_final_prompt_words"], json!(4.5));
        assert!(close(a["diversity"].as_f64().unwrap(), 5.0 / 7.0));
        assert_eq!(summary["sets"]["B"]["diversity"], json!(0.0));
        assert_eq!(summary["sets"]["B"]["mean_final_prompt_words"], json!(2.0));
        // One prompt: a mean length, but no pair to measure diversity with.
        assert_eq!(summary["sets"]["C"]["diversity"], Value::Null);
        assert_eq!(summary["sets"]["C"]["mean_final_prompt_words"], json!(6.0));
        assert_eq!(summary["longest_set"], "C");
        assert_eq!(summary["most_diverse_set"], "A");
        let figure = &summary["variant_metrics"]["final_prompt_diversity"];
        assert_eq!(figure["label"], "final prompt diversity");
        assert_eq!(
            figure["values"],
            json!({"A": a["diversity"], "B": 0.0, "C": null})
        );
        // Only the metrics some run reported are declared, in declaration order.
        let declared: Vec<&String> = summary["metric_info"].as_object().unwrap().keys().collect();
        assert_eq!(declared, ["final_prompt_words", "chat_steps"]);
    }

    #[test]
    fn ties_go_to_the_earlier_set_and_nothing_to_compare_is_null() {
        let results = [
            entry("A", "success", Some("x y")),
            entry("B", "success", Some("p q")),
        ];
        let summary = summarize(&results);
        assert_eq!(summary["longest_set"], "A");
        assert_eq!(summary["most_diverse_set"], Value::Null);
        let empty = analyze(&AnalyzeRequest::Summary {
            results: Vec::new(),
        })
        .unwrap();
        assert_eq!(empty["longest_set"], Value::Null);
        assert_eq!(empty["metric_info"], json!({}));
    }
}
