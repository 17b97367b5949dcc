//! The openai text backend: a chat call's request body (temperature with `reasoning_effort`,
//! JSON mode, `max_completion_tokens`, `alternate_roles`), the response cache around it, and the
//! reply read from the answer (`answer.rs`). Sending, retries and pacing are the [`Client`]'s.

use std::sync::Arc;

use serde_json::{json, Value};

use super::{estimate_tokens, Client, CHAT_PATH, PROVIDER};
use crate::backends::answer::{read_answer, read_usage, AnswerProblem, ReadAnswer};
use crate::backends::cache::{request_key, CacheError, CacheStatus, ResponseCache};
use crate::backends::{
    roles, BackendError, ChatCall, ChatMessage, ChatReply, ReplyDetails, ResponseShape, TextBackend,
};

/// The openai text backend.
#[derive(Debug)]
pub(crate) struct OpenaiText {
    client: Client,
    chat: ChatSettings,
    /// Answers already paid for; `None` with `cache.mode = "off"`.
    cache: Option<Arc<ResponseCache>>,
}

/// The chat-specific settings of [`OpenaiText`].
#[derive(Debug, Clone)]
pub(crate) struct ChatSettings {
    pub(crate) model: String,
    /// `None`: send unless `reasoning_effort` is set.
    pub(crate) send_temperature: Option<bool>,
    pub(crate) json_mode: bool,
    pub(crate) reasoning_effort: Option<String>,
    pub(crate) max_completion_tokens: Option<u64>,
    pub(crate) alternate_roles: bool,
}

impl ChatSettings {
    /// Whether requests carry a temperature: as set, else not with `reasoning_effort`.
    fn sends_temperature(&self) -> bool {
        self.send_temperature
            .unwrap_or(self.reasoning_effort.is_none())
    }
}

impl OpenaiText {
    pub(crate) fn new(
        client: Client,
        chat: ChatSettings,
        cache: Option<Arc<ResponseCache>>,
    ) -> Self {
        OpenaiText {
            client,
            chat,
            cache,
        }
    }

    /// The request body for `call`, with `messages` as they go out.
    fn body(&self, call: &ChatCall<'_>, model: &str, messages: &[ChatMessage]) -> Value {
        let messages: Vec<Value> = messages
            .iter()
            .map(|m| json!({ "role": m.role, "content": m.content }))
            .collect();
        let mut body = json!({ "model": model, "messages": messages });
        if self.chat.sends_temperature() {
            body["temperature"] = json!(call.temperature);
        }
        if self.chat.json_mode && matches!(call.shape, ResponseShape::Json { .. }) {
            body["response_format"] = json!({ "type": "json_object" });
        }
        if let Some(effort) = &self.chat.reasoning_effort {
            body["reasoning_effort"] = json!(effort);
        }
        if let Some(limit) = self.completion_limit(call) {
            body["max_completion_tokens"] = json!(limit);
        }
        body
    }

    /// The reply a cache hit gives: the stored answer read as if it had just arrived, with no
    /// HTTP attempt.
    fn stored_reply(
        &self,
        cache: &ResponseCache,
        key: &str,
        stored: &Value,
        model: &str,
        normalised: Option<Vec<ChatMessage>>,
    ) -> Result<ChatReply, BackendError> {
        // Only answers that read cleanly are stored, so a failure here means the row was
        // altered: an error, never a silent call.
        let read = read_answer(stored).map_err(|problem| CacheError::BadEntry {
            path: cache.path().to_path_buf(),
            key: key.to_owned(),
            detail: match problem {
                AnswerProblem::Truncated { .. } => "a truncated answer".to_owned(),
                AnswerProblem::Unusable(detail) => detail,
            },
        })?;
        Ok(reply(
            read,
            stored,
            model,
            0,
            normalised,
            Some(CacheStatus::Hit),
        ))
    }

    /// The step's limit, else the backend's.
    fn completion_limit(&self, call: &ChatCall<'_>) -> Option<u64> {
        call.max_completion_tokens
            .or(self.chat.max_completion_tokens)
    }
}

impl TextBackend for OpenaiText {
    fn chat(&self, call: &ChatCall<'_>) -> Result<ChatReply, BackendError> {
        let model = call.model.unwrap_or(&self.chat.model);
        let normalised = if self.chat.alternate_roles {
            Some(roles::alternate(call.messages)?)
        } else {
            None
        };
        let messages = normalised.as_deref().unwrap_or(call.messages);
        let body = self.body(call, model, messages);
        // The key covers the body exactly as it would be sent, so a change to any parameter
        // (or to the messages after normalisation) is a different entry.
        let cached = match &self.cache {
            Some(cache) => {
                let key = request_key(CHAT_PATH, &body, call.seed, call.step_path);
                match cache.lookup(&key)? {
                    Ok(stored) => {
                        return self.stored_reply(cache, &key, &stored, model, normalised);
                    }
                    Err(status) => Some((cache, key, status)),
                }
            }
            None => None,
        };
        let answer = self.client.post_json(
            CHAT_PATH,
            &body,
            estimate_tokens(call),
            &format!("run `{}` step `{}`", call.generation_id, call.step_path),
        )?;
        match read_answer(&answer.body) {
            Ok(read) => {
                // Only an answer the stage can use is stored: errors and cut answers are
                // called again next time.
                let status = match cached {
                    Some((cache, key, status)) => {
                        cache.store(&key, CHAT_PATH, model, &answer.body)?;
                        Some(status)
                    }
                    None => None,
                };
                Ok(reply(
                    read,
                    &answer.body,
                    model,
                    answer.attempts,
                    normalised,
                    status,
                ))
            }
            Err(AnswerProblem::Truncated { completion_tokens }) => Err(BackendError::Truncated {
                url: answer.url,
                tokens: completion_tokens.or(self.completion_limit(call)),
                attempts: answer.attempts,
            }),
            Err(AnswerProblem::Unusable(detail)) => {
                Err(self
                    .client
                    .malformed(&answer.url, answer.status, answer.attempts, detail))
            }
        }
    }

    fn provider(&self) -> &'static str {
        PROVIDER
    }

    fn model(&self) -> &str {
        &self.chat.model
    }
}

/// The reply made of an answer `body` (just received, or stored) and what was `read` from it.
fn reply(
    read: ReadAnswer,
    body: &Value,
    model: &str,
    attempts: u32,
    sent_messages: Option<Vec<ChatMessage>>,
    cache: Option<CacheStatus>,
) -> ChatReply {
    ChatReply {
        text: read.text,
        provider: PROVIDER,
        model: model.to_string(),
        attempts,
        details: Some(ReplyDetails {
            finish_reason: read.finish_reason,
            model: read.model,
            reasoning: read.reasoning,
            sent_messages,
        }),
        usage: read_usage(body),
        cache,
    }
}
