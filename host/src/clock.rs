//! The only non-deterministic inputs, read in one place: the wall clock (UTC timestamps for
//! artifacts) and OS entropy (fresh seeds when none is given; always recorded).

use std::time::SystemTime;

/// One reading of the wall clock, formatted the ways artifacts need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timestamp {
    rfc3339: String,
}

impl Timestamp {
    /// The current time.
    pub fn now() -> Timestamp {
        Timestamp::at(SystemTime::now())
    }

    /// A given time (for tests).
    pub fn at(time: SystemTime) -> Timestamp {
        Timestamp {
            rfc3339: humantime::format_rfc3339_seconds(time).to_string(),
        }
    }

    /// `YYYY-MM-DDTHH:MM:SSZ`.
    pub fn iso(&self) -> &str {
        &self.rfc3339
    }

    /// `YYYY-MM-DD`.
    pub fn date(&self) -> &str {
        &self.rfc3339[..10]
    }

    /// `YYYYMMDD_HHMMSS`, for ids and directory names.
    pub fn compact(&self) -> String {
        let digits = |range: std::ops::Range<usize>| self.rfc3339[range].replace(['-', ':'], "");
        format!("{}_{}", digits(0..10), digits(11..19))
    }
}

/// A seed from OS entropy, at most [`plugin_api::seed::MAX_SEED`] (53 bits) so it survives any JSON
/// reader as an exact number.
pub fn fresh_seed() -> u64 {
    use rand_core::{RngCore, SeedableRng};
    rand_xoshiro::Xoshiro256PlusPlus::from_entropy().next_u64() >> 11
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn formats_one_reading_three_ways() {
        let stamp = Timestamp::at(UNIX_EPOCH + Duration::from_secs(1_795_843_815));
        assert_eq!(stamp.iso(), "2026-11-28T05:30:15Z");
        assert_eq!(stamp.date(), "2026-11-28");
        assert_eq!(stamp.compact(), "20261128_053015");
    }

    #[test]
    fn fresh_seeds_fit_in_53_bits() {
        for _ in 0..100 {
            assert!(fresh_seed() <= plugin_api::seed::MAX_SEED);
        }
    }
}
