//! Text and image providers: the only code that talks to a model. `offline` answers
//! deterministically (from seed, step path and prompt) so every experiment runs with no network;
//! `openai` speaks the OpenAI-compatible HTTP API.
//!
//! Backends know nothing of stages or transcripts: they take one call and return one reply.
//! Recording the call is the engine's job.

mod config;

pub use config::{ImageBackendConfig, Provider, TextBackendConfig};

use std::sync::Arc;

pub use plugin_api::ChatMessage;

/// The shape of the answer a chat step asks for. A request, not a gate: stages that parse the
/// answer check it themselves. The offline backend answers every shape with a conforming text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseShape {
    /// Free text (sentences, paragraphs).
    Text,
    /// Exactly one line; `format` names a known line format (e.g. `ab.final_prompt`) or `None`.
    Line { format: Option<&'static str> },
    /// One JSON object of the named schema (e.g. `ab.scene_spec`).
    Json { schema: &'static str },
}

/// One chat call.
#[derive(Debug, Clone)]
pub struct ChatCall<'a> {
    /// The step's path (`pipeline/ab.scene_draft/draft`): part of the offline backend's seed.
    pub step_path: &'a str,
    pub messages: &'a [ChatMessage],
    pub temperature: f64,
    /// A model other than the backend's default, when the step sets one.
    pub model: Option<&'a str>,
    pub shape: ResponseShape,
    /// The run seed.
    pub seed: u64,
}

/// A model's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatReply {
    pub text: String,
    /// `offline` or `openai`.
    pub provider: &'static str,
    /// The model that answered.
    pub model: String,
    /// HTTP attempts made (1 when the first one succeeded; always 1 offline).
    pub attempts: u32,
}

/// Generates text.
pub trait TextBackend: Send + Sync {
    fn chat(&self, call: &ChatCall<'_>) -> Result<ChatReply, BackendError>;
    /// `offline` or `openai`.
    fn provider(&self) -> &'static str;
    /// The default model.
    fn model(&self) -> &str;
}

/// One image call.
#[derive(Debug, Clone)]
pub struct ImageCall<'a> {
    pub prompt: &'a str,
    pub seed: u64,
}

/// A generated image, as PNG bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageReply {
    pub png: Vec<u8>,
    pub provider: &'static str,
    pub model: String,
}

/// Generates images.
pub trait ImageBackend: Send + Sync {
    fn generate(&self, call: &ImageCall<'_>) -> Result<ImageReply, BackendError>;
    fn provider(&self) -> &'static str;
    fn model(&self) -> &str;
}

/// Why a backend could not be built or a call failed.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("the environment variable `{var}` named by `{key}` is not set\n\nset it to your API key, or point `{key}` at another variable")]
    MissingKey { var: String, key: String },
    #[error("{0}")]
    Other(String),
}

/// Reads an environment variable (a parameter so tests need no process-wide env changes).
pub type EnvLookup<'a> = &'a (dyn Fn(&str) -> Option<String> + Sync);

/// Builds the text backend the config names. Fails before any call when a key is missing.
pub fn text_backend(config: &TextBackendConfig, env: EnvLookup<'_>) -> Result<Arc<dyn TextBackend>, BackendError> {
    let _ = (config, env);
    todo!("backends: text_backend")
}

/// Builds the image backend the config names (unset `base_url`, `api_key_env`, `timeout_s`,
/// `max_retries` default to the text backend's).
pub fn image_backend(
    config: &ImageBackendConfig,
    text: &TextBackendConfig,
    env: EnvLookup<'_>,
) -> Result<Arc<dyn ImageBackend>, BackendError> {
    let _ = (config, text, env);
    todo!("backends: image_backend")
}
