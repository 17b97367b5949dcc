//! `openai`: the OpenAI-compatible HTTP providers (`POST {base_url}/chat/completions` and
//! `POST {base_url}/images/generations`).
//!
//! One [`Client`] per backend holds the blocking `ureq` agent (connection pool, timeout), the
//! key, the API roots, the retry policy, the concurrency bound (`limiter`) and the pacer
//! (`rate`). A request is tried at most `1 + max_retries` times: 429 and 5xx answers, timeouts
//! and connection errors are retried after the server's `Retry-After` (or `retry-after-ms`) when
//! it sends one, else after an exponential backoff; any other HTTP error fails at once. A permit
//! of the bound is held while a request waits its turn under the rate limits and while it is in
//! flight, never while waiting to retry.
//!
//! Every answer feeds the shared controls: a 429 lowers the endpoint's concurrency (AIMD),
//! successes raise it back, and `x-ratelimit-*` or `Retry-After` asks pause every sender of the
//! backend. Each change is reported once through the backend's [`Notices`], and so is every
//! retry (status or transport reason, attempt, wait).
//!
//! The key goes into the `Authorization` header and nowhere else: every string of a server's
//! answer, successful or not, has the key's value redacted before it leaves this module, so no
//! transcript, error or log can hold it. This module owns the wire format (the [`Client`]); the
//! chat backend is `text`, the image backend `image`; the caller (the engine) adds which step
//! failed.

mod image;
mod text;

pub(crate) use image::{ImageSettings, OpenaiImage};
pub(crate) use text::{ChatSettings, OpenaiText};

use std::io::Read;
use std::time::Duration;

use serde_json::Value;

use super::endpoint::ApiRoot;
use super::limiter::{Adjustment, Limiter};
use super::offline_image::is_png;
use super::rate::{self, Pacer, Pause, RateLimits};
use super::{BackendError, ChatCall, Notices};

/// The `provider` label of every openai record.
pub(crate) const PROVIDER: &str = "openai";

/// The largest answer body read (a base64 image is a few MiB).
const MAX_BODY_BYTES: u64 = 64 * 1024 * 1024;
/// The most of an error body read for its message.
const MAX_ERROR_BODY_BYTES: u64 = 64 * 1024;
/// How much of a non-JSON error body goes into a message.
const ERROR_SNIPPET_CHARS: usize = 300;
/// The longest wait a `Retry-After` header can ask for; longer asks wait this long.
const MAX_RETRY_AFTER: Duration = rate::MAX_PAUSE;
/// The completion tokens a chat request is assumed to use, for `tokens_per_minute` (requests
/// carry no `max_tokens`, so there is no bound to read; see [`estimate_tokens`]).
pub(crate) const COMPLETION_TOKENS_ESTIMATE: u64 = 1000;
/// The chat endpoint, under an API root.
const CHAT_PATH: &str = "chat/completions";
/// The images endpoint, under an API root.
const IMAGES_PATH: &str = super::cache::IMAGES_ENDPOINT;
/// The step path of a run's image in its cache key (an image call has no pipeline step).
const IMAGE_STEP: &str = "image";
/// The redaction marker that replaces the key's value.
pub(crate) const REDACTED: &str = "[redacted]";
/// Keys shorter than this are placeholders, not secrets, and are not redacted (see `secret`).
const MIN_SECRET_KEY_CHARS: usize = 16;

/// Waits between attempts when the server does not say how long: `base * 2^(retry - 1)`,
/// at most `cap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Backoff {
    pub(crate) base: Duration,
    pub(crate) cap: Duration,
}

impl Backoff {
    /// 1 s, 2 s, 4 s, ... up to 30 s.
    pub(crate) const DEFAULT: Backoff = Backoff {
        base: Duration::from_secs(1),
        cap: Duration::from_secs(30),
    };

    /// The wait before retry number `retry` (1 for the first retry).
    fn delay(self, retry: u32) -> Duration {
        let factor = 1u32
            .checked_shl(retry.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }
}

/// The wait before retry number `retry`: the server's ask when it made one, else the backoff.
fn retry_delay(retry: u32, retry_after: Option<Duration>, backoff: Backoff) -> Duration {
    retry_after.map_or_else(|| backoff.delay(retry), |d| d.min(MAX_RETRY_AFTER))
}

/// What a client is built from (already validated, key already read).
#[derive(Debug, Clone)]
pub(crate) struct ClientSettings {
    /// At least one; calls spread over them, each with its own `max_concurrency`.
    pub(crate) roots: Vec<ApiRoot>,
    pub(crate) key: String,
    pub(crate) timeout_s: f64,
    pub(crate) max_retries: u32,
    pub(crate) max_concurrency: usize,
    pub(crate) backoff: Backoff,
    pub(crate) limits: RateLimits,
    /// `text` or `image`, for notices.
    pub(crate) kind: &'static str,
    pub(crate) notices: Notices,
}

/// A blocking JSON-over-HTTP client with retries, a concurrency bound and a pacer.
pub(crate) struct Client {
    agent: ureq::Agent,
    roots: Vec<ApiRoot>,
    key: String,
    timeout_s: f64,
    max_retries: u32,
    backoff: Backoff,
    limiter: Limiter,
    pacer: Pacer,
    kind: &'static str,
    notices: Notices,
}

impl std::fmt::Debug for Client {
    /// Leaves out the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("roots", &self.roots)
            .field("timeout_s", &self.timeout_s)
            .field("max_retries", &self.max_retries)
            .field("backoff", &self.backoff)
            .finish_non_exhaustive()
    }
}

/// A successful answer: its JSON body (key redacted), status and the attempts it took.
struct Answer {
    /// The URL that answered (one of several with `base_urls`).
    url: String,
    body: Value,
    status: u16,
    attempts: u32,
}

/// Why one attempt failed.
enum Failure {
    Status {
        status: u16,
        message: String,
    },
    Transport {
        reason: String,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    Malformed {
        status: u16,
        detail: String,
    },
}

impl Failure {
    /// What went wrong, in a few words: `HTTP 503`, the transport reason, `malformed answer`.
    fn summary(&self) -> String {
        match self {
            Failure::Status { status, .. } => format!("HTTP {status}"),
            Failure::Transport { reason, .. } => reason.clone(),
            Failure::Malformed { status, detail } => {
                format!("HTTP {status} with a malformed answer: {detail}")
            }
        }
    }
}

/// The outcome of one attempt.
enum Attempt {
    Done(Answer),
    /// Worth another try, after the server's ask when it made one.
    Retry {
        after: Option<Duration>,
        failure: Failure,
    },
    Fail(Failure),
}

impl Client {
    pub(crate) fn new(settings: ClientSettings) -> Self {
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs_f64(settings.timeout_s))
            .user_agent(concat!("image-project/", env!("CARGO_PKG_VERSION")))
            .build();
        Client {
            agent,
            limiter: Limiter::with_endpoints(settings.max_concurrency, settings.roots.len()),
            roots: settings.roots,
            key: settings.key,
            timeout_s: settings.timeout_s,
            max_retries: settings.max_retries,
            backoff: settings.backoff,
            pacer: Pacer::new(settings.limits),
            kind: settings.kind,
            notices: settings.notices,
        }
    }

    /// POSTs `body` to `path` under one of the roots, retrying as the module head says, and
    /// parses the answer as JSON. `tokens` is the request's estimated size for
    /// `tokens_per_minute`; `request` names the request in the notice of each retry
    /// (``run `A1_0037cb1f` step `pipeline/ab.scene_draft/draft` ``).
    fn post_json(
        &self,
        path: &str,
        body: &Value,
        tokens: u64,
        request: &str,
    ) -> Result<Answer, BackendError> {
        let payload = body.to_string();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (outcome, url, root_index) = {
                let permit = self.limiter.acquire();
                self.pacer.wait_turn(tokens);
                let root = self.root(permit.endpoint());
                let url = root.endpoint(path);
                let (outcome, pause) = self.attempt(&url, &payload, attempt);
                if let Some(pause) = pause {
                    if self.pacer.hold(&pause) {
                        self.notice(
                            root,
                            &format!(
                                "the provider asked to slow down ({}); new requests wait {:.2} s \
                             (further pauses within 30 s are not logged)",
                                pause.reason,
                                pause.wait.as_secs_f64()
                            ),
                        );
                    }
                }
                let adjustment = match &outcome {
                    Attempt::Done(_) => permit.succeeded(),
                    Attempt::Retry {
                        failure: Failure::Status { status: 429, .. },
                        ..
                    }
                    | Attempt::Fail(Failure::Status { status: 429, .. }) => permit.throttled(),
                    _ => None,
                };
                if let Some(adjustment) = adjustment {
                    self.report(adjustment);
                }
                (outcome, url, permit.endpoint())
            };
            let failure = match outcome {
                Attempt::Done(answer) => return Ok(answer),
                Attempt::Retry { after, failure } if attempt <= self.max_retries => {
                    let wait = retry_delay(attempt, after, self.backoff);
                    // Every retry is worth a line: it costs time and tells why a run was slow
                    // or failed in the end, and the run's own error keeps only the last failure.
                    self.notice(
                        self.root(root_index),
                        &format!(
                            "{request}: attempt {attempt} of {} failed ({}); retrying in {:.2} s",
                            self.max_retries + 1,
                            failure.summary(),
                            wait.as_secs_f64()
                        ),
                    );
                    std::thread::sleep(wait);
                    continue;
                }
                Attempt::Retry { failure, .. } | Attempt::Fail(failure) => failure,
            };
            return Err(self.error(&url, attempt, failure));
        }
    }

    /// The root of endpoint `index` (the limiter only hands out indices of roots).
    fn root(&self, index: usize) -> &ApiRoot {
        &self.roots[index.min(self.roots.len().saturating_sub(1))]
    }

    /// One line for the notices sink about endpoint `root`.
    fn notice(&self, root: &ApiRoot, what: &str) {
        self.notices.send(&format!(
            "{} backend `{}`: {what}",
            self.kind,
            root.as_text()
        ));
    }

    fn report(&self, adjustment: Adjustment) {
        match adjustment {
            Adjustment::Decreased {
                endpoint,
                from,
                to,
                max,
            } => self.notice(
                self.root(endpoint),
                &format!(
                    "HTTP 429 (too many requests); concurrent requests lowered from {from} to {to} \
                     (`max_concurrency` {max}), rising again as calls succeed"
                ),
            ),
            Adjustment::Recovered { endpoint, max } => self.notice(
                self.root(endpoint),
                &format!(
                    "calls succeed again; concurrent requests back to `max_concurrency` {max}"
                ),
            ),
        }
    }

    /// One request, and the pause its answer asks every sender to make (if any).
    fn attempt(&self, url: &str, payload: &str, attempt: u32) -> (Attempt, Option<Pause>) {
        let result = self
            .agent
            .post(url)
            .set("Authorization", &format!("Bearer {}", self.key))
            .set("Content-Type", "application/json")
            .set("Accept", "application/json")
            .send_string(payload);
        match result {
            Ok(response) => {
                let status = response.status();
                let pause = rate::pause_from_headers(&|name| header(&response, name));
                (self.read_answer(url, response, status, attempt), pause)
            }
            Err(ureq::Error::Status(status, response)) => {
                let after = retry_after(&response);
                let pause = rate::pause_from_headers(&|name| header(&response, name))
                    .into_iter()
                    .chain(after.map(|wait| Pause {
                        wait,
                        reason: format!("HTTP {status} with `retry-after`"),
                    }))
                    .max_by_key(|pause| pause.wait);
                let mut bytes = Vec::new();
                // A failed read leaves what was read; the status alone still tells the story.
                let _ = response
                    .into_reader()
                    .take(MAX_ERROR_BODY_BYTES)
                    .read_to_end(&mut bytes);
                let failure = Failure::Status {
                    status,
                    message: self.error_message(&bytes),
                };
                let outcome = if status == 429 || (500..=599).contains(&status) {
                    Attempt::Retry { after, failure }
                } else {
                    Attempt::Fail(failure)
                };
                (outcome, pause)
            }
            Err(ureq::Error::Transport(transport)) => {
                let retryable = matches!(
                    transport.kind(),
                    ureq::ErrorKind::Io
                        | ureq::ErrorKind::ConnectionFailed
                        | ureq::ErrorKind::Dns
                        | ureq::ErrorKind::ProxyConnect
                        | ureq::ErrorKind::BadStatus
                );
                let reason = self.describe_transport(&transport);
                let failure = Failure::Transport {
                    reason,
                    source: Box::new(transport),
                };
                let outcome = if retryable {
                    Attempt::Retry {
                        after: None,
                        failure,
                    }
                } else {
                    Attempt::Fail(failure)
                };
                (outcome, None)
            }
        }
    }

    /// Reads a successful answer's body as JSON, with the key redacted from every string in it.
    fn read_answer(
        &self,
        url: &str,
        response: ureq::Response,
        status: u16,
        attempt: u32,
    ) -> Attempt {
        {
            {
                let mut bytes = Vec::new();
                let read = response
                    .into_reader()
                    .take(MAX_BODY_BYTES + 1)
                    .read_to_end(&mut bytes);
                if let Err(e) = read {
                    let reason = self.describe_io(&e, "reading the answer failed");
                    return Attempt::Retry {
                        after: None,
                        failure: Failure::Transport {
                            reason,
                            source: Box::new(e),
                        },
                    };
                }
                if bytes.len() as u64 > MAX_BODY_BYTES {
                    let detail = format!("the answer is larger than {} MiB", MAX_BODY_BYTES >> 20);
                    return Attempt::Fail(Failure::Malformed { status, detail });
                }
                match serde_json::from_slice::<Value>(&bytes) {
                    Ok(mut body) => {
                        self.redact_value(&mut body);
                        Attempt::Done(Answer {
                            url: url.to_string(),
                            body,
                            status,
                            attempts: attempt,
                        })
                    }
                    Err(e) => Attempt::Fail(Failure::Malformed {
                        status,
                        detail: format!("the body is not JSON ({e}): {}", self.snippet(&bytes)),
                    }),
                }
            }
        }
    }

    /// GETs the image an images answer points at (`data[0].url`): only from the origin (scheme,
    /// host, port) of `answered` (a server must not send us elsewhere), with the client's
    /// timeout, without the key, at most [`MAX_BODY_BYTES`]; the bytes must be a PNG. Not
    /// retried: the image was already paid for, a failure names the URL.
    fn fetch_image(&self, answered: &Answer, image_url: &str) -> Result<Vec<u8>, BackendError> {
        let malformed = |detail: String| {
            self.malformed(&answered.url, answered.status, answered.attempts, detail)
        };
        let shown = self.redact(image_url);
        match (origin(image_url), origin(&answered.url)) {
            (Some(image), Some(api)) if image == api => {}
            _ => {
                return Err(malformed(format!(
                    "`data[0].url` `{shown}` is not on the API's host; only images served by the answering host are fetched"
                )))
            }
        }
        let response = match self.agent.get(image_url).call() {
            Ok(response) => response,
            Err(ureq::Error::Status(status, _)) => {
                return Err(malformed(format!(
                    "fetching `data[0].url` `{shown}` answered HTTP {status}"
                )))
            }
            Err(ureq::Error::Transport(t)) => {
                return Err(malformed(format!(
                    "fetching `data[0].url` `{shown}` failed: {}",
                    self.describe_transport(&t)
                )))
            }
        };
        let mut bytes = Vec::new();
        response
            .into_reader()
            .take(MAX_BODY_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| {
                malformed(format!(
                    "fetching `data[0].url` `{shown}` failed: {}",
                    self.describe_io(&e, "reading the image failed")
                ))
            })?;
        if bytes.len() as u64 > MAX_BODY_BYTES {
            return Err(malformed(format!(
                "the image at `data[0].url` is larger than {} MiB",
                MAX_BODY_BYTES >> 20
            )));
        }
        if !is_png(&bytes) {
            return Err(malformed(format!(
                "`data[0].url` `{shown}` does not hold a PNG image"
            )));
        }
        Ok(bytes)
    }

    fn error(&self, url: &str, attempts: u32, failure: Failure) -> BackendError {
        let url = url.to_string();
        match failure {
            Failure::Status { status, message } => BackendError::Status {
                url,
                status,
                message,
                attempts,
            },
            Failure::Transport { reason, source } => BackendError::Transport {
                url,
                attempts,
                reason,
                source,
            },
            Failure::Malformed { status, detail } => self.malformed(&url, status, attempts, detail),
        }
    }

    fn malformed(&self, url: &str, status: u16, attempts: u32, detail: String) -> BackendError {
        BackendError::Malformed {
            url: url.to_string(),
            status,
            detail: self.redact(&detail),
            attempts,
        }
    }

    /// The provider's `error.message` (or `error` / `message`), else the start of the body.
    fn error_message(&self, bytes: &[u8]) -> String {
        let parsed: Option<Value> = serde_json::from_slice(bytes).ok();
        let message = parsed.as_ref().and_then(|v| {
            v.pointer("/error/message")
                .or_else(|| v.get("error"))
                .or_else(|| v.get("message"))
                .and_then(Value::as_str)
                .map(str::to_string)
        });
        match message {
            Some(m) if !m.trim().is_empty() => self.redact(m.trim()),
            _ if bytes.iter().all(u8::is_ascii_whitespace) => "the answer has no body".to_string(),
            _ => self.snippet(bytes),
        }
    }

    /// The start of `bytes` as text, redacted, for messages.
    fn snippet(&self, bytes: &[u8]) -> String {
        // Redact before cutting, so a cut cannot leave part of the key behind.
        let text = self.redact(String::from_utf8_lossy(bytes).trim());
        let mut out: String = text.chars().take(ERROR_SNIPPET_CHARS).collect();
        if text.chars().count() > ERROR_SNIPPET_CHARS {
            out.push('…');
        }
        format!("`{out}`")
    }

    /// The key's value when it is long enough to be a secret. Self-hosted servers take any key,
    /// and a placeholder such as `x` or `ollama` redacted from answers would corrupt the text
    /// (every `x` of a prompt replaced); provider keys are far longer.
    fn secret(&self) -> Option<&str> {
        (self.key.chars().count() >= MIN_SECRET_KEY_CHARS).then_some(self.key.as_str())
    }

    /// `text` with every occurrence of the key's value replaced.
    fn redact(&self, text: &str) -> String {
        match self.secret() {
            Some(key) => text.replace(key, REDACTED),
            None => text.to_string(),
        }
    }

    /// Redacts the key from every string (and object key) of a parsed answer. Working on the
    /// parsed value, not the raw bytes, also catches a key the JSON spelled with escapes.
    fn redact_value(&self, value: &mut Value) {
        match value {
            Value::String(text) if self.secret().is_some_and(|key| text.contains(key)) => {
                *text = self.redact(text);
            }
            Value::Array(items) => items.iter_mut().for_each(|item| self.redact_value(item)),
            Value::Object(map) => {
                if self
                    .secret()
                    .is_some_and(|key| map.keys().any(|k| k.contains(key)))
                {
                    let entries = std::mem::take(map);
                    *map = entries
                        .into_iter()
                        .map(|(k, v)| (self.redact(&k), v))
                        .collect();
                }
                map.values_mut().for_each(|item| self.redact_value(item));
            }
            _ => {}
        }
    }

    fn describe_transport(&self, transport: &ureq::Transport) -> String {
        if is_timeout(transport) {
            return self.timed_out();
        }
        match transport.kind() {
            ureq::ErrorKind::ConnectionFailed => "could not connect".to_string(),
            ureq::ErrorKind::Dns => "could not resolve the host".to_string(),
            kind => kind.to_string().to_lowercase(),
        }
    }

    fn describe_io(&self, e: &std::io::Error, otherwise: &str) -> String {
        if matches!(
            e.kind(),
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
        ) {
            self.timed_out()
        } else {
            otherwise.to_string()
        }
    }

    fn timed_out(&self) -> String {
        format!("timed out after {} s", self.timeout_s)
    }
}

/// Whether a transport error (or any error under it) is a timeout.
fn is_timeout(transport: &ureq::Transport) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> =
        std::error::Error::source(transport);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            ) {
                return true;
            }
        }
        source = e.source();
    }
    transport.message().is_some_and(|m| m.contains("timed out"))
}

/// Header `name` of `response`, as an owned string (for the `rate` parsers).
fn header(response: &ureq::Response, name: &str) -> Option<String> {
    response.header(name).map(str::to_string)
}

/// The tokens a chat request is estimated to use, for `tokens_per_minute`: the characters of its
/// messages / 4 (a common rule of thumb for English text), plus [`COMPLETION_TOKENS_ESTIMATE`].
/// An estimate, not a tokenizer: the provider's own count is what it enforces.
pub(crate) fn estimate_tokens(call: &ChatCall<'_>) -> u64 {
    let chars: usize = call
        .messages
        .iter()
        .map(|m| m.content.chars().count() + m.role.len())
        .sum();
    (chars as u64).div_ceil(4) + COMPLETION_TOKENS_ESTIMATE
}

/// `scheme://host[:port]` of an `http(s)` URL without user info, lowercased; `None` otherwise.
fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    Some(format!("{scheme}://{}", authority.to_ascii_lowercase()))
}

/// The wait a 429/5xx answer asks for: `retry-after-ms` (milliseconds, OpenAI's), else
/// `Retry-After` in seconds (an HTTP date is not read: the backoff applies).
fn retry_after(response: &ureq::Response) -> Option<Duration> {
    let seconds = |s: &str| {
        s.trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
    };
    if let Some(ms) = response.header("retry-after-ms").and_then(seconds) {
        return Some(Duration::from_secs_f64(
            (ms / 1000.0).min(MAX_RETRY_AFTER.as_secs_f64()),
        ));
    }
    parse_retry_after(response.header("retry-after")?)
}

/// `Retry-After` as (possibly fractional) seconds.
fn parse_retry_after(value: &str) -> Option<Duration> {
    let secs = value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)?;
    Some(Duration::from_secs_f64(
        secs.min(MAX_RETRY_AFTER.as_secs_f64()),
    ))
}

#[cfg(test)]
mod tests {
    use super::super::stub::{Canned, Stub};
    use super::super::{
        build_image, build_text, CacheStatus, ChatMessage, ChatReply, ImageBackendConfig,
        ImageCall, ImageReply, Provider, ReplyDetails, ResponseShape, TextBackend,
        TextBackendConfig,
    };
    use super::*;
    use base64::Engine as _;
    use serde_json::json;
    use std::sync::Arc;

    const KEY: &str = "sk-test-SECRET-0123456789";
    const KEY_VAR: &str = "STUB_API_KEY";

    /// Retries in tests wait a millisecond, not seconds.
    const FAST: Backoff = Backoff {
        base: Duration::from_millis(1),
        cap: Duration::from_millis(5),
    };

    fn env_with_key(name: &str) -> Option<String> {
        (name == KEY_VAR).then(|| KEY.to_string())
    }

    fn env_without_key(_: &str) -> Option<String> {
        None
    }

    fn text_config(base_url: &str) -> TextBackendConfig {
        TextBackendConfig {
            provider: Provider::Openai,
            model: "gpt-test".into(),
            base_url: Some(base_url.into()),
            base_urls: None,
            api_key_env: KEY_VAR.into(),
            timeout_s: 5.0,
            max_retries: 2,
            max_concurrency: 2,
            requests_per_minute: None,
            tokens_per_minute: None,
            send_temperature: Some(true),
            json_mode: true,
            reasoning_effort: Some("low".into()),
            max_completion_tokens: None,
            alternate_roles: false,
            offline_latency_ms: 0,
            latency_hint_ms: 1,
        }
    }

    fn image_config() -> ImageBackendConfig {
        ImageBackendConfig {
            provider: Provider::Openai,
            model: "gpt-image-test".into(),
            size: "1536x1024".into(),
            quality: "high".into(),
            moderation: Some("low".into()),
            response_format: None,
            base_url: None,
            api_key_env: None,
            timeout_s: None,
            max_retries: None,
            images_per_minute: None,
            latency_hint_ms: 1,
        }
    }

    fn text(config: &TextBackendConfig) -> Arc<dyn TextBackend> {
        build_text(config, &env_with_key, FAST, Notices::none()).expect("text backend")
    }

    fn messages() -> Vec<ChatMessage> {
        vec![
            ChatMessage {
                role: "system".into(),
                content: "You are terse.".into(),
            },
            ChatMessage {
                role: "user".into(),
                content: "Describe a harbour.".into(),
            },
            ChatMessage {
                role: "assistant".into(),
                content: "A harbour.".into(),
            },
            ChatMessage {
                role: "assistant".into(),
                content: "Two assistant turns in a row.".into(),
            },
        ]
    }

    fn chat(
        backend: &dyn TextBackend,
        shape: ResponseShape,
        model: Option<&str>,
    ) -> Result<ChatReply, BackendError> {
        let msgs = messages();
        backend.chat(&ChatCall {
            generation_id: "g1",
            step_path: "pipeline/s/draft",
            messages: &msgs,
            temperature: 0.7,
            model,
            shape,
            expect: &crate::backends::Expect::default(),
            seed: 1,
            max_completion_tokens: None,
        })
    }

    /// The error's whole chain, for `contains` checks.
    fn chain(err: &BackendError) -> String {
        let mut out = err.to_string();
        let mut source = std::error::Error::source(err);
        while let Some(e) = source {
            out.push_str(&format!("\ncaused by: {e}"));
            source = e.source();
        }
        out
    }

    fn assert_no_key(err: &BackendError) {
        let text = format!("{}\n{err:?}", chain(err));
        assert!(!text.contains(KEY), "the key leaked: {text}");
    }

    #[test]
    fn chat_request_body_and_bearer_key() {
        let stub = Stub::start(vec![Canned::chat("{\"ok\": true}")]);
        let backend = text(&text_config(&format!("{}/v1/", stub.url)));
        let reply = chat(
            &*backend,
            ResponseShape::Json {
                schema: "ab.scene_spec",
            },
            None,
        )
        .expect("chat");
        assert_eq!(
            reply,
            ChatReply {
                text: "{\"ok\": true}".into(),
                provider: "openai",
                model: "gpt-test".into(),
                attempts: 1,
                details: Some(ReplyDetails {
                    finish_reason: Some("stop".into()),
                    model: Some("stub-model".into()),
                    reasoning: None,
                    sent_messages: None,
                }),
                usage: None,
                cache: None,
            }
        );
        assert_eq!(
            (backend.provider(), backend.model()),
            ("openai", "gpt-test")
        );

        let requests = stub.requests();
        assert_eq!(requests.len(), 1);
        let request = &requests[0];
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, "/v1/chat/completions");
        assert_eq!(
            request.header("authorization"),
            Some(format!("Bearer {KEY}").as_str())
        );
        assert_eq!(request.header("content-type"), Some("application/json"));
        let body = request.json();
        let expected = json!({
            "model": "gpt-test",
            "messages": [
                { "role": "system", "content": "You are terse." },
                { "role": "user", "content": "Describe a harbour." },
                { "role": "assistant", "content": "A harbour." },
                { "role": "assistant", "content": "Two assistant turns in a row." },
            ],
            "temperature": 0.7,
            "response_format": { "type": "json_object" },
            "reasoning_effort": "low",
        });
        assert_eq!(body, expected);
    }

    #[test]
    fn optional_fields_are_left_out() {
        let stub = Stub::start(vec![Canned::chat("one"), Canned::chat("two")]);
        let mut config = text_config(&stub.url);
        config.send_temperature = Some(false);
        config.reasoning_effort = None;
        let backend = text(&config);
        // JSON mode on, but a text step: no `response_format`.
        let reply = chat(&*backend, ResponseShape::Text, Some("step-model")).expect("chat");
        assert_eq!(
            (reply.text.as_str(), reply.model.as_str()),
            ("one", "step-model")
        );
        config.json_mode = false;
        let backend = text(&config);
        chat(
            &*backend,
            ResponseShape::Json {
                schema: "ab.scene_spec",
            },
            None,
        )
        .expect("chat");

        let requests = stub.requests();
        let first = requests[0].json();
        assert_eq!(first["model"], "step-model");
        for absent in ["temperature", "response_format", "reasoning_effort"] {
            assert!(first.get(absent).is_none(), "`{absent}` sent: {first}");
        }
        assert!(
            requests[1].json().get("response_format").is_none(),
            "json_mode off still sent it"
        );
    }

    /// A 200 chat completion with `message` and `finish_reason` as given.
    fn answer(message: Value, finish_reason: &str) -> Canned {
        let body = json!({
            "model": "served-model",
            "choices": [{ "index": 0, "message": message, "finish_reason": finish_reason }],
            "usage": { "completion_tokens": 7 },
        });
        Canned::status(200, body.to_string())
    }

    #[test]
    fn answer_shapes_of_compatible_servers_are_read() {
        let stub = Stub::start(vec![
            answer(
                json!({"role": "assistant", "content": [{"type": "text", "text": "in "}, {"type": "text", "text": "parts"}]}),
                "stop",
            ),
            answer(
                json!({"role": "assistant", "content": "plain", "reasoning_content": "thought first"}),
                "stop",
            ),
            answer(
                json!({"role": "assistant", "content": "<think>\nweigh it\n</think>\n\nafter thinking"}),
                "eos",
            ),
        ]);
        let backend = text(&text_config(&stub.url));
        let some = |s: &str| Some(s.to_string());
        let expected = [
            ("in parts", None, some("stop")),
            ("plain", some("thought first"), some("stop")),
            ("after thinking", some("weigh it"), some("eos")),
        ];
        for (text, reasoning, finish_reason) in expected {
            let reply = chat(&*backend, ResponseShape::Text, None).expect("chat");
            assert_eq!(reply.text, text);
            assert_eq!(
                reply.details,
                Some(ReplyDetails {
                    finish_reason,
                    model: some("served-model"),
                    reasoning,
                    sent_messages: None,
                })
            );
        }
    }

    #[test]
    fn reasoning_without_content_is_a_clear_error() {
        let stub = Stub::start(vec![answer(
            json!({"role": "assistant", "content": null, "reasoning_content": "only this"}),
            "stop",
        )]);
        let err = chat(&*text(&text_config(&stub.url)), ResponseShape::Text, None).unwrap_err();
        assert!(
            err.to_string()
                .contains("the model answered only reasoning, no content"),
            "{err}"
        );
    }

    #[test]
    fn length_is_a_truncation_error_naming_the_tokens_and_the_keys() {
        let stub = Stub::start(vec![
            answer(json!({"role": "assistant", "content": "cut mid"}), "length"),
            Canned::status(
                200,
                json!({"choices": [{"message": {"content": "cut"}, "finish_reason": "length"}]})
                    .to_string(),
            ),
        ]);
        let mut config = text_config(&stub.url);
        config.max_completion_tokens = Some(300);
        let backend = text(&config);
        let counted = chat(&*backend, ResponseShape::Text, None).unwrap_err();
        let limit = chat(&*backend, ResponseShape::Text, None).unwrap_err();
        for (err, tokens) in [(counted, "7 tokens"), (limit, "300 tokens")] {
            let msg = err.to_string();
            assert!(
                msg.starts_with(&format!("answer truncated at {tokens}"))
                    && msg.contains("`backend.text.max_completion_tokens`")
                    && msg.contains("`params.max_completion_tokens`"),
                "{msg}"
            );
        }
        assert_eq!(stub.requests()[0].json()["max_completion_tokens"], 300);
    }

    #[test]
    fn temperature_is_left_out_with_reasoning_effort_unless_asked_for() {
        let stub = Stub::start(vec![
            Canned::chat("a"),
            Canned::chat("b"),
            Canned::chat("c"),
        ]);
        let mut config = text_config(&stub.url);
        config.send_temperature = None;
        chat(&*text(&config), ResponseShape::Text, None).expect("auto with effort");
        config.send_temperature = Some(true);
        chat(&*text(&config), ResponseShape::Text, None).expect("explicit");
        config.send_temperature = None;
        config.reasoning_effort = None;
        chat(&*text(&config), ResponseShape::Text, None).expect("auto without effort");
        let sent: Vec<bool> = stub
            .requests()
            .iter()
            .map(|r| r.json().get("temperature").is_some())
            .collect();
        assert_eq!(sent, vec![false, true, true]);
    }

    #[test]
    fn alternate_roles_sends_and_reports_normalised_messages() {
        let stub = Stub::start(vec![Canned::chat("ok")]);
        let mut config = text_config(&stub.url);
        config.alternate_roles = true;
        let reply = chat(&*text(&config), ResponseShape::Text, None).expect("chat");
        let sent = stub.requests()[0].json()["messages"].clone();
        assert_eq!(
            sent,
            json!([
                { "role": "system", "content": "You are terse." },
                { "role": "user", "content": "Describe a harbour." },
                { "role": "assistant", "content": "A harbour.\n\nTwo assistant turns in a row." },
            ])
        );
        let recorded = reply
            .details
            .and_then(|d| d.sent_messages)
            .expect("recorded");
        assert_eq!(serde_json::to_value(&recorded).unwrap(), sent);
    }

    #[test]
    fn retries_429_after_retry_after_then_succeeds() {
        let stub = Stub::start(vec![
            Canned::status(429, r#"{"error":{"message":"slow down"}}"#)
                .with_header("Retry-After", "0"),
            Canned::chat("after the wait"),
        ]);
        let reply = chat(&*text(&text_config(&stub.url)), ResponseShape::Text, None).expect("chat");
        assert_eq!((reply.text.as_str(), reply.attempts), ("after the wait", 2));
        assert_eq!(stub.requests().len(), 2);
    }

    #[test]
    fn every_retry_is_a_notice_with_the_run_step_attempt_reason_and_wait() {
        let stub = Stub::start(vec![
            Canned::status(503, r#"{"error":{"message":"busy"}}"#).with_header("Retry-After", "0"),
            Canned::status(500, r#"{"error":{"message":"oops"}}"#),
            Canned::chat("third time lucky"),
        ]);
        let lines = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let sink = Arc::clone(&lines);
        let notices = Notices::new(move |line| sink.lock().expect("lines").push(line.to_string()));
        let backend =
            build_text(&text_config(&stub.url), &env_with_key, FAST, notices).expect("backend");
        let reply = chat(&*backend, ResponseShape::Text, None).expect("chat");
        assert_eq!(reply.attempts, 3);
        let retries: Vec<String> = lines
            .lock()
            .expect("lines")
            .iter()
            .filter(|l| l.contains("retrying in"))
            .cloned()
            .collect();
        // The 503 asked for no wait; the 500 waits the (test's 1 ms) backoff of a second retry.
        let prefix = format!(
            "text backend `{}`: run `g1` step `pipeline/s/draft`",
            stub.url
        );
        assert_eq!(
            retries,
            [
                format!("{prefix}: attempt 1 of 3 failed (HTTP 503); retrying in 0.00 s"),
                format!("{prefix}: attempt 2 of 3 failed (HTTP 500); retrying in 0.00 s"),
            ]
        );
    }

    #[test]
    fn retry_after_wins_over_the_backoff() {
        let backoff = Backoff {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(30),
        };
        assert_eq!(retry_delay(1, None, backoff), Duration::from_secs(1));
        assert_eq!(retry_delay(3, None, backoff), Duration::from_secs(4));
        assert_eq!(retry_delay(40, None, backoff), Duration::from_secs(30));
        assert_eq!(
            retry_delay(3, Some(Duration::from_secs(1)), backoff),
            Duration::from_secs(1)
        );
        assert_eq!(
            retry_delay(1, Some(Duration::ZERO), backoff),
            Duration::ZERO
        );
        assert_eq!(
            retry_delay(1, Some(Duration::from_secs(99_999)), backoff),
            MAX_RETRY_AFTER
        );
        assert_eq!(parse_retry_after("1"), Some(Duration::from_secs(1)));
        assert_eq!(parse_retry_after(" 0.5 "), Some(Duration::from_millis(500)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-3"), None);
    }

    #[test]
    fn retries_500_then_succeeds() {
        let stub = Stub::start(vec![Canned::status(500, "oops"), Canned::chat("fine")]);
        let reply = chat(&*text(&text_config(&stub.url)), ResponseShape::Text, None).expect("chat");
        assert_eq!((reply.text.as_str(), reply.attempts), ("fine", 2));
    }

    #[test]
    fn malformed_after_a_retry_counts_both_attempts() {
        let stub = Stub::start(vec![
            Canned::status(502, "bad gateway"),
            Canned::status(200, "<html>"),
        ]);
        let err = chat(&*text(&text_config(&stub.url)), ResponseShape::Text, None).unwrap_err();
        assert!(
            matches!(
                err,
                BackendError::Malformed {
                    status: 200,
                    attempts: 2,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(err.attempts(), Some(2));
    }

    #[test]
    fn errors_cross_threads() {
        fn send_sync<T: Send + Sync + 'static>() {}
        send_sync::<BackendError>();
    }

    #[test]
    fn gives_up_after_max_retries() {
        let stub = Stub::start(vec![
            Canned::status(503, r#"{"error":{"message":"overloaded"}}"#),
            Canned::status(503, r#"{"error":{"message":"overloaded"}}"#),
            Canned::status(503, r#"{"error":{"message":"still overloaded"}}"#),
            Canned::chat("too late"),
        ]);
        let err = chat(&*text(&text_config(&stub.url)), ResponseShape::Text, None).unwrap_err();
        assert_eq!(stub.requests().len(), 3);
        assert!(
            matches!(
                err,
                BackendError::Status {
                    status: 503,
                    attempts: 3,
                    ..
                }
            ),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains("503") && msg.contains("3 attempts") && msg.contains("still overloaded"),
            "{msg}"
        );
        assert!(
            msg.contains(&format!("{}/chat/completions", stub.url)),
            "{msg}"
        );
        assert_eq!((err.status(), err.attempts()), (Some(503), Some(3)));
    }

    #[test]
    fn timeout_is_retried_then_reported() {
        let stub = Stub::start(vec![Canned::Hang, Canned::Hang]);
        let mut config = text_config(&stub.url);
        config.timeout_s = 0.2;
        config.max_retries = 1;
        let err = chat(&*text(&config), ResponseShape::Text, None).unwrap_err();
        assert_eq!(stub.requests().len(), 2);
        assert!(
            matches!(err, BackendError::Transport { attempts: 2, .. }),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains("timed out") && msg.contains("2 attempts"),
            "{msg}"
        );
    }

    #[test]
    fn connection_errors_are_retried_then_reported() {
        let url = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            format!("http://{}", listener.local_addr().expect("addr"))
        };
        let mut config = text_config(&url);
        config.max_retries = 1;
        let err = chat(&*text(&config), ResponseShape::Text, None).unwrap_err();
        assert!(
            matches!(err, BackendError::Transport { attempts: 2, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("could not connect"), "{err}");
    }

    #[test]
    fn malformed_body_is_not_retried() {
        let stub = Stub::start(vec![
            Canned::status(200, "this is not json {"),
            Canned::chat("unused"),
        ]);
        let err = chat(&*text(&text_config(&stub.url)), ResponseShape::Text, None).unwrap_err();
        assert_eq!(stub.requests().len(), 1);
        let msg = err.to_string();
        assert!(msg.contains("malformed") && msg.contains("200"), "{msg}");
        assert!(msg.contains("this is not json"), "{msg}");
        assert_eq!(err.status(), Some(200));
    }

    #[test]
    fn answers_without_text_are_malformed() {
        let no_choices = json!({ "choices": [] }).to_string();
        let empty =
            json!({ "choices": [{ "message": { "content": "  " }, "finish_reason": "stop" }] })
                .to_string();
        let refusal =
            json!({ "choices": [{ "message": { "content": null, "refusal": "cannot help" } }] })
                .to_string();
        let stub = Stub::start(vec![
            Canned::status(200, no_choices),
            Canned::status(200, empty),
            Canned::status(200, refusal),
        ]);
        let backend = text(&text_config(&stub.url));
        let expect = [
            "no `choices[0].message.content`",
            "is empty (finish_reason `stop`)",
            "the model refused: cannot help",
        ];
        for fragment in expect {
            let msg = chat(&*backend, ResponseShape::Text, None)
                .unwrap_err()
                .to_string();
            assert!(
                msg.contains("malformed") && msg.contains(fragment),
                "{fragment}: {msg}"
            );
        }
    }

    #[test]
    fn client_error_is_not_retried_and_names_the_provider_message() {
        let body = r#"{"error":{"message":"Unsupported parameter: 'temperature'","type":"invalid_request_error"}}"#;
        let stub = Stub::start(vec![Canned::status(400, body), Canned::chat("unused")]);
        let err = chat(&*text(&text_config(&stub.url)), ResponseShape::Text, None).unwrap_err();
        assert_eq!(stub.requests().len(), 1);
        assert!(
            matches!(
                err,
                BackendError::Status {
                    status: 400,
                    attempts: 1,
                    ..
                }
            ),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains("HTTP 400") && msg.contains("Unsupported parameter: 'temperature'"),
            "{msg}"
        );
    }

    #[test]
    fn errors_never_contain_the_key() {
        let echo = format!(r#"{{"error":{{"message":"Incorrect API key provided: {KEY}"}}}}"#);
        let stub = Stub::start(vec![
            Canned::status(401, echo),
            Canned::status(200, format!("not json, but echoes {KEY}")),
        ]);
        let backend = text(&text_config(&stub.url));
        let unauthorised = chat(&*backend, ResponseShape::Text, None).unwrap_err();
        assert!(unauthorised.to_string().contains("401"), "{unauthorised}");
        assert!(
            unauthorised.to_string().contains("[redacted]"),
            "{unauthorised}"
        );
        assert_no_key(&unauthorised);
        let malformed = chat(&*backend, ResponseShape::Text, None).unwrap_err();
        assert_no_key(&malformed);
        // The key did go where it belongs.
        assert_eq!(
            stub.requests()[0].header("authorization"),
            Some(format!("Bearer {KEY}").as_str())
        );
        assert!(!format!(
            "{backend:?}",
            backend = Client::new(ClientSettings {
                roots: vec![ApiRoot::parse(&stub.url, "k").expect("root")],
                key: KEY.into(),
                timeout_s: 1.0,
                max_retries: 0,
                max_concurrency: 1,
                backoff: FAST,
                limits: RateLimits::default(),
                kind: "text",
                notices: Notices::none(),
            })
        )
        .contains(KEY));
    }

    #[test]
    fn a_key_echoed_in_a_successful_answer_is_redacted() {
        let stub = Stub::start(vec![
            Canned::chat(&format!("Sure! Your key is {KEY}.")),
            // The same key spelled with JSON escapes (`\u002d` is `-`).
            Canned::status(
                200,
                json!({ "choices": [{ "message": { "content": null, "refusal": "no" } }] })
                    .to_string()
                    .replace("\"no\"", &format!("\"{}\"", KEY.replace('-', "\\u002d"))),
            ),
        ]);
        let backend = text(&text_config(&stub.url));
        let reply = chat(&*backend, ResponseShape::Text, None).expect("chat");
        assert_eq!(reply.text, format!("Sure! Your key is {REDACTED}."));
        let refused = chat(&*backend, ResponseShape::Text, None).unwrap_err();
        assert!(refused.to_string().contains(REDACTED), "{refused}");
        assert_no_key(&refused);
    }

    #[test]
    fn a_placeholder_key_of_a_self_hosted_server_is_not_redacted_from_answers() {
        let stub = Stub::start(vec![Canned::chat("SUBJECT=a fox next to a box")]);
        let placeholder = |name: &str| (name == KEY_VAR).then(|| "x".to_string());
        let backend = build_text(&text_config(&stub.url), &placeholder, FAST, Notices::none())
            .expect("text backend");
        let reply = chat(&*backend, ResponseShape::Text, None).expect("chat");
        assert_eq!(reply.text, "SUBJECT=a fox next to a box");
        assert_eq!(stub.requests()[0].header("authorization"), Some("Bearer x"));
    }

    #[test]
    fn a_query_in_base_url_stays_after_the_endpoint_path() {
        let png = tiny_png();
        let stub = Stub::start(vec![Canned::chat("ok"), image_answer(&png)]);
        let config = text_config(&format!("{}/v1/?api-version=2024-10-21", stub.url));
        chat(&*text(&config), ResponseShape::Text, None).expect("chat");
        let image = build_image(
            &image_config(),
            &config,
            &env_with_key,
            FAST,
            Notices::none(),
        )
        .expect("image backend");
        image
            .generate(&ImageCall {
                generation_id: "g1",
                prompt: "p",
                seed: 0,
            })
            .expect("image");
        let paths: Vec<String> = stub.requests().into_iter().map(|r| r.path).collect();
        assert_eq!(
            paths,
            [
                "/v1/chat/completions?api-version=2024-10-21",
                "/v1/images/generations?api-version=2024-10-21"
            ]
        );
    }

    #[test]
    fn base_urls_spread_calls_over_every_root() {
        let answers = || {
            (0..4)
                .map(|i| Canned::chat(&format!("answer {i}")))
                .collect()
        };
        let (one, two) = (Stub::start(answers()), Stub::start(answers()));
        let mut config = text_config("unused");
        config.base_url = None;
        config.base_urls = Some(vec![format!("{}/v1", one.url), format!("{}/v1", two.url)]);
        config.max_concurrency = 1;
        let backend = text(&config);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| chat(&*backend, ResponseShape::Text, None).expect("chat"));
            }
        });
        let (a, b) = (one.requests().len(), two.requests().len());
        assert_eq!(a + b, 4);
        // Least in flight: the two roots share the work, so neither is idle.
        assert!(a >= 1 && b >= 1, "{a} and {b}");
    }

    /// Sends `calls` chats from `threads` threads through `backend`; returns the answers.
    fn burst(backend: &dyn TextBackend, threads: usize, calls: usize) -> usize {
        let next = std::sync::atomic::AtomicUsize::new(0);
        let done = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    while next.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < calls {
                        if chat(backend, ResponseShape::Text, None).is_ok() {
                            done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        }
                    }
                });
            }
        });
        done.into_inner()
    }

    /// The rate-limit tests' provider: 1200 requests per minute (20 per second), holding up to
    /// `BURST` (so a paced client's requests may arrive up to half a second bunched by thread
    /// scheduling and still be within the limit).
    const RPM: u32 = 1200;
    const BURST: u32 = 10;
    const CALLS: usize = 24;

    fn limited_config(stub: &Stub) -> TextBackendConfig {
        let mut config = text_config(&stub.url);
        config.max_concurrency = 8;
        config.max_retries = 30;
        config
    }

    #[test]
    fn with_the_providers_limit_configured_no_call_is_refused() {
        let stub = Stub::rate_limited(RPM, BURST, Canned::chat("within the limit"));
        let mut config = limited_config(&stub);
        config.requests_per_minute = Some(RPM);
        let backend = text(&config);
        let started = std::time::Instant::now();
        let answered = burst(&*backend, 8, CALLS);
        eprintln!(
            "requests_per_minute {RPM}: {answered}/{CALLS} answered, {} HTTP 429, {} requests, {:.2} s",
            stub.refused(),
            stub.requests().len(),
            started.elapsed().as_secs_f64()
        );
        assert_eq!(answered, CALLS);
        assert_eq!(stub.refused(), 0);
        assert_eq!(stub.requests().len(), CALLS);
    }

    #[test]
    fn without_the_limit_calls_back_off_and_all_succeed_with_one_notice_per_change() {
        let stub = Stub::rate_limited(RPM, BURST, Canned::chat("eventually"));
        let lines = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let sink = Arc::clone(&lines);
        let notices = Notices::new(move |line| sink.lock().expect("lines").push(line.to_string()));
        let backend =
            build_text(&limited_config(&stub), &env_with_key, FAST, notices).expect("backend");
        let started = std::time::Instant::now();
        let answered = burst(&*backend, 8, CALLS);
        let lines = lines.lock().expect("lines").clone();
        eprintln!(
            "no limit configured: {answered}/{CALLS} answered, {} HTTP 429, {} requests, {:.2} s, {} notices:\n  {}",
            stub.refused(),
            stub.requests().len(),
            started.elapsed().as_secs_f64(),
            lines.len(),
            lines.join("\n  ")
        );
        assert_eq!(answered, CALLS, "every call succeeds in the end");
        assert!(
            stub.refused() > 0,
            "the burst went over the provider's limit"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.contains("concurrent requests lowered from 8 to 4")),
            "{lines:?}"
        );
        // Every 429 carries `retry-after-ms`, so the first one paused every sender.
        assert!(
            lines.iter().any(|l| l.contains("asked to slow down")),
            "{lines:?}"
        );
        // Rate changes are logged per change, not per call: fewer lines than refusals (every
        // retried refusal has its own retry line besides).
        let changes = lines
            .iter()
            .filter(|l| !l.contains("; retrying in "))
            .count();
        assert!(changes < stub.refused() + 1, "{lines:?}");
        assert!(
            lines
                .iter()
                .all(|l| l.starts_with(&format!("text backend `{}`", stub.url))),
            "{lines:?}"
        );
    }

    #[test]
    fn images_per_minute_keeps_image_requests_within_the_limit() {
        let stub = Stub::rate_limited(RPM, 2, image_answer(&tiny_png()));
        let mut config = image_config();
        config.images_per_minute = Some(RPM);
        let backend = build_image(
            &config,
            &limited_config(&stub),
            &env_with_key,
            FAST,
            Notices::none(),
        )
        .expect("image backend");
        std::thread::scope(|scope| {
            for _ in 0..3 {
                scope.spawn(|| {
                    for _ in 0..2 {
                        backend
                            .generate(&ImageCall {
                                generation_id: "g1",
                                prompt: "p",
                                seed: 0,
                            })
                            .expect("image");
                    }
                });
            }
        });
        assert_eq!((stub.refused(), stub.requests().len()), (0, 6));
    }

    #[test]
    fn missing_key_fails_before_any_request() {
        let stub = Stub::start(vec![Canned::chat("unused")]);
        let err = build_text(
            &text_config(&stub.url),
            &env_without_key,
            FAST,
            Notices::none(),
        )
        .map(|_| ())
        .unwrap_err();
        assert!(
            matches!(&err, BackendError::MissingKey { var, key } if var == KEY_VAR && key == "backend.text.api_key_env"),
            "{err:?}"
        );
        assert!(err.to_string().contains(&format!("`{KEY_VAR}`")), "{err}");

        let mut image = image_config();
        let err = build_image(
            &image,
            &text_config(&stub.url),
            &env_without_key,
            FAST,
            Notices::none(),
        )
        .map(|_| ())
        .unwrap_err();
        assert!(
            matches!(&err, BackendError::MissingKey { key, .. } if key == "backend.text.api_key_env"),
            "{err:?}"
        );
        image.api_key_env = Some("IMAGE_KEY".into());
        let err = build_image(
            &image,
            &text_config(&stub.url),
            &env_with_key,
            FAST,
            Notices::none(),
        )
        .map(|_| ())
        .unwrap_err();
        assert!(
            matches!(&err, BackendError::MissingKey { var, key } if var == "IMAGE_KEY" && key == "backend.image.api_key_env"),
            "{err:?}"
        );
        assert!(stub.requests().is_empty(), "a request was sent");
    }

    #[test]
    fn unusable_key_is_a_config_error_without_the_value() {
        let env = |name: &str| (name == KEY_VAR).then(|| "sk-bad\nkey-VALUE".to_string());
        let err = build_text(
            &text_config("http://127.0.0.1:9"),
            &env,
            FAST,
            Notices::none(),
        )
        .map(|_| ())
        .unwrap_err();
        assert!(
            matches!(&err, BackendError::Config { key, .. } if key == "backend.text.api_key_env"),
            "{err:?}"
        );
        assert!(!err.to_string().contains("VALUE"), "{err}");
    }

    #[test]
    fn bad_settings_are_config_errors() {
        let mut config = text_config("api.example.com");
        let key_of = |config: &TextBackendConfig| match build_text(
            config,
            &env_with_key,
            FAST,
            Notices::none(),
        )
        .map(|_| ())
        {
            Err(BackendError::Config { key, .. }) => key,
            other => panic!("expected a config error, got {other:?}"),
        };
        assert_eq!(key_of(&config), "backend.text.base_url");
        config.base_url = Some("http://127.0.0.1:9".into());
        config.timeout_s = 0.0;
        assert_eq!(key_of(&config), "backend.text.timeout_s");
        config.timeout_s = 1.0;
        config.max_concurrency = 0;
        assert_eq!(key_of(&config), "backend.text.max_concurrency");
    }

    fn tiny_png() -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut encoder = ::png::Encoder::new(&mut out, 2, 1);
            encoder.set_color(::png::ColorType::Rgb);
            let mut writer = encoder.write_header().expect("header");
            writer
                .write_image_data(&[255, 0, 0, 0, 0, 255])
                .expect("data");
        }
        out
    }

    fn image_answer(bytes: &[u8]) -> Canned {
        let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
        Canned::status(
            200,
            json!({ "created": 1, "data": [{ "b64_json": b64 }] }).to_string(),
        )
    }

    #[test]
    fn the_images_apis_usage_is_kept_as_it_came() {
        let png = tiny_png();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&png);
        let usage = json!({"total_tokens": 4300, "input_tokens": 50, "output_tokens": 4250,
                           "input_tokens_details": {"text_tokens": 50, "image_tokens": 0}});
        let stub = Stub::start(vec![Canned::status(
            200,
            json!({ "data": [{ "b64_json": b64 }], "usage": usage }).to_string(),
        )]);
        let backend = build_image(
            &image_config(),
            &text_config(&stub.url),
            &env_with_key,
            FAST,
            Notices::none(),
        )
        .expect("image backend");
        let reply = backend
            .generate(&ImageCall {
                prompt: "a red fox",
                seed: 3,
                generation_id: "g1",
            })
            .expect("image");
        assert_eq!(reply.usage, Some(usage));
    }

    #[test]
    fn a_cached_image_is_answered_without_a_request_and_another_seed_is_not() {
        let png = tiny_png();
        let stub = Stub::start(vec![image_answer(&png), image_answer(&png)]);
        let dir = tempfile::tempdir().expect("tempdir");
        let section = super::super::CacheSection::default();
        let backend = super::super::build_cached_image(
            &image_config(),
            &text_config(&stub.url),
            &env_with_key,
            FAST,
            Notices::none(),
            Some((&section, dir.path())),
        )
        .expect("image backend");
        let call = |seed| ImageCall {
            prompt: "a red fox",
            seed,
            generation_id: "g1",
        };
        let first = backend.generate(&call(3)).expect("first");
        let again = backend.generate(&call(3)).expect("again");
        assert_eq!(
            (first.cache, again.cache),
            (Some(CacheStatus::Miss), Some(CacheStatus::Hit))
        );
        assert_eq!(again.png, png);
        assert_eq!(stub.requests().len(), 1);
        let other = backend.generate(&call(4)).expect("other seed");
        assert_eq!(other.cache, Some(CacheStatus::Miss));
        assert_eq!(stub.requests().len(), 2);
        let images = dir.path().join("_artifacts/cache/images");
        assert_eq!(
            std::fs::read_dir(&images).expect("images").count(),
            1,
            "one file for equal images"
        );
    }

    #[test]
    fn a_cached_chat_answer_is_replayed_without_a_request() {
        let stub = Stub::start(vec![Canned::chat("a lighthouse")]);
        let dir = tempfile::tempdir().expect("tempdir");
        let section = super::super::CacheSection::default();
        let backend = super::super::build_cached_text(
            &text_config(&stub.url),
            &env_with_key,
            FAST,
            Notices::none(),
            Some((&section, dir.path())),
        )
        .expect("text backend");
        let first = chat(backend.as_ref(), ResponseShape::Text, None).expect("first");
        let again = chat(backend.as_ref(), ResponseShape::Text, None).expect("again");
        assert_eq!(
            (first.cache, again.cache, again.attempts),
            (Some(CacheStatus::Miss), Some(CacheStatus::Hit), 0)
        );
        assert_eq!(again.text, first.text);
        assert_eq!(stub.requests().len(), 1);
    }

    #[test]
    fn image_request_and_decoded_png() {
        let png = tiny_png();
        let stub = Stub::start(vec![image_answer(&png), image_answer(&png)]);
        let text_cfg = text_config(&stub.url);
        let mut config = image_config();
        let backend = build_image(&config, &text_cfg, &env_with_key, FAST, Notices::none())
            .expect("image backend");
        let reply = backend
            .generate(&ImageCall {
                generation_id: "g1",
                prompt: "a red fox",
                seed: 3,
            })
            .expect("image");
        assert_eq!(
            reply,
            ImageReply {
                png: png.clone(),
                provider: "openai",
                model: "gpt-image-test".into(),
                usage: None,
                cache: None,
            }
        );
        config.moderation = None;
        let backend = build_image(&config, &text_cfg, &env_with_key, FAST, Notices::none())
            .expect("image backend");
        backend
            .generate(&ImageCall {
                generation_id: "g1",
                prompt: "a red fox",
                seed: 3,
            })
            .expect("image");

        let requests = stub.requests();
        assert_eq!(requests[0].path, "/images/generations");
        assert_eq!(
            requests[0].header("authorization"),
            Some(format!("Bearer {KEY}").as_str())
        );
        assert_eq!(
            requests[0].json(),
            json!({ "model": "gpt-image-test", "prompt": "a red fox", "size": "1536x1024", "quality": "high", "n": 1, "moderation": "low" })
        );
        assert!(requests[1].json().get("moderation").is_none());
    }

    #[test]
    fn response_format_is_sent_and_a_url_answer_is_fetched_from_the_same_host_only() {
        let png = tiny_png();
        let url_answer =
            |url: &str| Canned::status(200, json!({ "data": [{ "url": url }] }).to_string());
        let stub = Stub::start_with(|base| {
            vec![
                url_answer(&format!("{base}/files/img.png")),
                Canned::bytes(&png),
                url_answer("http://elsewhere.invalid/img.png"),
                url_answer(&format!("{base}/files/not.png")),
                Canned::bytes(b"GIF89a not a png"),
            ]
        });
        let text_cfg = text_config(&stub.url);
        let mut config = image_config();
        config.response_format = Some("url".into());
        let backend = build_image(&config, &text_cfg, &env_with_key, FAST, Notices::none())
            .expect("image backend");
        let call = ImageCall {
            generation_id: "g1",
            prompt: "a red fox",
            seed: 3,
        };
        assert_eq!(backend.generate(&call).expect("fetched").png, png);
        let elsewhere = backend.generate(&call).unwrap_err().to_string();
        assert!(
            elsewhere.contains("is not on the API's host"),
            "{elsewhere}"
        );
        let not_png = backend.generate(&call).unwrap_err().to_string();
        assert!(not_png.contains("does not hold a PNG image"), "{not_png}");

        let requests = stub.requests();
        assert_eq!(requests[0].json()["response_format"], "url");
        assert_eq!(
            (requests[1].method.as_str(), requests[1].path.as_str()),
            ("GET", "/files/img.png")
        );
        assert_eq!(requests[1].header("authorization"), None);
        // Nothing was fetched from elsewhere: the third request is the third POST.
        assert_eq!(requests[2].method, "POST");
        assert_eq!(requests.len(), 5);
    }

    #[test]
    fn image_answers_that_are_not_png_are_malformed() {
        let stub = Stub::start(vec![
            image_answer(b"GIF89a not a png"),
            Canned::status(200, json!({ "data": [{ "b64_json": "%%%" }] }).to_string()),
            Canned::status(
                200,
                json!({ "data": [{ "url": "https://example.com/x.png" }] }).to_string(),
            ),
            Canned::status(200, json!({ "data": [{}] }).to_string()),
        ]);
        let backend = build_image(
            &image_config(),
            &text_config(&stub.url),
            &env_with_key,
            FAST,
            Notices::none(),
        )
        .expect("image backend");
        for fragment in [
            "does not hold a PNG",
            "is not base64",
            "is not on the API's host",
            "no `data[0].b64_json` nor `data[0].url`",
        ] {
            let err = backend
                .generate(&ImageCall {
                    generation_id: "g1",
                    prompt: "x",
                    seed: 0,
                })
                .unwrap_err();
            let msg = err.to_string();
            assert!(
                msg.contains("malformed") && msg.contains("200") && msg.contains(fragment),
                "{fragment}: {msg}"
            );
        }
    }

    #[test]
    fn image_settings_override_the_text_ones() {
        let text_stub = Stub::start(vec![]);
        let image_stub = Stub::start(vec![
            Canned::status(500, "down"),
            Canned::status(500, "down"),
        ]);
        let mut config = image_config();
        config.base_url = Some(image_stub.url.clone());
        config.max_retries = Some(1);
        let backend = build_image(
            &config,
            &text_config(&text_stub.url),
            &env_with_key,
            FAST,
            Notices::none(),
        )
        .expect("image backend");
        let err = backend
            .generate(&ImageCall {
                generation_id: "g1",
                prompt: "x",
                seed: 0,
            })
            .unwrap_err();
        assert!(
            matches!(
                err,
                BackendError::Status {
                    status: 500,
                    attempts: 2,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(text_stub.requests().is_empty());
        assert_eq!(image_stub.requests().len(), 2);
    }

    #[test]
    fn offline_providers_need_no_key() {
        let mut text_cfg = text_config("not a url");
        text_cfg.provider = Provider::Offline;
        let backend =
            build_text(&text_cfg, &env_without_key, FAST, Notices::none()).expect("offline text");
        assert_eq!(backend.provider(), "offline");
        let mut image = image_config();
        image.provider = Provider::Offline;
        image.size = "32x16".into();
        let backend = build_image(&image, &text_cfg, &env_without_key, FAST, Notices::none())
            .expect("offline image");
        let reply = backend
            .generate(&ImageCall {
                generation_id: "g1",
                prompt: "p",
                seed: 1,
            })
            .expect("image");
        assert!(is_png(&reply.png));
        assert_eq!(
            (reply.provider, reply.model.as_str()),
            ("offline", "gpt-image-test")
        );
        image.size = "big".into();
        let err = build_image(&image, &text_cfg, &env_without_key, FAST, Notices::none())
            .map(|_| ())
            .unwrap_err();
        assert!(err.to_string().contains("`backend.image.size`"), "{err}");
    }
}
