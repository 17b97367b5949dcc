//! `[context]`: whether context guidance is on, where it goes, its injectors and their knobs, and
//! the small enums they are written with ([`InjectionLocation`], [`Injector`], [`Hemisphere`]).
//! Computing the guidance is `context`'s business.

use serde::de::{Deserializer, Error as _};
use serde::{Deserialize, Serialize};

/// Where the guidance goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum InjectionLocation {
    /// Appended to the system prompt.
    #[default]
    System,
    /// Given to the stages that show context guidance in their prompts.
    Prompt,
    Both,
}

/// A context injector, by its config name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Injector {
    Season,
    Holiday,
}

impl Injector {
    /// Every injector, in the default order.
    pub const ALL: [Injector; 2] = [Injector::Season, Injector::Holiday];

    /// The config name (also the key of its metadata and the label of its generator).
    pub fn name(self) -> &'static str {
        match self {
            Injector::Season => "season",
            Injector::Holiday => "holiday",
        }
    }
}

impl<'de> Deserialize<'de> for Injector {
    /// A known name; `calendar` is named as not implemented, anything else lists the known ones
    /// (through serde's unknown-variant error, which the config schema turns into its message).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        const NAMES: &[&str] = &["season", "holiday"];
        let name = String::deserialize(deserializer)?;
        if let Some(injector) = Injector::ALL.into_iter().find(|i| i.name() == name) {
            return Ok(injector);
        }
        if name == "calendar" {
            return Err(D::Error::custom(
                "names `calendar`, an injector that is not implemented\n\n\
                 the available injectors are `season` and `holiday`",
            ));
        }
        Err(D::Error::unknown_variant(&name, NAMES))
    }
}

/// The hemisphere the `season` injector reads the date in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Hemisphere {
    #[default]
    Northern,
    Southern,
}

impl Hemisphere {
    /// The config name.
    pub fn name(self) -> &'static str {
        match self {
            Hemisphere::Northern => "northern",
            Hemisphere::Southern => "southern",
        }
    }
}

/// `[context]`: the optional date guidance (season, nearby holiday); see [`crate::context`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextSection {
    /// `context.enabled`: whether context injectors add to the prompts; default false.
    #[serde(default)]
    pub enabled: bool,
    /// `context.today`: the date the context is computed for, `YYYY-MM-DD`.
    #[serde(
        default,
        deserialize_with = "date",
        skip_serializing_if = "Option::is_none"
    )]
    pub today: Option<String>,
    /// `context.injection_location`: `system` (default), `prompt` or `both`.
    #[serde(default)]
    pub injection_location: InjectionLocation,
    /// `context.injectors`: the injectors to run, in order; default `["season", "holiday"]`.
    #[serde(default = "default_injectors", deserialize_with = "injectors")]
    pub injectors: Vec<Injector>,
    /// `[context.season]`.
    #[serde(default)]
    pub season: SeasonSection,
    /// `[context.holiday]`.
    #[serde(default, deserialize_with = "holiday")]
    pub holiday: HolidaySection,
}

impl Default for ContextSection {
    fn default() -> Self {
        ContextSection {
            enabled: false,
            today: None,
            injection_location: InjectionLocation::default(),
            injectors: default_injectors(),
            season: SeasonSection::default(),
            holiday: HolidaySection::default(),
        }
    }
}

fn default_injectors() -> Vec<Injector> {
    Injector::ALL.to_vec()
}

/// `[context.season]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeasonSection {
    /// `context.season.hemisphere`: `northern` (default) or `southern`.
    #[serde(default)]
    pub hemisphere: Hemisphere,
}

/// `[context.holiday]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HolidaySection {
    /// `context.holiday.lookahead_days`: how many days ahead a holiday counts; default 14.
    #[serde(default = "lookahead_days")]
    pub lookahead_days: u32,
    /// `context.holiday.base_probability`: the chance of the theme at the edge of the window,
    /// from 0 to 1; default 0.15.
    #[serde(default = "base_probability", deserialize_with = "probability")]
    pub base_probability: f64,
    /// `context.holiday.max_probability`: the chance on the day itself, from 0 to 1 and at least
    /// `base_probability`; default 0.55.
    #[serde(default = "max_probability", deserialize_with = "probability")]
    pub max_probability: f64,
}

impl Default for HolidaySection {
    fn default() -> Self {
        HolidaySection {
            lookahead_days: lookahead_days(),
            base_probability: base_probability(),
            max_probability: max_probability(),
        }
    }
}

fn lookahead_days() -> u32 {
    14
}

fn base_probability() -> f64 {
    0.15
}

fn max_probability() -> f64 {
    0.55
}

fn date<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let text = String::deserialize(deserializer)?;
    check_date(&text).map_err(D::Error::custom)?;
    Ok(Some(text))
}

/// Checks that `text` is a real calendar date written `YYYY-MM-DD`.
fn check_date(text: &str) -> Result<(), String> {
    let shape = "must be a date written `YYYY-MM-DD`, e.g. `\"2026-01-31\"`";
    let bytes = text.as_bytes();
    let digits_at = |range: std::ops::Range<usize>| bytes[range].iter().all(u8::is_ascii_digit);
    if bytes.len() != 10
        || bytes[4] != b'-'
        || bytes[7] != b'-'
        || !digits_at(0..4)
        || !digits_at(5..7)
        || !digits_at(8..10)
    {
        return Err(shape.to_owned());
    }
    // All ASCII digits, so the slices are char boundaries and the numbers parse.
    let number = |range: std::ops::Range<usize>| text[range].parse::<u32>().unwrap_or(0);
    let (year, month, day) = (number(0..4), number(5..7), number(8..10));
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => 0,
    };
    if !(1..=days).contains(&day) {
        return Err(
            "is not a real date\n\nmonths run from `01` to `12` and the day must exist \
                    in its month (`02-29` only in leap years)"
                .to_owned(),
        );
    }
    Ok(())
}

/// `context.injectors`: known names (the [`Injector`] type checks each), none twice.
fn injectors<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Injector>, D::Error> {
    let injectors = Vec::<Injector>::deserialize(deserializer)?;
    for (index, injector) in injectors.iter().enumerate() {
        if injectors[..index].contains(injector) {
            return Err(D::Error::custom(format!(
                "must not list an injector twice\n\n`{}` is there more than once",
                injector.name()
            )));
        }
    }
    Ok(injectors)
}

fn probability<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    let value = f64::deserialize(deserializer)?;
    if !(0.0..=1.0).contains(&value) {
        return Err(D::Error::custom("must be a number from 0 to 1"));
    }
    Ok(value)
}

/// `[context.holiday]`, whose chance must not fall as the day nears.
fn holiday<'de, D: Deserializer<'de>>(deserializer: D) -> Result<HolidaySection, D::Error> {
    let section = HolidaySection::deserialize(deserializer)?;
    if section.max_probability < section.base_probability {
        return Err(D::Error::custom(
            "must have `max_probability` at least `base_probability`\n\n\
             the chance of a holiday theme rises from `base_probability` (at the edge of the \
             window) to `max_probability` (on the day)",
        ));
    }
    Ok(section)
}
