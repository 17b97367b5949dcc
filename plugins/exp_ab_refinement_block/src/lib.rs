//! The `ab_refinement_block` experiment: does an explicit refinement-block checklist in the
//! middle (refinement) stage change the final prompt?
//!
//! Both variants run `ab.random_token`, `ab.scene_draft`, a refinement stage and
//! `ab.final_prompt_format` under the `custom` plan; only the refinement stage differs. This crate
//! owns the two variants; flags, overlays, seeds, pairing and the analysis are `ab_common`'s.

use ab_common::stages::{FINAL_PROMPT_FORMAT, RANDOM_TOKEN, SCENE_DRAFT, SCENE_REFINE_WITH_BLOCK};
use ab_common::{AbPair, AbVariant};
use plugin_api::{
    AnalyzeRequest, Descriptor, Experiment, ExperimentError, Host, Plan, PlanRequest, RunMode,
};
use serde_json::Value;

/// The two sides: a minimal refinement prompt (A) against one with the checklist (B).
pub const PAIR: AbPair = AbPair {
    a: AbVariant {
        variant_name: "no_refinement_block",
        sequence: &[RANDOM_TOKEN, SCENE_DRAFT, "ab.scene_refine_no_block", FINAL_PROMPT_FORMAT],
        capture_stage: FINAL_PROMPT_FORMAT,
        tags: &["ab", "refinement_block:no", "plan:custom"],
        notes: "Refines the scene draft with a minimal middle prompt, without the refinement-block checklist.",
    },
    b: AbVariant {
        variant_name: "with_refinement_block",
        sequence: &[RANDOM_TOKEN, SCENE_DRAFT, SCENE_REFINE_WITH_BLOCK, FINAL_PROMPT_FORMAT],
        capture_stage: FINAL_PROMPT_FORMAT,
        tags: &["ab", "refinement_block:yes", "plan:custom"],
        notes: "Refines the scene draft with a middle prompt that carries the explicit refinement-block checklist.",
    },
    scenespec_variant: None,
};

/// The experiment.
#[derive(Debug, Default)]
pub struct AbRefinementBlock;

impl Experiment for AbRefinementBlock {
    fn descriptor(&self) -> Descriptor {
        ab_common::with_ab_args(Descriptor::new(
            "ab_refinement_block",
            "A/B test of the middle refinement stage with and without an explicit refinement-block checklist",
            RunMode::PromptOnly,
        ))
    }

    fn plan(&self, request: &PlanRequest, host: &Host<'_>) -> Result<Plan, ExperimentError> {
        let read = |reference: &str| host.read_data(reference).map_err(|e| e.to_string());
        ab_common::build_plan(&PAIR, request, &read)
    }

    fn analyze(
        &self,
        request: &AnalyzeRequest,
        _host: &Host<'_>,
    ) -> Result<Option<Value>, ExperimentError> {
        ab_common::analyze(&PAIR, request)
    }
}

plugin_api::export_experiment!(AbRefinementBlock);
