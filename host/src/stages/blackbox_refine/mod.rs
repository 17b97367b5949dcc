//! The refine loop (reference §2.4): a seed prompt from the selected idea card, then rounds in
//! which candidates are generated from the current beams, judged by several rubrics, aggregated,
//! penalised for stale motifs and selected (hill-climb or beam). Each round's candidates run in
//! parallel, and so do its judges, so a run's critical path is two model calls per round. This
//! module owns the steps, the typed beams and the records; the knobs are read in `config`, the
//! pure rules (which the steps call, with no copies here) are in `algorithms`.

pub mod algorithms;
mod config;

use std::sync::Arc;

use minijinja::context;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use self::algorithms::{
    aggregate, beams_for_iteration, best_worst, candidate_novelty, candidate_specs,
    effective_score, feedback_by_beam, mutation_directive, render_feedback, render_profile,
    select_beams, shuffled_for_judge, sort_rows, CandidateRow, CandidateSpec, KIND_PARENT,
};
use self::config::{read_loop_config, Judge, LoopConfig};
use super::keys::{
    self, BLACKBOX_SCORING, DISLIKES, GENERATOR_PROFILE_HINTS, NOVELTY_SUMMARY,
    PREFERENCES_GUIDANCE, REFINE_BEAMS, REFINE_SEED_PROMPT, SELECTED_IDEA_CARD,
};
use super::profile_source::selected_concepts;
use super::{StageBuild, StageDef, StageIo, StageKind};
use crate::answers::parse_judge_scores;
use crate::backends::{Expect, ResponseShape};
use crate::pipeline::{ActionStep, Block, ChatStep, MergeMode, Node, PromptFn, RunState};

/// The refine stages.
pub fn stages() -> Vec<StageDef> {
    vec![
        StageDef {
            id: "blackbox_refine.seed_prompt",
            kind: StageKind::Chat,
            doc: "The loop's seed: a first prompt from the selected idea card",
            io: StageIo { requires: &[SELECTED_IDEA_CARD], provides: &[], captures: &[REFINE_SEED_PROMPT] },
            build: crate::stages::Builder::Code(build_seed),
        },
        StageDef {
            id: "blackbox_refine.loop",
            kind: StageKind::Composite,
            doc: "Rounds of parallel variants judged by several rubrics; keep the best (hill-climb or beam)",
            io: StageIo { requires: &[REFINE_SEED_PROMPT], provides: &[REFINE_BEAMS], captures: &[] },
            build: crate::stages::Builder::Code(build_loop),
        },
    ]
}

fn build_seed(build: &mut StageBuild<'_, '_>) -> Result<Block, String> {
    let mut step = super::blackbox::image_prompt_step(build)?;
    step.capture_key = Some(REFINE_SEED_PROMPT.to_owned());
    let mut block = crate::pipeline::chat_stage_block(build.instance_id, step);
    block.merge = MergeMode::None;
    Ok(block)
}

fn beams_in(config: &LoopConfig, iteration: usize) -> usize {
    beams_for_iteration(config.beam, config.beam_width, iteration)
}

fn candidates(config: &LoopConfig, iteration: usize) -> Vec<CandidateSpec> {
    candidate_specs(
        beams_in(config, iteration),
        config.branching,
        config.include_parents,
    )
}

fn is_parent(candidate: &CandidateSpec) -> bool {
    candidate.kind == KIND_PARENT
}

/// One beam of the loop ([`REFINE_BEAMS`] holds them, best first): its prompt and where it came
/// from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Beam {
    /// 1-based.
    pub beam_index: usize,
    pub prompt: String,
    #[serde(flatten)]
    pub origin: BeamOrigin,
}

/// Where a beam came from: the loop's seed, or a candidate a round selected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum BeamOrigin {
    Selected {
        candidate_id: String,
        score: f64,
        novelty_penalty: i64,
        effective_score: f64,
        parent_beam: usize,
        kind: String,
    },
    Seed {
        /// The stage the seed came from (`blackbox`).
        source: String,
    },
}

/// The prompt of beam `beam` (1-based), falling back to the best beam.
fn beam_prompt(state: &RunState, beam: usize) -> Result<String, String> {
    let beams: Vec<Beam> = state.get(REFINE_BEAMS)?;
    beams
        .get(beam - 1)
        .or_else(|| beams.first())
        .map(|b| b.prompt.clone())
        .ok_or_else(|| format!("`{REFINE_BEAMS}` holds no prompt"))
}

fn truncate(text: &str, max: Option<usize>) -> String {
    match max {
        Some(max) if text.chars().count() > max => text.chars().take(max).collect(),
        _ => text.to_owned(),
    }
}

/// The text of a candidate: its parent beam's prompt, or what its generator answered.
fn candidate_text(
    state: &RunState,
    iteration: usize,
    candidate: &CandidateSpec,
) -> Result<String, String> {
    if is_parent(candidate) {
        beam_prompt(state, candidate.parent_beam)
    } else {
        Ok(state
            .output_text(&keys::refine_candidate(
                iteration,
                candidate.parent_beam,
                &candidate.id,
            ))?
            .trim()
            .to_owned())
    }
}

fn novelty_text(state: &RunState) -> String {
    state
        .outputs
        .get(NOVELTY_SUMMARY)
        .map(|summary| summary.to_string())
        .unwrap_or_default()
}

fn build_loop(build: &mut StageBuild<'_, '_>) -> Result<Block, String> {
    let config = Arc::new(read_loop_config(
        build.config,
        build.inputs.data.prompt_context.clone(),
    )?);
    let mut nodes = vec![Node::Action(action("init_state", {
        let config = Arc::clone(&config);
        move |state: &mut RunState| {
            let seed = state.output_text(REFINE_SEED_PROMPT)?.trim().to_owned();
            if seed.is_empty() {
                return Err("the seed prompt is empty".to_owned());
            }
            let first = Beam {
                beam_index: 1,
                prompt: seed.clone(),
                origin: BeamOrigin::Seed {
                    source: "blackbox".to_owned(),
                },
            };
            state.put(REFINE_BEAMS, &[first])?;
            record_refine(state, |refine| {
                refine.insert("seed_prompt".into(), json!(seed));
                refine.insert("seed_source".into(), json!("blackbox"));
                refine.insert("iterations".into(), json!([]));
                refine.insert(
                    "judges".into(),
                    json!(config
                        .judges
                        .iter()
                        .map(|j| json!({"id": j.id, "rubric": j.rubric_name, "weight": j.weight}))
                        .collect::<Vec<_>>()),
                );
            });
            Ok(json!({"seed_chars": seed.chars().count()}))
        }
    }))];
    for iteration in 1..=config.iterations {
        nodes.push(Node::Block(iteration_block(&config, iteration)));
    }
    nodes.push(Node::Action(action("finalize", |state: &mut RunState| {
        let prompt = beam_prompt(state, 1)?.trim().to_owned();
        record_refine(state, |refine| {
            refine.insert("final_prompt".into(), json!(prompt));
        });
        Ok(json!(prompt))
    })));
    let mut block = Block::new(build.instance_id, nodes);
    block.merge = MergeMode::None;
    Ok(block)
}

fn action(
    name: &str,
    body: impl Fn(&mut RunState) -> Result<Value, String> + Send + Sync + 'static,
) -> ActionStep {
    ActionStep {
        name: Some(name.to_owned()),
        action: Arc::new(body),
        merge: MergeMode::None,
        capture_key: None,
        meta: Map::new(),
    }
}

/// Edits `blackbox_scoring.prompt_refine`.
fn record_refine(state: &mut RunState, edit: impl FnOnce(&mut Map<String, Value>)) {
    let scoring = state
        .outputs
        .entry(BLACKBOX_SCORING.to_owned())
        .or_insert_with(|| json!({}));
    if let Value::Object(scoring) = scoring {
        let refine = scoring.entry("prompt_refine").or_insert_with(|| json!({}));
        if let Value::Object(refine) = refine {
            edit(refine);
        }
    }
}

fn iteration_block(config: &Arc<LoopConfig>, iteration: usize) -> Block {
    let list = candidates(config, iteration);
    // Generators: every generated candidate of every beam at once.
    let mut beam_blocks = Vec::new();
    for beam in 1..=beams_in(config, iteration) {
        let steps: Vec<Node> = list
            .iter()
            .filter(|candidate| candidate.parent_beam == beam && !is_parent(candidate))
            .map(|candidate| Node::Chat(generator_step(config, iteration, candidate)))
            .collect();
        let mut block = Block::new(&format!("beam_{beam:02}"), steps);
        block.merge = MergeMode::None;
        block.parallel = true;
        beam_blocks.push(Node::Block(block));
    }
    let mut generate = Block::new("candidates", beam_blocks);
    generate.merge = MergeMode::None;
    generate.parallel = true;

    let judges: Vec<Node> = config
        .judges
        .iter()
        .map(|judge| Node::Chat(judge_step(config, iteration, &list, judge)))
        .collect();
    let mut judging = Block::new("judge", judges);
    judging.merge = MergeMode::None;
    judging.parallel = true;

    let select = {
        let config = Arc::clone(config);
        action("select", move |state: &mut RunState| {
            select_round(&config, iteration, &list, state)
        })
    };
    let mut block = Block::new(
        &format!("iter_{iteration:02}"),
        vec![
            Node::Block(generate),
            Node::Block(judging),
            Node::Action(select),
        ],
    );
    block.merge = MergeMode::None;
    block
}

fn generator_step(
    config: &Arc<LoopConfig>,
    iteration: usize,
    candidate: &CandidateSpec,
) -> ChatStep {
    let (config_for_prompt, candidate_for_prompt) = (Arc::clone(config), candidate.clone());
    let prompt: PromptFn = Arc::new(move |state: &RunState| {
        let config = &config_for_prompt;
        let candidate = &candidate_for_prompt;
        let concepts = if config.include_concepts {
            selected_concepts(state)?.join(", ")
        } else {
            String::new()
        };
        let profile = if config.include_profile {
            let dislikes: Vec<String> = state
                .outputs
                .get(DISLIKES)
                .and_then(Value::as_array)
                .map(|items| {
                    items
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            let hints = state
                .outputs
                .get(GENERATOR_PROFILE_HINTS)
                .and_then(Value::as_str)
                .unwrap_or_default();
            render_profile(
                config.profile_source,
                state.output_text(PREFERENCES_GUIDANCE)?,
                hints,
                &dislikes,
            )
        } else {
            String::new()
        };
        let directive = if config.include_directive {
            mutation_directive(
                config.mutation_mode,
                &config.directives,
                state.seed,
                iteration,
                candidate.ordinal,
                &candidate.id,
            )
            .unwrap_or_default()
            .to_owned()
        } else {
            String::new()
        };
        let feedback = if config.best_worst_feedback && iteration > 1 {
            state
                .outputs
                .get(&keys::refine_feedback(
                    iteration - 1,
                    Some(candidate.parent_beam),
                ))
                .or_else(|| {
                    state
                        .outputs
                        .get(&keys::refine_feedback(iteration - 1, None))
                })
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        } else {
            String::new()
        };
        crate::prompts::render(
            &format!("blackbox_refine/variation_{}", config.template),
            context! {
                base => beam_prompt(state, candidate.parent_beam)?.trim(),
                concepts => concepts,
                context => if config.include_context { config.context.clone() } else { String::new() },
                profile => profile,
                novelty => if config.include_novelty { novelty_text(state) } else { String::new() },
                directive => directive,
                rubric => if config.include_rubric { crate::prompts::rubric("default").unwrap_or_default().trim() } else { "" },
                feedback => feedback,
                max_chars => config.max_prompt_chars,
            },
        )
    });
    let mut step = ChatStep::new(
        &format!("cand_{}", candidate.id),
        config.generator_temperature,
        ResponseShape::Text,
        prompt,
    );
    step.merge = MergeMode::None;
    step.capture_key = Some(keys::refine_candidate(
        iteration,
        candidate.parent_beam,
        &candidate.id,
    ));
    step.meta.insert("iteration".into(), json!(iteration));
    step.meta.insert("candidate_id".into(), json!(candidate.id));
    if let Some(model) = &config.generator_model {
        step.params.insert("model".into(), json!(model));
    }
    step
}

fn judge_step(
    config: &Arc<LoopConfig>,
    iteration: usize,
    list: &[CandidateSpec],
    judge: &Judge,
) -> ChatStep {
    let ids: Vec<String> = list.iter().map(|candidate| candidate.id.clone()).collect();
    let (config_for_prompt, list, judge_for_prompt) =
        (Arc::clone(config), list.to_vec(), judge.clone());
    let prompt: PromptFn = Arc::new(move |state: &RunState| {
        let config = &config_for_prompt;
        let judge = &judge_for_prompt;
        let entries = list
            .iter()
            .map(|candidate| Ok(json!({"id": candidate.id, "prompt": truncate(&candidate_text(state, iteration, candidate)?, config.max_prompt_chars)})))
            .collect::<Result<Vec<Value>, String>>()?;
        let shuffled = shuffled_for_judge(&entries, state.seed, iteration, &judge.id);
        let motifs = match state.outputs.get(NOVELTY_SUMMARY) {
            Some(Value::Object(summary)) if !summary.is_empty() => {
                Value::Object(summary.clone()).to_string()
            }
            _ => String::new(),
        };
        crate::prompts::render(
            "blackbox_refine/judge",
            context! {
                judge_id => judge.id,
                concepts => selected_concepts(state)?.join(", "),
                context => config.context,
                profile => config.judge_profile_source.text(state)?,
                motifs => motifs,
                candidates => serde_json::to_string_pretty(&shuffled).map_err(|e| e.to_string())?,
                rubric => judge.rubric.trim(),
            },
        )
    });
    let mut step = ChatStep::new(
        &judge.id,
        judge.temperature,
        ResponseShape::Json {
            schema: "blackbox.judge_scores",
        },
        prompt,
    );
    step.merge = MergeMode::None;
    step.capture_key = Some(keys::refine_judge_scores(iteration, &judge.id));
    // The ids in the order this judge sees the candidates.
    let judge_id = judge.id.clone();
    step.expect = Some(Arc::new(move |state: &RunState| {
        Ok(Expect {
            ids: shuffled_for_judge(&ids, state.seed, iteration, &judge_id),
            ..Expect::default()
        })
    }));
    step.meta.insert("judge_id".into(), json!(judge.id));
    step.meta.insert("rubric".into(), json!(judge.rubric_name));
    step.meta.insert("weight".into(), json!(judge.weight));
    if let Some(model) = &judge.model {
        step.params.insert("model".into(), json!(model));
    }
    step
}

fn select_round(
    config: &LoopConfig,
    iteration: usize,
    list: &[CandidateSpec],
    state: &mut RunState,
) -> Result<Value, String> {
    let ids: Vec<String> = list.iter().map(|candidate| candidate.id.clone()).collect();
    let mut per_candidate: Vec<Vec<(f64, f64)>> = vec![Vec::new(); list.len()];
    let mut judge_outputs = Vec::new();
    for judge in &config.judges {
        let raw = state
            .output_text(&keys::refine_judge_scores(iteration, &judge.id))?
            .to_owned();
        let scores = parse_judge_scores(&raw, &ids)
            .map_err(|error| format!("judge `{}`: {error}", judge.id))?;
        for (id, score) in &scores {
            if let Some(position) = ids.iter().position(|known| known == id) {
                per_candidate[position].push((*score as f64, judge.weight));
            }
        }
        judge_outputs.push(json!({"judge_id": judge.id, "rubric": judge.rubric_name, "weight": judge.weight, "parsed_scores": scores.iter().map(|(id, s)| json!({"id": id, "score": s})).collect::<Vec<_>>()}));
    }
    let summary = state.outputs.get(NOVELTY_SUMMARY);
    let mut rows = Vec::with_capacity(list.len());
    for (candidate, scores) in list.iter().zip(&per_candidate) {
        let text = truncate(
            &candidate_text(state, iteration, candidate)?,
            config.max_prompt_chars,
        );
        if text.is_empty() {
            return Err(format!("candidate `{}` is empty", candidate.id));
        }
        let score = aggregate(scores, &config.aggregation);
        let (penalty, detail) = candidate_novelty(&text, summary, &config.novelty);
        rows.push(CandidateRow {
            id: candidate.id.clone(),
            score,
            novelty_penalty: penalty,
            novelty_detail: detail,
            effective_score: effective_score(score, penalty),
            prompt_chars: text.chars().count(),
            parent_beam: candidate.parent_beam,
            kind: candidate.kind.to_owned(),
            prompt: text,
        });
    }
    sort_rows(&mut rows, config.tie_breaker);
    // Best/worst feedback for the next round, per origin beam and overall.
    for (beam, pair) in feedback_by_beam(&rows, beams_in(config, iteration)) {
        if let Some((best, worst)) = pair {
            state.outputs.insert(
                keys::refine_feedback(iteration, Some(beam)),
                json!(render_feedback(&best, &worst, config.feedback_max_chars)),
            );
        }
    }
    if let Some((best, worst)) = best_worst(&rows) {
        state.outputs.insert(
            keys::refine_feedback(iteration, None),
            json!(render_feedback(&best, &worst, config.feedback_max_chars)),
        );
    }
    let k = if config.beam { config.beam_width } else { 1 };
    let selection = select_beams(
        &rows,
        k,
        config.group_by_beam,
        config.exploration_rate,
        state.seed,
        iteration,
        config.tie_breaker,
    );
    let beams: Vec<Beam> = selection
        .selected
        .iter()
        .enumerate()
        .map(|(index, row)| Beam {
            beam_index: index + 1,
            prompt: row.prompt.clone(),
            origin: BeamOrigin::Selected {
                candidate_id: row.id.clone(),
                score: row.score,
                novelty_penalty: row.novelty_penalty,
                effective_score: row.effective_score,
                parent_beam: row.parent_beam,
                kind: row.kind.clone(),
            },
        })
        .collect();
    if beams.is_empty() {
        return Err("no candidate was selected".to_owned());
    }
    state.put(REFINE_BEAMS, &beams)?;
    let record = json!({
        "iteration": iteration,
        "candidate_count": list.len(),
        "judge_outputs": judge_outputs,
        "aggregate": config.aggregation.as_str(),
        "selection": {
            "exploration_rate": config.exploration_rate,
            "exploration_roll": selection.roll,
            "selection_mode": selection.mode,
            "selected_ids": selection.selected.iter().map(|row| row.id.clone()).collect::<Vec<_>>(),
            "score_table": serde_json::to_value(&rows).map_err(|e| e.to_string())?,
        },
        "beams_out": beams,
    });
    record_refine(state, |refine| {
        if let Some(Value::Array(iterations)) = refine.get_mut("iterations") {
            iterations.push(record.clone());
        }
    });
    Ok(
        json!({"selected_ids": selection.selected.iter().map(|row| row.id.clone()).collect::<Vec<_>>(), "selection_mode": selection.mode}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beams_keep_the_recorded_layout_and_read_back_as_they_were() {
        let seed = Beam {
            beam_index: 1,
            prompt: "a kite".into(),
            origin: BeamOrigin::Seed {
                source: "blackbox".into(),
            },
        };
        let selected = Beam {
            beam_index: 2,
            prompt: "a red kite".into(),
            origin: BeamOrigin::Selected {
                candidate_id: "C".into(),
                score: 85.0,
                novelty_penalty: 3,
                effective_score: 82.0,
                parent_beam: 1,
                kind: "generated".into(),
            },
        };
        let mut state = RunState::default();
        state
            .put(REFINE_BEAMS, &[seed.clone(), selected.clone()])
            .expect("put");
        assert_eq!(
            state.outputs[REFINE_BEAMS].to_string(),
            r#"[{"beam_index":1,"prompt":"a kite","source":"blackbox"},{"beam_index":2,"prompt":"a red kite","candidate_id":"C","score":85.0,"novelty_penalty":3,"effective_score":82.0,"parent_beam":1,"kind":"generated"}]"#
        );
        assert_eq!(
            state.get::<Vec<Beam>>(REFINE_BEAMS),
            Ok(vec![seed, selected])
        );
        assert_eq!(beam_prompt(&state, 2).as_deref(), Ok("a red kite"));
        // A beam past the last falls back to the best.
        assert_eq!(beam_prompt(&state, 5).as_deref(), Ok("a kite"));
    }
}
