//! Prices: the built-in table (`host/data/prices.toml`, compiled in) and the `[pricing]` config
//! section that overrides or extends it. A model's entry in config replaces the built-in entry
//! of that model whole, so a config never mixes its figures with the built-in ones.

use std::sync::OnceLock;

use serde::Deserialize;

use crate::config::{PricingSection, TextPrice};

/// The built-in table, as written.
const BUILTIN: &str = include_str!("../../data/prices.toml");

/// The built-in file: the date it was written and the tables.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BuiltinFile {
    written: String,
    #[serde(flatten)]
    prices: PricingSection,
}

fn builtin() -> &'static BuiltinFile {
    static TABLE: OnceLock<BuiltinFile> = OnceLock::new();
    // The file is compiled in and parsed by a unit test, so it cannot fail here.
    TABLE.get_or_init(|| {
        toml::from_str(BUILTIN).expect("host/data/prices.toml parses (see its unit test)")
    })
}

/// The date the built-in table was written (`YYYY-MM-DD`).
pub fn builtin_written() -> &'static str {
    &builtin().written
}

/// The prices a run is costed with: its config's `[pricing]` over the built-in table.
#[derive(Debug, Clone, Default)]
pub struct Prices {
    overrides: PricingSection,
}

impl Prices {
    /// The built-in table with `section` over it.
    pub fn new(section: &PricingSection) -> Prices {
        Prices {
            overrides: section.clone(),
        }
    }

    /// The price of a text model, if it has one.
    pub fn text(&self, model: &str) -> Option<&TextPrice> {
        self.overrides
            .text
            .get(model)
            .or_else(|| builtin().prices.text.get(model))
    }

    /// The price of one image of `model` at `size`/`quality`, if it has one.
    pub fn image(&self, model: &str, size: &str, quality: &str) -> Option<f64> {
        let entry = self
            .overrides
            .image
            .get(model)
            .or_else(|| builtin().prices.image.get(model))?;
        entry.usd_per_image.get(&image_key(size, quality)).copied()
    }
}

/// The key of an image price: `"<size>/<quality>"`.
pub fn image_key(size: &str, quality: &str) -> String {
    format!("{size}/{quality}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_table_parses_and_prices_the_embedded_default_models() {
        assert_eq!(builtin_written().len(), "YYYY-MM-DD".len());
        let prices = Prices::default();
        // The models `host/src/config/default.toml` names.
        assert!(prices.text("gpt-5.2").is_some());
        assert!(prices.image("gpt-image-1.5", "1536x1024", "high").is_some());
        assert!(prices.text("no-such-model").is_none());
        assert!(prices
            .image("gpt-image-1.5", "1536x1024", "ultra")
            .is_none());
    }

    #[test]
    fn a_config_entry_replaces_the_builtin_entry_whole() {
        let section: PricingSection = toml::from_str(
            r#"
            [text."gpt-5.2"]
            input_usd_per_mtok = 1.0
            output_usd_per_mtok = 2.0
            [image."my-image"]
            usd_per_image = { "512x512/low" = 0.5 }
            "#,
        )
        .expect("section");
        let prices = Prices::new(&section);
        let text = prices.text("gpt-5.2").expect("price");
        assert_eq!(text.input_usd_per_mtok, 1.0);
        assert_eq!(text.cached_input_usd_per_mtok, None);
        assert_eq!(prices.image("my-image", "512x512", "low"), Some(0.5));
        assert!(prices.image("gpt-image-1.5", "1536x1024", "high").is_some());
    }

    #[test]
    fn bad_prices_are_refused() {
        for (text, expected) in [
            (
                "[text.m]\ninput_usd_per_mtok = -1\noutput_usd_per_mtok = 1",
                "at least 0",
            ),
            (
                "[text.m]\ninput_usd_per_mtok = 1\noutput_usd_per_mtok = 1\nprice = 2",
                "unknown field `price`",
            ),
            (
                "[image.m]\nusd_per_image = { \"1536x1024\" = 0.2 }",
                "not `<size>/<quality>`",
            ),
        ] {
            let error = toml::from_str::<PricingSection>(text).expect_err(text);
            assert!(error.to_string().contains(expected), "{text}: {error}");
        }
    }
}
