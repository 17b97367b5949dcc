//! The `holiday` injector: the nearest of five holidays within `lookahead_days` of
//! `context.today`, added as a theme with a probability that rises as the day nears.
//!
//! Steps: take each holiday's next occurrence (today counts; past ones roll over to next year);
//! keep the nearest within the window; its probability runs linearly from `base_probability`
//! (`lookahead_days` away) to `max_probability` (on the day); one draw from the injector's
//! generator below it applies the theme. Halloween has a playful, horror-free line when a
//! dislike mentions horror.

use serde_json::{json, Value};

use super::date::{nth_weekday, Date, THURSDAY};
use super::fill;
use crate::config::HolidaySection;

const LINE: &str = include_str!("../prompts/context/holiday.txt");
const GENTLE_HALLOWEEN: &str = include_str!("../prompts/context/holiday_gentle_halloween.txt");

/// A holiday the injector knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holiday {
    NewYearsDay,
    ValentinesDay,
    Halloween,
    Thanksgiving,
    Christmas,
}

impl Holiday {
    pub const ALL: [Holiday; 5] = [
        Holiday::NewYearsDay,
        Holiday::ValentinesDay,
        Holiday::Halloween,
        Holiday::Thanksgiving,
        Holiday::Christmas,
    ];

    /// The name shown to the model and recorded.
    pub fn label(self) -> &'static str {
        match self {
            Holiday::NewYearsDay => "New Year's Day",
            Holiday::ValentinesDay => "Valentine's Day",
            Holiday::Halloween => "Halloween",
            Holiday::Thanksgiving => "Thanksgiving",
            Holiday::Christmas => "Christmas",
        }
    }

    /// Its date in `year` (US Thanksgiving: the fourth Thursday of November).
    pub fn date_in(self, year: i32) -> Date {
        let fixed = |month, day| Date { year, month, day };
        match self {
            Holiday::NewYearsDay => fixed(1, 1),
            Holiday::ValentinesDay => fixed(2, 14),
            Holiday::Halloween => fixed(10, 31),
            Holiday::Thanksgiving => nth_weekday(year, 11, THURSDAY, 4),
            Holiday::Christmas => fixed(12, 25),
        }
    }

    /// Its next occurrence on or after `today`.
    pub fn next_after(self, today: Date) -> Date {
        let this_year = self.date_in(today.year);
        if this_year >= today {
            this_year
        } else {
            self.date_in(today.year + 1)
        }
    }
}

/// The nearest holiday within `lookahead_days` of `today`: the holiday, its date and the days
/// until it.
pub fn nearest(today: Date, lookahead_days: u32) -> Option<(Holiday, Date, i64)> {
    Holiday::ALL
        .into_iter()
        .map(|holiday| {
            let when = holiday.next_after(today);
            (holiday, when, today.days_until(when))
        })
        .filter(|(_, _, days)| *days <= i64::from(lookahead_days))
        .min_by_key(|(_, _, days)| *days)
}

/// The chance of the theme `days_until` days ahead: `base` at the edge of the window, `max` on
/// the day, linear between.
pub fn probability(knobs: &HolidaySection, days_until: i64) -> f64 {
    if knobs.lookahead_days == 0 {
        return knobs.max_probability;
    }
    let window = f64::from(knobs.lookahead_days);
    // Days are at most a year, exact in f64.
    let closeness = (window - days_until as f64) / window;
    knobs.base_probability + (knobs.max_probability - knobs.base_probability) * closeness
}

/// The guidance line (when the theme applies) and the metadata
/// `{applied, holiday, holiday_date, days_until, lookahead_days, probability, roll, date_used}`.
/// `roll` draws from the injector's generator, once, only when a holiday is in the window.
pub fn inject(
    today: Date,
    knobs: &HolidaySection,
    dislikes: &[String],
    roll: impl FnOnce() -> f64,
) -> (Option<String>, Value) {
    let Some((holiday, when, days_until)) = nearest(today, knobs.lookahead_days) else {
        let metadata = json!({
            "applied": false,
            "holiday": null,
            "holiday_date": null,
            "days_until": null,
            "lookahead_days": knobs.lookahead_days,
            "probability": null,
            "roll": null,
            "date_used": today.to_string(),
        });
        return (None, metadata);
    };
    let probability = probability(knobs, days_until);
    let roll = roll();
    let applied = roll < probability;
    let metadata = json!({
        "applied": applied,
        "holiday": holiday.label(),
        "holiday_date": when.to_string(),
        "days_until": days_until,
        "lookahead_days": knobs.lookahead_days,
        "probability": probability,
        "roll": roll,
        "date_used": today.to_string(),
    });
    if !applied {
        return (None, metadata);
    }
    let dislikes_horror = dislikes
        .iter()
        .any(|dislike| dislike.to_lowercase().contains("horror"));
    let line = if holiday == Holiday::Halloween && dislikes_horror {
        fill(GENTLE_HALLOWEEN, &[])
    } else {
        fill(LINE, &[("holiday", holiday.label())])
    };
    (Some(line), metadata)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> Date {
        Date::parse(text).unwrap()
    }

    fn knobs(lookahead_days: u32) -> HolidaySection {
        HolidaySection {
            lookahead_days,
            ..HolidaySection::default()
        }
    }

    #[test]
    fn thanksgiving_is_the_fourth_thursday() {
        assert_eq!(Holiday::Thanksgiving.date_in(2024), date("2024-11-28"));
        assert_eq!(Holiday::Thanksgiving.date_in(2025), date("2025-11-27"));
        assert_eq!(Holiday::Thanksgiving.date_in(2029), date("2029-11-22"));
    }

    #[test]
    fn nearest_within_the_window() {
        let cases = [
            (
                "2026-12-20",
                14,
                Some((Holiday::Christmas, "2026-12-25", 5)),
            ),
            (
                "2026-12-25",
                14,
                Some((Holiday::Christmas, "2026-12-25", 0)),
            ),
            // Across the year boundary.
            (
                "2026-12-26",
                14,
                Some((Holiday::NewYearsDay, "2027-01-01", 6)),
            ),
            ("2026-12-31", 0, None),
            (
                "2026-12-31",
                1,
                Some((Holiday::NewYearsDay, "2027-01-01", 1)),
            ),
            (
                "2026-02-01",
                14,
                Some((Holiday::ValentinesDay, "2026-02-14", 13)),
            ),
            (
                "2026-01-31",
                14,
                Some((Holiday::ValentinesDay, "2026-02-14", 14)),
            ),
            ("2026-01-30", 14, None),
            (
                "2026-10-20",
                14,
                Some((Holiday::Halloween, "2026-10-31", 11)),
            ),
            // Thanksgiving and Christmas both ahead: the nearer wins.
            (
                "2026-11-20",
                40,
                Some((Holiday::Thanksgiving, "2026-11-26", 6)),
            ),
            (
                "2026-11-27",
                40,
                Some((Holiday::Christmas, "2026-12-25", 28)),
            ),
            ("2026-06-01", 14, None),
            // A window longer than a year always finds one.
            (
                "2026-06-01",
                400,
                Some((Holiday::Halloween, "2026-10-31", 152)),
            ),
        ];
        for (today, lookahead, expected) in cases {
            let got = nearest(date(today), lookahead);
            let expected = expected.map(|(h, d, n)| (h, date(d), n));
            assert_eq!(got, expected, "{today} +{lookahead}");
        }
    }

    #[test]
    fn probability_runs_from_base_to_max() {
        let k = knobs(14);
        assert!((probability(&k, 14) - 0.15).abs() < 1e-12);
        assert!((probability(&k, 0) - 0.55).abs() < 1e-12);
        assert!((probability(&k, 7) - 0.35).abs() < 1e-12);
        assert_eq!(
            probability(&knobs(0), 0),
            0.55,
            "a zero window: only the day itself"
        );
        let flat = HolidaySection {
            base_probability: 1.0,
            max_probability: 1.0,
            ..k
        };
        assert_eq!(probability(&flat, 3), 1.0);
    }

    #[test]
    fn applies_below_the_probability_only() {
        let today = date("2026-12-18");
        let k = knobs(14);
        let p = probability(&k, 7);
        let (line, metadata) = inject(today, &k, &[], || p - 1e-9);
        let line = line.unwrap();
        assert!(line.contains("Christmas") && !line.contains('{'), "{line}");
        assert_eq!(metadata["applied"], true);
        assert_eq!(metadata["holiday"], "Christmas");
        assert_eq!(metadata["holiday_date"], "2026-12-25");
        assert_eq!(metadata["days_until"], 7);
        assert_eq!(metadata["probability"], json!(p));
        let (line, metadata) = inject(today, &k, &[], || p);
        assert_eq!(line, None);
        assert_eq!(metadata["applied"], false);
        assert_eq!(metadata["roll"], json!(p));
    }

    #[test]
    fn nothing_in_the_window_draws_nothing() {
        let (line, metadata) = inject(date("2026-06-01"), &knobs(14), &[], || {
            panic!("no holiday, no roll")
        });
        assert_eq!(line, None);
        assert_eq!(metadata["applied"], false);
        assert_eq!(metadata["holiday"], Value::Null);
        assert_eq!(metadata["roll"], Value::Null);
        assert_eq!(metadata["date_used"], "2026-06-01");
    }

    #[test]
    fn halloween_turns_playful_when_horror_is_disliked() {
        let today = date("2026-10-30");
        let k = knobs(14);
        let (plain, _) = inject(today, &k, &["Clutter".into()], || 0.0);
        let dislikes = [
            "Visual clutter".to_owned(),
            "Body HORROR \u{2014} none".to_owned(),
        ];
        let (gentle, _) = inject(today, &k, &dislikes, || 0.0);
        let (plain, gentle) = (plain.unwrap(), gentle.unwrap());
        assert_ne!(plain, gentle);
        assert!(
            gentle.contains("Halloween") && gentle.contains("playful"),
            "{gentle}"
        );
        // Other holidays keep their line whatever the dislikes.
        let christmas = date("2026-12-24");
        assert_eq!(
            inject(christmas, &k, &dislikes, || 0.0).0,
            inject(christmas, &k, &[], || 0.0).0
        );
    }
}
