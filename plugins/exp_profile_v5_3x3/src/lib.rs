//! The `profile_v5_3x3` experiment: the `blackbox_refine` plan on two v5 profile formats,
//! like/dislike (A) against love/like/dislike/hate (B), plus a `direct` prompt from the concepts
//! (C) on the love/like/dislike/hate profile.
//!
//! Every set at one run index uses the same two sampled concepts (plus pinned ones), fixed into
//! the concept-selection stage of all three sets; the dislike filter stays on. This crate owns the
//! three variants and the profile paths; flags, seeds, concepts and plan order are
//! `matrix_common`'s.

use matrix_common::{MatrixArgs, MatrixPlan, MatrixVariant, ReadData, SetId};
use plugin_api::{
    AnalyzeRequest, Descriptor, Experiment, ExperimentError, Host, Plan, PlanRequest, RunMode,
};
use serde_json::{json, Map, Value};

/// The experiment's name (also its `experiment_runners` table).
pub const NAME: &str = "profile_v5_3x3";

/// Path of the like/dislike profile (required).
pub const LIKE_DISLIKE_KEY: &str = "profile_like_dislike_path";
/// Path of the love/like/dislike/hate profile (required).
pub const LOVE_LIKE_DISLIKE_HATE_KEY: &str = "profile_love_like_dislike_hate_path";
/// Path of a generator profile hints file (optional; without it the hints are abstracted).
pub const GENERATOR_HINTS_KEY: &str = "generator_profile_hints_path";

/// Random concepts kept per run index (pinned ones come on top).
const SAMPLED_CONCEPTS_KEPT: usize = 2;

/// The resolved data paths, as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profiles {
    pub like_dislike: String,
    pub love_like_dislike_hate: String,
    pub generator_hints: Option<String>,
}

impl Profiles {
    /// Resolves the three paths (flag, else `experiment_runners.profile_v5_3x3.<key>`) and checks
    /// each given one reads and is not empty.
    ///
    /// # Errors
    ///
    /// A required path is missing, or a given path is blank, unreadable or empty.
    pub fn resolve(
        request: &PlanRequest,
        read: &ReadData<'_>,
    ) -> Result<Profiles, ExperimentError> {
        Ok(Profiles {
            like_dislike: matrix_common::required_data_path(request, NAME, LIKE_DISLIKE_KEY, read)?,
            love_like_dislike_hate: matrix_common::required_data_path(
                request,
                NAME,
                LOVE_LIKE_DISLIKE_HATE_KEY,
                read,
            )?,
            generator_hints: matrix_common::optional_data_path(
                request,
                NAME,
                GENERATOR_HINTS_KEY,
                read,
            )?,
        })
    }
}

/// The dislike-rewrite filter on for every set.
fn common_overlay() -> Value {
    json!({"prompt": {"stage_configs": {"defaults": {
        "preprompt.filter_concepts": {"enabled": true}
    }}}})
}

/// `blackbox_refine` on `profile_path`, with novelty off and 8 idea cards; the generator's
/// profile hints come from `hints_path` when given, else they are abstracted from the profile.
fn blackbox_refine_overlay(profile_path: &str, hints_path: Option<&str>) -> Value {
    let no_novelty = json!({"enabled": false, "window": 0});
    let hints = match hints_path {
        Some(path) => json!({"mode": "file", "hints_path": path}),
        None => json!({"mode": "abstract"}),
    };
    json!({"prompt": {
        "plan": "blackbox_refine",
        "profile_path": profile_path,
        "stage_configs": {"defaults": {
            "blackbox.prepare": {"novelty": no_novelty},
            "blackbox.generator_profile_hints": hints,
            "blackbox.generate_idea_cards": {
                "num_ideas": 8,
                "idea_profile_source": "generator_hints_plus_dislikes",
            },
            "blackbox.idea_cards_judge_score": {"judge_profile_source": "raw"},
            "blackbox.select_idea_card": {"num_ideas": 8, "novelty": no_novelty},
            "blackbox_refine.seed_prompt": {"final_profile_source": "raw"},
            "blackbox_refine.loop": {
                "variation_prompt": {"include_profile": true, "profile_source": "dislikes_only"},
                "judge_profile_source": "raw",
                "novelty": no_novelty,
            },
        }},
    }})
}

fn tags(items: &[&str]) -> Vec<String> {
    items.iter().map(|tag| (*tag).to_owned()).collect()
}

/// Sets A, B and C.
fn variants(profiles: &Profiles) -> Vec<MatrixVariant> {
    let hints = profiles.generator_hints.as_deref();
    vec![
        MatrixVariant {
            set: SetId::A,
            variant_name: "blackbox_refine_like_dislike".into(),
            overlay: blackbox_refine_overlay(&profiles.like_dislike, hints),
            tags: tags(&[
                "exp3x3",
                "profile_v5",
                "set:A",
                "plan:blackbox_refine",
                "profile:like_dislike",
            ]),
            notes:
                "Blackbox-refine plan on the like/dislike v5 profile, with the run index's shared \
                    concepts and the dislike filter on."
                    .into(),
            fixed_concepts: true,
        },
        MatrixVariant {
            set: SetId::B,
            variant_name: "blackbox_refine_love_like_dislike_hate".into(),
            overlay: blackbox_refine_overlay(&profiles.love_like_dislike_hate, hints),
            tags: tags(&[
                "exp3x3",
                "profile_v5",
                "set:B",
                "plan:blackbox_refine",
                "profile:love_like_dislike_hate",
            ]),
            notes: "Blackbox-refine plan on the love/like/dislike/hate v5 profile, with the run \
                    index's shared concepts and the dislike filter on."
                .into(),
            fixed_concepts: true,
        },
        MatrixVariant {
            set: SetId::C,
            variant_name: "direct_none_love_like_dislike_hate".into(),
            overlay: json!({"prompt": {
                "plan": "direct",
                "profile_path": profiles.love_like_dislike_hate,
            }}),
            tags: tags(&[
                "exp3x3",
                "profile_v5",
                "set:C",
                "plan:direct",
                "profile:love_like_dislike_hate",
            ]),
            notes:
                "Direct prompt from the run index's shared concepts on the love/like/dislike/hate \
                    v5 profile, without idea cards or refinement."
                    .into(),
            fixed_concepts: true,
        },
    ]
}

/// The plan, reading data through `read`.
pub fn plan_profile_v5(
    request: &PlanRequest,
    read: &ReadData<'_>,
) -> Result<Plan, ExperimentError> {
    let args = MatrixArgs::from_request(request)?;
    let profiles = Profiles::resolve(request, read)?;
    let concepts = matrix_common::shared_concepts(
        &request.base_config,
        request.base_seed,
        &args,
        Some(SAMPLED_CONCEPTS_KEPT),
        read,
    )?;

    let mut run_meta = Map::new();
    run_meta.insert(
        "profiles".into(),
        json!({
            "like_dislike": profiles.like_dislike,
            "love_like_dislike_hate": profiles.love_like_dislike_hate,
            "generator_hints": profiles.generator_hints,
        }),
    );
    let mut plan_meta = Map::new();
    plan_meta.insert(
        "profiles".into(),
        json!({
            "like_dislike": profiles.like_dislike,
            "love_like_dislike_hate": profiles.love_like_dislike_hate,
            "generator_profile_hints_path": profiles.generator_hints,
        }),
    );

    matrix_common::build_plan(
        request,
        &MatrixPlan {
            args: &args,
            concepts: &concepts,
            common_overlay: common_overlay(),
            variants: variants(&profiles),
            run_meta,
            plan_meta,
        },
    )
}

/// The experiment.
#[derive(Debug, Default)]
pub struct ExpProfileV5;

impl Experiment for ExpProfileV5 {
    fn descriptor(&self) -> Descriptor {
        matrix_common::with_matrix_args(Descriptor::new(
            NAME,
            "A/B `blackbox_refine` with two v5 profile formats, plus C as a direct prompt from concepts",
            RunMode::Full,
        ))
        .arg(matrix_common::path_arg(
            LIKE_DISLIKE_KEY,
            "Like/dislike profile CSV for set A (default: from the runner config)",
        ))
        .arg(matrix_common::path_arg(
            LOVE_LIKE_DISLIKE_HATE_KEY,
            "Love/like/dislike/hate profile CSV for sets B and C (default: from the runner config)",
        ))
        .arg(matrix_common::path_arg(
            GENERATOR_HINTS_KEY,
            "Generator profile hints file for sets A and B (default: hints abstracted from the profile)",
        ))
        .runner_key(LIKE_DISLIKE_KEY)
        .runner_key(LOVE_LIKE_DISLIKE_HATE_KEY)
        .runner_key(GENERATOR_HINTS_KEY)
    }

    fn plan(&self, request: &PlanRequest, host: &Host<'_>) -> Result<Plan, ExperimentError> {
        let read = |reference: &str| host.read_data(reference).map_err(|e| e.to_string());
        plan_profile_v5(request, &read)
    }

    fn analyze(
        &self,
        request: &AnalyzeRequest,
        _host: &Host<'_>,
    ) -> Result<Option<Value>, ExperimentError> {
        Ok(matrix_common::analysis::analyze(request))
    }
}

plugin_api::export_experiment!(ExpProfileV5);

#[cfg(test)]
mod tests {
    use super::*;

    const CATEGORIES: &str = "\
Subject Matter,Narrative,Mood,Composition,Perspective,Style,Time Period_Context,Color Scheme
a lighthouse,a homecoming,calm,rule of thirds,aerial,watercolor,1920s,teal and orange
a fox,a chase,tense,centered,worm's-eye,ink,far future,monochrome
";

    fn request(runner: Value) -> PlanRequest {
        let descriptor = ExpProfileV5.descriptor();
        let args = descriptor
            .args
            .iter()
            .map(|a| (a.key(), a.default.clone()))
            .collect();
        PlanRequest {
            base_config: json!({"prompt": {"categories_path": "cats.csv"}}),
            runner_config: runner.as_object().cloned().unwrap_or_default(),
            args,
            run_mode: RunMode::Full,
            experiment_id: "t".into(),
            base_seed: 5,
        }
    }

    fn read(reference: &str) -> Result<String, String> {
        match reference {
            "cats.csv" => Ok(CATEGORIES.to_owned()),
            "like.csv" | "love.csv" | "hints.txt" => Ok("some text\n".to_owned()),
            other => Err(format!("no such file `{other}`")),
        }
    }

    #[test]
    fn descriptor_lists_the_runner_keys() {
        let descriptor = ExpProfileV5.descriptor();
        assert_eq!(
            descriptor.runner_keys,
            [
                LIKE_DISLIKE_KEY,
                LOVE_LIKE_DISLIKE_HATE_KEY,
                GENERATOR_HINTS_KEY
            ]
        );
        assert!(descriptor.args.iter().all(|a| a.name != "seed"));
    }

    #[test]
    fn plans_from_the_runner_config_paths() {
        let runner = json!({LIKE_DISLIKE_KEY: "like.csv", LOVE_LIKE_DISLIKE_HATE_KEY: "love.csv"});
        let plan = plan_profile_v5(&request(runner), &read).unwrap();
        assert_eq!(plan.runs.len(), 9);
        let a1 = &plan.runs[0];
        let prompt = &a1.overlay["prompt"];
        assert_eq!(prompt["profile_path"], "like.csv");
        assert_eq!(
            prompt["stage_configs"]["defaults"]["blackbox.generator_profile_hints"],
            json!({"mode": "abstract"})
        );
        assert_eq!(
            prompt["stage_configs"]["defaults"]["preprompt.filter_concepts"]["enabled"],
            true
        );
        let c1 = &plan.runs[6];
        assert_eq!(c1.overlay["prompt"]["plan"], "direct");
        assert_eq!(c1.overlay["prompt"]["profile_path"], "love.csv");
        assert_eq!(
            c1.overlay["prompt"]["stage_configs"]["instances"]["preprompt.select_concepts"]
                ["fixed"],
            c1.meta["concepts"]
        );
        assert!(c1.meta["concepts"].as_array().is_some_and(|c| c.len() <= 2));
        assert_eq!(a1.meta["profiles"]["generator_hints"], Value::Null);
        assert_eq!(
            plan.meta["profiles"]["generator_profile_hints_path"],
            Value::Null
        );
    }

    #[test]
    fn a_hints_file_switches_a_and_b_to_file_mode() {
        let runner = json!({
            LIKE_DISLIKE_KEY: "like.csv",
            LOVE_LIKE_DISLIKE_HATE_KEY: "love.csv",
            GENERATOR_HINTS_KEY: "hints.txt",
        });
        let plan = plan_profile_v5(&request(runner), &read).unwrap();
        assert_eq!(
            plan.runs[3].overlay["prompt"]["stage_configs"]["defaults"]
                ["blackbox.generator_profile_hints"],
            json!({"mode": "file", "hints_path": "hints.txt"})
        );
        assert_eq!(
            plan.runs[3].meta["profiles"]["generator_hints"],
            "hints.txt"
        );
    }

    #[test]
    fn a_missing_profile_is_an_error() {
        let error =
            plan_profile_v5(&request(json!({LIKE_DISLIKE_KEY: "like.csv"})), &read).unwrap_err();
        assert!(
            error
                .message()
                .starts_with("missing `profile_love_like_dislike_hate_path`"),
            "{error}"
        );
    }
}
