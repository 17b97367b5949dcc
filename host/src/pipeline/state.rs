//! What one run holds while its pipeline executes: the outputs stages capture and read (by the
//! keys of `stages::keys`, typed through serde with [`RunState::get`] and [`RunState::put`]),
//! the step records of the transcript, and the usage they add up to. The engine (`engine`)
//! fills them; what the keys mean is the stages'.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::backends::{CacheStatus, ChatMessage, TokenUsage};
use crate::cost::RunUsage;

/// The state of one run while its pipeline executes.
#[derive(Debug, Clone, Default)]
pub struct RunState {
    pub generation_id: String,
    pub seed: u64,
    /// Captured values by key (`ab_random_token`, `image_prompt`, ...).
    pub outputs: Map<String, Value>,
    /// Every executed step, in order.
    pub steps: Vec<StepRecord>,
    /// Model calls on the run's longest chain of calls that wait for each other: a parallel
    /// block adds its longest branch, not all of them (what `--estimate` times a run by).
    pub sequential_calls: u64,
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

    /// The structured output `key`, read through serde; a clear error when an earlier stage did
    /// not produce it or produced something else.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<T, String> {
        let value = self
            .outputs
            .get(key)
            .ok_or_else(|| format!("missing required output `{key}`"))?;
        T::deserialize(value).map_err(|error| format!("output `{key}` is malformed: {error}"))
    }

    /// [`RunState::get`] for an output a stage can do without: `None` when it is absent.
    pub fn get_optional<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, String> {
        match self.outputs.contains_key(key) {
            true => self.get(key).map(Some),
            false => Ok(None),
        }
    }

    /// Stores `value` as output `key` (replacing what was there), written through serde.
    pub fn put<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), String> {
        let value = serde_json::to_value(value)
            .map_err(|error| format!("output `{key}` cannot be stored: {error}"))?;
        self.outputs.insert(key.to_owned(), value);
        Ok(())
    }

    /// `{chat_steps, model_calls}` of the steps recorded so far: chat steps are the pipeline's
    /// model requests, model calls the HTTP attempts they took (retries included), so a plugin's
    /// analysis can tell what a run cost without reading its transcript.
    pub fn pipeline_stats(&self) -> Value {
        let (chat_steps, model_calls) =
            self.steps
                .iter()
                .fold((0u64, 0u64), |(steps, calls), step| match step {
                    StepRecord::Chat { attempts, .. } => (steps + 1, calls + u64::from(*attempts)),
                    StepRecord::Action { .. } => (steps, calls),
                });
        serde_json::json!({"chat_steps": chat_steps, "model_calls": model_calls})
    }
}

/// One transcript record.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
// One record per step, built once and serialized: boxing the chat variant would buy nothing.
#[allow(clippy::large_enum_variant)]
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
        /// The call's tokens (`counted_by` says whether the endpoint sent them or the offline
        /// backend counted them); null when an HTTP answer carried no `usage`. On a cache hit
        /// these are the tokens the stored answer cost when it was first made: saved, not spent.
        usage: Option<TokenUsage>,
        /// `hit`, `miss` or `refresh` when the call went through the response cache; absent
        /// when it did not (offline, or `cache.mode = "off"`).
        #[serde(skip_serializing_if = "Option::is_none")]
        cache: Option<CacheStatus>,
        /// `choices[0].finish_reason` (HTTP answers only).
        #[serde(skip_serializing_if = "Option::is_none")]
        finish_reason: Option<String>,
        /// The model the answer names (HTTP answers only; may differ from `params.model`).
        #[serde(skip_serializing_if = "Option::is_none")]
        answer_model: Option<String>,
        /// Reasoning the answer carried (`reasoning_content`, `<think>` blocks), not in `response`.
        #[serde(skip_serializing_if = "Option::is_none")]
        reasoning: Option<String>,
        /// The messages as sent, when the backend normalised them (`alternate_roles`).
        #[serde(skip_serializing_if = "Option::is_none")]
        sent_messages: Option<Vec<ChatMessage>>,
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

/// What the chat steps of `steps` used, each by the model it asked for (`params.model`, the
/// model its price is looked up by; the answer's own name for it is `answer_model`). Cache
/// hits are counted as saved, not spent.
pub fn usage_of(steps: &[StepRecord]) -> RunUsage {
    let mut usage = RunUsage::default();
    for step in steps {
        if let StepRecord::Chat {
            params,
            usage: tokens,
            cache,
            ..
        } = step
        {
            let model = params.get("model").and_then(Value::as_str).unwrap_or("");
            if *cache == Some(CacheStatus::Hit) {
                usage.add_saved_text(model, tokens.as_ref());
            } else {
                usage.add_text(model, tokens.as_ref());
            }
        }
    }
    usage
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Card {
        id: String,
        score: i64,
    }

    #[test]
    fn typed_outputs_round_trip_and_explain_what_is_wrong() {
        let mut state = RunState::default();
        let card = Card {
            id: "A".into(),
            score: 80,
        };
        state.put("card", &card).expect("put");
        assert_eq!(
            state.outputs["card"],
            serde_json::json!({"id": "A", "score": 80})
        );
        assert_eq!(state.get::<Card>("card"), Ok(card));
        assert_eq!(state.get_optional::<Card>("absent"), Ok(None));
        assert_eq!(
            state.get::<Card>("absent"),
            Err("missing required output `absent`".to_owned())
        );
        state.put("text", "plain").expect("put");
        let error = state.get::<Card>("text").expect_err("text is not a card");
        assert!(error.starts_with("output `text` is malformed:"), "{error}");
        assert!(state.get_optional::<Card>("text").is_err());
    }
}
