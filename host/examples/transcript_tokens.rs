//! Counts what the chat steps of an experiment's transcripts sent and received, for
//! scripts/compare-estimate.sh: an endpoint's own `usage` is counted its own way (fakellm counts
//! characters / 4), so the answers are counted again here with the offline backend's tokenizer
//! (`backends::tokens`, the configured model's vocabulary), the ruler `--estimate` measures with.
//! The transcripts' prompts are not counted: a transcript records a step's last message whole but its earlier
//! messages only as a character count (`input_chars` covers them all), so inputs are compared in
//! characters.
//!
//! Given the requests as sent (one JSON body per line, as scripts/third-party-server/
//! record_requests.py logs them), their messages are counted too, the way the offline backend
//! counts a request's input (`Vocabulary::count_chat`).
//!
//! Usage: cargo run -p image-project --example transcript_tokens -- MODEL LOGS_DIR [REQUESTS]
//! Prints one JSON object: `chat_steps`, `output_tokens` (the answers, counted here),
//! `input_chars`, `response_chars`, `recorded_input_tokens`/`recorded_output_tokens` (the
//! steps' own `usage`, as the backend that answered recorded it; `steps_without_usage` counts the
//! steps that recorded none and are not in those two) and, with REQUESTS, `requests` and
//! `input_tokens` (their messages, counted here).

use std::path::Path;
use std::process::ExitCode;

use image_project::backends::tokens::{vocabulary_for, Vocabulary};
use image_project::backends::ChatMessage;
use serde_json::Value;

#[derive(Default)]
struct Totals {
    chat_steps: u64,
    output_tokens: u64,
    input_chars: u64,
    response_chars: u64,
    recorded_input_tokens: u64,
    recorded_output_tokens: u64,
    steps_without_usage: u64,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (model, dir, requests) = match args.as_slice() {
        [model, dir] => (model, dir, None),
        [model, dir, requests] => (model, dir, Some(Path::new(requests))),
        _ => {
            eprintln!("usage: transcript_tokens MODEL LOGS_DIR [REQUESTS]");
            return ExitCode::from(2);
        }
    };
    let vocabulary = vocabulary_for(model);
    let sent = match requests
        .map(|path| count_requests(&vocabulary, path))
        .transpose()
    {
        Ok(sent) => sent,
        Err(message) => {
            eprintln!("error: transcript_tokens: {message}");
            return ExitCode::FAILURE;
        }
    };
    match count(&vocabulary, Path::new(dir)) {
        Ok(t) => {
            let mut totals = serde_json::json!({
                    "chat_steps": t.chat_steps,
                    "output_tokens": t.output_tokens,
                    "input_chars": t.input_chars,
                    "response_chars": t.response_chars,
                    "recorded_input_tokens": t.recorded_input_tokens,
                    "recorded_output_tokens": t.recorded_output_tokens,
                    "steps_without_usage": t.steps_without_usage,
            });
            if let Some((requests, input_tokens)) = sent {
                totals["requests"] = requests.into();
                totals["input_tokens"] = input_tokens.into();
            }
            println!("{totals}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: transcript_tokens: {message}");
            ExitCode::FAILURE
        }
    }
}

fn count(vocabulary: &Vocabulary, dir: &Path) -> Result<Totals, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot list `{}`: {e}", dir.display()))?;
    let mut totals = Totals::default();
    let mut files = 0;
    for entry in entries {
        let path = entry
            .map_err(|e| format!("cannot list `{}`: {e}", dir.display()))?
            .path();
        if !path.to_string_lossy().ends_with("_transcript.json") {
            continue;
        }
        files += 1;
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
        let transcript: Value = serde_json::from_str(&text)
            .map_err(|e| format!("`{}` is not JSON: {e}", path.display()))?;
        let steps = transcript["steps"]
            .as_array()
            .ok_or_else(|| format!("`{}` has no `steps` list", path.display()))?;
        for step in steps.iter().filter(|step| step["type"] == "chat") {
            // A chat step without its answer or sizes would make the totals silently short.
            let field = |key: &str| {
                step[key]
                    .as_u64()
                    .ok_or_else(|| format!("a chat step of `{}` has no `{key}`", path.display()))
            };
            let response = step["response"]
                .as_str()
                .ok_or_else(|| format!("a chat step of `{}` has no `response`", path.display()))?;
            totals.chat_steps += 1;
            totals.output_tokens += vocabulary.count_chat(&[], response).output_tokens;
            totals.input_chars += field("input_chars")?;
            totals.response_chars += field("response_chars")?;
            match (
                step["usage"]["input_tokens"].as_u64(),
                step["usage"]["output_tokens"].as_u64(),
            ) {
                (Some(input), Some(output)) => {
                    totals.recorded_input_tokens += input;
                    totals.recorded_output_tokens += output;
                }
                _ => totals.steps_without_usage += 1,
            }
        }
    }
    if files == 0 {
        return Err(format!("no `*_transcript.json` in `{}`", dir.display()));
    }
    Ok(totals)
}

/// The requests logged in `path` and the input tokens of their messages.
fn count_requests(vocabulary: &Vocabulary, path: &Path) -> Result<(u64, u64), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    let mut totals = (0, 0);
    for (index, line) in text.lines().enumerate() {
        let body: Value = serde_json::from_str(line).map_err(|e| {
            format!(
                "line {} of `{}` is not JSON: {e}",
                index + 1,
                path.display()
            )
        })?;
        let messages: Vec<ChatMessage> =
            serde_json::from_value(body["messages"].clone()).map_err(|e| {
                format!(
                    "line {} of `{}` has no list of messages: {e}",
                    index + 1,
                    path.display()
                )
            })?;
        totals.0 += 1;
        totals.1 += vocabulary.count_chat(&messages, "").input_tokens;
    }
    Ok(totals)
}
