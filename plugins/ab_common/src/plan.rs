//! The paired plan of an A/B experiment.
//!
//! Run `i` of A and run `i` of B share the seed `base + (i - 1)` (and so the random token) and are
//! planned next to each other: A1, B1, A2, B2, ... Each run's overlay is the common overlay, then
//! the variant's, merged with `plugin_api::merge`; the run's seed is its planned `seed` (the
//! runner sets `prompt.random_seed` from it), so every run of a variant has the same overlay and
//! a plan of many runs costs one overlay clone per run. Labels go into the run's `variant`,
//! `variant_name`, `tags` and `notes`, never into the overlay.

use plugin_api::merge::merged;
use plugin_api::token::ab_token;
use plugin_api::{ExperimentError, Pairing, Plan, PlanRequest, PlannedRun};
use serde_json::{json, Map};

use crate::args::AbArgs;
use crate::overlay::{common_overlay, variant_overlay};
use crate::ReadData;

/// One side of the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbVariant {
    /// The label without the letter (`no_refinement_block`); the host records
    /// `experiment.variant = "<A|B>_<variant_name>"`.
    pub variant_name: &'static str,
    /// The `custom` plan's stage sequence.
    pub sequence: &'static [&'static str],
    /// The stage whose output is the final prompt.
    pub capture_stage: &'static str,
    /// The variant's tags; `mode:<run mode>` and `run:<n>` are appended per run.
    pub tags: &'static [&'static str],
    /// One sentence on what the variant does.
    pub notes: &'static str,
}

/// The two variants, planned as `A` and `B`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbPair {
    pub a: AbVariant,
    pub b: AbVariant,
    /// The variant (`"A"` or `"B"`) whose runs produce SceneSpec JSON (`ab_scene_spec_json`) for
    /// the analysis to check; `None` when neither does.
    pub scenespec_variant: Option<&'static str>,
}

/// The seed of run `run` (1-based), shared by A and B: `base_seed + (run - 1)`.
///
/// # Errors
///
/// `run` is 0, or the seed does not fit in 64 bits.
pub fn run_seed(base_seed: u64, run: u32) -> Result<u64, ExperimentError> {
    let offset = u64::from(run)
        .checked_sub(1)
        .ok_or_else(|| ExperimentError::new("run indices start at 1"))?;
    base_seed.checked_add(offset).ok_or_else(|| {
        ExperimentError::new(format!(
            "base seed {base_seed} is too large: the seed of run {run} does not fit in 64 bits"
        ))
    })
}

/// Builds the paired plan for `pair` from the request's `--runs` and `--data`, handing each run
/// to `emit` as it is made (a plan of 100,000 pairs is never held as values); returns the plan's
/// meta and pairing.
///
/// Run meta is `{random_token, data_mode}`; plan meta is `{runs_per_variant, data_mode}`.
///
/// # Errors
///
/// Bad flags ([`AbArgs::from_request`]), unusable sample data, a seed overflow, or overlays
/// that do not merge.
pub fn emit_plan(
    pair: &AbPair,
    request: &PlanRequest,
    read: &ReadData<'_>,
    emit: &mut dyn FnMut(PlannedRun),
) -> Result<Plan, ExperimentError> {
    let args = AbArgs::from_request(request)?;
    let common = common_overlay(args.data_mode, read)?;
    let data_mode = args.data_mode.as_str();
    let mode_tag = format!("mode:{}", request.run_mode);

    let mut sides = Vec::with_capacity(2);
    for (letter, variant) in [("A", &pair.a), ("B", &pair.b)] {
        let overlay = merged(&common, &variant_overlay(variant)).map_err(|error| {
            ExperimentError::new(format!(
                "cannot build the overlay of variant `{letter}`: {error}"
            ))
        })?;
        sides.push((letter, variant, overlay));
    }

    for run in 1..=args.runs {
        let seed = run_seed(request.base_seed, run)?;
        let token = ab_token(seed);
        for (letter, variant, variant_overlay) in &sides {
            let overlay = variant_overlay.clone();

            let mut tags: Vec<String> = variant.tags.iter().map(|tag| (*tag).to_owned()).collect();
            tags.push(mode_tag.clone());
            tags.push(format!("run:{run}"));

            let mut meta = Map::new();
            meta.insert("random_token".into(), json!(token));
            meta.insert("data_mode".into(), json!(data_mode));

            emit(PlannedRun {
                variant: (*letter).to_owned(),
                variant_name: Some(variant.variant_name.to_owned()),
                run,
                seed: Some(seed),
                overlay,
                tags,
                notes: Some(variant.notes.to_owned()),
                meta,
            });
        }
    }

    let mut meta = Map::new();
    meta.insert("runs_per_variant".into(), json!(args.runs));
    meta.insert("data_mode".into(), json!(data_mode));

    Ok(Plan {
        runs: Vec::new(),
        meta,
        pairing: Some(Pairing::new("A", "B")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan with its runs collected, as the `plan` hook returns it.
    fn build_plan(
        pair: &AbPair,
        request: &PlanRequest,
        read: &ReadData<'_>,
    ) -> Result<Plan, ExperimentError> {
        let mut runs = Vec::new();
        let plan = emit_plan(pair, request, read, &mut |run| runs.push(run))?;
        Ok(Plan { runs, ..plan })
    }
    use crate::testing::{read, read_nothing, request};

    const PAIR: AbPair = AbPair {
        a: AbVariant {
            variant_name: "plain",
            sequence: &[
                "ab.random_token",
                "ab.scene_draft",
                "ab.final_prompt_format",
            ],
            capture_stage: "ab.final_prompt_format",
            tags: &["ab", "side:a", "plan:custom"],
            notes: "The plain side.",
        },
        b: AbVariant {
            variant_name: "fancy",
            sequence: &[
                "ab.random_token",
                "ab.scene_spec_json",
                "ab.final_prompt_format_from_scenespec",
            ],
            capture_stage: "ab.final_prompt_format_from_scenespec",
            tags: &["ab", "side:b", "plan:custom"],
            notes: "The fancy side.",
        },
        scenespec_variant: Some("B"),
    };

    #[test]
    fn seed_formula_is_shared_by_a_and_b() {
        assert_eq!(run_seed(40, 1).unwrap(), 40);
        assert_eq!(run_seed(40, 3).unwrap(), 42);
        assert!(run_seed(u64::MAX, 2).is_err());
        assert!(run_seed(1, 0).is_err());
    }

    #[test]
    fn runs_are_paired_index_major() {
        let plan = build_plan(
            &PAIR,
            &request(json!({"runs": 3, "data": "config"})),
            &read_nothing,
        )
        .unwrap();
        let order: Vec<String> = plan
            .runs
            .iter()
            .map(|r| format!("{}{}", r.variant, r.run))
            .collect();
        assert_eq!(order, ["A1", "B1", "A2", "B2", "A3", "B3"]);
        for pair in plan.runs.chunks(2) {
            assert_eq!(pair[0].seed, pair[1].seed);
            assert_eq!(pair[0].meta["random_token"], pair[1].meta["random_token"]);
        }
        assert_eq!(plan.runs[4].seed, Some(42));
        assert_eq!(plan.pairing, Some(Pairing::new("A", "B")));
        assert_eq!(
            plan.meta,
            *json!({"runs_per_variant": 3, "data_mode": "config"})
                .as_object()
                .unwrap()
        );
    }

    #[test]
    fn one_run_has_its_overlay_labels_and_meta() {
        let plan =
            build_plan(&PAIR, &request(json!({"runs": 2, "data": "sample"})), &read).unwrap();
        let b2 = &plan.runs[3];
        assert_eq!((b2.variant.as_str(), b2.run, b2.seed), ("B", 2, Some(41)));
        assert_eq!(b2.variant_name.as_deref(), Some("fancy"));
        assert_eq!(b2.notes.as_deref(), Some("The fancy side."));
        assert_eq!(
            b2.tags,
            ["ab", "side:b", "plan:custom", "mode:prompt_only", "run:2"]
        );
        assert_eq!(
            b2.overlay,
            json!({
                "prompt": {
                    "plan": "custom",
                    "stages": {
                        "sequence": ["ab.random_token", "ab.scene_spec_json", "ab.final_prompt_format_from_scenespec"],
                        "include": [], "exclude": [], "overrides": {},
                    },
                    "output": {"capture_stage": "ab.final_prompt_format_from_scenespec"},
                    "categories_path": "builtin:category_list_v1.csv",
                    "profile_path": "builtin:user_profile_v4.csv",
                },
                "context": {"enabled": false},
            })
        );
        assert_eq!(
            b2.meta,
            *json!({"random_token": ab_token(41), "data_mode": "sample"})
                .as_object()
                .unwrap()
        );
    }

    #[test]
    fn bad_flags_and_data_stop_the_plan() {
        let error =
            build_plan(&PAIR, &request(json!({"runs": 0, "data": "config"})), &read).unwrap_err();
        assert_eq!(error.message(), "--runs must be > 0");
        let error = build_plan(
            &PAIR,
            &request(json!({"runs": 1, "data": "sample"})),
            &read_nothing,
        )
        .unwrap_err();
        assert!(
            error
                .message()
                .starts_with("cannot read the sample categories CSV"),
            "{error}"
        );
    }
}
