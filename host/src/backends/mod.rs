//! Text and image providers: the only code that talks to a model. `offline` answers
//! deterministically (from seed, step path and prompt) so every experiment runs with no network;
//! `openai` speaks the OpenAI-compatible HTTP API; `cache` keeps its successful answers (the
//! response cache), so a re-run of the same request, seed and step makes no HTTP call.
//!
//! Backends know nothing of stages or transcripts: they take one call and return one reply.
//! Recording the call is the engine's job. Nor do they own a log: when a backend changes how
//! fast it sends (a provider's 429s or rate-limit headers), it says so once through the
//! [`Notices`] it was built with, and whoever built it decides where the line goes.

mod answer;
mod cache;
mod endpoint;
mod limiter;
mod offline;
mod offline_image;
mod openai;
mod rate;
mod roles;
#[cfg(test)]
pub(crate) mod stub;
pub mod tokens;
mod usage;

pub use cache::{CacheError, CacheStats, CacheStatus, Pruned, ResponseCache};
pub use usage::{TokenUsage, COUNTED_BY_ENDPOINT};

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use endpoint::ApiRoot;
use offline::OfflineText;
use offline_image::OfflineImage;
use openai::{
    Backoff, ChatSettings, Client, ClientSettings, ImageSettings, OpenaiImage, OpenaiText,
};
use rate::RateLimits;

pub use plugin_api::ChatMessage;

use crate::config::{CacheSection, ImageBackendConfig, Provider, TextBackendConfig};

/// The shape of the answer a chat step asks for. A request, not a gate: stages that parse the
/// answer check it themselves. The offline backend answers every shape with a conforming text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseShape {
    /// Free text (sentences, paragraphs).
    Text,
    /// Exactly one line; `format` names a known line format (e.g. `ab.final_prompt`) or `None`.
    Line { format: Option<&'static str> },
    /// Several lines in the named format (e.g. `blackbox.hints`, a bullet list); the engine
    /// does not check the line count.
    Lines { format: &'static str },
    /// One JSON object of the named schema (e.g. `ab.scene_spec`).
    Json { schema: &'static str },
}

/// What a step's answer must carry, declared by the stage that builds the step (the values its
/// prompt shows the model). A real model reads them from the prompt; the offline backend answers
/// from them, so its answers do not depend on how a template words the prompt.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expect {
    /// The A/B token the answer must show (`ab.*` steps).
    pub ab_token: Option<String>,
    /// The ids the answer must use, in the order the prompt shows them: one for an idea card,
    /// every judged id for judge scores.
    pub ids: Vec<String>,
    /// The concept list a rewrite step asks about.
    pub concepts: Vec<String>,
}

/// One chat call.
#[derive(Debug, Clone)]
pub struct ChatCall<'a> {
    /// The run making the call, for the lines a backend logs about it (retries); never sent.
    pub generation_id: &'a str,
    /// The step's path (`pipeline/ab.scene_draft/draft`): part of the offline backend's seed.
    pub step_path: &'a str,
    pub messages: &'a [ChatMessage],
    pub temperature: f64,
    /// A model other than the backend's default, when the step sets one.
    pub model: Option<&'a str>,
    pub shape: ResponseShape,
    /// What the answer must carry (see [`Expect`]); never sent.
    pub expect: &'a Expect,
    /// The run seed.
    pub seed: u64,
    /// The step's own completion-token limit (its `max_completion_tokens` param), over the
    /// backend's `max_completion_tokens`.
    pub max_completion_tokens: Option<u64>,
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
    /// What the server said beyond the text, for the transcript (`None` offline).
    pub details: Option<ReplyDetails>,
    /// The call's tokens: the answer's `usage`, or counted offline; `None` when an HTTP answer
    /// carried no `usage` (some local servers send none).
    pub usage: Option<TokenUsage>,
    /// What the response cache did; `None` when the call does not go through one (offline,
    /// or `cache.mode = "off"`).
    pub cache: Option<CacheStatus>,
}

/// What an HTTP answer carried beside the text the stage parses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplyDetails {
    /// `choices[0].finish_reason`.
    pub finish_reason: Option<String>,
    /// The answer's `model` (the server's name for what answered; may differ from the request).
    pub model: Option<String>,
    /// `reasoning_content`/`reasoning` and the `<think>` blocks cut from the content.
    pub reasoning: Option<String>,
    /// The messages as sent, when the backend normalised them (`alternate_roles`).
    pub sent_messages: Option<Vec<ChatMessage>>,
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
    /// The run making the call, for the lines a backend logs about it (retries); never sent.
    pub generation_id: &'a str,
    pub prompt: &'a str,
    pub seed: u64,
}

/// A generated image, as PNG bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageReply {
    pub png: Vec<u8>,
    pub provider: &'static str,
    pub model: String,
    /// The images API's `usage` object as it came (GPT Image models send token counts), for the
    /// transcript; `None` offline or when absent. Images are priced per image, not by it.
    pub usage: Option<serde_json::Value>,
    /// What the response cache did; `None` when the call does not go through one.
    pub cache: Option<CacheStatus>,
}

/// Generates images.
pub trait ImageBackend: Send + Sync {
    fn generate(&self, call: &ImageCall<'_>) -> Result<ImageReply, BackendError>;
    fn provider(&self) -> &'static str;
    fn model(&self) -> &str;
}

/// Why a backend could not be built or a call failed. The engine adds which step failed;
/// these say what was asked of whom and what came back.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The key variable is not set (or empty); raised when the backend is built, before any call.
    #[error("the environment variable `{var}` named by `{key}` is not set\n\nset it to your API key, or point `{key}` at another variable")]
    MissingKey { var: String, key: String },
    /// A backend setting that cannot work (`key` is its dotted config key).
    #[error("invalid `{key}`: {message}")]
    Config { key: String, message: String },
    /// The server answered with an HTTP error (after retries when it was a 429 or 5xx).
    #[error("`POST {url}` answered HTTP {status} after {}: {message}", attempts_text(.attempts))]
    Status {
        url: String,
        status: u16,
        message: String,
        attempts: u32,
    },
    /// No answer: timed out, could not connect, ... (after retries).
    #[error("`POST {url}` failed after {}: {reason}", attempts_text(.attempts))]
    Transport {
        url: String,
        attempts: u32,
        /// `timed out after <n> s`, `could not connect`, ...
        reason: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A successful status with a body that is not the expected answer.
    #[error("malformed answer from `POST {url}` (HTTP {status}): {detail}")]
    Malformed {
        url: String,
        status: u16,
        detail: String,
        attempts: u32,
    },
    /// `finish_reason: "length"`: the answer was cut. `tokens` is `usage.completion_tokens`,
    /// else the limit sent, else unknown.
    #[error("answer truncated at {} from `POST {url}`; raise `backend.text.max_completion_tokens` or the step's `params.max_completion_tokens`", tokens_text(.tokens))]
    Truncated {
        url: String,
        tokens: Option<u64>,
        attempts: u32,
    },
    /// The offline image could not be encoded.
    #[error("could not encode the offline image as PNG")]
    Png(#[source] png::EncodingError),
    /// The response cache could not be read or written.
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error("{0}")]
    Other(String),
}

impl BackendError {
    /// The HTTP status the server answered, when it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            BackendError::Status { status, .. } | BackendError::Malformed { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }

    /// The HTTP attempts made, for errors of a call that reached the network.
    pub fn attempts(&self) -> Option<u32> {
        match self {
            BackendError::Status { attempts, .. }
            | BackendError::Truncated { attempts, .. }
            | BackendError::Transport { attempts, .. }
            | BackendError::Malformed { attempts, .. } => Some(*attempts),
            _ => None,
        }
    }
}

/// `1 attempt`, `3 attempts`.
fn attempts_text(attempts: &u32) -> String {
    if *attempts == 1 {
        "1 attempt".to_string()
    } else {
        format!("{attempts} attempts")
    }
}

/// `512 tokens`, or the server's limit when the count is unknown.
fn tokens_text(tokens: &Option<u64>) -> String {
    match tokens {
        Some(n) => format!("{n} tokens"),
        None => {
            "the server's token limit (no `usage.completion_tokens` and no limit sent)".to_string()
        }
    }
}

/// Reads an environment variable (a parameter so tests need no process-wide env changes).
pub type EnvLookup<'a> = &'a (dyn Fn(&str) -> Option<String> + Sync);

/// Where a backend reports each change it makes to its send rate (the concurrency lowered after
/// a 429 and restored, a pause the provider asked for: one line per change, never one per call)
/// and each retry (one line per retried attempt: the run and step, the attempt, why it failed,
/// the wait). Lines are complete sentences naming the backend (`text` or `image`) and the API
/// root, and never hold a key. The default sends them nowhere.
///
/// The sink is called from whichever worker thread saw the answer, so it must be cheap and
/// thread-safe (appending a line to a log is).
#[derive(Clone, Default)]
pub struct Notices {
    sink: Option<NoticeSink>,
}

/// The function a [`Notices`] sends each line to.
pub type NoticeSink = Arc<dyn Fn(&str) + Send + Sync>;

impl Notices {
    /// Notices that go to `sink`.
    pub fn new(sink: impl Fn(&str) + Send + Sync + 'static) -> Notices {
        Notices {
            sink: Some(Arc::new(sink)),
        }
    }

    /// Notices that go nowhere (the default).
    pub fn none() -> Notices {
        Notices::default()
    }

    pub(crate) fn send(&self, line: &str) {
        if let Some(sink) = &self.sink {
            sink(line);
        }
    }
}

impl std::fmt::Debug for Notices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.sink.is_some() {
            "Notices(sink)"
        } else {
            "Notices(none)"
        })
    }
}

/// Builds the text backend the config names. Fails before any call when a setting cannot work
/// or the key is missing. Rate adjustments are not reported ([`text_backend_with_notices`]).
pub fn text_backend(
    config: &TextBackendConfig,
    env: EnvLookup<'_>,
) -> Result<Arc<dyn TextBackend>, BackendError> {
    text_backend_with_notices(config, env, Notices::none(), None)
}

/// [`text_backend`], reporting rate adjustments to `notices`; with `cache` (the `[cache]`
/// section and the directory its path is relative to) an `openai` backend answers from the
/// response cache. The cache is opened only once every other setting and the key passed, so a
/// command refused for a missing key writes nothing.
pub fn text_backend_with_notices(
    config: &TextBackendConfig,
    env: EnvLookup<'_>,
    notices: Notices,
    cache: Option<(&CacheSection, &Path)>,
) -> Result<Arc<dyn TextBackend>, BackendError> {
    build_cached_text(config, env, Backoff::DEFAULT, notices, cache)
}

/// Builds the image backend the config names (unset `base_url`, `api_key_env`, `timeout_s`,
/// `max_retries` default to the text backend's, an unset `base_url` meaning all of the text
/// backend's roots; so does the concurrency bound, which the image backend keeps apart from the
/// text backend's). Rate adjustments are not reported ([`image_backend_with_notices`]).
pub fn image_backend(
    config: &ImageBackendConfig,
    text: &TextBackendConfig,
    env: EnvLookup<'_>,
) -> Result<Arc<dyn ImageBackend>, BackendError> {
    image_backend_with_notices(config, text, env, Notices::none(), None)
}

/// [`image_backend`], reporting rate adjustments to `notices`; with `cache` an `openai`
/// backend answers from the response cache, opened after the key check as for text.
pub fn image_backend_with_notices(
    config: &ImageBackendConfig,
    text: &TextBackendConfig,
    env: EnvLookup<'_>,
    notices: Notices,
    cache: Option<(&CacheSection, &Path)>,
) -> Result<Arc<dyn ImageBackend>, BackendError> {
    build_cached_image(config, text, env, Backoff::DEFAULT, notices, cache)
}

/// [`build_cached_text`] without a cache.
#[cfg(test)]
pub(crate) fn build_text(
    config: &TextBackendConfig,
    env: EnvLookup<'_>,
    backoff: Backoff,
    notices: Notices,
) -> Result<Arc<dyn TextBackend>, BackendError> {
    build_cached_text(config, env, backoff, notices, None)
}

/// [`text_backend_with_notices`] with the retry backoff as a parameter (tests keep it short).
pub(crate) fn build_cached_text(
    config: &TextBackendConfig,
    env: EnvLookup<'_>,
    backoff: Backoff,
    notices: Notices,
    cache: Option<(&CacheSection, &Path)>,
) -> Result<Arc<dyn TextBackend>, BackendError> {
    let max_concurrency = check_concurrency(config.max_concurrency)?;
    match config.provider {
        Provider::Offline => Ok(Arc::new(OfflineText::new(
            &config.model,
            Duration::from_millis(config.offline_latency_ms),
            max_concurrency,
        ))),
        Provider::Openai => {
            let client = Client::new(ClientSettings {
                roots: text_roots(config)?,
                timeout_s: check_timeout(config.timeout_s, "backend.text.timeout_s")?,
                max_retries: config.max_retries,
                max_concurrency,
                backoff,
                key: read_key(env, &config.api_key_env, "backend.text.api_key_env")?,
                limits: RateLimits {
                    requests_per_minute: config.requests_per_minute,
                    tokens_per_minute: config.tokens_per_minute,
                },
                kind: "text",
                notices,
            });
            // Offline answers are deterministic already: only HTTP answers are cached.
            let cache = match cache {
                Some((section, cwd)) => ResponseCache::open(section, cwd)?.map(Arc::new),
                None => None,
            };
            Ok(Arc::new(OpenaiText::new(
                client,
                ChatSettings {
                    model: config.model.clone(),
                    send_temperature: config.send_temperature,
                    json_mode: config.json_mode,
                    reasoning_effort: config.reasoning_effort.clone(),
                    max_completion_tokens: config.max_completion_tokens,
                    alternate_roles: config.alternate_roles,
                },
                cache,
            )))
        }
    }
}

/// [`build_cached_image`] without a cache.
#[cfg(test)]
pub(crate) fn build_image(
    config: &ImageBackendConfig,
    text: &TextBackendConfig,
    env: EnvLookup<'_>,
    backoff: Backoff,
    notices: Notices,
) -> Result<Arc<dyn ImageBackend>, BackendError> {
    build_cached_image(config, text, env, backoff, notices, None)
}

/// [`image_backend_with_notices`] with the retry backoff as a parameter (tests keep it short).
pub(crate) fn build_cached_image(
    config: &ImageBackendConfig,
    text: &TextBackendConfig,
    env: EnvLookup<'_>,
    backoff: Backoff,
    notices: Notices,
    cache: Option<(&CacheSection, &Path)>,
) -> Result<Arc<dyn ImageBackend>, BackendError> {
    match config.provider {
        Provider::Offline => {
            let (width, height) = offline_image::parse_size(&config.size, "backend.image.size")?;
            Ok(Arc::new(OfflineImage::new(&config.model, width, height)))
        }
        Provider::Openai => {
            // Each inherited setting is named by the key it came from.
            let roots = match &config.base_url {
                Some(url) => vec![ApiRoot::parse(url, "backend.image.base_url")?],
                None => text_roots(text)?,
            };
            let (timeout_s, timeout_key) = match config.timeout_s {
                Some(t) => (t, "backend.image.timeout_s"),
                None => (text.timeout_s, "backend.text.timeout_s"),
            };
            let (key_env, key_env_key) = match &config.api_key_env {
                Some(var) => (var.as_str(), "backend.image.api_key_env"),
                None => (text.api_key_env.as_str(), "backend.text.api_key_env"),
            };
            let client = Client::new(ClientSettings {
                roots,
                timeout_s: check_timeout(timeout_s, timeout_key)?,
                max_retries: config.max_retries.unwrap_or(text.max_retries),
                max_concurrency: check_concurrency(text.max_concurrency)?,
                backoff,
                key: read_key(env, key_env, key_env_key)?,
                limits: RateLimits {
                    requests_per_minute: config.images_per_minute,
                    tokens_per_minute: None,
                },
                kind: "image",
                notices,
            });
            let cache = match cache {
                Some((section, cwd)) => ResponseCache::open(section, cwd)?.map(Arc::new),
                None => None,
            };
            Ok(Arc::new(OpenaiImage::new(
                client,
                ImageSettings {
                    model: config.model.clone(),
                    size: config.size.clone(),
                    quality: config.quality.clone(),
                    moderation: config.moderation.clone(),
                    response_format: config.response_format.clone(),
                },
                cache,
            )))
        }
    }
}

/// The key from the variable `var` (which the setting `key` names).
fn read_key(env: EnvLookup<'_>, var: &str, key: &str) -> Result<String, BackendError> {
    if var.trim().is_empty() {
        return Err(BackendError::Config {
            key: key.to_string(),
            message: "the variable name is empty\n\nname the environment variable that holds the API key, e.g. `OPENAI_API_KEY`".to_string(),
        });
    }
    let value = env(var).map(|v| v.trim().to_string()).unwrap_or_default();
    if value.is_empty() {
        return Err(BackendError::MissingKey {
            var: var.to_string(),
            key: key.to_string(),
        });
    }
    // The key goes into a header; a value that cannot would make the HTTP client quote it in
    // an error. The message never shows the value.
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(BackendError::Config {
            key: key.to_string(),
            message: format!(
                "the value of `{var}` is not a usable API key (it holds spaces, control or non-ASCII characters)"
            ),
        });
    }
    Ok(value)
}

/// The checked API roots of the text backend (`base_urls`, else `base_url`, else the default).
fn text_roots(config: &TextBackendConfig) -> Result<Vec<ApiRoot>, BackendError> {
    let roots = config.api_roots().map_err(|message| BackendError::Config {
        key: "backend.text".to_string(),
        message,
    })?;
    roots
        .iter()
        .map(|(url, key)| ApiRoot::parse(url, key))
        .collect()
}

/// Timeouts above a day are taken as a mistake (and keep `Duration` arithmetic far from overflow).
fn check_timeout(timeout_s: f64, key: &str) -> Result<f64, BackendError> {
    if timeout_s.is_finite() && timeout_s > 0.0 && timeout_s <= 86_400.0 {
        Ok(timeout_s)
    } else {
        Err(BackendError::Config {
            key: key.to_string(),
            message: format!("{timeout_s} is not a number of seconds in (0, 86400]"),
        })
    }
}

fn check_concurrency(max_concurrency: u32) -> Result<usize, BackendError> {
    if max_concurrency == 0 {
        return Err(BackendError::Config {
            key: "backend.text.max_concurrency".to_string(),
            message: "0 would let no call run\n\nset it to 1 or more".to_string(),
        });
    }
    Ok(usize::try_from(max_concurrency).unwrap_or(usize::MAX))
}
