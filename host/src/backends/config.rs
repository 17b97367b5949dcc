//! `[backend.text]` and `[backend.image]`: what a backend is built from.

use serde::{Deserialize, Serialize};

/// Who answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// Deterministic answers, no network.
    Offline,
    /// An OpenAI-compatible HTTP API.
    Openai,
}

/// `[backend.text]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextBackendConfig {
    pub provider: Provider,
    pub model: String,
    pub base_url: String,
    /// The environment variable holding the API key (never the key itself).
    pub api_key_env: String,
    pub timeout_s: f64,
    pub max_retries: u32,
    /// Concurrent model calls across all workers of one process.
    pub max_concurrency: u32,
    /// Reasoning models may reject a non-default temperature.
    pub send_temperature: bool,
    /// Ask for `response_format: json_object` on JSON-shaped steps.
    pub json_mode: bool,
    #[serde(default)]
    pub reasoning_effort: Option<String>,
    /// Offline only: simulated latency per call.
    #[serde(default)]
    pub offline_latency_ms: u64,
}

/// `[backend.image]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageBackendConfig {
    pub provider: Provider,
    pub model: String,
    pub size: String,
    pub quality: String,
    /// Sent only when set.
    #[serde(default)]
    pub moderation: Option<String>,
    #[serde(default)]
    pub base_url: Option<String>,
    #[serde(default)]
    pub api_key_env: Option<String>,
    #[serde(default)]
    pub timeout_s: Option<f64>,
    #[serde(default)]
    pub max_retries: Option<u32>,
}
