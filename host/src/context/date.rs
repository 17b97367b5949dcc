//! The little calendar arithmetic the injectors need: parsing `YYYY-MM-DD`, day counts between
//! dates, weekdays. Proleptic Gregorian, no time zones (a context date is a calendar day).

use std::fmt;

/// A calendar day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    pub year: i32,
    pub month: u32,
    pub day: u32,
}

/// Monday is 0, Sunday 6.
pub const THURSDAY: u32 = 3;

impl Date {
    /// The date, when it exists.
    pub fn new(year: i32, month: u32, day: u32) -> Option<Date> {
        ((1..=12).contains(&month) && (1..=days_in_month(year, month)).contains(&day))
            .then_some(Date { year, month, day })
    }

    /// Parses `YYYY-MM-DD` (exactly: four, two and two ASCII digits).
    ///
    /// # Errors
    ///
    /// A predicate for the message (`is not a date written ...`, `is not a real date`).
    pub fn parse(text: &str) -> Result<Date, &'static str> {
        let bytes = text.as_bytes();
        let digits = |range: std::ops::Range<usize>| bytes[range].iter().all(u8::is_ascii_digit);
        if bytes.len() != 10
            || bytes[4] != b'-'
            || bytes[7] != b'-'
            || !digits(0..4)
            || !digits(5..7)
            || !digits(8..10)
        {
            return Err("is not a date written `YYYY-MM-DD`");
        }
        // All ASCII digits: the slices are char boundaries and the numbers parse.
        let number = |range: std::ops::Range<usize>| text[range].parse::<u32>().unwrap_or(0);
        let year = i32::try_from(number(0..4)).unwrap_or(0);
        Date::new(year, number(5..7), number(8..10)).ok_or("is not a real date")
    }

    /// Days since 1970-01-01 (negative before), by Howard Hinnant's `days_from_civil`.
    pub fn days(self) -> i64 {
        let year = i64::from(self.year) - i64::from(self.month <= 2);
        let era = year.div_euclid(400);
        let year_of_era = year - era * 400;
        let month = i64::from(self.month);
        let day_of_year =
            (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        era * 146_097 + day_of_era - 719_468
    }

    /// The day of the week, Monday 0 to Sunday 6.
    pub fn weekday(self) -> u32 {
        // 1970-01-01 was a Thursday; rem_euclid of 7 fits a u32.
        u32::try_from((self.days() + i64::from(THURSDAY)).rem_euclid(7)).unwrap_or(0)
    }

    /// Whole days from `self` to `later` (negative when `later` is earlier).
    pub fn days_until(self, later: Date) -> i64 {
        later.days() - self.days()
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

fn is_leap(year: i32) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 31,
    }
}

/// The `n`th (1-based) `weekday` of a month, e.g. the fourth Thursday of November.
pub fn nth_weekday(year: i32, month: u32, weekday: u32, n: u32) -> Date {
    let first = Date {
        year,
        month,
        day: 1,
    };
    let first_match = 1 + (weekday + 7 - first.weekday()) % 7;
    Date {
        year,
        month,
        day: first_match + 7 * (n - 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> Date {
        Date::parse(text).unwrap()
    }

    #[test]
    fn parses_real_dates_only() {
        assert_eq!(
            date("2024-02-29"),
            Date {
                year: 2024,
                month: 2,
                day: 29
            }
        );
        assert_eq!(date("2026-01-31").to_string(), "2026-01-31");
        for bad in [
            "2026-1-31",
            "2026/01/31",
            "",
            "2026-01-31T00:00",
            "２０２６-01-31",
        ] {
            assert_eq!(Date::parse(bad), Err("is not a date written `YYYY-MM-DD`"));
        }
        for unreal in [
            "2026-02-29",
            "1900-02-29",
            "2026-13-01",
            "2026-00-01",
            "2026-04-31",
        ] {
            assert_eq!(Date::parse(unreal), Err("is not a real date"), "{unreal}");
        }
    }

    #[test]
    fn day_counts_and_weekdays() {
        assert_eq!(date("1970-01-01").days(), 0);
        assert_eq!(date("2000-03-01").days(), 11_017);
        assert_eq!(date("1969-12-31").days(), -1);
        assert_eq!(date("2024-12-25").days_until(date("2025-01-01")), 7);
        assert_eq!(date("2024-02-28").days_until(date("2024-03-01")), 2);
        assert_eq!(date("2023-02-28").days_until(date("2023-03-01")), 1);
        assert_eq!(date("2024-01-01").days_until(date("2025-01-01")), 366);
        assert_eq!(date("1970-01-01").weekday(), THURSDAY);
        assert_eq!(date("2026-01-31").weekday(), 5, "a Saturday");
        assert_eq!(date("2000-01-01").weekday(), 5, "a Saturday");
        assert_eq!(date("2024-11-28").weekday(), THURSDAY);
    }

    #[test]
    fn fourth_thursday_of_november() {
        for (year, day) in [
            (2022, 24),
            (2023, 23),
            (2024, 28),
            (2025, 27),
            (2026, 26),
            (2020, 26),
        ] {
            assert_eq!(
                nth_weekday(year, 11, THURSDAY, 4),
                Date::new(year, 11, day).unwrap(),
                "{year}"
            );
        }
    }
}
