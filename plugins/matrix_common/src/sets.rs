//! The sets of a 3×3 experiment: which ones run (`--sets`) and the seed of each run.
//!
//! Seeds differ across sets: run `r` of the set with index `s` (A=0, B=1, C=2) has seed
//! `base + s * 10000 + (r - 1)`, so A1 = base, A2 = base + 1, B1 = base + 10000, C3 = base + 20002.

use plugin_api::ExperimentError;

/// Seed distance between two sets; also the largest `--runs-per-set` that keeps their seeds apart.
pub const SET_SEED_STRIDE: u64 = 10_000;

/// One row of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SetId {
    A,
    B,
    C,
}

impl SetId {
    /// Every set, in the default order.
    pub const ALL: [SetId; 3] = [SetId::A, SetId::B, SetId::C];

    /// The set's letter, which is also its plan `variant`.
    pub fn letter(self) -> &'static str {
        match self {
            SetId::A => "A",
            SetId::B => "B",
            SetId::C => "C",
        }
    }

    /// 0 for A, 1 for B, 2 for C.
    pub fn index(self) -> u64 {
        match self {
            SetId::A => 0,
            SetId::B => 1,
            SetId::C => 2,
        }
    }

    /// Parses an upper-case letter.
    pub fn parse(text: &str) -> Option<SetId> {
        SetId::ALL.into_iter().find(|set| set.letter() == text)
    }
}

/// Parses `--sets`: comma-separated ids, trimmed and upper-cased, in execution order. Empty
/// pieces are skipped; nothing at all means A, B, C.
///
/// # Errors
///
/// Ids other than A, B, C (all of them are named), or a set given twice (each set runs once, so
/// that `(variant, run)` stays unique in the plan).
pub fn parse_sets(text: &str) -> Result<Vec<SetId>, ExperimentError> {
    let ids: Vec<String> = text
        .split(',')
        .map(|piece| piece.trim().to_uppercase())
        .filter(|piece| !piece.is_empty())
        .collect();
    if ids.is_empty() {
        return Ok(SetId::ALL.to_vec());
    }

    let unknown: Vec<&str> = ids
        .iter()
        .map(String::as_str)
        .filter(|id| SetId::parse(id).is_none())
        .collect();
    if !unknown.is_empty() {
        return Err(ExperimentError::new(format!(
            "unknown set id(s): {} (expected: A, B, C)",
            unknown.join(", ")
        )));
    }

    let mut sets = Vec::with_capacity(ids.len());
    for set in ids.iter().filter_map(|id| SetId::parse(id)) {
        if sets.contains(&set) {
            return Err(ExperimentError::new(format!(
                "set `{}` is given twice in `--sets` (each set runs once)",
                set.letter()
            )));
        }
        sets.push(set);
    }
    Ok(sets)
}

/// The seed of run `run` (1-based) of `set`: `base_seed + index * 10000 + (run - 1)`.
///
/// # Errors
///
/// `run` is 0, or the seed does not fit in 64 bits.
pub fn run_seed(base_seed: u64, set: SetId, run: u32) -> Result<u64, ExperimentError> {
    let offset = u64::from(run)
        .checked_sub(1)
        .ok_or_else(|| ExperimentError::new("run indices start at 1"))?;
    base_seed
        .checked_add(set.index() * SET_SEED_STRIDE + offset)
        .ok_or_else(|| {
            ExperimentError::new(format!(
                "base seed {base_seed} is too large: the seed of run `{}{run}` does not fit in 64 bits",
                set.letter()
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_trimmed_upper_cased_sets_in_the_given_order() {
        assert_eq!(parse_sets(" c, a ").unwrap(), vec![SetId::C, SetId::A]);
        assert_eq!(parse_sets("B").unwrap(), vec![SetId::B]);
        assert_eq!(parse_sets("a,,b,").unwrap(), vec![SetId::A, SetId::B]);
    }

    #[test]
    fn empty_sets_mean_all_three() {
        assert_eq!(parse_sets("").unwrap(), SetId::ALL.to_vec());
        assert_eq!(parse_sets(" , ").unwrap(), SetId::ALL.to_vec());
    }

    #[test]
    fn unknown_sets_are_all_named() {
        let error = parse_sets("A,x,D").unwrap_err();
        assert_eq!(
            error.message(),
            "unknown set id(s): X, D (expected: A, B, C)"
        );
    }

    #[test]
    fn a_repeated_set_is_an_error() {
        let error = parse_sets("A,b,a").unwrap_err();
        assert_eq!(
            error.message(),
            "set `A` is given twice in `--sets` (each set runs once)"
        );
    }

    #[test]
    fn seed_formula() {
        assert_eq!(run_seed(7, SetId::A, 1).unwrap(), 7);
        assert_eq!(run_seed(7, SetId::A, 2).unwrap(), 8);
        assert_eq!(run_seed(7, SetId::B, 1).unwrap(), 10_007);
        assert_eq!(run_seed(7, SetId::C, 3).unwrap(), 20_009);
    }

    #[test]
    fn seed_overflow_and_run_zero_are_errors() {
        let error = run_seed(u64::MAX - 5, SetId::B, 1).unwrap_err();
        assert!(error.message().contains("run `B1` does not fit"), "{error}");
        assert!(run_seed(u64::MAX, SetId::A, 1).is_ok());
        assert!(run_seed(1, SetId::A, 0).is_err());
    }
}
