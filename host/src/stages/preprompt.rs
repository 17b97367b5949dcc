//! Concept stages (reference §2.2 `preprompt.*`): choosing the run's concepts (random from the
//! categories table, fixed, or from a file) and rewriting those that clash with the viewer's
//! dislikes.

use std::sync::Arc;

use minijinja::context;
use serde_json::json;

use super::keys::{CONCEPT_FILTER_LOG, DISLIKE_REWRITE_RAW, SELECTED_CONCEPTS};
use super::profile_source::selected_concepts;
use super::{StageBuild, StageDef, StageIo, StageKind};
use crate::answers::parse_concept_list;
use crate::backends::{Expect, ResponseShape};
use crate::pipeline::{
    action_stage_block, ActionStep, Block, ChatStep, MergeMode, Node, PromptFn, RunState,
};

/// The concept stages.
pub fn stages() -> Vec<StageDef> {
    vec![
        StageDef {
            id: "preprompt.select_concepts",
            kind: StageKind::Action,
            doc:
                "Choose the run's concepts: random (one per category group), fixed, or from a file",
            io: StageIo {
                requires: &[],
                provides: &[SELECTED_CONCEPTS],
                captures: &[],
            },
            build: crate::stages::Builder::Code(build_select),
        },
        StageDef {
            id: "preprompt.filter_concepts",
            kind: StageKind::Composite,
            doc:
                "Rewrite concepts that clash with the profile's dislikes (filter `dislike_rewrite`)",
            io: StageIo {
                requires: &[SELECTED_CONCEPTS],
                provides: &[SELECTED_CONCEPTS, CONCEPT_FILTER_LOG],
                captures: &[],
            },
            build: crate::stages::Builder::Code(build_filter),
        },
    ]
}

fn build_select(build: &mut StageBuild<'_, '_>) -> Result<Block, String> {
    let config = &mut *build.config;
    let strategy = config.get_str(
        "strategy",
        Some("random"),
        Some(&["random", "fixed", "file"]),
    )?;
    // All three keys are read whatever the strategy, so one config serves every plan (the
    // reference refused its own config here); the inactive ones are simply not used.
    let fixed = config.get_list_str("fixed", &[], true)?;
    let file_path = config.get_optional_str("file_path")?;
    let data = Arc::clone(&build.inputs.data);
    let concepts: Option<Vec<String>> = match strategy.as_str() {
        "fixed" if fixed.is_empty() => {
            return Err(format!(
                "`{}` must list at least one concept when `strategy = \"fixed\"`",
                config.key_path("fixed")
            ))
        }
        "fixed" => Some(fixed),
        "file" => {
            let Some(path) = &file_path else {
                return Err(format!(
                    "`{}` is required when `strategy = \"file\"`",
                    config.key_path("file_path")
                ));
            };
            let text = crate::data::read_nonempty_with_limit(path, &data.cwd, data.max_file_bytes)
                .map_err(|e| e.to_string())?;
            Some(
                text.lines()
                    .map(str::trim)
                    .filter(|line| !line.is_empty())
                    .map(str::to_owned)
                    .collect(),
            )
        }
        _ => {
            if data.categories.is_none() {
                return Err(
                    "`strategy = \"random\"` needs the categories table (`prompt.categories_path`)"
                        .to_owned(),
                );
            }
            None
        }
    };
    let action = Arc::new(move |state: &mut RunState| {
        let chosen = match &concepts {
            Some(list) => list.clone(),
            None => {
                let table = data.categories.as_ref().ok_or("no categories table")?;
                let mut rng = plugin_api::seed::derive_rng(state.seed, "preprompt.select_concepts");
                plugin_api::concepts::sample_concepts(table, &mut rng)
            }
        };
        if chosen.is_empty() {
            return Err("no concepts were selected".to_owned());
        }
        state
            .outputs
            .insert(SELECTED_CONCEPTS.into(), json!(chosen));
        Ok(json!({"strategy": strategy, "file_path": file_path, "selected_concepts": chosen}))
    });
    Ok(action_stage_block(build.instance_id, action, None))
}

fn build_filter(build: &mut StageBuild<'_, '_>) -> Result<Block, String> {
    let config = &mut *build.config;
    let enabled = config.get_bool("enabled", false)?;
    let order = config.get_list_str("order", &["dislike_rewrite"], !enabled)?;
    if let Some(unknown) = order.iter().find(|name| name.as_str() != "dislike_rewrite") {
        return Err(format!(
            "unknown concept filter `{unknown}` in `{}` (available: dislike_rewrite)",
            config.key_path("order")
        ));
    }
    let rewrite = config.namespace("dislike_rewrite")?;
    let rewrite_enabled = rewrite.get_bool("enabled", true)?;
    let temperature = rewrite.get_float("temperature", 0.25, Some(0.0), Some(2.0))?;
    let dislikes = build.inputs.data.dislikes.clone();

    let run_rewrite = enabled
        && rewrite_enabled
        && order.iter().any(|name| name == "dislike_rewrite")
        && !dislikes.is_empty();
    let skip_reason = if !enabled {
        Some("disabled")
    } else if !rewrite_enabled {
        Some("dislike_rewrite disabled")
    } else if dislikes.is_empty() {
        Some("no dislikes in the profile")
    } else {
        None
    };
    let log_base = json!({"enabled": enabled, "order": order});
    let mut nodes = Vec::new();
    if run_rewrite {
        let prompt_dislikes = dislikes.clone();
        let prompt: PromptFn = Arc::new(move |state: &RunState| {
            let system = crate::prompts::render("preprompt/dislike_rewrite_system", context! {})?;
            let user = crate::prompts::render(
                "preprompt/dislike_rewrite_user",
                context! { concepts => selected_concepts(state)?, dislikes => prompt_dislikes },
            )?;
            Ok(format!("{system}\n\n{user}"))
        });
        let mut step = ChatStep::new(
            "dislike_rewrite",
            temperature,
            ResponseShape::Json {
                schema: "preprompt.concept_list",
            },
            prompt,
        );
        step.merge = MergeMode::None;
        step.capture_key = Some(DISLIKE_REWRITE_RAW.to_owned());
        step.expect = Some(Arc::new(|state: &RunState| {
            Ok(Expect {
                concepts: selected_concepts(state)?,
                ..Expect::default()
            })
        }));
        nodes.push(Node::Chat(step));
    }
    let apply = Arc::new(move |state: &mut RunState| {
        let input = selected_concepts(state)?;
        let mut log = log_base.clone();
        log["input"] = json!(input);
        let mut output = input.clone();
        match (run_rewrite, skip_reason) {
            (true, _) => {
                let raw = state.output_text(DISLIKE_REWRITE_RAW)?.to_owned();
                // An unusable rewrite fails the step: going on with the unfiltered concepts
                // would hide that the filter never ran.
                output = parse_concept_list(&raw, input.len())
                    .map_err(|error| format!("dislike_rewrite answer unusable: {error}"))?;
                log["applied"] = json!(["dislike_rewrite"]);
                log["raw_response"] = json!(raw);
            }
            (false, reason) => {
                log["applied"] = json!([]);
                log["skipped"] = json!([{"name": "dislike_rewrite", "reason": reason.unwrap_or("not in order")}]);
            }
        }
        log["output"] = json!(output);
        state
            .outputs
            .insert(SELECTED_CONCEPTS.into(), json!(output));
        state.outputs.insert(CONCEPT_FILTER_LOG.into(), log.clone());
        Ok(log)
    });
    nodes.push(Node::Action(ActionStep {
        name: Some("apply".to_owned()),
        action: apply,
        merge: MergeMode::None,
        capture_key: None,
        meta: Default::default(),
    }));
    let mut block = Block::new(build.instance_id, nodes);
    block.merge = MergeMode::None;
    Ok(block)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answers::*;
    use crate::config::{OutputConfig, StageConfigs, StagesConfig};
    use crate::pipeline::StageConfig;
    use crate::stages::{PipelineInputs, RunData};
    use serde_json::Value;

    const CATEGORIES: &str = "Subject Matter,Narrative,Mood,Composition,Perspective,Style,Time Period_Context,Color Scheme\n\
        a fox,a chase,calm,centered,aerial,ink,1920s,teal\n\
        a heron,a wait,tense,thirds,low,oil,future,rust\n";

    /// Builds `preprompt.select_concepts` with `knobs` and runs its action for `seed`.
    fn select(knobs: Value, seed: u64, cwd: &std::path::Path) -> Result<Vec<String>, String> {
        let data = RunData {
            categories: Some(plugin_api::concepts::CategoriesTable::from_csv(CATEGORIES).unwrap()),
            cwd: cwd.to_owned(),
            ..RunData::default()
        };
        let (stages, output, stage_configs) = (
            StagesConfig::default(),
            OutputConfig::default(),
            StageConfigs::default(),
        );
        let inputs = PipelineInputs {
            plan: "custom",
            stages: &stages,
            output: &output,
            stage_configs: &stage_configs,
            seed,
            initial_outputs: vec![],
            data: Arc::new(data),
        };
        let mut config = StageConfig::for_stage(
            "preprompt.select_concepts",
            knobs.as_object().unwrap().clone(),
        );
        let mut build = StageBuild {
            instance_id: "preprompt.select_concepts",
            kind: "preprompt.select_concepts",
            config: &mut config,
            inputs: &inputs,
        };
        let block = build_select(&mut build)?;
        config.assert_consumed().map_err(String::from)?;
        let Node::Action(step) = &block.nodes[0] else {
            panic!("an action stage")
        };
        let mut state = RunState {
            seed,
            ..RunState::default()
        };
        (step.action)(&mut state)?;
        selected_concepts(&state)
    }

    #[test]
    fn random_selection_takes_one_concept_per_group_deterministically() {
        let dir = tempfile::tempdir().unwrap();
        let first = select(json!({}), 7, dir.path()).unwrap();
        assert_eq!(first.len(), 3);
        assert_eq!(
            first,
            select(json!({"strategy": "random"}), 7, dir.path()).unwrap()
        );
        let seeds: std::collections::BTreeSet<Vec<String>> = (0..20)
            .map(|seed| select(json!({}), seed, dir.path()).unwrap())
            .collect();
        assert!(seeds.len() > 1, "different seeds choose differently");
    }

    #[test]
    fn fixed_and_file_strategies_and_their_inactive_keys() {
        let dir = tempfile::tempdir().unwrap();
        // The inactive keys of another strategy are accepted (the reference refused them).
        let fixed = select(
            json!({"strategy": "fixed", "fixed": ["moss", "tin"], "file_path": "unused.txt"}),
            1,
            dir.path(),
        );
        assert_eq!(fixed.unwrap(), ["moss", "tin"]);
        std::fs::write(dir.path().join("concepts.txt"), "salt\n\n  lantern \n").unwrap();
        let file = select(
            json!({"strategy": "file", "file_path": "concepts.txt", "fixed": []}),
            1,
            dir.path(),
        );
        assert_eq!(file.unwrap(), ["salt", "lantern"]);
        let random_with_inactive = select(
            json!({"strategy": "random", "fixed": [], "file_path": "x"}),
            1,
            dir.path(),
        );
        assert_eq!(random_with_inactive.unwrap().len(), 3);
        assert!(select(json!({"strategy": "fixed"}), 1, dir.path())
            .unwrap_err()
            .contains("at least one concept"));
        assert!(select(json!({"strategy": "file"}), 1, dir.path())
            .unwrap_err()
            .contains("file_path"));
        assert!(select(
            json!({"strategy": "file", "file_path": "missing.txt"}),
            1,
            dir.path()
        )
        .unwrap_err()
        .contains("missing.txt"));
        assert!(select(json!({"strategy": "other"}), 1, dir.path())
            .unwrap_err()
            .contains("must be one of"));
        assert!(select(json!({"stratgy": "fixed"}), 1, dir.path())
            .unwrap_err()
            .contains("stratgy"));
    }

    #[test]
    fn concept_lists_parse_strictly() {
        assert_eq!(parse_concept_list("[\"a\", \"b\"]", 2).unwrap(), ["a", "b"]);
        assert_eq!(
            parse_concept_list("```json\n[\"a\"]\n```", 1).unwrap(),
            ["a"]
        );
        assert_eq!(
            parse_concept_list("{\"concepts\": [\"a\", \" b \"]}", 2).unwrap(),
            ["a", "b"]
        );
        assert_eq!(
            parse_concept_list("```json\n{\"concepts\": [\"a\"]}\n```", 1).unwrap(),
            ["a"]
        );
        for (raw, expected) in [
            ("[\"a\"]", 2),
            ("{}", 1),
            ("{\"concepts\": \"a\"}", 1),
            ("[1]", 1),
            ("[\"\"]", 1),
            ("nope", 1),
        ] {
            assert!(parse_concept_list(raw, expected).is_err(), "{raw}");
        }
    }

    #[test]
    fn concept_list_sample_round_trips() {
        let concepts = vec!["a fox".to_owned(), "dusk \"blue\"".to_owned()];
        assert_eq!(
            parse_concept_list(&concept_list_sample(&concepts), 2),
            Ok(concepts)
        );
    }
}
