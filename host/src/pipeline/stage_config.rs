//! Stage-owned config: the typed getters every stage reads its knobs through, recording what was
//! read (defaults included) so unknown keys fail at compile time, before any model call.
//! Reference: python-pipeline.md §1.5.

use serde_json::{Map, Value};

/// A stage's merged config (`defaults[kind]` then `instances[id]`) under a dotted path.
#[derive(Debug, Clone)]
pub struct StageConfig {
    path: String,
    data: Map<String, Value>,
}

/// A knob with the wrong type or value, or keys no getter read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StageConfigError {
    pub message: String,
}

impl StageConfig {
    /// The config at `path` (e.g. `prompt.stage_configs.resolved."ab.scene_draft"`).
    pub fn new(path: &str, data: Map<String, Value>) -> StageConfig {
        StageConfig { path: path.to_owned(), data }
    }
}
