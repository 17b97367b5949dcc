//! Titles for full-mode images (reference §3.3): a separate model call asking for 2–4 Title Case
//! words, checked, retried up to three times, made unique against earlier titles, and a sanitised
//! fallback when every answer is unusable.

use minijinja::context;
use serde::Serialize;

use crate::backends::{
    CacheStatus, ChatCall, ChatMessage, Expect, ResponseShape, TextBackend, TokenUsage,
};
use crate::cost::RunUsage;

const ATTEMPTS: usize = 3;
/// How many earlier titles the model is asked to avoid.
const AVOID_AT_MOST: usize = 25;

/// The title of one image and how it was found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TitleOutcome {
    pub title: String,
    /// `llm` (a valid answer, perhaps disambiguated) or `fallback`.
    pub title_source: &'static str,
    /// The last raw answer.
    pub title_raw: String,
    pub attempts: Vec<TitleAttempt>,
}

/// One attempt: the answer and why it was refused, if it was.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TitleAttempt {
    pub raw: String,
    pub problem: Option<String>,
    /// The model asked, and the call's tokens (null when the answer carried no `usage`).
    pub model: String,
    pub usage: Option<TokenUsage>,
    /// What the response cache did for the call (absent when it went through none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<CacheStatus>,
}

impl TitleOutcome {
    /// What the title calls used.
    pub fn usage(&self) -> RunUsage {
        let mut usage = RunUsage::default();
        for attempt in &self.attempts {
            if attempt.cache == Some(CacheStatus::Hit) {
                usage.add_saved_text(&attempt.model, attempt.usage.as_ref());
            } else {
                usage.add_text(&attempt.model, attempt.usage.as_ref());
            }
        }
        // One attempt after the other.
        usage.add_sequential(self.attempts.len() as u64);
        usage
    }
}

/// Asks the model for a title for `prompt`, unique against `existing` (case-insensitive).
pub fn generate_title(
    backend: &dyn TextBackend,
    generation_id: &str,
    prompt: &str,
    seed: u64,
    existing: &[String],
) -> Result<TitleOutcome, String> {
    let avoid: Vec<&String> = existing.iter().rev().take(AVOID_AT_MOST).collect();
    let mut attempts = Vec::new();
    for attempt in 0..ATTEMPTS {
        let system = crate::prompts::render("title_system", context! { retry => attempt > 0 })?;
        let user =
            crate::prompts::render("title_user", context! { prompt => prompt, avoid => avoid })?;
        let messages = [
            ChatMessage {
                role: "system".into(),
                content: system,
            },
            ChatMessage {
                role: "user".into(),
                content: user,
            },
        ];
        let path = format!("title/attempt_{:02}", attempt + 1);
        let reply = backend
            .chat(&ChatCall {
                generation_id,
                step_path: &path,
                messages: &messages,
                temperature: 0.2,
                model: None,
                shape: ResponseShape::Line {
                    format: Some("title"),
                },
                expect: &Expect::default(),
                seed,
                max_completion_tokens: None,
            })
            .map_err(|error| format!("title generation failed: {error}"))?;
        match check_title(&reply.text) {
            Ok(title) => {
                attempts.push(TitleAttempt {
                    raw: reply.text.clone(),
                    problem: None,
                    model: reply.model,
                    usage: reply.usage,
                    cache: reply.cache,
                });
                return Ok(TitleOutcome {
                    title: make_unique(&title, existing),
                    title_source: "llm",
                    title_raw: reply.text,
                    attempts,
                });
            }
            Err(problem) => attempts.push(TitleAttempt {
                raw: reply.text,
                problem: Some(problem),
                model: reply.model,
                usage: reply.usage,
                cache: reply.cache,
            }),
        }
    }
    let raw = attempts
        .last()
        .map(|attempt| attempt.raw.clone())
        .unwrap_or_default();
    Ok(TitleOutcome {
        title: make_unique(&sanitise(&raw), existing),
        title_source: "fallback",
        title_raw: raw,
        attempts,
    })
}

/// The title in an answer, or why the answer is not one.
pub fn check_title(raw: &str) -> Result<String, String> {
    let lines: Vec<&str> = raw
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    let [line] = lines.as_slice() else {
        return Err(format!("expected one line, got {}", lines.len()));
    };
    let title = line.trim_matches(|c| c == '"' || c == '\'').trim();
    if !title
        .chars()
        .all(|c| c.is_ascii_alphabetic() || c == ' ' || c == '-')
    {
        return Err("only letters, spaces and hyphens are allowed".to_owned());
    }
    let words: Vec<&str> = title.split_whitespace().collect();
    if !(2..=4).contains(&words.len()) {
        return Err(format!("expected 2 to 4 words, got {}", words.len()));
    }
    for segment in words.iter().flat_map(|word| word.split('-')) {
        if !(is_title_case(segment) || roman_value(segment).is_some()) {
            return Err(format!("`{segment}` is not in Title Case"));
        }
    }
    Ok(words.join(" "))
}

fn is_title_case(word: &str) -> bool {
    let mut chars = word.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase()) && chars.all(|c| c.is_ascii_lowercase())
}

const ROMAN: [&str; 20] = [
    "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII", "XIII", "XIV", "XV",
    "XVI", "XVII", "XVIII", "XIX", "XX",
];

fn roman_value(word: &str) -> Option<usize> {
    ROMAN
        .iter()
        .position(|numeral| *numeral == word)
        .map(|index| index + 1)
}

/// `title`, or `title II`, `title III`, ... (`-II` on the last word when it already has 4
/// words; ` (n)` past XX): the first that no existing title has, ignoring case.
pub fn make_unique(title: &str, existing: &[String]) -> String {
    let taken = |candidate: &str| {
        existing
            .iter()
            .any(|other| other.eq_ignore_ascii_case(candidate))
    };
    if !taken(title) {
        return title.to_owned();
    }
    let four_words = title.split_whitespace().count() >= 4;
    for n in 2.. {
        let suffix = match ROMAN.get(n - 1) {
            Some(numeral) if four_words => format!("-{numeral}"),
            Some(numeral) => format!(" {numeral}"),
            None => format!(" ({n})"),
        };
        let candidate = format!("{title}{suffix}");
        if !taken(&candidate) {
            return candidate;
        }
    }
    unreachable!("the loop above returns for some n")
}

/// A loose title from an unusable answer: its first 4 letter-words in Title Case, or `Untitled`.
pub fn sanitise(raw: &str) -> String {
    let words: Vec<String> = raw
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|word| !word.is_empty())
        .take(4)
        .map(|word| {
            let lower = word.to_ascii_lowercase();
            let mut chars = lower.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect();
    if words.len() < 2 {
        "Untitled".to_owned()
    } else {
        words.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_two_to_four_title_case_words() {
        assert_eq!(
            check_title("\"Quiet Ember Garden\"\n").unwrap(),
            "Quiet Ember Garden"
        );
        assert_eq!(
            check_title("Harbour Lights-II").unwrap(),
            "Harbour Lights-II"
        );
        for bad in [
            "Ember",
            "One Two Three Four Five",
            "quiet garden",
            "Quiet, Garden",
            "A\nB",
            "",
        ] {
            assert!(check_title(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn unique_titles_get_roman_numerals() {
        let existing = vec![
            "Quiet Ember Garden".to_owned(),
            "quiet ember garden ii".to_owned(),
        ];
        assert_eq!(
            make_unique("Quiet Ember Garden", &existing),
            "Quiet Ember Garden III"
        );
        assert_eq!(make_unique("Salt Wind", &existing), "Salt Wind");
        let four = vec!["Old Red Brick Mill".to_owned()];
        assert_eq!(
            make_unique("Old Red Brick Mill", &four),
            "Old Red Brick Mill-II"
        );
    }

    #[test]
    fn fallback_sanitises_or_says_untitled() {
        assert_eq!(
            sanitise("the GOLDEN hour, over 3 rooftops!"),
            "The Golden Hour Over"
        );
        assert_eq!(sanitise("!!!"), "Untitled");
    }
}
