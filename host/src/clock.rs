//! UTC timestamps for artifacts: one place that reads the wall clock and formats it.

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
}
