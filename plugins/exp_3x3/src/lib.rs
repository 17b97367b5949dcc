//! The `3x3` experiment: black-box profile routing, generator hints (A) against the raw profile
//! (B), plus the `simple_no_concepts` plan (C) as a baseline.
//!
//! Every set at one run index uses the same concepts (fixed into the concept-selection stage of A
//! and B; C's plan selects none), and concept filtering is off so the fixed concepts reach the
//! plan unchanged. This crate owns the three variants; flags, seeds, concepts and plan order are
//! `matrix_common`'s.

use matrix_common::{MatrixArgs, MatrixPlan, MatrixVariant, ReadData, SetId};
use plugin_api::{
    AnalyzeRequest, Descriptor, Experiment, ExperimentError, Host, Plan, PlanRequest, RunMode,
};
use serde_json::{json, Map, Value};

/// The experiment's name.
pub const NAME: &str = "3x3";

/// Concept filtering off for every set.
fn common_overlay() -> Value {
    json!({"prompt": {"stage_configs": {"defaults": {
        "preprompt.filter_concepts": {"enabled": false}
    }}}})
}

/// The `blackbox` plan with 8 idea cards, judged and turned into the final prompt with
/// `profile_source` (`generator_hints` or `raw`).
fn blackbox_overlay(profile_source: &str) -> Value {
    json!({"prompt": {
        "plan": "blackbox",
        "stage_configs": {"defaults": {
            "blackbox.generate_idea_cards": {"num_ideas": 8},
            "blackbox.idea_cards_judge_score": {"judge_profile_source": profile_source},
            "blackbox.select_idea_card": {"num_ideas": 8},
            "blackbox.image_prompt_creation": {"final_profile_source": profile_source},
        }},
    }})
}

fn tags(items: &[&str]) -> Vec<String> {
    items.iter().map(|tag| (*tag).to_owned()).collect()
}

/// Sets A, B and C.
fn variants() -> Vec<MatrixVariant> {
    vec![
        MatrixVariant {
            set: SetId::A,
            variant_name: "blackbox_hints".into(),
            overlay: blackbox_overlay("generator_hints"),
            tags: tags(&["exp3x3", "set:A", "plan:blackbox", "profile:hints"]),
            notes: "Blackbox plan whose idea judge and final prompt see the generator's profile hints, \
                    with the run index's shared concepts and concept filtering off."
                .into(),
            fixed_concepts: true,
        },
        MatrixVariant {
            set: SetId::B,
            variant_name: "blackbox_raw".into(),
            overlay: blackbox_overlay("raw"),
            tags: tags(&["exp3x3", "set:B", "plan:blackbox", "profile:raw"]),
            notes: "Blackbox plan whose idea judge and final prompt see the raw profile, \
                    with the run index's shared concepts and concept filtering off."
                .into(),
            fixed_concepts: true,
        },
        MatrixVariant {
            set: SetId::C,
            variant_name: "simple_no_concepts".into(),
            overlay: json!({"prompt": {"plan": "simple_no_concepts"}, "context": {"enabled": false}}),
            tags: tags(&["exp3x3", "set:C", "plan:simple_no_concepts"]),
            notes: "Baseline simple_no_concepts plan with no concepts, no profile routing and no context."
                .into(),
            fixed_concepts: false,
        },
    ]
}

/// The plan, reading data through `read`.
pub fn plan_3x3(request: &PlanRequest, read: &ReadData<'_>) -> Result<Plan, ExperimentError> {
    let args = MatrixArgs::from_request(request)?;
    let concepts =
        matrix_common::shared_concepts(&request.base_config, request.base_seed, &args, None, read)?;
    matrix_common::build_plan(
        request,
        &MatrixPlan {
            args: &args,
            concepts: &concepts,
            common_overlay: common_overlay(),
            variants: variants(),
            run_meta: Map::new(),
            plan_meta: Map::new(),
        },
    )
}

/// The experiment.
#[derive(Debug, Default)]
pub struct Exp3x3;

impl Experiment for Exp3x3 {
    fn descriptor(&self) -> Descriptor {
        matrix_common::with_matrix_args(Descriptor::new(
            NAME,
            "A/B black-box profile routing (generator hints vs raw profile) plus C on `simple_no_concepts`",
            RunMode::Full,
        ))
    }

    fn plan(&self, request: &PlanRequest, host: &Host<'_>) -> Result<Plan, ExperimentError> {
        let read = |reference: &str| host.read_data(reference).map_err(|e| e.to_string());
        plan_3x3(request, &read)
    }

    fn analyze(
        &self,
        request: &AnalyzeRequest,
        _host: &Host<'_>,
    ) -> Result<Option<Value>, ExperimentError> {
        Ok(matrix_common::analysis::analyze(request))
    }
}

plugin_api::export_experiment!(Exp3x3);

#[cfg(test)]
mod tests {
    use super::*;

    const CATEGORIES: &str = "\
Subject Matter,Narrative,Mood,Composition,Perspective,Style,Time Period_Context,Color Scheme
a lighthouse,a homecoming,calm,rule of thirds,aerial,watercolor,1920s,teal and orange
a fox,a chase,tense,centered,worm's-eye,ink,far future,monochrome
";

    fn request() -> PlanRequest {
        let descriptor = Exp3x3.descriptor();
        let args = descriptor
            .args
            .iter()
            .map(|a| (a.key(), a.default.clone()))
            .collect();
        PlanRequest {
            base_config: json!({"prompt": {"categories_path": "cats.csv"}}),
            runner_config: Map::new(),
            args,
            run_mode: RunMode::Full,
            experiment_id: "t".into(),
            base_seed: 1000,
        }
    }

    fn read(reference: &str) -> Result<String, String> {
        match reference {
            "cats.csv" => Ok(CATEGORIES.to_owned()),
            other => Err(format!("no such file `{other}`")),
        }
    }

    #[test]
    fn defaults_plan_nine_runs_with_the_reference_labels() {
        let plan = plan_3x3(&request(), &read).unwrap();
        assert_eq!(plan.runs.len(), 9);
        let c3 = &plan.runs[8];
        assert_eq!(
            (c3.variant.as_str(), c3.run, c3.seed),
            ("C", 3, Some(21_002))
        );
        assert_eq!(c3.variant_name.as_deref(), Some("simple_no_concepts"));
        assert_eq!(
            c3.tags,
            [
                "exp3x3",
                "set:C",
                "plan:simple_no_concepts",
                "mode:full",
                "run:3"
            ]
        );
        assert_eq!(
            c3.overlay,
            json!({
                "prompt": {
                    "stage_configs": {"defaults": {"preprompt.filter_concepts": {"enabled": false}}},
                    "plan": "simple_no_concepts",
                    "random_seed": 21_002,
                },
                "context": {"enabled": false},
            })
        );
    }

    #[test]
    fn set_a_routes_hints_and_fixes_the_concepts() {
        let plan = plan_3x3(&request(), &read).unwrap();
        let a1 = &plan.runs[0];
        assert_eq!(a1.variant_name.as_deref(), Some("blackbox_hints"));
        let prompt = &a1.overlay["prompt"];
        assert_eq!(prompt["plan"], "blackbox");
        assert_eq!(prompt["random_seed"], 1000);
        let defaults = &prompt["stage_configs"]["defaults"];
        assert_eq!(defaults["preprompt.filter_concepts"]["enabled"], false);
        assert_eq!(
            defaults["blackbox.idea_cards_judge_score"]["judge_profile_source"],
            "generator_hints"
        );
        assert_eq!(
            defaults["blackbox.image_prompt_creation"]["final_profile_source"],
            "generator_hints"
        );
        let fixed = &prompt["stage_configs"]["instances"]["preprompt.select_concepts"];
        assert_eq!(fixed["strategy"], "fixed");
        assert_eq!(fixed["fixed"], a1.meta["concepts"]);
        assert!(a1.overlay.get("experiment").is_none());
    }
}
