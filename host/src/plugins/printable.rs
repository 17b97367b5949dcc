//! Text a plugin controls (names, summaries, flag help, hook error messages), made safe to print
//! on one terminal line: control characters are escaped and long text is cut.
//!
//! A descriptor is whatever the plugin says it is: a summary of 64 KiB, a name holding `\n` or an
//! ANSI escape that repaints the terminal. The commands that print such text pass it through
//! [`printable`] first; `--json` output keeps the text as it is (JSON escapes it, and a program
//! reading it wants all of it).

use std::borrow::Cow;

/// How many characters of an experiment name `list` and the error messages show.
pub const NAME_CHARS: usize = 64;
/// How many characters of a summary are shown (it is one line of `list`).
pub const SUMMARY_CHARS: usize = 100;
/// How many characters of a flag's help text are shown.
pub const HELP_CHARS: usize = 400;
/// How many characters of a load failure's one-line reason are kept (`--verbose` has the rest).
pub const REASON_CHARS: usize = 400;

/// `text` with every control character (and every invisible bidirectional-override character,
/// which reorders what a terminal shows) escaped as `\n`, `\u{1b}`, ..., cut to at most
/// `max_chars` characters followed by `…` when longer.
pub fn printable(text: &str, max_chars: usize) -> Cow<'_, str> {
    let clean = text.chars().count() <= max_chars && !text.chars().any(needs_escape);
    if clean {
        return Cow::Borrowed(text);
    }
    let mut out = String::new();
    let mut shown = 0;
    for c in text.chars() {
        let piece: String = if needs_escape(c) {
            c.escape_default().collect()
        } else {
            c.to_string()
        };
        // An escape is never split: it is shown whole or not at all.
        let width = piece.chars().count();
        if shown + width > max_chars {
            out.push('…');
            return Cow::Owned(out);
        }
        out.push_str(&piece);
        shown += width;
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_short_text_is_unchanged() {
        assert!(matches!(
            printable("A/B test — 5 pairs", 40),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(
            printable("two\nlines\tand\u{1b}[31mred", 100),
            "two\\nlines\\tand\\u{1b}[31mred"
        );
        assert_eq!(printable("a\u{202e}b", 100), "a\\u{202e}b");
    }

    #[test]
    fn long_text_is_cut_on_a_character_never_inside_an_escape() {
        let long = "x".repeat(64 * 1024);
        let shown = printable(&long, 10);
        assert_eq!(shown, format!("{}…", "x".repeat(10)));
        assert_eq!(printable("abcdefghi\nj", 10), "abcdefghi…");
        assert_eq!(printable("ééééé", 3), "ééé…");
        assert_eq!(printable("exactly10!", 10), "exactly10!");
    }
}
