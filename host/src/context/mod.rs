//! Context injection (reference §1.6): optional guidance about the date (season, nearby holiday)
//! added to the system prompt, to the stage prompts, or both. Deterministic from the run seed and
//! `context.today`; each injector draws from its own derived generator.
//!
//! This module owns computing the guidance and its metadata ([`build_context`]). The `[context]`
//! types (`ContextSection`, `InjectionLocation`, `Injector`, `Hemisphere`) and the checks on the
//! knobs are `config`'s; the run decides whether context is enabled and where the text goes. The wording of every line lives in `host/src/prompts/context/`.
//!
//! Injectors: [`season`] (the season of the date in a hemisphere) and [`holiday`] (the nearest
//! of five holidays, applied with a probability that rises as it nears). `calendar`, which the
//! reference names but never implemented, is refused by the config.

pub mod date;
pub mod holiday;
pub mod season;

use serde_json::{Map, Value};

use crate::config::{ContextSection, InjectionLocation, Injector};
use date::Date;

/// The first line of the guidance text.
const HEADER: &str = include_str!("../prompts/context/header.txt");

/// Whether the guidance is appended to the system prompt (`system` or `both`).
pub fn location_includes_system(location: InjectionLocation) -> bool {
    matches!(
        location,
        InjectionLocation::System | InjectionLocation::Both
    )
}

/// Whether the guidance is given to the stage prompts (`prompt` or `both`).
pub fn location_includes_prompt(location: InjectionLocation) -> bool {
    matches!(
        location,
        InjectionLocation::Prompt | InjectionLocation::Both
    )
}

/// The context of one run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunContext {
    /// `Context guidance (optional):\n- line...`, or empty when no injector spoke.
    pub guidance: String,
    /// Per injector metadata (season, holiday roll, probability, ...), for the transcript.
    pub metadata: Value,
}

/// Why the context cannot be computed (bad date, unknown injector).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ContextError {
    pub message: String,
}

/// Runs the injectors of `section` in order for the date `today` (`YYYY-MM-DD`).
///
/// Each injector draws from `plugin_api::seed::derive_rng(seed, "context.<name>")`, so adding
/// or reordering injectors never changes another's draws. `dislikes` are the profile's dislikes
/// (the holiday injector softens Halloween when one mentions horror). The metadata is an object
/// with one entry per injector, by name, in order. Whether context is enabled, and where the
/// guidance goes, is the caller's business: this computes it whatever `section.enabled` says.
///
/// # Errors
///
/// [`ContextError`] when `today` is not a real date written `YYYY-MM-DD`.
pub fn build_context(
    section: &ContextSection,
    seed: u64,
    today: &str,
    dislikes: &[String],
) -> Result<RunContext, ContextError> {
    let date = Date::parse(today).map_err(|problem| ContextError {
        message: format!("context date `{today}` {problem}"),
    })?;
    let mut lines = Vec::new();
    let mut metadata = Map::new();
    for injector in &section.injectors {
        let mut rng = plugin_api::seed::derive_rng(seed, &format!("context.{}", injector.name()));
        let (line, meta) = match injector {
            Injector::Season => season::inject(date, section.season.hemisphere),
            Injector::Holiday => holiday::inject(date, &section.holiday, dislikes, || {
                plugin_api::seed::unit_f64(&mut rng)
            }),
        };
        lines.extend(line);
        metadata.insert(injector.name().to_owned(), meta);
    }
    Ok(RunContext {
        guidance: guidance_text(&lines),
        metadata: Value::Object(metadata),
    })
}

/// `Context guidance (optional):\n- line\n- line`, or "" without lines.
pub fn guidance_text(lines: &[String]) -> String {
    if lines.is_empty() {
        return String::new();
    }
    let mut text = HEADER.trim().to_owned();
    for line in lines {
        text.push_str("\n- ");
        text.push_str(line);
    }
    text
}

/// A line template with its `{name}` placeholders filled, trimmed.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut text = template.trim().to_owned();
    for (name, value) in values {
        text = text.replace(&format!("{{{name}}}"), value);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Hemisphere, HolidaySection};
    use serde_json::json;

    fn section(injectors: &[Injector]) -> ContextSection {
        ContextSection {
            enabled: true,
            injectors: injectors.to_vec(),
            ..ContextSection::default()
        }
    }

    /// Always applies the holiday theme when one is in the window.
    fn always() -> ContextSection {
        ContextSection {
            holiday: HolidaySection {
                base_probability: 1.0,
                max_probability: 1.0,
                ..HolidaySection::default()
            },
            ..section(&Injector::ALL)
        }
    }

    #[test]
    fn locations() {
        use InjectionLocation::*;
        assert!(location_includes_system(System) && !location_includes_prompt(System));
        assert!(!location_includes_system(Prompt) && location_includes_prompt(Prompt));
        assert!(location_includes_system(Both) && location_includes_prompt(Both));
        assert_eq!(InjectionLocation::default(), System);
    }

    #[test]
    fn guidance_formatting() {
        assert_eq!(guidance_text(&[]), "");
        assert_eq!(
            guidance_text(&["one".into(), "two".into()]),
            "Context guidance (optional):\n- one\n- two"
        );
    }

    #[test]
    fn season_and_holiday_in_order() {
        let context = build_context(&always(), 7, "2026-12-20", &[]).unwrap();
        let lines: Vec<&str> = context.guidance.lines().collect();
        assert_eq!(lines.len(), 3, "{}", context.guidance);
        assert_eq!(lines[0], "Context guidance (optional):");
        assert!(lines[1].starts_with("- ") && lines[1].contains("winter"));
        assert!(lines[2].starts_with("- ") && lines[2].contains("Christmas"));
        let keys: Vec<&String> = context.metadata.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["season", "holiday"]);
        assert_eq!(context.metadata["season"]["season"], "winter");
        assert_eq!(context.metadata["holiday"]["applied"], true);

        // The order follows the config.
        let mut reversed = always();
        reversed.injectors = vec![Injector::Holiday, Injector::Season];
        let context = build_context(&reversed, 7, "2026-12-20", &[]).unwrap();
        assert!(context
            .guidance
            .lines()
            .nth(1)
            .unwrap()
            .contains("Christmas"));
        let keys: Vec<&String> = context.metadata.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["holiday", "season"]);
    }

    #[test]
    fn no_lines_means_no_guidance() {
        let context = build_context(&section(&[Injector::Holiday]), 1, "2026-06-01", &[]).unwrap();
        assert_eq!(context.guidance, "");
        assert_eq!(context.metadata["holiday"]["applied"], false);
        let context = build_context(&section(&[]), 1, "2026-06-01", &[]).unwrap();
        assert_eq!(
            context,
            RunContext {
                guidance: String::new(),
                metadata: json!({})
            }
        );
    }

    #[test]
    fn the_roll_is_deterministic_per_seed() {
        let section = section(&[Injector::Holiday]);
        let roll = |seed| {
            let context = build_context(&section, seed, "2026-12-20", &[]).unwrap();
            context.metadata["holiday"]["roll"].as_f64().unwrap()
        };
        for seed in [0, 1, 42, u64::MAX] {
            let expected = plugin_api::seed::unit_f64(&mut plugin_api::seed::derive_rng(
                seed,
                "context.holiday",
            ));
            assert_eq!(roll(seed), expected);
            assert_eq!(roll(seed), roll(seed));
        }
        assert_ne!(roll(1), roll(2));
        // The season injector before it does not shift its draw.
        let both = ContextSection {
            injectors: Injector::ALL.to_vec(),
            ..section.clone()
        };
        let context = build_context(&both, 42, "2026-12-20", &[]).unwrap();
        assert_eq!(context.metadata["holiday"]["roll"].as_f64(), Some(roll(42)));
    }

    #[test]
    fn applied_matches_roll_below_probability() {
        let section = section(&[Injector::Holiday]);
        let mut seen = [false, false];
        for seed in 0..64 {
            let context = build_context(&section, seed, "2026-12-18", &[]).unwrap();
            let meta = &context.metadata["holiday"];
            let applied = meta["roll"].as_f64() < meta["probability"].as_f64();
            assert_eq!(meta["applied"], applied);
            assert_eq!(context.guidance.is_empty(), !applied);
            seen[usize::from(applied)] = true;
        }
        assert_eq!(
            seen,
            [true, true],
            "64 seeds at p = 0.35 give both outcomes"
        );
    }

    #[test]
    fn dislikes_reach_the_holiday_injector() {
        let dislikes = ["Horror and gore".to_owned()];
        let gentle = build_context(&always(), 3, "2026-10-25", &dislikes).unwrap();
        let plain = build_context(&always(), 3, "2026-10-25", &[]).unwrap();
        assert_ne!(gentle.guidance, plain.guidance);
        assert!(gentle.guidance.contains("playful"), "{}", gentle.guidance);
    }

    #[test]
    fn southern_hemisphere_from_config() {
        let mut section = section(&[Injector::Season]);
        section.season.hemisphere = Hemisphere::Southern;
        let context = build_context(&section, 0, "2026-12-20", &[]).unwrap();
        assert!(context.guidance.contains("summer"), "{}", context.guidance);
        assert_eq!(context.metadata["season"]["hemisphere"], "southern");
    }

    #[test]
    fn a_bad_date_is_an_error() {
        let section = section(&Injector::ALL);
        let err = build_context(&section, 0, "2026-02-30", &[]).unwrap_err();
        assert_eq!(err.message, "context date `2026-02-30` is not a real date");
        let err = build_context(&section, 0, "today", &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "context date `today` is not a date written `YYYY-MM-DD`"
        );
    }

    #[test]
    fn line_templates_have_no_unfilled_placeholders() {
        for (holiday_name, today) in [("Christmas", "2026-12-24"), ("Halloween", "2026-10-31")] {
            let context = build_context(&always(), 0, today, &["horror".into()]).unwrap();
            assert!(context.guidance.contains(holiday_name));
            assert!(
                !context.guidance.contains(['{', '}']),
                "{}",
                context.guidance
            );
        }
    }
}
