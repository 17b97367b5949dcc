//! Turning a 3×3 variant table into the ordered plan.
//!
//! For each selected set (in `--sets` order) and each run index, one [`PlannedRun`] whose overlay
//! is the common overlay, then the set's variant overlay, then the run overlay (the seed in
//! `prompt.random_seed` and, for sets that take them, the run index's concepts as the fixed
//! `preprompt.select_concepts` instance), merged with `plugin_api::merge`. Labels go into the run's
//! `variant`, `variant_name`, `tags` and `notes`, never into the overlay.

use plugin_api::concepts::RunConcepts;
use plugin_api::merge::merged;
use plugin_api::{ExperimentError, Plan, PlanRequest, PlannedRun};
use serde_json::{json, Map, Value};

use crate::args::MatrixArgs;
use crate::sets::{run_seed, SetId};

/// One set of an experiment: its overlay and labels.
#[derive(Debug, Clone, PartialEq)]
pub struct MatrixVariant {
    pub set: SetId,
    /// The label without the set letter (`blackbox_hints`); the host records
    /// `experiment.variant = "<set>_<variant_name>"`.
    pub variant_name: String,
    /// The set's overlay (no `experiment.*` keys).
    pub overlay: Value,
    /// The set's tags; `mode:<run mode>` and `run:<n>` are appended per run.
    pub tags: Vec<String>,
    /// One sentence on what the set does.
    pub notes: String,
    /// Whether the set's plan selects concepts, so its runs get the shared concepts as the fixed
    /// `preprompt.select_concepts` instance (an instance id the plan lacks fails compilation).
    pub fixed_concepts: bool,
}

/// Everything [`build_plan`] needs besides the request.
#[derive(Debug, Clone, PartialEq)]
pub struct MatrixPlan<'a> {
    pub args: &'a MatrixArgs,
    /// One entry per run index, from [`crate::shared_concepts`].
    pub concepts: &'a [RunConcepts],
    /// Merged under every variant overlay.
    pub common_overlay: Value,
    /// The experiment's sets; the ones `args.sets` selects must be here.
    pub variants: Vec<MatrixVariant>,
    /// Extra fields for every run's meta, after `concept_seed` and `concepts`.
    pub run_meta: Map<String, Value>,
    /// Extra fields for the plan meta, after the shared ones.
    pub plan_meta: Map<String, Value>,
}

/// `prompt.stage_configs.instances."preprompt.select_concepts" = {strategy: fixed, fixed: concepts}`.
pub fn fixed_concepts_overlay(concepts: &[String]) -> Value {
    json!({"prompt": {"stage_configs": {"instances": {
        "preprompt.select_concepts": {"strategy": "fixed", "fixed": concepts}
    }}}})
}

/// Builds the plan, set-major (A1, A2, ..., B1, ...).
///
/// Run meta is `{concept_seed, concepts, ..run_meta}`; plan meta is `{runs_per_set, sets,
/// pinned_concepts, concepts_by_run, ..plan_meta}`.
///
/// # Errors
///
/// A selected set without a variant, a run index without concepts, a seed overflow, or overlays
/// that do not merge.
pub fn build_plan(request: &PlanRequest, input: &MatrixPlan<'_>) -> Result<Plan, ExperimentError> {
    let mode_tag = format!("mode:{}", request.run_mode);
    let mut runs = Vec::new();
    for &set in &input.args.sets {
        let variant = input
            .variants
            .iter()
            .find(|variant| variant.set == set)
            .ok_or_else(|| {
                ExperimentError::new(format!(
                    "set `{}` has no variant in this experiment",
                    set.letter()
                ))
            })?;
        let variant_overlay = merged(&input.common_overlay, &variant.overlay).map_err(|error| {
            ExperimentError::new(format!(
                "cannot build the overlay of set `{}`: {error}",
                set.letter()
            ))
        })?;

        for run in 1..=input.args.runs_per_set {
            let shared = input.concepts.get(run as usize - 1).ok_or_else(|| {
                ExperimentError::new(format!("no shared concepts for run index {run}"))
            })?;
            let seed = run_seed(request.base_seed, set, run)?;

            let mut run_overlay = json!({"prompt": {"random_seed": seed}});
            if variant.fixed_concepts {
                run_overlay = merged(&run_overlay, &fixed_concepts_overlay(&shared.concepts))
                    .map_err(|error| overlay_error(set, run, &error))?;
            }
            let overlay = merged(&variant_overlay, &run_overlay)
                .map_err(|error| overlay_error(set, run, &error))?;

            let mut tags = variant.tags.clone();
            tags.push(mode_tag.clone());
            tags.push(format!("run:{run}"));

            let mut meta = Map::new();
            meta.insert("concept_seed".into(), json!(shared.concept_seed));
            meta.insert("concepts".into(), json!(shared.concepts));
            meta.extend(input.run_meta.clone());

            runs.push(PlannedRun {
                variant: set.letter().to_owned(),
                variant_name: Some(variant.variant_name.clone()),
                run,
                seed: Some(seed),
                overlay,
                tags,
                notes: Some(variant.notes.clone()),
                meta,
            });
        }
    }

    let mut meta = Map::new();
    meta.insert("runs_per_set".into(), json!(input.args.runs_per_set));
    let letters: Vec<&str> = input.args.sets.iter().map(|set| set.letter()).collect();
    meta.insert("sets".into(), json!(letters));
    meta.insert("pinned_concepts".into(), json!(input.args.pinned));
    meta.insert("concepts_by_run".into(), json!(input.concepts));
    meta.extend(input.plan_meta.clone());

    Ok(Plan {
        runs,
        meta,
        pairing: None,
    })
}

fn overlay_error(set: SetId, run: u32, error: &plugin_api::merge::MergeError) -> ExperimentError {
    ExperimentError::new(format!(
        "cannot build the overlay of run `{}{run}`: {error}",
        set.letter()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::concepts::shared_concepts;
    use crate::testing::{read, request};

    fn variant(set: SetId, fixed_concepts: bool) -> MatrixVariant {
        MatrixVariant {
            set,
            variant_name: format!("name_{}", set.letter().to_lowercase()),
            overlay: json!({"prompt": {"plan": format!("plan_{}", set.letter())}}),
            tags: vec!["exp".into(), format!("set:{}", set.letter())],
            notes: format!("set {}", set.letter()),
            fixed_concepts,
        }
    }

    fn plan_for(sets: &[SetId], runs_per_set: u32) -> Plan {
        let request = request(json!({}));
        let args = MatrixArgs {
            sets: sets.to_vec(),
            runs_per_set,
            pinned: vec!["a kite".into()],
        };
        let concepts =
            shared_concepts(&request.base_config, request.base_seed, &args, None, &read).unwrap();
        let mut run_meta = Map::new();
        run_meta.insert("extra".into(), json!(1));
        let input = MatrixPlan {
            args: &args,
            concepts: &concepts,
            common_overlay: json!({"prompt": {"plan": "common", "stage_configs": {"defaults": {
                "preprompt.filter_concepts": {"enabled": false}
            }}}}),
            variants: vec![
                variant(SetId::A, true),
                variant(SetId::B, true),
                variant(SetId::C, false),
            ],
            run_meta,
            plan_meta: Map::new(),
        };
        build_plan(&request, &input).unwrap()
    }

    #[test]
    fn runs_are_set_major_in_the_given_set_order() {
        let plan = plan_for(&[SetId::C, SetId::A], 2);
        let order: Vec<(String, u32)> = plan
            .runs
            .iter()
            .map(|r| (r.variant.clone(), r.run))
            .collect();
        let expected = [("C", 1), ("C", 2), ("A", 1), ("A", 2)].map(|(v, r)| (v.to_owned(), r));
        assert_eq!(order, expected);
        assert_eq!(plan.pairing, None);
    }

    #[test]
    fn one_run_has_its_overlay_labels_and_meta() {
        let plan = plan_for(&SetId::ALL, 3);
        let b2 = &plan.runs[4];
        assert_eq!((b2.variant.as_str(), b2.run), ("B", 2));
        assert_eq!(b2.seed, Some(100 + 10_000 + 1));
        assert_eq!(b2.variant_name.as_deref(), Some("name_b"));
        assert_eq!(b2.notes.as_deref(), Some("set B"));
        assert_eq!(b2.tags, ["exp", "set:B", "mode:full", "run:2"]);
        let concepts = b2.meta["concepts"].clone();
        assert_eq!(
            b2.overlay,
            json!({"prompt": {
                "plan": "plan_B",
                "stage_configs": {
                    "defaults": {"preprompt.filter_concepts": {"enabled": false}},
                    "instances": {"preprompt.select_concepts": {"strategy": "fixed", "fixed": concepts}}
                },
                "random_seed": 10_101
            }})
        );
        let keys: Vec<&String> = b2.meta.keys().collect();
        assert_eq!(keys, ["concept_seed", "concepts", "extra"]);
        assert_eq!(b2.meta["concepts"][0], "a kite");
    }

    #[test]
    fn a_set_without_concept_selection_gets_no_instance() {
        let plan = plan_for(&[SetId::C], 1);
        assert_eq!(
            plan.runs[0].overlay,
            json!({"prompt": {
                "plan": "plan_C",
                "stage_configs": {"defaults": {"preprompt.filter_concepts": {"enabled": false}}},
                "random_seed": 20_100
            }})
        );
        assert!(plan.runs[0].meta.contains_key("concepts"));
    }

    #[test]
    fn every_set_shares_the_concepts_of_a_run_index() {
        let plan = plan_for(&SetId::ALL, 3);
        for run in 1..=3 {
            let at_index: Vec<&PlannedRun> = plan.runs.iter().filter(|r| r.run == run).collect();
            assert_eq!(at_index.len(), 3);
            for r in &at_index {
                assert_eq!(r.meta["concepts"], at_index[0].meta["concepts"]);
                assert_eq!(r.meta["concept_seed"], at_index[0].meta["concept_seed"]);
            }
        }
        assert_ne!(plan.runs[0].meta["concepts"], plan.runs[1].meta["concepts"]);
    }

    #[test]
    fn plan_meta_lists_sets_and_concepts_by_run() {
        let plan = plan_for(&[SetId::B, SetId::A], 2);
        let keys: Vec<&String> = plan.meta.keys().collect();
        assert_eq!(
            keys,
            ["runs_per_set", "sets", "pinned_concepts", "concepts_by_run"]
        );
        assert_eq!(plan.meta["sets"], json!(["B", "A"]));
        assert_eq!(plan.meta["pinned_concepts"], json!(["a kite"]));
        assert_eq!(plan.meta["concepts_by_run"][1]["run"], json!(2));
        assert_eq!(
            plan.meta["concepts_by_run"][1]["concepts"],
            plan.runs[1].meta["concepts"]
        );
    }

    #[test]
    fn a_selected_set_without_a_variant_is_an_error() {
        let request = request(json!({}));
        let args = MatrixArgs {
            sets: vec![SetId::B],
            runs_per_set: 1,
            pinned: Vec::new(),
        };
        let input = MatrixPlan {
            args: &args,
            concepts: &[],
            common_overlay: json!({}),
            variants: vec![variant(SetId::A, true)],
            run_meta: Map::new(),
            plan_meta: Map::new(),
        };
        let error = build_plan(&request, &input).unwrap_err();
        assert_eq!(error.message(), "set `B` has no variant in this experiment");
    }
}
