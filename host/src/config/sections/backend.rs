//! `[backend.text]` and `[backend.image]`: what a backend is built from, and the value rules the
//! config schema applies to them when config loads (the schema deserializes these types
//! directly, so a rule written here is checked before any plan is written).
//!
//! The rules that guard secrets: `api_key_env` must be a variable *name* (a pasted key is refused
//! without being echoed), and a `base_url` never carries a credential ([`check_credentials`]).
//! Building and calling the backends is `backends`' business.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};

use super::credentials::{check_credentials, DEFAULT_BASE_URL};

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
    /// The API root; with neither this nor `base_urls`, [`DEFAULT_BASE_URL`].
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "some_base_url"
    )]
    pub base_url: Option<String>,
    /// Several identical API roots to spread calls over (instead of `base_url`), each with its
    /// own `max_concurrency`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "base_urls"
    )]
    pub base_urls: Option<Vec<String>>,
    /// The environment variable holding the API key (never the key itself).
    #[serde(deserialize_with = "env_var_name")]
    pub api_key_env: String,
    pub timeout_s: f64,
    pub max_retries: u32,
    /// Concurrent model calls across all workers of one process (per endpoint with `base_urls`).
    pub max_concurrency: u32,
    /// Requests sent per minute at most, spaced evenly; shared by every worker of the backend.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "per_minute"
    )]
    pub requests_per_minute: Option<u32>,
    /// Estimated tokens (prompt characters / 4 plus a completion allowance) per minute at most.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "per_minute"
    )]
    pub tokens_per_minute: Option<u32>,
    /// Whether requests carry the step's temperature. Unset: yes, unless `reasoning_effort` is
    /// set (reasoning models may reject a non-default temperature); `true` sends it anyway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_temperature: Option<bool>,
    /// Ask for `response_format: json_object` on JSON-shaped steps.
    pub json_mode: bool,
    #[serde(default)]
    pub reasoning_effort: Option<String>,
    /// Sent as `max_completion_tokens` when set; an answer cut at the limit is a step error.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "token_limit"
    )]
    pub max_completion_tokens: Option<u64>,
    /// Normalise each request to an optional system message, then strictly alternating
    /// user/assistant turns (for servers whose chat templates insist, e.g. llama.cpp, vLLM
    /// with some models).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub alternate_roles: bool,
    /// Offline only: simulated latency per call.
    #[serde(default)]
    pub offline_latency_ms: u64,
    /// A typical latency of one call to the real endpoint, for the wall time `--estimate`
    /// predicts (it never delays anything).
    #[serde(default = "default_text_latency_hint_ms")]
    pub latency_hint_ms: u64,
}

/// `backend.text.latency_hint_ms` when unset: a few hundred output tokens from a hosted model.
pub const DEFAULT_TEXT_LATENCY_HINT_MS: u64 = 4_000;
/// `backend.image.latency_hint_ms` when unset: one large high-quality image.
pub const DEFAULT_IMAGE_LATENCY_HINT_MS: u64 = 40_000;

fn default_text_latency_hint_ms() -> u64 {
    DEFAULT_TEXT_LATENCY_HINT_MS
}

fn default_image_latency_hint_ms() -> u64 {
    DEFAULT_IMAGE_LATENCY_HINT_MS
}

impl TextBackendConfig {
    /// The API roots as configured, with the key each came from: `base_urls` (indexed), else
    /// `base_url`, else [`DEFAULT_BASE_URL`]. Both set is an error naming the two keys (the
    /// schema refuses it at load time; this covers callers that build the struct themselves).
    pub fn api_roots(&self) -> Result<Vec<(String, String)>, String> {
        match (&self.base_url, &self.base_urls) {
            (Some(_), Some(_)) => Err(BOTH_BASE_URLS.to_string()),
            (Some(url), None) => Ok(vec![(url.clone(), "backend.text.base_url".to_string())]),
            (None, Some(urls)) => Ok(urls
                .iter()
                .enumerate()
                .map(|(i, url)| (url.clone(), format!("backend.text.base_urls[{i}]")))
                .collect()),
            (None, None) => Ok(vec![(
                DEFAULT_BASE_URL.to_string(),
                "backend.text.base_url".to_string(),
            )]),
        }
    }
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
    /// `b64_json` or `url`, sent only when set (gpt-image models refuse the parameter and always
    /// answer `b64_json`, which is what an unset key expects). A `url` answer is fetched from the
    /// answering host only.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "image_response_format"
    )]
    pub response_format: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "some_base_url"
    )]
    pub base_url: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "some_env_var_name"
    )]
    pub api_key_env: Option<String>,
    #[serde(default)]
    pub timeout_s: Option<f64>,
    #[serde(default)]
    pub max_retries: Option<u32>,
    /// Image requests per minute at most, spaced evenly.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "per_minute"
    )]
    pub images_per_minute: Option<u32>,
    /// A typical latency of one image call, for the wall time `--estimate` predicts.
    #[serde(default = "default_image_latency_hint_ms")]
    pub latency_hint_ms: u64,
}

/// `b64_json` or `url`.
fn image_response_format<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    let value = String::deserialize(deserializer)?;
    match value.as_str() {
        "b64_json" | "url" => Ok(Some(value)),
        other => Err(D::Error::custom(format!(
            "`{other}` is not a response format (expected `b64_json` or `url`)"
        ))),
    }
}

/// The message for `base_url` and `base_urls` both set (a predicate on `backend.text`).
const BOTH_BASE_URLS: &str = "must set `base_url` or `base_urls`, not both\n\n\
     `base_url` is one API root; `base_urls` lists several identical ones to spread calls over";

/// The longest variable name taken as one (a longer value is more likely a pasted key).
const MAX_ENV_VAR_NAME: usize = 100;

/// `[backend.text]` with the checks that span keys (the schema's `backend.text` field uses it).
fn text_backend_section<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<TextBackendConfig, D::Error> {
    let config = TextBackendConfig::deserialize(deserializer)?;
    if config.base_url.is_some() && config.base_urls.is_some() {
        return Err(D::Error::custom(BOTH_BASE_URLS));
    }
    Ok(config)
}

/// Whether `name` can be an environment variable's name, as config means it: `[A-Za-z_]
/// [A-Za-z0-9_]*`, at most [`MAX_ENV_VAR_NAME`] characters, and not shaped like a key (a long run
/// of letters and digits with no `_`: names are words joined by `_`, keys are random).
pub(crate) fn check_env_var_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let well_formed = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= MAX_ENV_VAR_NAME;
    let key_like = name.len() >= 24
        && !name.contains('_')
        && name.chars().any(|c| c.is_ascii_digit())
        && name.chars().any(|c| c.is_ascii_alphabetic());
    if name.is_empty() {
        return Err(
            "must not be empty\n\nname the environment variable that holds the API \
                    key, e.g. `\"OPENAI_API_KEY\"`"
                .to_string(),
        );
    }
    if !well_formed || key_like {
        // The value is deliberately not shown: it may be the key itself.
        return Err(format!(
            "must be the name of an environment variable (letters, digits and `_`, not starting \
             with a digit, at most {MAX_ENV_VAR_NAME} characters), and the value given is not \
             one (it is not shown, in case it is a key)\n\n\
             put the key in an environment variable and name that variable here, e.g. \
             `api_key_env = \"OPENAI_API_KEY\"`; if a real key was written here, treat it as exposed"
        ));
    }
    Ok(())
}

fn env_var_name<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let name = String::deserialize(deserializer)?;
    check_env_var_name(&name).map_err(D::Error::custom)?;
    Ok(name)
}

fn some_env_var_name<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    env_var_name(deserializer).map(Some)
}

/// A `base_url` as config allows it: non-empty and free of credentials. The scheme is checked
/// when an `openai` backend is built (an offline backend never reads it).
struct BaseUrl(String);

impl<'de> Deserialize<'de> for BaseUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let url = String::deserialize(deserializer)?;
        if url.trim().is_empty() {
            return Err(D::Error::custom(format!(
                "must not be empty\n\ne.g. `\"{DEFAULT_BASE_URL}\"`"
            )));
        }
        check_credentials(&url).map_err(D::Error::custom)?;
        Ok(BaseUrl(url))
    }
}

fn some_base_url<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    BaseUrl::deserialize(deserializer).map(|url| Some(url.0))
}

/// A non-empty list of distinct roots (an error inside names the index).
fn base_urls<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Vec<String>>, D::Error> {
    let urls: Vec<String> = Vec::<BaseUrl>::deserialize(deserializer)?
        .into_iter()
        .map(|url| url.0)
        .collect();
    if urls.is_empty() {
        return Err(D::Error::custom(
            "must list at least one API root\n\nfor a single root, set `base_url` instead",
        ));
    }
    let normalised = |url: &str| url.trim().trim_end_matches('/').to_string();
    for (index, url) in urls.iter().enumerate() {
        if urls[..index]
            .iter()
            .any(|earlier| normalised(earlier) == normalised(url))
        {
            return Err(D::Error::custom(format!(
                "must not list an API root twice\n\nentry {index} repeats an earlier one"
            )));
        }
    }
    Ok(Some(urls))
}

/// A per-minute limit: at least 1 (0 would let nothing through; leave the key out for no limit).
fn per_minute<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u32>, D::Error> {
    let limit = u32::deserialize(deserializer)?;
    if limit == 0 {
        return Err(D::Error::custom(
            "must be at least 1\n\n0 would let nothing through; leave the key out for no limit",
        ));
    }
    Ok(Some(limit))
}

/// A completion-token limit: 1 or more.
fn token_limit<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    let limit = u64::deserialize(deserializer)?;
    if limit == 0 {
        return Err(D::Error::custom(
            "must be at least 1\n\n0 would allow no answer; leave the key out for the server's limit",
        ));
    }
    Ok(Some(limit))
}

/// `[backend]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendSection {
    /// `[backend.text]` (its cross-key checks, such as `base_url` against `base_urls`, run here).
    #[serde(deserialize_with = "text_backend_section")]
    pub text: TextBackendConfig,
    /// `[backend.image]`.
    pub image: ImageBackendConfig,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_keys_check_their_values() {
        let base = serde_json::json!({
            "provider": "openai", "model": "m", "api_key_env": "K", "timeout_s": 1,
            "max_retries": 0, "max_concurrency": 1, "json_mode": true,
        });
        let text = |key: &str, value: serde_json::Value| {
            let mut json = base.clone();
            json[key] = value;
            serde_json::from_value::<TextBackendConfig>(json).map_err(|e| e.to_string())
        };
        let config = text("max_completion_tokens", serde_json::json!(512)).unwrap();
        assert_eq!(
            (
                config.max_completion_tokens,
                config.send_temperature,
                config.alternate_roles
            ),
            (Some(512), None, false)
        );
        let zero = text("max_completion_tokens", serde_json::json!(0)).unwrap_err();
        assert!(zero.starts_with("must be at least 1"), "{zero}");
        assert!(
            text("alternate_roles", serde_json::json!(true))
                .unwrap()
                .alternate_roles
        );

        let image = |format: &str| {
            serde_json::from_value::<ImageBackendConfig>(serde_json::json!({
                "provider": "openai", "model": "m", "size": "1x1", "quality": "high",
                "response_format": format,
            }))
            .map_err(|e| e.to_string())
        };
        assert_eq!(
            image("url").unwrap().response_format.as_deref(),
            Some("url")
        );
        let bad = image("png").unwrap_err();
        assert!(bad.contains("`png` is not a response format"), "{bad}");
    }

    #[test]
    fn variable_names_pass_and_keys_do_not() {
        for name in [
            "OPENAI_API_KEY",
            "_K",
            "a",
            "Azure_Key_2",
            "MY_VERY_LONG_PROVIDER_API_KEY_NAME",
        ] {
            assert_eq!(check_env_var_name(name), Ok(()), "{name}");
        }
        let long = "A".repeat(MAX_ENV_VAR_NAME + 1);
        for value in [
            "sk-proj-abcDEF0123456789",
            "sk-abc",
            "2KEY",
            "OPENAI API KEY",
            "Bearer sk",
            "a1b2c3d4e5f60718293a4b5c6d7e8f90",
            long.as_str(),
        ] {
            let message = check_env_var_name(value).unwrap_err();
            assert!(
                message.starts_with("must be the name of an environment variable"),
                "{message}"
            );
            assert!(!message.contains(value), "{message}");
        }
        assert!(check_env_var_name("")
            .unwrap_err()
            .starts_with("must not be empty"));
    }

    #[test]
    fn api_roots_default_and_refuse_both() {
        let json = serde_json::json!({
            "provider": "openai", "model": "m", "api_key_env": "K", "timeout_s": 1,
            "max_retries": 0, "max_concurrency": 1, "send_temperature": true, "json_mode": true,
        });
        let mut config: TextBackendConfig = serde_json::from_value(json).unwrap();
        assert_eq!(
            config.api_roots(),
            Ok(vec![(
                DEFAULT_BASE_URL.to_string(),
                "backend.text.base_url".to_string()
            )])
        );
        config.base_urls = Some(vec!["http://a/v1".into(), "http://b/v1".into()]);
        assert_eq!(
            config.api_roots().unwrap()[1],
            (
                "http://b/v1".to_string(),
                "backend.text.base_urls[1]".to_string()
            )
        );
        config.base_url = Some("http://c/v1".into());
        assert!(config
            .api_roots()
            .unwrap_err()
            .contains("`base_url` or `base_urls`"));
    }
}
