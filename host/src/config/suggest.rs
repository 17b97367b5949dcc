//! "Did you mean" suggestions for misspelt names (config sections, runner keys).

/// The candidate closest to `input`, if one is close enough to be a likely typo.
///
/// Closeness is the edit distance, ignoring ASCII case, where swapping two neighbours counts as
/// one edit (`moed` is one edit from `mode`); "close enough" allows one edit per three characters
/// of input (at least one). Ties go to the earlier candidate.
pub fn did_you_mean<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let input_lower = input.to_ascii_lowercase();
    let limit = (input.chars().count() / 3).max(1);
    let mut best: Option<(usize, &'a str)> = None;
    for candidate in candidates {
        let distance = edit_distance(&input_lower, &candidate.to_ascii_lowercase());
        if distance <= limit && !matches!(best, Some((d, _)) if d <= distance) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

/// Edit distance over chars: insertions, deletions, substitutions and swaps of two neighbours
/// (optimal string alignment).
fn edit_distance(a: &str, b: &str) -> usize {
    strsim::osa_distance(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECTIONS: [&str; 4] = ["run", "image", "prompt", "experiment_runners"];

    #[test]
    fn close_names_are_suggested() {
        assert_eq!(did_you_mean("promt", SECTIONS), Some("prompt"));
        assert_eq!(did_you_mean("Image", SECTIONS), Some("image"));
        assert_eq!(did_you_mean("runs", SECTIONS), Some("run"));
        assert_eq!(
            did_you_mean("experiments_runner", SECTIONS),
            Some("experiment_runners")
        );
    }

    #[test]
    fn distant_names_are_not() {
        assert_eq!(did_you_mean("upscale", SECTIONS), None);
        assert_eq!(did_you_mean("x", SECTIONS), None);
        assert_eq!(did_you_mean("anything", []), None);
    }

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
        assert_eq!(edit_distance("moed", "mode"), 1);
    }

    #[test]
    fn swapped_letters_are_one_typo() {
        assert_eq!(did_you_mean("moed", ["mode"]), Some("mode"));
        assert_eq!(did_you_mean("nmae", ["stage", "name"]), Some("name"));
    }
}
