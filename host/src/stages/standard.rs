//! The simple two-stage plan's stages (reference §2.2 `standard.*`): four candidate themes from the
//! profile, then an image prompt for the strongest, relying on the conversation for content.

use std::sync::Arc;

use minijinja::context;

use super::{StageBuild, StageDef, StageIo, StageKind};
use crate::backends::ResponseShape;
use crate::pipeline::{chat_stage_block, Block, ChatStep, PromptFn};

/// The `standard.*` stages.
pub fn stages() -> Vec<StageDef> {
    vec![
        StageDef {
            id: "standard.initial_prompt_freeform",
            kind: StageKind::Chat,
            doc: "Four candidate themes for the viewer, from the profile (and context)",
            io: StageIo {
                requires: &[],
                provides: &[],
                captures: &[],
            },
            build: crate::stages::Builder::Code(build_freeform),
        },
        StageDef {
            id: "standard.image_prompt_creation",
            kind: StageKind::Chat,
            doc: "The image prompt for the strongest theme of the conversation",
            io: StageIo {
                requires: &[],
                provides: &[],
                captures: &[],
            },
            build: crate::stages::Builder::Code(build_image_prompt),
        },
    ]
}

fn build_freeform(build: &mut StageBuild<'_, '_>) -> Result<Block, String> {
    let data = &build.inputs.data;
    // Built once: this prompt depends only on the profile and context, known before the run.
    let text = crate::prompts::render(
        "standard/initial_prompt_freeform",
        context! { guidance => data.preferences_guidance, context => data.prompt_context },
    )?;
    let prompt: PromptFn = Arc::new(move |_| Ok(text.clone()));
    Ok(chat_stage_block(
        build.instance_id,
        ChatStep::new("draft", 0.8, ResponseShape::Text, prompt),
    ))
}

fn build_image_prompt(build: &mut StageBuild<'_, '_>) -> Result<Block, String> {
    let text = crate::prompts::render("standard/image_prompt_creation", context! {})?;
    let prompt: PromptFn = Arc::new(move |_| Ok(text.clone()));
    Ok(chat_stage_block(
        build.instance_id,
        ChatStep::new("draft", 0.8, ResponseShape::Text, prompt),
    ))
}
