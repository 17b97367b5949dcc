//! The run-state output keys: every name a stage or the run writes into `RunState::outputs` and
//! another reads back, one constant (or key builder) each, so a key is spelled once. What each
//! value holds is said here; who writes and reads it is in the stages' `StageIo`. The plan
//! compiler's capture key (`image_prompt`) is [`IMAGE_PROMPT`]'s value.

// ---------------------------------------------------------------------------------------------
// Written by the run before the pipeline (`generation`)

/// The data and history files the run was given (an object).
pub const PROMPT_INPUTS: &str = "prompt_inputs";
/// The profile as the guidance text stages show the model.
pub const PREFERENCES_GUIDANCE: &str = "preferences_guidance";
/// The profile's dislikes then hates (a list of strings).
pub const DISLIKES: &str = "dislikes";
/// The context injectors' guidance text (only when there is some).
pub const CONTEXT_GUIDANCE: &str = "context_guidance";

/// Every output above: what a run may hold before its first stage (the run leaves out
/// [`CONTEXT_GUIDANCE`] when there is none).
pub const RUN_WRITTEN: &[&str] = &[
    PROMPT_INPUTS,
    PREFERENCES_GUIDANCE,
    DISLIKES,
    CONTEXT_GUIDANCE,
];

// ---------------------------------------------------------------------------------------------
// Concepts (`preprompt.*`)

/// The run's concepts (a list of strings), after the filters.
pub const SELECTED_CONCEPTS: &str = "selected_concepts";
/// What `preprompt.filter_concepts` did: input, applied and skipped filters, output.
pub const CONCEPT_FILTER_LOG: &str = "concept_filter_log";
/// The dislike rewrite's raw answer.
pub const DISLIKE_REWRITE_RAW: &str = "preprompt.filter_concepts.dislike_rewrite";

// ---------------------------------------------------------------------------------------------
// The final prompt

/// The run's image prompt: what the plan's capture stage answered (the compiler's capture key).
pub const IMAGE_PROMPT: &str = "image_prompt";
/// `postprompt.profile_nudge`'s answer.
pub const NUDGED_PROMPT: &str = "postprompt.nudged_prompt";

// ---------------------------------------------------------------------------------------------
// A/B (`ab.*`)

/// The run's token `RV-<seed>-<6 digits>`.
pub const AB_TOKEN: &str = "ab_random_token";
/// The scene draft that shows the token.
pub const AB_SCENE_DRAFT: &str = "ab_scene_draft";
/// The refined scene.
pub const AB_SCENE_REFINED: &str = "ab_scene_refined";
/// The SceneSpec answer, raw text.
pub const AB_SCENE_SPEC: &str = "ab_scene_spec_json";

// ---------------------------------------------------------------------------------------------
// Black box (`blackbox.*`)

/// Generator-safe profile hints (text).
pub const GENERATOR_PROFILE_HINTS: &str = "generator_profile_hints";
/// The `df_overlap_v1` motif summary of recent prompts (`blackbox::novelty`), or the disabled
/// summary.
pub const NOVELTY_SUMMARY: &str = "blackbox.novelty_summary";
/// The assembled idea cards, `{"ideas": [...]}` pretty-printed (text).
pub const IDEA_CARDS: &str = "idea_cards_json";
/// The judge's raw answer (text).
pub const IDEA_SCORES: &str = "idea_scores_json";
/// The selected idea card (a `scoring::IdeaCard`).
pub const SELECTED_IDEA_CARD: &str = "selected_idea_card";
/// Scoring facts gathered along the stages, for the transcript (an object; the refine loop adds
/// `prompt_refine`).
pub const BLACKBOX_SCORING: &str = "blackbox_scoring";

/// The raw answer of idea card `id`.
pub fn idea_card(id: &str) -> String {
    format!("blackbox.idea_card.{id}.json")
}

// ---------------------------------------------------------------------------------------------
// The refine loop (`blackbox_refine.*`)

/// The loop's seed prompt (text).
pub const REFINE_SEED_PROMPT: &str = "bbref.seed_prompt";
/// The loop's current beams, best first (a list of `blackbox_refine::Beam`).
pub const REFINE_BEAMS: &str = "bbref.beams";

/// The answer of candidate `id` of beam `beam` in round `iteration`.
pub fn refine_candidate(iteration: usize, beam: usize, id: &str) -> String {
    format!("bbref.iter_{iteration:02}.beam_{beam:02}.cand_{id}.prompt")
}

/// The raw answer of judge `judge` in round `iteration`.
pub fn refine_judge_scores(iteration: usize, judge: &str) -> String {
    format!("bbref.iter_{iteration:02}.judge.{judge}.scores_json")
}

/// The best/worst feedback of round `iteration` for the candidates of `beam`, or over all of
/// them (`None`).
pub fn refine_feedback(iteration: usize, beam: Option<usize>) -> String {
    match beam {
        Some(beam) => format!("bbref.iter_{iteration:02}.score_feedback_best_worst.beam_{beam:02}"),
        None => format!("bbref.iter_{iteration:02}.score_feedback_best_worst_overall"),
    }
}

// ---------------------------------------------------------------------------------------------
// The form of a key

/// Whether `key` has the form of the keys above, which a plugin's declared stage must follow too:
/// segments of ASCII letters, digits, `_` and `-`, joined by single dots. `Err` says what was
/// expected.
pub fn check_output_key(key: &str) -> Result<(), String> {
    let segment_ok = |segment: &str| {
        !segment.is_empty()
            && segment
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    if key.split('.').all(segment_ok) {
        Ok(())
    } else {
        Err(format!(
            "`{key}` is not an output key (expected ASCII letters, digits, `_` and `-`, in \
             segments joined by single dots, like `image_prompt` or `my_plugin.critique`)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_keys_are_dotted_segments() {
        for key in [
            IMAGE_PROMPT,
            NUDGED_PROMPT,
            &idea_card("A"),
            &refine_feedback(1, Some(2)),
        ] {
            assert_eq!(check_output_key(key), Ok(()), "{key}");
        }
        for key in ["", ".a", "a.", "a..b", "a b", "a/b", "é"] {
            assert!(check_output_key(key).is_err(), "`{key}` was accepted");
        }
    }
}
