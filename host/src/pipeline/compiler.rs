//! Compiles a config's plan into one step tree, before any model call: plan resolution, the stage
//! registry with suffix ids, include/exclude/overrides, stage configs with unknown keys refused,
//! IO checks, capture keys and the capture stage. Reference: python-pipeline.md §1.3–1.5.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::node::Block;

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

/// What the compiler needs besides the registry.
#[derive(Debug, Clone)]
pub struct PipelineInputs<'a> {
    /// `prompt.plan`.
    pub plan: &'a str,
    pub stages: &'a StagesConfig,
    pub output: &'a OutputConfig,
    pub stage_configs: &'a StageConfigs,
    /// The run seed (stages may derive generators from it at build time).
    pub seed: u64,
    /// Output keys that exist before the first stage runs.
    pub initial_outputs: Vec<String>,
}

/// A compiled plan.
#[derive(Clone)]
pub struct CompiledPipeline {
    /// The root block, named `pipeline`.
    pub root: Block,
    /// Instance ids in execution order.
    pub resolved_stages: Vec<String>,
    /// The stage whose last answer becomes `image_prompt`.
    pub capture_stage: String,
    /// `prompt_pipeline` for transcripts, plans and the runs index.
    pub metadata: Value,
}

/// Why a plan does not compile. Messages name the config key and the stage.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CompileError {
    pub message: String,
}

/// Compiles `inputs` against `registry`.
pub fn compile(
    inputs: &PipelineInputs<'_>,
    registry: &crate::stages::Registry,
) -> Result<CompiledPipeline, CompileError> {
    let _ = (inputs, registry);
    todo!("compiler")
}
