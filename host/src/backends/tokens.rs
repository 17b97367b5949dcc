//! Token counts for answers that come with none: the offline backend counts the prompt it was
//! given and the answer it wrote with the BPE vocabulary of the configured model's family
//! (`tiktoken-rs`, whose vocabularies are compiled in: no network), so an offline run rehearses
//! the token counts of a real one.

use std::sync::{Arc, Mutex};

use tiktoken_rs::tokenizer::{get_tokenizer, Tokenizer};
use tiktoken_rs::CoreBPE;

use super::{ChatMessage, TokenUsage};

/// Tokens OpenAI's chat format adds around each message (`<|start|>role ... <|end|>`) and to
/// prime the reply, as OpenAI's cookbook counts them for its chat models.
const TOKENS_PER_MESSAGE: u64 = 3;
const TOKENS_PER_REPLY: u64 = 3;

/// A loaded BPE vocabulary. About 33 MB: loaded once and kept until [`release_unused`] (the
/// runner calls it when its backends are done), so the end of a large experiment (its summary
/// analysis, report and index) runs without it.
pub struct Vocabulary {
    bpe: CoreBPE,
    name: &'static str,
}

/// The vocabularies loaded so far, by name.
static LOADED: Mutex<Vec<Arc<Vocabulary>>> = Mutex::new(Vec::new());

/// The vocabulary a model's tokens are counted with: `cl100k_base` for the models that use it
/// (GPT-4, GPT-3.5), `o200k_base` for every other name, known (GPT-4o, GPT-4.1, GPT-5, o-series)
/// or not (a local model's name says nothing about its vocabulary; `o200k_base` is the current
/// OpenAI one). The name is recorded with every count. Loaded on first use.
pub fn vocabulary_for(model: &str) -> Arc<Vocabulary> {
    let name = match get_tokenizer(model) {
        Some(Tokenizer::Cl100kBase) => "cl100k_base",
        _ => "o200k_base",
    };
    // Held while loading: a second caller waits for this load instead of starting its own.
    let mut loaded = LOADED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(vocabulary) = loaded.iter().find(|vocabulary| vocabulary.name == name) {
        return Arc::clone(vocabulary);
    }
    let bpe = match name {
        "cl100k_base" => tiktoken_rs::cl100k_base(),
        _ => tiktoken_rs::o200k_base(),
    }
    // The vocabularies are compiled into the binary: failing to read them is a bug.
    .expect("a vocabulary compiled into tiktoken-rs loads");
    let vocabulary = Arc::new(Vocabulary { bpe, name });
    loaded.push(Arc::clone(&vocabulary));
    vocabulary
}

/// Lets go of the loaded vocabularies: one a caller still holds lives on with it, the others are
/// freed; a later count loads again.
pub fn release_unused() {
    LOADED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clear();
}

/// Starts loading, on a thread of its own, the vocabulary the offline text backend of `config`
/// (a config tree) will count with: the load takes about 0.1 s, and begun as soon as the config
/// is read it overlaps planning and the first calls instead of delaying the first answer. A
/// count that comes before the load is done waits for it. Nothing for other providers.
pub fn start_loading(config: &serde_json::Value) {
    let text = &config["backend"]["text"];
    if text["provider"].as_str() != Some("offline") {
        return;
    }
    let model = text["model"].as_str().unwrap_or_default().to_owned();
    std::thread::spawn(move || vocabulary_for(&model));
}

impl std::fmt::Debug for Vocabulary {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_tuple("Vocabulary")
            .field(&self.name)
            .finish()
    }
}

impl Vocabulary {
    /// The usage of one chat call answered offline: the request's messages in, the answer out.
    pub fn count_chat(&self, messages: &[ChatMessage], answer: &str) -> TokenUsage {
        let count = |text: &str| self.bpe.encode_ordinary(text).len() as u64;
        let input = messages
            .iter()
            .map(|m| TOKENS_PER_MESSAGE + count(&m.role) + count(&m.content))
            .sum::<u64>()
            + TOKENS_PER_REPLY;
        TokenUsage {
            input_tokens: input,
            cached_input_tokens: 0,
            output_tokens: count(answer),
            reasoning_tokens: 0,
            counted_by: self.name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(role: &str, content: &str) -> ChatMessage {
        ChatMessage {
            role: role.into(),
            content: content.into(),
        }
    }

    #[test]
    fn counts_with_the_model_familys_vocabulary() {
        // "hello world" is 2 tokens in both vocabularies; each role 1; 3 per message, 3 to reply.
        let messages = [
            message("system", "hello world"),
            message("user", "hello world"),
        ];
        let count_chat = |model: &str, messages: &[ChatMessage], answer: &str| {
            vocabulary_for(model).count_chat(messages, answer)
        };
        let usage = count_chat("gpt-5.2", &messages, "hello world");
        assert_eq!(usage.counted_by, "o200k_base");
        assert_eq!(usage.input_tokens, 2 * (3 + 1 + 2) + 3);
        assert_eq!(usage.output_tokens, 2);
        assert_eq!(count_chat("gpt-4", &messages, "").counted_by, "cl100k_base");
        assert_eq!(
            count_chat("llama-3.1-8b", &messages, "").counted_by,
            "o200k_base"
        );
    }

    #[test]
    fn a_vocabulary_is_loaded_once_and_shared() {
        let first = vocabulary_for("gpt-5.2");
        let second = vocabulary_for("gpt-5-mini");
        assert!(Arc::ptr_eq(&first, &second));
    }

    #[test]
    fn special_token_text_is_counted_as_ordinary_text() {
        let usage = vocabulary_for("gpt-5.2").count_chat(&[], "<|endoftext|>");
        assert!(usage.output_tokens > 1, "{usage:?}");
    }
}
