//! `[prompt]`: the plan, the data files, and the plan's tables (`prompt.stages`,
//! `prompt.output`, `prompt.stage_configs`). The values inside `prompt.stage_configs.*` and
//! `prompt.stages.overrides.*` are free-form here: the stages own those knobs and check them when
//! the plan compiles (`stages::compiler`).

use serde::de::Deserializer;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::non_empty;

/// `[prompt]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptSection {
    /// `prompt.plan`, lowercased.
    #[serde(deserialize_with = "plan")]
    pub plan: String,
    /// `prompt.random_seed`: the run seed, when pinned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub random_seed: Option<u64>,
    /// `prompt.categories_path`: the concept table (a path or `builtin:<name>`).
    #[serde(deserialize_with = "non_empty")]
    pub categories_path: String,
    /// `prompt.profile_path`: the taste profile (a path or `builtin:<name>`).
    #[serde(deserialize_with = "non_empty")]
    pub profile_path: String,
    /// `prompt.generations_path`: the CSV recording every generation.
    pub generations_path: String,
    /// `prompt.titles_manifest_path`: the CSV of generated titles.
    pub titles_manifest_path: String,
    /// `prompt.stages`.
    #[serde(default)]
    pub stages: StagesConfig,
    /// `prompt.output`.
    #[serde(default)]
    pub output: OutputConfig,
    /// `prompt.stage_configs`; the knobs inside are checked by the stages when the plan compiles.
    #[serde(default)]
    pub stage_configs: StageConfigs,
}

fn plan<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let plan = non_empty(deserializer)?;
    Ok(plan.to_lowercase())
}

/// `prompt.stages`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StagesConfig {
    #[serde(default)]
    pub sequence: Vec<SequenceItem>,
    #[serde(default)]
    pub include: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default)]
    pub overrides: Map<String, Value>,
}

/// An item of `prompt.stages.sequence`: a stage kind id, or a named instance of one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SequenceItem {
    Kind(String),
    Named { stage: String, name: String },
}

/// `prompt.output`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    #[serde(default)]
    pub capture_stage: Option<String>,
}

/// `prompt.stage_configs`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageConfigs {
    #[serde(default)]
    pub defaults: Map<String, Value>,
    #[serde(default)]
    pub instances: Map<String, Value>,
}
