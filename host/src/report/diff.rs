//! The word-level diff of two final prompts, for the A/B pairs: A's text with the words B drops
//! in `<del>`, B's text with the words B adds in `<ins>`. Whitespace is kept as it is, so the two
//! sides read as the prompts themselves. The diff itself is `similar`'s (Myers on words).

use similar::{ChangeTag, TextDiff};

use super::html::escape;

/// `(a_html, b_html)`: each side escaped, with its own changes marked.
pub fn word_diff(a: &str, b: &str) -> (String, String) {
    let diff = TextDiff::from_words(a, b);
    let mut left = String::with_capacity(a.len() + 64);
    let mut right = String::with_capacity(b.len() + 64);
    for change in diff.iter_all_changes() {
        let word = change.value();
        // Whitespace tokens are never marked: a marked space is invisible and only adds noise.
        let blank = word.trim().is_empty();
        match change.tag() {
            ChangeTag::Equal => {
                left.push_str(&escape(word));
                right.push_str(&escape(word));
            }
            ChangeTag::Delete if blank => left.push_str(&escape(word)),
            ChangeTag::Insert if blank => right.push_str(&escape(word)),
            ChangeTag::Delete => {
                left.push_str("<del>");
                left.push_str(&escape(word));
                left.push_str("</del>");
            }
            ChangeTag::Insert => {
                right.push_str("<ins>");
                right.push_str(&escape(word));
                right.push_str("</ins>");
            }
        }
    }
    (left, right)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_dropped_and_added_words_on_their_side() {
        let (a, b) = word_diff("a red fox at dawn", "a small red fox at dusk");
        assert_eq!(a, "a red fox at <del>dawn</del>");
        assert_eq!(b, "a <ins>small</ins> red fox at <ins>dusk</ins>");
    }

    #[test]
    fn words_are_escaped_inside_the_marks() {
        let (a, b) = word_diff("keep <b>", "keep <script>");
        assert_eq!(a, "keep <del>&lt;b&gt;</del>");
        assert_eq!(b, "keep <ins>&lt;script&gt;</ins>");
    }
}
