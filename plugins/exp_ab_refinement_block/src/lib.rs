//! The `ab_refinement_block` experiment: does an explicit refinement-block checklist in the
//! middle (refinement) stage change the final prompt?
//!
//! Both variants run `ab.random_token`, `ab.scene_draft`, a refinement stage and
//! `ab.final_prompt_format` under the `custom` plan; only the refinement stage differs. This crate
//! owns the two variants; flags, overlays, seeds, pairing and the analysis are `ab_common`'s.

use ab_common::stages::{FINAL_PROMPT_FORMAT, RANDOM_TOKEN, SCENE_DRAFT, SCENE_REFINE_WITH_BLOCK};
use ab_common::{AbPair, AbVariant};

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

plugin_api::export_experiment!(ab_common::AbExperiment {
    name: "ab_refinement_block",
    summary: "A/B test of the middle refinement stage with and without an explicit refinement-block checklist",
    pair: &PAIR,
});
