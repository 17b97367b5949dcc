//! Post-prompt stages (reference §2.2 `postprompt.*`): a subtle nudge of the latest prompt toward
//! the viewer's tastes, then a final formatting pass for the image model, with a guard that keeps
//! a draft's "no people" constraint if the nudge dropped it.

use std::sync::Arc;

use minijinja::context;
use serde_json::Value;

use super::blackbox_refine::algorithms::choose_openai_format_draft;
use super::{StageBuild, StageDef, StageIo, StageKind};
use crate::backends::ResponseShape;
use crate::pipeline::{
    chat_stage_block, Block, ChatStep, MergeMode, PromptFn, RunState, StepRecord,
};

const NUDGED: &str = "postprompt.nudged_prompt";

/// The post-prompt stages.
pub fn stages() -> Vec<StageDef> {
    vec![
        StageDef {
            id: "postprompt.profile_nudge",
            kind: StageKind::Chat,
            doc: "Nudge the latest prompt subtly toward the viewer's tastes (keeps intent and constraints)",
            io: StageIo { requires: &[], provides: &[], captures: &[NUDGED] },
            build: build_nudge,
        },
        StageDef {
            id: "postprompt.openai_format",
            kind: StageKind::Chat,
            doc: "Format the (nudged) prompt for the image model in labelled sections",
            io: StageIo { requires: &[], provides: &[], captures: &[] },
            build: build_format,
        },
    ]
}

/// The latest prompt of the run: `image_prompt`, else the refine loop's best beam, else the last
/// chat answer before the nudge.
pub fn latest_prompt(state: &RunState) -> Result<String, String> {
    if let Some(Value::String(prompt)) = state.outputs.get("image_prompt") {
        if !prompt.trim().is_empty() {
            return Ok(prompt.clone());
        }
    }
    if let Some(prompt) = state
        .outputs
        .get("bbref.beams")
        .and_then(|beams| beams.pointer("/0/prompt"))
        .and_then(Value::as_str)
    {
        return Ok(prompt.to_owned());
    }
    // The nudge's own answer is not a draft: `openai_format` weighs it against the draft.
    state
        .steps
        .iter()
        .rev()
        .find_map(|step| match step {
            StepRecord::Chat { response, path, .. }
                if !path.contains("/postprompt.profile_nudge/") =>
            {
                Some(response.clone())
            }
            _ => None,
        })
        .ok_or_else(|| "there is no draft prompt to work on yet".to_owned())
}

fn build_nudge(build: &mut StageBuild<'_, '_>) -> Result<Block, String> {
    let max_chars = build
        .config
        .get_optional_int("max_prompt_chars", None, Some(1), None)?;
    let context_text = build.inputs.data.prompt_context.clone();
    let prompt: PromptFn = Arc::new(move |state: &RunState| {
        let profile = state.output_text("preferences_guidance")?;
        if profile.trim().is_empty() {
            return Err("the profile is empty, so there is nothing to nudge toward".to_owned());
        }
        crate::prompts::render(
            "postprompt/profile_nudge",
            context! { draft => latest_prompt(state)?, profile => profile, context => context_text, max_chars => max_chars },
        )
    });
    let mut step = ChatStep::new("draft", 0.0, ResponseShape::Text, prompt);
    step.capture_key = Some(NUDGED.to_owned());
    let mut block = chat_stage_block(build.instance_id, step);
    block.merge = MergeMode::None;
    Ok(block)
}

fn build_format(build: &mut StageBuild<'_, '_>) -> Result<Block, String> {
    let max_chars = build
        .config
        .get_int("max_prompt_chars", 3500, Some(1), None)?;
    let prompt: PromptFn = Arc::new(move |state: &RunState| {
        let draft = latest_prompt(state)?;
        let nudged = state
            .outputs
            .get(NUDGED)
            .and_then(Value::as_str)
            .filter(|text| !text.trim().is_empty());
        let chosen = choose_openai_format_draft(&draft, nudged);
        crate::prompts::render(
            "postprompt/openai_format",
            context! { draft => chosen, max_chars => max_chars },
        )
    });
    let step = ChatStep::new("draft", 0.3, ResponseShape::Text, prompt);
    Ok(chat_stage_block(build.instance_id, step))
}
