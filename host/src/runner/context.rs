//! The analysis context (the `analysis_context` service): what a plugin's `run` and `analyze`
//! hooks may learn about the experiment around them, built on the first call of a session (then
//! kept) from what the runner holds in memory for the experiment (the same values the plan files
//! record), in one pass over the planned runs.
//!
//! It does not own which hooks may ask (`services`), the plan files (`artifacts::plan_files`)
//! nor where a run's files are (`artifacts::layout`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use plugin_api::services::{AnalysisContext, ContextPair, ContextRun};
use plugin_api::{Pairing, RunMode};
use serde_json::{Map, Value};

use crate::artifacts::layout::{posix, ExperimentLayout};

use super::{Pair, PreparedRun};

/// What the plan files record about an experiment beyond its runs: the plugin's name, the flags
/// as the plan received them, the plan's `meta` and its pairing.
#[derive(Debug, Clone, Default)]
pub struct PlanAbout {
    pub experiment_name: String,
    pub args: Map<String, Value>,
    pub experiment_meta: Map<String, Value>,
    pub pairing: Option<Pairing>,
}

/// The encoded analysis context, built once per session: what it holds does not change while
/// the experiment runs, and a plugin may ask in every run's hooks.
pub type ContextCache = OnceLock<Result<Value, String>>;

/// A borrowed view of a planned (or resumed) experiment, for the services of its hooks.
#[derive(Debug, Clone, Copy)]
pub struct ExperimentFacts<'a> {
    pub about: &'a PlanAbout,
    pub experiment_id: &'a str,
    pub run_mode: RunMode,
    pub base_seed: u64,
    /// Absolute.
    pub experiment_dir: &'a Path,
    pub runs: &'a [PreparedRun],
    pub pairs: Option<&'a [Pair]>,
    pub cache: &'a ContextCache,
}

impl ExperimentFacts<'_> {
    /// [`ExperimentFacts::analysis_context`] encoded, built on the first call and kept.
    pub fn encoded_context(&self) -> Result<Value, String> {
        self.cache
            .get_or_init(|| {
                serde_json::to_value(self.analysis_context())
                    .map_err(|error| format!("cannot encode the context: {error}"))
            })
            .clone()
    }

    /// The context as the plugin receives it: every planned run in plan order with its files
    /// relative to the experiment directory, and every pair with its treatment.
    pub fn analysis_context(&self) -> AnalysisContext {
        // The layout of an experiment at `""` names each file relative to its directory.
        let relative = ExperimentLayout::new("");
        let runs = self
            .runs
            .iter()
            .map(|run| {
                let files = relative.run(&run.generation_id);
                let artifacts: BTreeMap<String, String> = files
                    .by_role()
                    .into_iter()
                    .map(|(role, path)| (role.to_owned(), posix(path)))
                    .collect();
                ContextRun {
                    generation_id: run.generation_id.clone(),
                    variant: run.planned.variant.clone(),
                    variant_name: run.planned.variant_name.clone(),
                    run: run.planned.run,
                    seed: run.planned.seed,
                    tags: run.planned.tags.clone(),
                    notes: run.planned.notes.clone(),
                    meta: run.planned.meta.clone(),
                    artifacts,
                }
            })
            .collect();
        let pairs = self
            .pairs
            .unwrap_or_default()
            .iter()
            .map(|pair| ContextPair {
                run_index: pair.run_index,
                treatment: pair.treatment.clone(),
                a_generation_id: pair.a_generation_id.clone(),
                b_generation_id: pair.b_generation_id.clone(),
            })
            .collect();
        AnalysisContext {
            experiment_name: self.about.experiment_name.clone(),
            experiment_id: self.experiment_id.to_owned(),
            run_mode: self.run_mode,
            base_seed: self.base_seed,
            args: self.about.args.clone(),
            experiment_meta: self.about.experiment_meta.clone(),
            pairing: self.about.pairing.clone(),
            pairs,
            experiment_dir: self.experiment_dir.display().to_string(),
            runs,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use plugin_api::PlannedRun;
    use serde_json::json;

    use super::*;
    use crate::runner::PlanBase;

    fn prepared(variant: &str, run: u32, base: &Arc<PlanBase>) -> PreparedRun {
        PreparedRun {
            planned: PlannedRun {
                variant: variant.into(),
                run,
                seed: Some(u64::from(run)),
                tags: vec!["t".into()],
                meta: json!({"arm": variant})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
                ..PlannedRun::default()
            },
            generation_id: format!("{variant}{run}_x"),
            overlay: Arc::new(json!({})),
            base: Arc::clone(base),
        }
    }

    #[test]
    fn the_context_lists_runs_in_plan_order_with_relative_files_and_pairs_with_treatments() {
        let base = Arc::new(PlanBase {
            config: json!({}),
            owned: json!({}),
            resume_overlay: json!({}),
        });
        let runs = [prepared("A", 1, &base), prepared("B", 1, &base)];
        let pairs = [Pair {
            run_index: 1,
            treatment: "B".into(),
            a_generation_id: "A1_x".into(),
            b_generation_id: "B1_x".into(),
        }];
        let about = PlanAbout {
            experiment_name: "demo".into(),
            args: json!({"runs": 1}).as_object().cloned().unwrap_or_default(),
            experiment_meta: json!({"m": true}).as_object().cloned().unwrap_or_default(),
            pairing: Some(Pairing::new("A", "B")),
        };
        let cache = ContextCache::new();
        let facts = ExperimentFacts {
            about: &about,
            experiment_id: "demo_1",
            run_mode: RunMode::PromptOnly,
            base_seed: 7,
            experiment_dir: Path::new("/x/demo_1"),
            runs: &runs,
            pairs: Some(&pairs),
            cache: &cache,
        };
        let context = facts.analysis_context();
        assert_eq!(context.experiment_dir, "/x/demo_1");
        assert_eq!(context.args, about.args);
        assert_eq!(context.experiment_meta, about.experiment_meta);
        let ids: Vec<&str> = context
            .runs
            .iter()
            .map(|r| r.generation_id.as_str())
            .collect();
        assert_eq!(ids, ["A1_x", "B1_x"]);
        assert_eq!(context.runs[1].meta["arm"], "B");
        assert_eq!(
            context.runs[0].artifacts["transcript"],
            "logs/A1_x_transcript.json"
        );
        assert_eq!(
            context.runs[0].artifacts["image"],
            "generated/A1_x_image.png"
        );
        assert_eq!(context.runs[0].artifacts.len(), 4);
        assert_eq!(
            context.pairs,
            [ContextPair {
                run_index: 1,
                treatment: "B".into(),
                a_generation_id: "A1_x".into(),
                b_generation_id: "B1_x".into(),
            }]
        );
        let unpaired = ExperimentFacts {
            pairs: None,
            ..facts
        };
        assert!(unpaired.analysis_context().pairs.is_empty());

        // Encoded once: the first call's answer is kept for the session.
        let encoded = facts.encoded_context();
        assert_eq!(
            encoded,
            serde_json::to_value(facts.analysis_context()).map_err(|e| e.to_string())
        );
        assert!(cache.get().is_some());
        assert_eq!(unpaired.encoded_context(), encoded);
    }
}
