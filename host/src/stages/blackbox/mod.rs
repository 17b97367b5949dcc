//! The black-box stages (reference §2.2): idea cards generated in parallel from the concepts,
//! judged, selected (with a novelty penalty and exploration), and turned into the final prompt.
//! The pure rules are in `scoring` (parsing, selection) and `novelty` (the motif summary and
//! penalty); this module builds the steps, declares what each answer must carry and records
//! `blackbox_scoring`.

pub mod novelty;
pub mod scoring;

use std::sync::Arc;

use minijinja::context;
use serde_json::{json, Map, Value};

use self::novelty::NoveltyConfig;
use super::keys::{
    self, BLACKBOX_SCORING, GENERATOR_PROFILE_HINTS, IDEA_CARDS, IDEA_SCORES, NOVELTY_SUMMARY,
    PREFERENCES_GUIDANCE, SELECTED_CONCEPTS, SELECTED_IDEA_CARD,
};
use super::profile_source::{selected_concepts, ProfileSource};
use super::{StageBuild, StageDef, StageIo, StageKind};
use crate::answers::{idea_ids, parse_idea_card, parse_idea_cards, parse_judge_scores, IdeaCard};
use crate::backends::{Expect, ResponseShape};
use crate::pipeline::{
    action_stage_block, chat_stage_block, ActionStep, Block, ChatStep, MergeMode, Node, PromptFn,
    RunState, StageConfig,
};

/// The black-box stages, in plan order.
pub fn stages() -> Vec<StageDef> {
    vec![
        StageDef {
            id: "blackbox.prepare",
            kind: StageKind::Action,
            doc: "Summarise recent prompts' motifs for the novelty penalty; default hints = the raw profile",
            io: StageIo { requires: &[], provides: &[GENERATOR_PROFILE_HINTS], captures: &[] },
            build: crate::stages::Builder::Code(build_prepare),
        },
        StageDef {
            id: "blackbox.generator_profile_hints",
            kind: StageKind::Composite,
            doc: "Generator-safe profile hints: the raw profile, a hints file, or a model's abstraction",
            io: StageIo { requires: &[], provides: &[], captures: &[GENERATOR_PROFILE_HINTS] },
            build: crate::stages::Builder::Code(build_hints),
        },
        StageDef {
            id: "blackbox.generate_idea_cards",
            kind: StageKind::Composite,
            doc: "Generate `num_ideas` idea cards in parallel (isolated calls), then assemble them",
            io: StageIo { requires: &[SELECTED_CONCEPTS], provides: &[], captures: &[IDEA_CARDS] },
            build: crate::stages::Builder::Code(build_idea_cards),
        },
        StageDef {
            id: "blackbox.idea_cards_judge_score",
            kind: StageKind::Chat,
            doc: "A strict judge scores every idea card 0-100",
            io: StageIo { requires: &[IDEA_CARDS], provides: &[], captures: &[IDEA_SCORES] },
            build: crate::stages::Builder::Code(build_judge),
        },
        StageDef {
            id: "blackbox.select_idea_card",
            kind: StageKind::Action,
            doc: "Pick a card: novelty-penalised scores, exploit the best or explore the top quarter",
            io: StageIo { requires: &[IDEA_CARDS, IDEA_SCORES], provides: &[SELECTED_IDEA_CARD], captures: &[] },
            build: crate::stages::Builder::Code(build_select),
        },
        StageDef {
            id: "blackbox.image_prompt_creation",
            kind: StageKind::Chat,
            doc: "Write the final image prompt from the selected idea card",
            io: StageIo { requires: &[SELECTED_IDEA_CARD], provides: &[], captures: &[] },
            build: crate::stages::Builder::Code(build_image_prompt),
        },
    ]
}

/// The `novelty.*` knobs shared by `prepare` and `select_idea_card`.
pub(crate) fn novelty_config(config: &mut StageConfig) -> Result<NoveltyConfig, String> {
    let defaults = NoveltyConfig::default();
    let novelty = config.namespace("novelty")?;
    Ok(NoveltyConfig {
        enabled: novelty.get_bool("enabled", defaults.enabled)?,
        window: novelty.get_int("window", defaults.window as i64, Some(0), None)? as usize,
        method: novelty.get_str("method", Some(&defaults.method), Some(&["df_overlap_v1"]))?,
        df_min: novelty.get_int("df_min", defaults.df_min as i64, Some(1), None)? as usize,
        max_motifs: novelty.get_int("max_motifs", defaults.max_motifs as i64, Some(1), None)?
            as usize,
        min_token_len: novelty.get_int(
            "min_token_len",
            defaults.min_token_len as i64,
            Some(1),
            None,
        )? as usize,
        stopwords_extra: novelty.get_list_str("stopwords_extra", &[], true)?,
        max_penalty: novelty.get_int("max_penalty", defaults.max_penalty, Some(0), None)?,
        df_cap: novelty.get_int("df_cap", defaults.df_cap as i64, Some(1), None)? as usize,
        alpha_only: novelty.get_bool("alpha_only", defaults.alpha_only)?,
        scaling: novelty.get_str(
            "scaling",
            Some(&defaults.scaling),
            Some(&["linear", "sqrt", "quadratic"]),
        )?,
    })
}

/// Adds `facts` to the run's `blackbox_scoring` object.
fn record_scoring(state: &mut RunState, facts: Value) {
    let scoring = state
        .outputs
        .entry(BLACKBOX_SCORING.to_owned())
        .or_insert_with(|| json!({}));
    if let (Value::Object(scoring), Value::Object(facts)) = (scoring, facts) {
        scoring.extend(facts);
    }
}

fn build_prepare(build: &mut StageBuild<'_, '_>) -> Result<Block, String> {
    let novelty = novelty_config(build.config)?;
    let data = Arc::clone(&build.inputs.data);
    let action = Arc::new(move |state: &mut RunState| {
        let active = novelty.enabled && novelty.window > 0;
        let window: Vec<String> = if active {
            let start = data.recent_prompts.len().saturating_sub(novelty.window);
            data.recent_prompts[start..].to_vec()
        } else {
            Vec::new()
        };
        // No history means no summary: select then warns that novelty could not be applied.
        let summary = if window.is_empty() {
            novelty::novelty_summary_disabled(novelty.window)
        } else {
            novelty::novelty_summary(&window, &novelty)
        };
        let hints = state.output_text(PREFERENCES_GUIDANCE)?.to_owned();
        state
            .outputs
            .insert(GENERATOR_PROFILE_HINTS.into(), json!(hints));
        state
            .outputs
            .insert(NOVELTY_SUMMARY.into(), summary.clone());
        record_scoring(
            state,
            json!({
                "novelty_summary": summary,
                "novelty": {"method": novelty.method, "window": novelty.window, "enabled_cfg": novelty.enabled, "enabled_effective": active && !window.is_empty()},
            }),
        );
        Ok(json!({"novelty_rows": window.len()}))
    });
    Ok(action_stage_block(build.instance_id, action, None))
}

fn build_hints(build: &mut StageBuild<'_, '_>) -> Result<Block, String> {
    let config = &mut *build.config;
    let mode = config.get_str("mode", Some("raw"), Some(&["raw", "file", "abstract"]))?;
    let hints_path = config.get_optional_str("hints_path")?;
    let model = config.get_optional_str("model")?;
    let temperature = config.get_float("temperature", 0.0, Some(0.0), Some(2.0))?;
    let id = build.instance_id;
    match mode.as_str() {
        "raw" => {
            let action = Arc::new(|state: &mut RunState| {
                let text = state.output_text(PREFERENCES_GUIDANCE)?.trim().to_owned();
                if text.is_empty() {
                    return Err("the profile is empty, so there are no hints to pass on".to_owned());
                }
                Ok(json!(text))
            });
            Ok(action_stage_block(
                id,
                action,
                Some(GENERATOR_PROFILE_HINTS),
            ))
        }
        "file" => {
            let Some(path) = hints_path else {
                return Err(format!(
                    "`{}` is required when `mode = \"file\"`",
                    config.key_path("hints_path")
                ));
            };
            let data = &build.inputs.data;
            let text = crate::data::read_nonempty_with_limit(&path, &data.cwd, data.max_file_bytes)
                .map_err(|e| e.to_string())?;
            let hints = crate::data::profile::parse_generator_hints(&path, &text)
                .map_err(|e| format!("`{path}`: {e}"))?;
            let action = Arc::new(move |_: &mut RunState| Ok(json!(hints)));
            Ok(action_stage_block(
                id,
                action,
                Some(GENERATOR_PROFILE_HINTS),
            ))
        }
        _ => {
            let prompt: PromptFn = Arc::new(|state: &RunState| {
                let profile = state.output_text(PREFERENCES_GUIDANCE)?;
                if profile.trim().is_empty() {
                    return Err("the profile is empty, so there is nothing to abstract".to_owned());
                }
                crate::prompts::render("blackbox/hints_abstract", context! { profile => profile })
            });
            let mut step = ChatStep::new(
                "draft",
                temperature,
                ResponseShape::Lines {
                    format: "blackbox.hints",
                },
                prompt,
            );
            step.capture_key = Some(GENERATOR_PROFILE_HINTS.to_owned());
            if let Some(model) = model {
                step.params.insert("model".into(), json!(model));
            }
            let mut block = chat_stage_block(id, step);
            block.merge = MergeMode::None;
            Ok(block)
        }
    }
}

fn build_idea_cards(build: &mut StageBuild<'_, '_>) -> Result<Block, String> {
    let config = &mut *build.config;
    let num_ideas = config.get_int("num_ideas", 6, Some(1), Some(26 * 27))? as usize;
    let source = ProfileSource::from_config(config, "idea_profile_source", "none", true)?;
    let model = config.get_optional_str("model")?;
    let temperature = config.get_float("temperature", 0.8, Some(0.0), Some(2.0))?;
    let context_text = build.inputs.data.prompt_context.clone();
    let directives = crate::prompts::diversity_directives();
    let ids = idea_ids(num_ideas);
    let mut ideas = Vec::with_capacity(num_ideas);
    for (index, id) in ids.iter().enumerate() {
        let directive = directives
            .get(index % directives.len().max(1))
            .copied()
            .unwrap_or_default()
            .to_owned();
        let (id_for_prompt, context_text) = (id.clone(), context_text.clone());
        let prompt: PromptFn = Arc::new(move |state: &RunState| {
            crate::prompts::render(
                "blackbox/idea_card",
                context! {
                    id => id_for_prompt,
                    directive => directive,
                    context => context_text,
                    concepts => selected_concepts(state)?,
                    profile => source.text(state)?,
                    index => index + 1,
                    total => num_ideas,
                },
            )
        });
        let mut step = ChatStep::new(
            &format!("idea_{id}"),
            temperature,
            ResponseShape::Json {
                schema: "blackbox.idea_card",
            },
            prompt,
        );
        step.merge = MergeMode::None;
        step.capture_key = Some(keys::idea_card(id));
        let expected = Expect {
            ids: vec![id.clone()],
            ..Expect::default()
        };
        step.expect = Some(Arc::new(move |_: &RunState| Ok(expected.clone())));
        step.meta.insert("idea_id".into(), json!(id));
        if let Some(model) = &model {
            step.params.insert("model".into(), json!(model));
        }
        ideas.push(Node::Chat(step));
    }
    let mut parallel = Block::new("ideas", ideas);
    parallel.merge = MergeMode::None;
    parallel.parallel = true;
    let assemble = Arc::new(move |state: &mut RunState| {
        let cards = ids
            .iter()
            .map(|id| parse_idea_card(state.output_text(&keys::idea_card(id))?, id))
            .collect::<Result<Vec<IdeaCard>, String>>()?;
        Ok(json!(crate::answers::idea_cards_json(&cards)))
    });
    let assemble = ActionStep {
        name: Some("assemble".to_owned()),
        action: assemble,
        merge: MergeMode::None,
        capture_key: Some(IDEA_CARDS.to_owned()),
        meta: Map::new(),
    };
    let mut block = Block::new(
        build.instance_id,
        vec![Node::Block(parallel), Node::Action(assemble)],
    );
    block.merge = MergeMode::None;
    Ok(block)
}

fn build_judge(build: &mut StageBuild<'_, '_>) -> Result<Block, String> {
    let config = &mut *build.config;
    let temperature = config.get_float("judge_temperature", 0.0, Some(0.0), Some(2.0))?;
    let model = config.get_optional_str("judge_model")?;
    let source = ProfileSource::from_config(config, "judge_profile_source", "raw", false)?;
    let context_text = build.inputs.data.prompt_context.clone();
    let prompt: PromptFn = Arc::new(move |state: &RunState| {
        let motifs = match state.outputs.get(NOVELTY_SUMMARY) {
            Some(summary) if summary.get("enabled") == Some(&Value::Bool(true)) => {
                serde_json::to_string_pretty(summary).map_err(|e| e.to_string())?
            }
            _ => String::new(),
        };
        crate::prompts::render(
            "blackbox/judge",
            context! {
                concepts => selected_concepts(state)?,
                context => context_text,
                profile => source.text(state)?,
                motifs => motifs,
                cards => state.output_text(IDEA_CARDS)?,
            },
        )
    });
    let mut step = ChatStep::new(
        "draft",
        temperature,
        ResponseShape::Json {
            schema: "blackbox.judge_scores",
        },
        prompt,
    );
    step.capture_key = Some(IDEA_SCORES.to_owned());
    step.expect = Some(Arc::new(|state: &RunState| {
        Ok(Expect {
            ids: crate::answers::idea_cards_ids(state.output_text(IDEA_CARDS)?),
            ..Expect::default()
        })
    }));
    if let Some(model) = model {
        step.params.insert("model".into(), json!(model));
    }
    let mut block = chat_stage_block(build.instance_id, step);
    block.merge = MergeMode::None;
    Ok(block)
}

fn build_select(build: &mut StageBuild<'_, '_>) -> Result<Block, String> {
    let config = &mut *build.config;
    let exploration_rate = config.get_float("exploration_rate", 0.15, Some(0.0), Some(1.0))?;
    let num_ideas = config.get_int("num_ideas", 6, Some(1), None)? as usize;
    let novelty = novelty_config(config)?;
    let action = Arc::new(move |state: &mut RunState| {
        let cards_value: Value = serde_json::from_str(state.output_text(IDEA_CARDS)?)
            .map_err(|e| format!("invalid_idea_cards_json: not JSON: {e}"))?;
        let cards = parse_idea_cards(&cards_value, num_ideas)?;
        let ids: Vec<String> = cards.iter().map(|card| card.id.clone()).collect();
        let scores = parse_judge_scores(state.output_text(IDEA_SCORES)?, &ids)?;
        let summary = state
            .outputs
            .get(NOVELTY_SUMMARY)
            .cloned()
            .unwrap_or(Value::Null);
        let penalties = novelty::novelty_penalties(&cards, &summary, &novelty);
        let selection =
            scoring::select_candidate(&scores, &penalties, exploration_rate, state.seed);
        let card = cards
            .iter()
            .find(|card| card.id == selection.selected_id)
            .ok_or_else(|| {
                format!(
                    "selected card `{}` is not among the cards",
                    selection.selected_id
                )
            })?;
        let chosen = selection
            .table
            .iter()
            .find(|row| row.id == selection.selected_id);
        state.put(SELECTED_IDEA_CARD, card)?;
        let mut facts = json!({
            "exploration_rate": exploration_rate,
            "exploration_roll": selection.roll,
            "selection_mode": selection.mode,
            "selected_id": selection.selected_id,
            "selected_score": chosen.map(|row| row.score),
            "selected_effective_score": chosen.map(|row| row.effective_score),
            "score_table": serde_json::to_value(&selection.table).map_err(|e| e.to_string())?,
        });
        if novelty.enabled && summary.get("enabled") != Some(&Value::Bool(true)) {
            facts["warnings"] = json!(["novelty is enabled but no recent prompts were available"]);
        }
        record_scoring(state, facts);
        Ok(json!({"selected_id": selection.selected_id, "selection_mode": selection.mode}))
    });
    Ok(action_stage_block(build.instance_id, action, None))
}

fn build_image_prompt(build: &mut StageBuild<'_, '_>) -> Result<Block, String> {
    let step = image_prompt_step(build)?;
    Ok(chat_stage_block(build.instance_id, step))
}

/// The final-prompt step from the selected idea card; `blackbox_refine.seed_prompt` uses the same.
pub(crate) fn image_prompt_step(build: &mut StageBuild<'_, '_>) -> Result<ChatStep, String> {
    let config = &mut *build.config;
    let source = ProfileSource::from_config(config, "final_profile_source", "raw", false)?;
    let temperature = config.get_float("temperature", 0.8, Some(0.0), Some(2.0))?;
    let context_text = build.inputs.data.prompt_context.clone();
    let prompt: PromptFn = Arc::new(move |state: &RunState| {
        let card: IdeaCard = state.get(SELECTED_IDEA_CARD)?;
        crate::prompts::render(
            "blackbox/image_prompt",
            context! {
                concepts => selected_concepts(state)?,
                context => context_text,
                profile => source.text(state)?,
                card => serde_json::to_string_pretty(&card).map_err(|e| e.to_string())?,
            },
        )
    });
    Ok(ChatStep::new(
        "draft",
        temperature,
        ResponseShape::Text,
        prompt,
    ))
}
