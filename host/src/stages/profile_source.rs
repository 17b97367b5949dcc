//! Which profile text a stage shows the model (reference §2.2): the raw rendered profile, the
//! generator-safe hints, the hints plus the dislikes, or nothing. One knob spelling and one
//! resolution for every stage that has such a knob.

use minijinja::context;
use serde_json::Value;

use super::keys::{DISLIKES, GENERATOR_PROFILE_HINTS, PREFERENCES_GUIDANCE, SELECTED_CONCEPTS};
use crate::pipeline::{RunState, StageConfig};

/// A profile source knob's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileSource {
    Raw,
    GeneratorHints,
    GeneratorHintsPlusDislikes,
    None,
}

impl ProfileSource {
    /// Reads knob `key` (`raw|generator_hints|generator_hints_plus_dislikes`, plus `none` when
    /// `allow_none`).
    pub fn from_config(
        config: &mut StageConfig,
        key: &str,
        default: &str,
        allow_none: bool,
    ) -> Result<ProfileSource, String> {
        let choices: &[&str] = if allow_none {
            &[
                "raw",
                "generator_hints",
                "generator_hints_plus_dislikes",
                "none",
            ]
        } else {
            &["raw", "generator_hints", "generator_hints_plus_dislikes"]
        };
        Ok(
            match config.get_str(key, Some(default), Some(choices))?.as_str() {
                "raw" => ProfileSource::Raw,
                "generator_hints" => ProfileSource::GeneratorHints,
                "generator_hints_plus_dislikes" => ProfileSource::GeneratorHintsPlusDislikes,
                _ => ProfileSource::None,
            },
        )
    }

    /// The text for this source from the run's outputs (empty for `none`).
    pub fn text(self, state: &RunState) -> Result<String, String> {
        match self {
            ProfileSource::None => Ok(String::new()),
            ProfileSource::Raw => Ok(state.output_text(PREFERENCES_GUIDANCE)?.to_owned()),
            ProfileSource::GeneratorHints => hints(state),
            ProfileSource::GeneratorHintsPlusDislikes => {
                let dislikes: Vec<&str> = match state.outputs.get(DISLIKES) {
                    Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
                    _ => Vec::new(),
                };
                crate::prompts::render(
                    "blackbox/profile_hints_plus_dislikes",
                    context! { hints => hints(state)?, dislikes => dislikes },
                )
            }
        }
    }
}

fn hints(state: &RunState) -> Result<String, String> {
    let text = state.output_text(GENERATOR_PROFILE_HINTS)?.trim();
    if text.is_empty() {
        return Err("`generator_profile_hints` is empty".to_owned());
    }
    Ok(text.to_owned())
}

/// The selected concepts in the run's outputs.
pub fn selected_concepts(state: &RunState) -> Result<Vec<String>, String> {
    match state.outputs.get(SELECTED_CONCEPTS) {
        Some(Value::Array(items)) => Ok(items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()),
        _ => Err("missing required output `selected_concepts`".to_owned()),
    }
}
