//! The token usage of one chat call ([`TokenUsage`]), as the answer reported it or as the offline
//! backend counted it (`tokens`). Adding calls up and costing them is `cost`'s business.

use serde::Serialize;

/// The tokens of one chat call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TokenUsage {
    /// `usage.prompt_tokens` (cached ones included).
    pub input_tokens: u64,
    /// `usage.prompt_tokens_details.cached_tokens`, 0 when absent.
    pub cached_input_tokens: u64,
    /// `usage.completion_tokens` (reasoning ones included).
    pub output_tokens: u64,
    /// `usage.completion_tokens_details.reasoning_tokens`, 0 when absent.
    pub reasoning_tokens: u64,
    /// `endpoint` when the answer carried the counts, else the vocabulary they were counted
    /// with (`o200k_base`, `cl100k_base`).
    pub counted_by: &'static str,
}

/// `counted_by` of counts the endpoint sent.
pub const COUNTED_BY_ENDPOINT: &str = "endpoint";
