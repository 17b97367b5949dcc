//! The `season` injector: the season of `context.today` in the configured hemisphere, as one
//! line of guidance. It draws nothing from its generator.

use serde_json::{json, Value};

use super::date::Date;
use super::fill;
use crate::config::Hemisphere;

const LINE: &str = include_str!("../prompts/context/season.txt");

/// The season of `month` (1–12): December to February is winter in the north; the southern
/// hemisphere is six months apart.
pub fn season_for_month(month: u32, hemisphere: Hemisphere) -> &'static str {
    let month = match hemisphere {
        Hemisphere::Northern => month,
        Hemisphere::Southern => (month + 5) % 12 + 1,
    };
    match month {
        12 | 1 | 2 => "winter",
        3..=5 => "spring",
        6..=8 => "summer",
        _ => "fall",
    }
}

/// The guidance line and the metadata `{season, date_used, hemisphere}`.
pub fn inject(today: Date, hemisphere: Hemisphere) -> (Option<String>, Value) {
    let season = season_for_month(today.month, hemisphere);
    let line = fill(LINE, &[("season", season)]);
    let metadata = json!({
        "season": season,
        "date_used": today.to_string(),
        "hemisphere": hemisphere.name(),
    });
    (Some(line), metadata)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_month_in_both_hemispheres() {
        let north = [
            "winter", "winter", "spring", "spring", "spring", "summer", "summer", "summer", "fall",
            "fall", "fall", "winter",
        ];
        let south = [
            "summer", "summer", "fall", "fall", "fall", "winter", "winter", "winter", "spring",
            "spring", "spring", "summer",
        ];
        for month in 1..=12 {
            let index = (month - 1) as usize;
            assert_eq!(
                season_for_month(month, Hemisphere::Northern),
                north[index],
                "{month}"
            );
            assert_eq!(
                season_for_month(month, Hemisphere::Southern),
                south[index],
                "{month}"
            );
        }
    }

    #[test]
    fn line_and_metadata() {
        let today = Date::parse("2026-07-04").unwrap();
        let (line, metadata) = inject(today, Hemisphere::Southern);
        let line = line.unwrap();
        assert!(line.contains("winter"), "{line}");
        assert!(!line.contains('{') && !line.contains('\n'), "{line}");
        assert_eq!(
            metadata,
            json!({"season": "winter", "date_used": "2026-07-04", "hemisphere": "southern"})
        );
    }
}
