//! The `ab_scenespec_json_intermediary` experiment: is the strict one-line prompt better when it
//! is formatted from a SceneSpec JSON intermediary than from refined prose?
//!
//! Both variants run `ab.random_token` and `ab.scene_draft` under the `custom` plan; A refines the
//! draft as prose and formats it, B turns it into SceneSpec JSON and formats from that. This crate
//! owns the two variants; flags, overlays, seeds, pairing and the analysis are `ab_common`'s.

use ab_common::stages::{FINAL_PROMPT_FORMAT, RANDOM_TOKEN, SCENE_DRAFT, SCENE_REFINE_WITH_BLOCK};
use ab_common::{AbPair, AbVariant};

/// B's final stage: formats the one-line prompt from the SceneSpec JSON.
const FINAL_PROMPT_FORMAT_FROM_SCENESPEC: &str = "ab.final_prompt_format_from_scenespec";

/// The two sides: prose refinement (A) against a SceneSpec JSON intermediary (B).
pub const PAIR: AbPair = AbPair {
    a: AbVariant {
        variant_name: "prose_refine",
        sequence: &[RANDOM_TOKEN, SCENE_DRAFT, SCENE_REFINE_WITH_BLOCK, FINAL_PROMPT_FORMAT],
        capture_stage: FINAL_PROMPT_FORMAT,
        tags: &["ab", "path:prose", "plan:custom"],
        notes: "Refines the scene draft as prose with the refinement-block checklist, then formats the one-line prompt.",
    },
    b: AbVariant {
        variant_name: "scenespec_json",
        sequence: &[RANDOM_TOKEN, SCENE_DRAFT, "ab.scene_spec_json", FINAL_PROMPT_FORMAT_FROM_SCENESPEC],
        capture_stage: FINAL_PROMPT_FORMAT_FROM_SCENESPEC,
        tags: &["ab", "path:scenespec_json", "plan:custom"],
        notes: "Turns the scene draft into a SceneSpec JSON object, then formats the one-line prompt from it.",
    },
    scenespec_variant: Some("B"),
};

plugin_api::export_experiment!(ab_common::AbExperiment {
    name: "ab_scenespec_json_intermediary",
    summary: "A/B comparison of a prose-refinement path and a SceneSpec-JSON intermediary path for the strict one-line prompt",
    pair: &PAIR,
});
