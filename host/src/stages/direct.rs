//! `direct.image_prompt_creation` (reference §2.2): one final prompt straight from the concepts and
//! the raw profile, with no idea cards.

use std::sync::Arc;

use minijinja::context;

use super::keys::{PREFERENCES_GUIDANCE, SELECTED_CONCEPTS};
use super::profile_source::selected_concepts;
use super::{StageBuild, StageDef, StageIo, StageKind};
use crate::backends::ResponseShape;
use crate::pipeline::{chat_stage_block, Block, ChatStep, PromptFn, RunState};

/// The direct stage.
pub fn stages() -> Vec<StageDef> {
    vec![StageDef {
        id: "direct.image_prompt_creation",
        kind: StageKind::Chat,
        doc: "One final prompt straight from the concepts and the raw profile",
        io: StageIo {
            requires: &[SELECTED_CONCEPTS],
            provides: &[],
            captures: &[],
        },
        build: crate::stages::Builder::Code(build),
    }]
}

fn build(build: &mut StageBuild<'_, '_>) -> Result<Block, String> {
    let temperature = build
        .config
        .get_float("temperature", 0.8, Some(0.0), Some(2.0))?;
    let prompt: PromptFn = Arc::new(|state: &RunState| {
        crate::prompts::render(
            "direct/image_prompt_creation",
            context! { concepts => selected_concepts(state)?, profile => state.output_text(PREFERENCES_GUIDANCE)? },
        )
    });
    Ok(chat_stage_block(
        build.instance_id,
        ChatStep::new("draft", temperature, ResponseShape::Text, prompt),
    ))
}
