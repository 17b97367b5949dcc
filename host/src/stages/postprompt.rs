//! Post-prompt stages (reference §2.2 `postprompt.*`): a subtle nudge of the latest prompt toward
//! the viewer's tastes, then a final formatting pass for the image model, with a guard that keeps
//! a draft's "no people" constraint if the nudge dropped it. The guard matches whole words (`no`
//! then the noun), where the Python code matched substrings, so "piano body" no longer counts as
//! "no body".

use std::sync::Arc;

use minijinja::context;
use serde_json::Value;

use super::blackbox_refine::Beam;
use super::keys::{IMAGE_PROMPT, NUDGED_PROMPT, PREFERENCES_GUIDANCE, REFINE_BEAMS};
use super::{StageBuild, StageDef, StageIo, StageKind};
use crate::backends::ResponseShape;
use crate::pipeline::{
    chat_stage_block, Block, ChatStep, MergeMode, PromptFn, RunState, StepRecord,
};

/// The post-prompt stages.
pub fn stages() -> Vec<StageDef> {
    vec![
        StageDef {
            id: "postprompt.profile_nudge",
            kind: StageKind::Chat,
            doc: "Nudge the latest prompt subtly toward the viewer's tastes (keeps intent and constraints)",
            io: StageIo { requires: &[], provides: &[], captures: &[NUDGED_PROMPT] },
            build: crate::stages::Builder::Code(build_nudge),
        },
        StageDef {
            id: "postprompt.openai_format",
            kind: StageKind::Chat,
            doc: "Format the (nudged) prompt for the image model in labelled sections",
            io: StageIo { requires: &[], provides: &[], captures: &[] },
            build: crate::stages::Builder::Code(build_format),
        },
    ]
}

/// The latest prompt of the run: `image_prompt`, else the refine loop's best beam, else the last
/// chat answer before the nudge.
pub fn latest_prompt(state: &RunState) -> Result<String, String> {
    if let Some(Value::String(prompt)) = state.outputs.get(IMAGE_PROMPT) {
        if !prompt.trim().is_empty() {
            return Ok(prompt.clone());
        }
    }
    // Malformed beams are passed over like missing ones: the loop checks its own output.
    if let Some(best) = state
        .get_optional::<Vec<Beam>>(REFINE_BEAMS)
        .ok()
        .flatten()
        .and_then(|beams| beams.into_iter().next())
    {
        return Ok(best.prompt);
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
        let profile = state.output_text(PREFERENCES_GUIDANCE)?;
        if profile.trim().is_empty() {
            return Err("the profile is empty, so there is nothing to nudge toward".to_owned());
        }
        crate::prompts::render(
            "postprompt/profile_nudge",
            context! { draft => latest_prompt(state)?, profile => profile, context => context_text, max_chars => max_chars },
        )
    });
    let mut step = ChatStep::new("draft", 0.0, ResponseShape::Text, prompt);
    step.capture_key = Some(NUDGED_PROMPT.to_owned());
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
            .get(NUDGED_PROMPT)
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

// ---------------------------------------------------------------------------------------------
// The no-people guard

/// Phrases that forbid people in an image prompt.
pub const NO_PEOPLE_PHRASES: [&str; 10] = [
    "no people",
    "no person",
    "no humans",
    "no human",
    "no figures",
    "no figure",
    "no faces",
    "no face",
    "no bodies",
    "no body",
];

/// Whether `text` contains one of [`NO_PEOPLE_PHRASES`] as whole words, ignoring case: `no`
/// then the noun, separated by anything that is not a letter or digit ("No people.",
/// "no\nfaces", "no-body"), but not inside other words ("piano body", "no bodyguard").
pub fn forbids_people(text: &str) -> bool {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    words.windows(2).any(|pair| {
        NO_PEOPLE_PHRASES
            .iter()
            .any(|phrase| phrase.split_once(' ') == Some((pair[0], pair[1])))
    })
}

/// The draft `postprompt.openai_format` formats: the nudged prompt (trimmed) when it is
/// non-empty, unless the draft forbids people ([`forbids_people`]) and the nudged text does not,
/// in which case the draft is kept.
pub fn choose_openai_format_draft<'a>(draft: &'a str, nudged: Option<&'a str>) -> &'a str {
    match nudged.map(str::trim).filter(|text| !text.is_empty()) {
        // Keep the draft only when it forbids people and the nudged text no longer does.
        Some(nudged) if !forbids_people(draft) || forbids_people(nudged) => nudged,
        _ => draft,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // -- no-people guard ----------------------------------------------------------------------

    #[test]
    fn no_people_phrases_match_whole_words_ignoring_case() {
        for text in [
            "A quiet street, NO PEOPLE.",
            "no\n  faces anywhere",
            "(no-body)",
            "No figure; no human",
        ] {
            assert!(forbids_people(text), "{text}");
        }
        for text in [
            "a piano body of work",
            "no bodyguard",
            "people everywhere",
            "knot person",
            "no peoples",
        ] {
            assert!(!forbids_people(text), "{text}");
        }
        assert!(NO_PEOPLE_PHRASES
            .iter()
            .all(|phrase| forbids_people(phrase)));
    }

    #[test]
    fn the_nudged_prompt_replaces_the_draft_unless_it_drops_no_people() {
        // No nudged prompt, or an empty one: the draft.
        assert_eq!(choose_openai_format_draft("draft", None), "draft");
        assert_eq!(choose_openai_format_draft("draft", Some("  \n")), "draft");
        // A nudged prompt replaces a draft without the phrase, trimmed.
        assert_eq!(
            choose_openai_format_draft("a crowd", Some("  nudged \n")),
            "nudged"
        );
        // The draft forbids people and the nudged text keeps that: the nudged text.
        assert_eq!(
            choose_openai_format_draft("a beach, no people", Some("a beach at dawn, No humans")),
            "a beach at dawn, No humans"
        );
        // The draft forbids people and the nudged text dropped it: the draft.
        assert_eq!(
            choose_openai_format_draft("a beach, no people", Some("a beach at dawn")),
            "a beach, no people"
        );
        // A substring is not the phrase: "piano body" does not forbid people.
        assert_eq!(
            choose_openai_format_draft("a piano body", Some("a grand piano")),
            "a grand piano"
        );
    }
}
