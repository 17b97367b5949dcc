//! Token counts for answers that come with none: the offline backend counts the prompt it was
//! given and the answer it wrote with the BPE vocabulary of the configured model's family
//! (`tiktoken-rs`, whose vocabularies are compiled in: no network), so an offline run rehearses
//! the token counts of a real one.

use tiktoken_rs::tokenizer::{get_tokenizer, Tokenizer};
use tiktoken_rs::CoreBPE;

use crate::backends::ChatMessage;

use super::TokenUsage;

/// Tokens OpenAI's chat format adds around each message (`<|start|>role ... <|end|>`) and to
/// prime the reply, as OpenAI's cookbook counts them for its chat models.
const TOKENS_PER_MESSAGE: u64 = 3;
const TOKENS_PER_REPLY: u64 = 3;

/// The vocabulary a model's tokens are counted with: `cl100k_base` for the models that use it
/// (GPT-4, GPT-3.5), `o200k_base` for every other name, known (GPT-4o, GPT-4.1, GPT-5, o-series)
/// or not (a local model's name says nothing about its vocabulary; `o200k_base` is the current
/// OpenAI one). The name is recorded with every count.
fn vocabulary(model: &str) -> (&'static CoreBPE, &'static str) {
    match get_tokenizer(model) {
        Some(Tokenizer::Cl100kBase) => (tiktoken_rs::cl100k_base_singleton(), "cl100k_base"),
        _ => (tiktoken_rs::o200k_base_singleton(), "o200k_base"),
    }
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
    std::thread::spawn(move || vocabulary(&model));
}

/// The usage of one chat call answered offline: the request's messages in, the answer out.
pub fn count_chat(model: &str, messages: &[ChatMessage], answer: &str) -> TokenUsage {
    let (bpe, name) = vocabulary(model);
    let count = |text: &str| bpe.encode_ordinary(text).len() as u64;
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
        counted_by: name,
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
    fn special_token_text_is_counted_as_ordinary_text() {
        let usage = count_chat("gpt-5.2", &[], "<|endoftext|>");
        assert!(usage.output_tokens > 1, "{usage:?}");
    }
}
