//! `[run]`, `[image]` and `[experiment]`: the run's mode, where its files go, and the labels
//! recorded with it. What the runner does with them is the runner's business.

use plugin_api::RunMode;
use serde::de::Deserializer;
use serde::{Deserialize, Serialize};

use super::NonEmpty;

/// `[run]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSection {
    /// `run.mode`: `full` (prompt and image) or `prompt_only`; default `full`.
    #[serde(default = "full")]
    pub mode: RunMode,
}

impl Default for RunSection {
    fn default() -> Self {
        RunSection { mode: full() }
    }
}

fn full() -> RunMode {
    RunMode::Full
}

/// `[image]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageSection {
    /// `image.log_path`: where run logs go.
    pub log_path: String,
    /// `image.generation_path`: where generated images go.
    pub generation_path: String,
}

/// `[experiment]`: labels recorded with a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentSection {
    /// `experiment.id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `experiment.variant`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// `experiment.notes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// `experiment.tags`: non-empty strings; default none.
    #[serde(default, deserialize_with = "tags")]
    pub tags: Vec<String>,
}

fn tags<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    let tags = Vec::<NonEmpty>::deserialize(deserializer)?;
    Ok(tags.into_iter().map(|tag| tag.0).collect())
}
