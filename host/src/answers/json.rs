//! Finding the JSON in a model's answer, for every parser of `answers` that reads JSON (idea cards,
//! judge scores, the dislike rewrite): many servers and models wrap JSON in a Markdown code
//! fence (```` ```json … ``` ````), often with a sentence before or after it, even when asked
//! not to. What is inside the first fence is the JSON; an answer with no fence is taken whole.
//! Parsing (and its errors) stays with each parser.

/// The fence marker: a line whose trimmed start is this opens or closes a block.
const FENCE: &str = "```";

/// The JSON text of `answer`: the inside of its first fenced block (from the line after the
/// opening fence to the line before the closing one, or to the end when the block is never
/// closed), else `answer` itself. A JSON document never holds a line starting with a fence (its
/// strings cannot hold a raw newline), so an unfenced answer is never cut.
pub fn extract_json(answer: &str) -> &str {
    let mut offset = 0;
    let mut start = None;
    for line in answer.split_inclusive('\n') {
        let at = offset;
        offset += line.len();
        if !line.trim_start().starts_with(FENCE) {
            continue;
        }
        match start {
            None => start = Some(offset),
            Some(begin) => return answer[begin..at].trim(),
        }
    }
    match start {
        Some(begin) => answer[begin..].trim(),
        None => answer,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fenced_json_is_found_and_bare_json_kept() {
        assert_eq!(extract_json("```json\n{\"a\": 1}\n```"), "{\"a\": 1}");
        assert_eq!(extract_json("```\n[1, 2]\n```\n"), "[1, 2]");
        assert_eq!(
            extract_json("Here it is:\n\n```json\n{\"a\": 1}\n```\nHope it helps."),
            "{\"a\": 1}"
        );
        assert_eq!(extract_json("```json\n{\"a\": 1}"), "{\"a\": 1}");
        assert_eq!(extract_json(" {\"a\": \"x```\"} "), " {\"a\": \"x```\"} ");
    }
}
