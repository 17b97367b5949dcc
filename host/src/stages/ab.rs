//! The A/B stages (reference §2.2 `ab.*`): a random token, a scene draft that must show it, a
//! refinement (with or without the checklist) or a SceneSpec JSON, and the strict one-line prompt.
//!
//! The chat stages differ only in data, so they are one table ([`CHAT_STAGES`]) and one builder.
//! Each has a `temperature` knob; the prompts are the `prompts/ab/*.j2` templates.

use std::sync::Arc;

use serde_json::Value;

use super::keys::{AB_SCENE_DRAFT, AB_SCENE_REFINED, AB_SCENE_SPEC, AB_TOKEN};
use super::{StageBuild, StageDef, StageIo, StageKind};
use crate::backends::{Expect, ResponseShape};
use crate::pipeline::{action_stage_block, chat_stage_block, Block, ChatStep, PromptFn, RunState};

/// One A/B chat stage, as data.
struct ChatStage {
    id: &'static str,
    doc: &'static str,
    template: &'static str,
    temperature: f64,
    io: StageIo,
    /// The step's capture key, if the stage captures its answer.
    capture: Option<&'static str>,
    shape: ResponseShape,
    /// Template values from the run's outputs.
    values: fn(&RunState) -> Result<Value, String>,
}

const CHAT_STAGES: &[ChatStage] = &[
    ChatStage {
        id: "ab.scene_draft",
        doc: "Draft a 4-6 sentence scene that shows the A/B token as visible text",
        template: "ab/scene_draft",
        temperature: 0.85,
        io: StageIo { requires: &[AB_TOKEN], provides: &[], captures: &[AB_SCENE_DRAFT] },
        capture: Some(AB_SCENE_DRAFT),
        shape: ResponseShape::Text,
        values: token_only,
    },
    ChatStage {
        id: "ab.scene_refine_no_block",
        doc: "Refine the draft with a minimal instruction",
        template: "ab/scene_refine_no_block",
        temperature: 0.75,
        io: StageIo { requires: &[AB_TOKEN, AB_SCENE_DRAFT], provides: &[], captures: &[AB_SCENE_REFINED] },
        capture: Some(AB_SCENE_REFINED),
        shape: ResponseShape::Text,
        values: token_only,
    },
    ChatStage {
        id: "ab.scene_refine_with_block",
        doc: "Refine the draft through the refinement-block checklist",
        template: "ab/scene_refine_with_block",
        temperature: 0.75,
        io: StageIo { requires: &[AB_TOKEN, AB_SCENE_DRAFT], provides: &[], captures: &[AB_SCENE_REFINED] },
        capture: Some(AB_SCENE_REFINED),
        shape: ResponseShape::Text,
        values: token_only,
    },
    ChatStage {
        id: "ab.scene_spec_json",
        doc: "Turn the draft into a SceneSpec JSON object (raw text passed on; the analysis judges it)",
        template: "ab/scene_spec_json",
        temperature: 0.55,
        io: StageIo { requires: &[AB_TOKEN, AB_SCENE_DRAFT], provides: &[], captures: &[AB_SCENE_SPEC] },
        capture: Some(AB_SCENE_SPEC),
        shape: ResponseShape::Json { schema: "ab.scene_spec" },
        values: token_only,
    },
    ChatStage {
        id: "ab.final_prompt_format",
        doc: "Condense the refined scene into the strict one-line prompt",
        template: "ab/final_prompt_format",
        temperature: 0.6,
        io: StageIo { requires: &[AB_TOKEN, AB_SCENE_REFINED], provides: &[], captures: &[] },
        capture: None,
        shape: ResponseShape::Line { format: Some("ab.final_prompt") },
        values: |state| {
            Ok(serde_json::json!({
                "token": state.output_text(AB_TOKEN)?,
                "scene": state.output_text(AB_SCENE_REFINED)?,
            }))
        },
    },
    ChatStage {
        id: "ab.final_prompt_format_from_scenespec",
        doc: "Condense the SceneSpec into the strict one-line prompt",
        template: "ab/final_prompt_format_from_scenespec",
        temperature: 0.55,
        io: StageIo { requires: &[AB_TOKEN, AB_SCENE_SPEC], provides: &[], captures: &[] },
        capture: None,
        shape: ResponseShape::Line { format: Some("ab.final_prompt") },
        values: |state| {
            Ok(serde_json::json!({
                "token": state.output_text(AB_TOKEN)?,
                "scene_spec": state.output_text(AB_SCENE_SPEC)?,
            }))
        },
    },
];

fn token_only(state: &RunState) -> Result<Value, String> {
    Ok(serde_json::json!({ "token": state.output_text(AB_TOKEN)? }))
}

/// Every A/B stage.
pub fn stages() -> Vec<StageDef> {
    let mut stages = vec![StageDef {
        id: "ab.random_token",
        kind: StageKind::Action,
        doc: "Compute the run's token `RV-<seed>-<6 digits>` (the plan's token, by the shared helper)",
        io: StageIo { requires: &[], provides: &[], captures: &[AB_TOKEN] },
        build: crate::stages::Builder::Code(build_random_token),
    }];
    stages.extend(CHAT_STAGES.iter().map(|stage| StageDef {
        id: stage.id,
        kind: StageKind::Chat,
        doc: stage.doc,
        io: stage.io,
        build: crate::stages::Builder::Code(build_chat_stage),
    }));
    stages
}

fn build_random_token(build: &mut StageBuild<'_, '_>) -> Result<Block, String> {
    let action =
        Arc::new(|state: &mut RunState| Ok(Value::String(plugin_api::token::ab_token(state.seed))));
    Ok(action_stage_block(
        build.instance_id,
        action,
        Some(AB_TOKEN),
    ))
}

fn build_chat_stage(build: &mut StageBuild<'_, '_>) -> Result<Block, String> {
    let kind = build.kind;
    let stage = CHAT_STAGES
        .iter()
        .find(|stage| stage.id == kind)
        .ok_or_else(|| format!("no A/B chat stage `{kind}`"))?;
    let temperature = build
        .config
        .get_float("temperature", stage.temperature, Some(0.0), Some(2.0))
        .map_err(|error| error.to_string())?;
    let template = stage.template;
    let values = stage.values;
    let prompt: PromptFn =
        Arc::new(move |state: &RunState| crate::prompts::render(template, values(state)?));
    let mut step = ChatStep::new("draft", temperature, stage.shape, prompt);
    step.capture_key = stage.capture.map(str::to_owned);
    // Every A/B template shows the token and asks for it in the answer.
    step.expect = Some(Arc::new(|state: &RunState| {
        Ok(Expect {
            ab_token: Some(state.output_text(AB_TOKEN)?.to_owned()),
            ..Expect::default()
        })
    }));
    Ok(chat_stage_block(build.instance_id, step))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_chat_stage_template_renders_from_its_inputs() {
        let mut state = RunState::default();
        for key in [AB_TOKEN, AB_SCENE_DRAFT, AB_SCENE_REFINED, AB_SCENE_SPEC] {
            state
                .outputs
                .insert(key.into(), Value::String(format!("<{key}>")));
        }
        for stage in CHAT_STAGES {
            let text =
                crate::prompts::render(stage.template, (stage.values)(&state).unwrap()).unwrap();
            assert!(text.contains("<ab_random_token>"), "{}: {text}", stage.id);
        }
    }

    #[test]
    fn a_missing_input_is_a_clear_error() {
        let state = RunState::default();
        let error = (CHAT_STAGES[0].values)(&state).unwrap_err();
        assert_eq!(error, "missing required output `ab_random_token`");
    }
}
