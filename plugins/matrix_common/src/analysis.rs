//! The analysis the 3×3 experiments share: per run, metrics the runner aggregates by name
//! (`analysis.metrics`), and the summary declaring them (`metric_info`). Pure functions of the
//! hook input.
//!
//! A run reports `final_prompt_chars` and `final_prompt_words` (a successful run with a final
//! prompt only). The number of chat steps is not in the run outcome the hook receives (the
//! transcript is written by the host), so it is not a metric yet.

use plugin_api::{AnalyzeRequest, RunOutcome, RunStatus};
use serde_json::{json, Value};

/// The `analyze` hook of a 3×3 experiment.
pub fn analyze(request: &AnalyzeRequest) -> Option<Value> {
    match request {
        AnalyzeRequest::Run { outcome, .. } => run_analysis(outcome),
        AnalyzeRequest::Summary { .. } => Some(json!({ "metric_info": metric_info() })),
    }
}

/// `{metrics: {final_prompt_chars, final_prompt_words}}` for a successful run with a final
/// prompt; `None` otherwise (nothing to measure).
pub fn run_analysis(outcome: &RunOutcome) -> Option<Value> {
    if outcome.status != RunStatus::Success {
        return None;
    }
    let prompt = outcome.final_prompt.as_deref()?;
    Some(json!({"metrics": {
        "final_prompt_chars": prompt.chars().count(),
        "final_prompt_words": prompt.split_whitespace().count(),
    }}))
}

/// Labels and directions of the metrics of [`run_analysis`].
pub fn metric_info() -> Value {
    json!({
        "final_prompt_chars": {"label": "final prompt length", "direction": "none", "unit": "chars"},
        "final_prompt_words": {"label": "final prompt words", "direction": "none", "unit": "words"},
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    fn outcome(status: RunStatus, prompt: Option<&str>) -> RunOutcome {
        RunOutcome {
            status,
            final_prompt: prompt.map(str::to_owned),
            outputs: Map::new(),
            image_path: None,
            error: None,
        }
    }

    #[test]
    fn a_successful_run_reports_prompt_length_in_chars_and_words() {
        let analysis =
            run_analysis(&outcome(RunStatus::Success, Some("a quiet fox, dusk"))).unwrap();
        assert_eq!(
            analysis,
            json!({"metrics": {"final_prompt_chars": 17, "final_prompt_words": 4}})
        );
        assert_eq!(run_analysis(&outcome(RunStatus::Error, Some("x"))), None);
        assert_eq!(run_analysis(&outcome(RunStatus::Success, None)), None);
        let summary = analyze(&AnalyzeRequest::Summary {
            results: Vec::new(),
        })
        .unwrap();
        assert_eq!(summary["metric_info"], metric_info());
    }
}
