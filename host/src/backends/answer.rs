//! Reading a chat completion's answer as the OpenAI-compatible servers people run send it: the
//! one place that turns `choices[0]` into the text a stage parses, the reasoning the transcript
//! keeps, the `finish_reason` and the model that answered.
//!
//! What it accepts:
//! - `message.content` as a string, or as a list of parts (`[{"type": "text", "text": ...}]`,
//!   joined without a separator; a part of another type is an error naming it);
//! - `message.reasoning_content` (vLLM, llama.cpp server, DeepSeek) or `message.reasoning`
//!   (Ollama's OpenAI API, OpenRouter): kept as reasoning, never parsed;
//! - `<think>…</think>` blocks in the content (models whose server does not split reasoning
//!   out): cut from the text, appended to the reasoning. A content with a `</think>` and no
//!   opening tag (chat templates that open the block themselves) has everything before it taken
//!   as reasoning; an unclosed `<think>` takes the rest of the content.
//!
//! What it refuses (as [`AnswerProblem`], which the backend turns into a `BackendError` with the
//! URL): an answer cut at the token limit (`finish_reason: "length"`), an answer with only
//! reasoning and no content, a refusal, an empty content.

use serde_json::Value;

use super::{TokenUsage, COUNTED_BY_ENDPOINT};

/// The tags of a reasoning block inside content.
const THINK_OPEN: &str = "<think>";
const THINK_CLOSE: &str = "</think>";
/// How much of the reasoning an only-reasoning error quotes.
const REASONING_PREVIEW_CHARS: usize = 300;

/// The parts of an answer that matter to the pipeline and its transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReadAnswer {
    /// What the stage parses: the content with reasoning blocks cut, trimmed of the blank lines
    /// they leave. Never empty.
    pub(crate) text: String,
    /// `reasoning_content`/`reasoning`, then the `<think>` blocks, joined by a blank line.
    pub(crate) reasoning: Option<String>,
    pub(crate) finish_reason: Option<String>,
    /// The answer's `model`, when the server names one.
    pub(crate) model: Option<String>,
}

/// Why an answer cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AnswerProblem {
    /// `finish_reason: "length"`; `completion_tokens` from `usage` when the server sent it.
    Truncated { completion_tokens: Option<u64> },
    /// Anything else; the text says what, with the finish reason when there is one.
    Unusable(String),
}

/// Reads `choices[0]` of a chat completion body.
pub(crate) fn read_answer(body: &Value) -> Result<ReadAnswer, AnswerProblem> {
    let choice = body.pointer("/choices/0");
    let finish_reason = choice
        .and_then(|c| c.get("finish_reason"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    if finish_reason.as_deref() == Some("length") {
        return Err(AnswerProblem::Truncated {
            completion_tokens: body
                .pointer("/usage/completion_tokens")
                .and_then(Value::as_u64),
        });
    }
    let finish = finish_reason
        .as_deref()
        .map(|r| format!(" (finish_reason `{r}`)"))
        .unwrap_or_default();
    let unusable = |what: &str| AnswerProblem::Unusable(format!("{what}{finish}"));
    let Some(message) = choice.and_then(|c| c.get("message")) else {
        return Err(unusable("no `choices[0].message.content` in the answer"));
    };
    let content = content_text(message.get("content")).map_err(|what| unusable(&what))?;
    let mut reasoning: Vec<String> = ["reasoning_content", "reasoning"]
        .iter()
        .filter_map(|key| message.get(*key).and_then(Value::as_str))
        .filter(|r| !r.trim().is_empty())
        .map(|r| r.trim().to_owned())
        .take(1)
        .collect();
    let text = match content {
        Some(content) => {
            let (text, thoughts) = split_think(&content);
            reasoning.extend(thoughts);
            Some(text)
        }
        None => None,
    };
    let reasoning = (!reasoning.is_empty()).then(|| reasoning.join("\n\n"));
    let text = match text {
        Some(text) if !text.trim().is_empty() => text,
        _ if reasoning.is_some() => {
            // The step fails, so no transcript step keeps the reasoning: its start goes into the
            // error, which the transcript does keep.
            let start: String = reasoning
                .as_deref()
                .unwrap_or_default()
                .chars()
                .take(REASONING_PREVIEW_CHARS)
                .collect();
            return Err(AnswerProblem::Unusable(format!(
                "the model answered only reasoning, no content{finish}; the reasoning began {start:?}"
            )));
        }
        Some(_) => return Err(unusable("`choices[0].message.content` is empty")),
        None => {
            return Err(match message.get("refusal").and_then(Value::as_str) {
                Some(refusal) => unusable(&format!("the model refused: {refusal}")),
                None => unusable("no `choices[0].message.content` in the answer"),
            })
        }
    };
    Ok(ReadAnswer {
        text,
        reasoning,
        finish_reason,
        model: body
            .get("model")
            .and_then(Value::as_str)
            .filter(|m| !m.is_empty())
            .map(str::to_owned),
    })
}

/// The tokens an answer's `usage` reports: `prompt_tokens` and `completion_tokens`, with
/// `prompt_tokens_details.cached_tokens` and `completion_tokens_details.reasoning_tokens` when
/// present (0 otherwise). `None` when there is no `usage` or either main count is missing.
pub(crate) fn read_usage(body: &Value) -> Option<TokenUsage> {
    let usage = body.get("usage")?;
    let count = |pointer: &str| usage.pointer(pointer).and_then(Value::as_u64);
    Some(TokenUsage {
        input_tokens: count("/prompt_tokens")?,
        cached_input_tokens: count("/prompt_tokens_details/cached_tokens").unwrap_or(0),
        output_tokens: count("/completion_tokens")?,
        reasoning_tokens: count("/completion_tokens_details/reasoning_tokens").unwrap_or(0),
        counted_by: COUNTED_BY_ENDPOINT,
    })
}

/// The content as one string: `None` when absent or null; a string as is; a list of parts
/// joined. Anything else, or a part that is not text, is an error saying what was found.
fn content_text(content: Option<&Value>) -> Result<Option<String>, String> {
    match content {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(Value::Array(parts)) => {
            let mut text = String::new();
            for (i, part) in parts.iter().enumerate() {
                let kind = part.get("type").and_then(Value::as_str);
                match (kind, part.get("text").and_then(Value::as_str)) {
                    (Some("text") | None, Some(piece)) => text.push_str(piece),
                    (Some(other), _) if other != "text" => {
                        return Err(format!(
                            "`choices[0].message.content[{i}]` is a `{other}` part; only text parts can be read"
                        ))
                    }
                    _ => {
                        return Err(format!(
                            "`choices[0].message.content[{i}]` has no `text` string"
                        ))
                    }
                }
            }
            Ok(Some(text))
        }
        Some(other) => Err(format!(
            "`choices[0].message.content` is a {}, not a string or a list of text parts",
            json_kind(other)
        )),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

/// Cuts `<think>…</think>` blocks out of `content`: the text left (trimmed when a block was cut)
/// and the blocks' insides, trimmed, blank ones dropped. Content without tags comes back as is.
pub(crate) fn split_think(content: &str) -> (String, Vec<String>) {
    let mut thoughts = Vec::new();
    let mut rest = content;
    // A template that opens the block itself leaves only the closing tag in the answer.
    let open_at = rest.find(THINK_OPEN);
    if let Some(close_at) = rest.find(THINK_CLOSE) {
        if open_at.is_none_or(|open| close_at < open) {
            thoughts.push(rest[..close_at].to_owned());
            rest = &rest[close_at + THINK_CLOSE.len()..];
        }
    }
    let mut text = String::new();
    while let Some(open) = rest.find(THINK_OPEN) {
        text.push_str(&rest[..open]);
        let inside = &rest[open + THINK_OPEN.len()..];
        match inside.find(THINK_CLOSE) {
            Some(close) => {
                thoughts.push(inside[..close].to_owned());
                rest = &inside[close + THINK_CLOSE.len()..];
            }
            None => {
                thoughts.push(inside.to_owned());
                rest = "";
            }
        }
    }
    text.push_str(rest);
    let cut = !thoughts.is_empty();
    let thoughts = thoughts
        .into_iter()
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect();
    if cut {
        (text.trim().to_owned(), thoughts)
    } else {
        (text, thoughts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer(message: Value, finish: &str) -> Value {
        json!({ "model": "m-1", "choices": [{ "message": message, "finish_reason": finish }] })
    }

    #[test]
    fn usage_with_and_without_its_details() {
        let full = json!({"usage": {
            "prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500,
            "prompt_tokens_details": {"cached_tokens": 1024},
            "completion_tokens_details": {"reasoning_tokens": 256},
        }});
        assert_eq!(
            read_usage(&full),
            Some(TokenUsage {
                input_tokens: 1200,
                cached_input_tokens: 1024,
                output_tokens: 300,
                reasoning_tokens: 256,
                counted_by: COUNTED_BY_ENDPOINT,
            })
        );
        let plain = json!({"usage": {"prompt_tokens": 12, "completion_tokens": 3}});
        let plain = read_usage(&plain).expect("usage");
        assert_eq!((plain.cached_input_tokens, plain.reasoning_tokens), (0, 0));
        // Without either main count the call's tokens are unknown, not 0.
        assert_eq!(
            read_usage(&json!({"usage": {"completion_tokens": 7}})),
            None
        );
        assert_eq!(read_usage(&json!({})), None);
    }

    #[test]
    fn content_as_a_string_or_text_parts() {
        let plain = read_answer(&answer(json!({"content": "a harbour"}), "stop")).unwrap();
        assert_eq!(
            plain,
            ReadAnswer {
                text: "a harbour".into(),
                reasoning: None,
                finish_reason: Some("stop".into()),
                model: Some("m-1".into()),
            }
        );
        let parts = json!({"content": [{"type": "text", "text": "a "}, {"type": "text", "text": "harbour"}]});
        assert_eq!(
            read_answer(&answer(parts, "stop")).unwrap().text,
            "a harbour"
        );
        let image = json!({"content": [{"type": "image_url", "image_url": {"url": "x"}}]});
        let Err(AnswerProblem::Unusable(why)) = read_answer(&answer(image, "stop")) else {
            panic!("an image part was read");
        };
        assert!(why.contains("`image_url` part"), "{why}");
        let number = json!({"content": 5});
        assert!(matches!(
            read_answer(&answer(number, "stop")),
            Err(AnswerProblem::Unusable(why)) if why.contains("is a number")
        ));
    }

    #[test]
    fn reasoning_fields_are_kept_apart_from_the_text() {
        for key in ["reasoning_content", "reasoning"] {
            let read =
                read_answer(&answer(json!({"content": "ok", key: " mulling "}), "stop")).unwrap();
            assert_eq!(
                (read.text.as_str(), read.reasoning.as_deref()),
                ("ok", Some("mulling"))
            );
        }
        let only = json!({"content": null, "reasoning_content": "all thought"});
        assert_eq!(
            read_answer(&answer(only, "stop")),
            Err(AnswerProblem::Unusable(
                "the model answered only reasoning, no content (finish_reason `stop`); the reasoning began \"all thought\"".into()
            ))
        );
    }

    #[test]
    fn think_blocks_are_cut_from_the_text() {
        let read = read_answer(&answer(
            json!({"content": "<think>\nplan it\n</think>\n\n{\"a\": 1}"}),
            "stop",
        ))
        .unwrap();
        assert_eq!(read.text, "{\"a\": 1}");
        assert_eq!(read.reasoning.as_deref(), Some("plan it"));
        assert_eq!(
            split_think("first</think> answer"),
            ("answer".into(), vec!["first".into()])
        );
        assert_eq!(
            split_think("a<think>x</think>b<think>y"),
            ("ab".into(), vec!["x".into(), "y".into()])
        );
        assert_eq!(split_think(" as is \n"), (" as is \n".into(), vec![]));
        let only_think = json!({"content": "<think>hmm</think>"});
        assert!(matches!(
            read_answer(&answer(only_think, "stop")),
            Err(AnswerProblem::Unusable(why)) if why.starts_with("the model answered only reasoning")
        ));
    }

    #[test]
    fn length_is_truncation_with_the_token_count_when_sent() {
        let mut body = answer(json!({"content": "half a sen"}), "length");
        assert_eq!(
            read_answer(&body),
            Err(AnswerProblem::Truncated {
                completion_tokens: None
            })
        );
        body["usage"] = json!({"completion_tokens": 512});
        assert_eq!(
            read_answer(&body),
            Err(AnswerProblem::Truncated {
                completion_tokens: Some(512)
            })
        );
    }
}
