//! Executes a step tree: one conversation copied into each block, merged back by each child's
//! merge mode ("always copy, single merge point"), every step recorded in the transcript, capture
//! keys stored in the run's outputs. Reference: python-pipeline.md §1.1–1.2.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::backends::{ChatMessage, TextBackend};

use super::node::Block;

/// The state of one run while its pipeline executes.
#[derive(Debug, Clone, Default)]
pub struct RunState {
    pub generation_id: String,
    pub seed: u64,
    /// Captured values by key (`ab_random_token`, `image_prompt`, ...).
    pub outputs: Map<String, Value>,
    /// Every executed step, in order.
    pub steps: Vec<StepRecord>,
}

impl RunState {
    /// An output a stage needs, as text; a clear error when an earlier stage did not produce it.
    pub fn output_text(&self, key: &str) -> Result<&str, String> {
        match self.outputs.get(key) {
            Some(Value::String(text)) => Ok(text),
            Some(_) => Err(format!("output `{key}` is not text")),
            None => Err(format!("missing required output `{key}`")),
        }
    }
}

/// One transcript record.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StepRecord {
    Chat {
        name: String,
        path: String,
        prompt: String,
        response: String,
        /// `temperature`, step params, `model` (and `base_model` when the step chose another).
        params: Map<String, Value>,
        prompt_chars: usize,
        response_chars: usize,
        context_chars: usize,
        input_chars: usize,
        context_messages: usize,
        input_messages: usize,
        /// `offline` or `openai`.
        provider: String,
        attempts: u32,
        created_at: String,
        meta: Map<String, Value>,
    },
    Action {
        name: String,
        path: String,
        created_at: String,
        meta: Map<String, Value>,
        result: Value,
    },
}

/// A step failed; the path names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("step `{path}` failed: {message}")]
pub struct EngineError {
    pub path: String,
    pub message: String,
}

/// Executes `root` (named `pipeline`) starting from `[system]`. `log` receives one line per
/// step event for the run's oplog.
pub fn execute(
    root: &Block,
    state: &mut RunState,
    backend: &dyn TextBackend,
    system_prompt: &str,
    log: &(dyn Fn(&str) + Sync),
) -> Result<(), EngineError> {
    let _ = (root, state, backend, system_prompt, log, ChatMessage { role: String::new(), content: String::new() });
    todo!("engine")
}
