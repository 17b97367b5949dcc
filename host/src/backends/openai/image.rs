//! The openai image backend: the `images/generations` request body, the response cache around
//! it, and the PNG read from the answer (`b64_json`, or a `url` the [`Client`] fetches). Sending,
//! retries and pacing are the client's.

use std::sync::Arc;

use base64::Engine as _;
use serde_json::{json, Value};

use super::{Client, IMAGES_PATH, IMAGE_STEP, PROVIDER};
use crate::backends::cache::request_key;
use crate::backends::cache::{CacheStatus, ResponseCache};
use crate::backends::offline_image::is_png;
use crate::backends::{BackendError, ImageBackend, ImageCall, ImageReply};

/// The openai image backend.
#[derive(Debug)]
pub(crate) struct OpenaiImage {
    client: Client,
    settings: ImageSettings,
    /// Images already paid for; `None` with `cache.mode = "off"`.
    cache: Option<Arc<ResponseCache>>,
}

/// The image-specific settings of [`OpenaiImage`].
#[derive(Debug, Clone)]
pub(crate) struct ImageSettings {
    pub(crate) model: String,
    pub(crate) size: String,
    pub(crate) quality: String,
    pub(crate) moderation: Option<String>,
    /// Sent when set (`b64_json` or `url`); unset, nothing is sent and `b64_json` is expected.
    pub(crate) response_format: Option<String>,
}

impl OpenaiImage {
    pub(crate) fn new(
        client: Client,
        settings: ImageSettings,
        cache: Option<Arc<ResponseCache>>,
    ) -> Self {
        OpenaiImage {
            client,
            settings,
            cache,
        }
    }
}

impl ImageBackend for OpenaiImage {
    fn generate(&self, call: &ImageCall<'_>) -> Result<ImageReply, BackendError> {
        let s = &self.settings;
        let mut body = json!({
            "model": s.model,
            "prompt": call.prompt,
            "size": s.size,
            "quality": s.quality,
            "n": 1,
        });
        if let Some(moderation) = &s.moderation {
            body["moderation"] = json!(moderation);
        }
        if let Some(format) = &s.response_format {
            body["response_format"] = json!(format);
        }
        // The key covers the body as sent; the step of a run's image is `image`.
        let cached = match &self.cache {
            Some(cache) => {
                let key = request_key(IMAGES_PATH, &body, call.seed, IMAGE_STEP);
                match cache.lookup(&key)? {
                    Ok(stored) => {
                        let (png, usage) = cache.load_image(&key, &stored)?;
                        return Ok(ImageReply {
                            png,
                            provider: PROVIDER,
                            model: s.model.clone(),
                            usage,
                            cache: Some(CacheStatus::Hit),
                        });
                    }
                    Err(status) => Some((cache, key, status)),
                }
            }
            None => None,
        };
        // One image per request; `images_per_minute` paces requests, so the token count is moot.
        let request = format!("run `{}` image", call.generation_id);
        let answer = self.client.post_json(IMAGES_PATH, &body, 0, &request)?;
        let malformed = |detail: String| {
            self.client
                .malformed(&answer.url, answer.status, answer.attempts, detail)
        };
        let png = match (
            answer
                .body
                .pointer("/data/0/b64_json")
                .and_then(Value::as_str),
            answer.body.pointer("/data/0/url").and_then(Value::as_str),
        ) {
            (Some(b64), _) => {
                let png = base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .map_err(|e| malformed(format!("`data[0].b64_json` is not base64: {e}")))?;
                if !is_png(&png) {
                    return Err(malformed(
                        "`data[0].b64_json` does not hold a PNG image".to_string(),
                    ));
                }
                png
            }
            (None, Some(url)) => self.client.fetch_image(&answer, url)?,
            (None, None) => {
                return Err(malformed(
                    "no `data[0].b64_json` nor `data[0].url` in the answer".to_string(),
                ))
            }
        };
        let usage = answer
            .body
            .get("usage")
            .filter(|usage| usage.is_object())
            .cloned();
        // Stored only now, once the answer held a PNG.
        let status = match cached {
            Some((cache, key, status)) => {
                cache.store_image(&key, IMAGES_PATH, &s.model, &png, usage.as_ref())?;
                Some(status)
            }
            None => None,
        };
        Ok(ImageReply {
            png,
            provider: PROVIDER,
            model: s.model.clone(),
            usage,
            cache: status,
        })
    }

    fn provider(&self) -> &'static str {
        PROVIDER
    }

    fn model(&self) -> &str {
        &self.settings.model
    }
}
