//! What the two A/B experiments (`ab_refinement_block`, `ab_scenespec_json_intermediary`) share.
//!
//! An A/B experiment runs two variants of a custom stage sequence as pairs: run `i` of A and run
//! `i` of B get the same seed and are planned next to each other (A1, B1, A2, B2, ...). This
//! crate owns that shape; the experiment crates own only their two variants (stage sequence,
//! capture stage, labels, tags, notes) and say which variant produces SceneSpec JSON.
//!
//! - [`args`]: the shared flags (`--runs`, `--data`) and their validation.
//! - [`overlay`]: the overlay common to every run (custom plan, `--data sample` paths) and a
//!   variant's overlay; [`stages`]: the stage ids both experiments use.
//! - [`plan`]: the variant pair, the seed formula and the ordered, paired plan.
//! - [`analysis`]: the checks of one run's final prompt and SceneSpec JSON, and the per-variant
//!   summary; [`analyze`] answers the `analyze` hook for a pair.
//!
//! Data is read only through a reader function, `&dyn Fn(&str) -> Result<String, String>`: the
//! plugins pass `|r| host.read_data(r).map_err(|e| e.to_string())`, tests pass a fake.

pub mod analysis;
pub mod args;
pub mod overlay;
pub mod plan;

pub use args::{with_ab_args, AbArgs, DataMode};
pub use overlay::{common_overlay, data_overlay, variant_overlay};
pub use plan::{emit_plan, run_seed, AbPair, AbVariant};

use plugin_api::{
    AnalyzeRequest, Descriptor, Experiment, ExperimentError, Host, Plan, PlanRequest, PlannedRun,
    RunMode,
};
use serde_json::Value;

/// An A/B experiment, defined entirely by its name, summary and pair: both A/B plugins export one
/// of these (`plugin_api::export_experiment!(AbExperiment { .. })`).
#[derive(Debug, Clone, Copy)]
pub struct AbExperiment {
    pub name: &'static str,
    pub summary: &'static str,
    pub pair: &'static AbPair,
}

impl Experiment for AbExperiment {
    fn descriptor(&self) -> Descriptor {
        with_ab_args(Descriptor::new(
            self.name,
            self.summary,
            RunMode::PromptOnly,
        ))
    }

    fn plan(&self, request: &PlanRequest, host: &Host<'_>) -> Result<Plan, ExperimentError> {
        plugin_api::collect_plan(self, request, host)
    }

    fn plan_streaming(
        &self,
        request: &PlanRequest,
        host: &Host<'_>,
        emit: &mut dyn FnMut(PlannedRun),
    ) -> Result<Plan, ExperimentError> {
        let read = |reference: &str| host.read_data(reference).map_err(|e| e.to_string());
        emit_plan(self.pair, request, &read, emit)
    }

    fn analyze(
        &self,
        request: &AnalyzeRequest,
        _host: &Host<'_>,
    ) -> Result<Option<Value>, ExperimentError> {
        analyze(self.pair, request)
    }
}

/// Answers the `analyze` hook of `pair`'s experiment: a run gets [`analysis::analyze_run`]
/// (SceneSpec checks for `pair.scenespec_variant`), the summary [`analysis::summarize`].
///
/// # Errors
///
/// A successful run whose spec carries no string `meta.random_token`.
pub fn analyze(pair: &AbPair, request: &AnalyzeRequest) -> Result<Option<Value>, ExperimentError> {
    match request {
        AnalyzeRequest::Run { spec, outcome } => {
            analysis::analyze_run(spec, outcome, pair.scenespec_variant)
        }
        AnalyzeRequest::Summary { results } => Ok(Some(analysis::summarize(results))),
    }
}

/// Reads a data reference (`builtin:<name>` or a path); the error is the host's message.
pub type ReadData<'a> = dyn Fn(&str) -> Result<String, String> + 'a;

/// Stage ids both A/B experiments use.
pub mod stages {
    /// Draws the run's random token (`RV-<seed>-<6 digits>`); first in every sequence.
    pub const RANDOM_TOKEN: &str = "ab.random_token";
    /// Drafts the scene; second in every sequence.
    pub const SCENE_DRAFT: &str = "ab.scene_draft";
    /// Refines the draft with the refinement-block checklist.
    pub const SCENE_REFINE_WITH_BLOCK: &str = "ab.scene_refine_with_block";
    /// Formats the strict one-line final prompt; the capture stage unless a variant says otherwise.
    pub const FINAL_PROMPT_FORMAT: &str = "ab.final_prompt_format";
}

#[cfg(test)]
pub(crate) mod testing {
    //! A fake host reader and request builder shared by the unit tests.
    use plugin_api::{PlanRequest, RunMode};
    use serde_json::{json, Map, Value};

    /// Answers the two sample files, and `builtin:empty.csv` with blank text; anything else is
    /// "not found".
    pub fn read(reference: &str) -> Result<String, String> {
        match reference {
            "builtin:category_list_v1.csv" => Ok("Subject Matter\nfox\n".to_owned()),
            "builtin:user_profile_v4.csv" => Ok("likes\ncats\n".to_owned()),
            other => Err(format!("no such data `{other}`")),
        }
    }

    /// A reader that finds nothing.
    pub fn read_nothing(reference: &str) -> Result<String, String> {
        Err(format!("no such data `{reference}`"))
    }

    /// A reader whose every file is blank.
    pub fn read_blank(_reference: &str) -> Result<String, String> {
        Ok("\n".to_owned())
    }

    /// A prompt-only request with base seed 40 and `args`.
    pub fn request(args: Value) -> PlanRequest {
        PlanRequest {
            base_config: json!({"prompt": {"categories_path": "mine.csv"}}),
            runner_config: Map::new(),
            args: args.as_object().cloned().unwrap_or_default(),
            run_mode: RunMode::PromptOnly,
            experiment_id: "test".to_owned(),
            base_seed: 40,
        }
    }
}
