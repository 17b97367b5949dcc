//! `[pricing]`: `text."<model>"` and `image."<model>"` prices over the built-in table, with the
//! value rules they are checked with. The built-in table and costing a run are `cost`'s business.

use std::collections::BTreeMap;

use serde::de::{Deserializer, Error as _};
use serde::{Deserialize, Serialize};

/// Prices of one text model, in USD per million tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextPrice {
    #[serde(deserialize_with = "usd")]
    pub input_usd_per_mtok: f64,
    /// Absent: cached input tokens are billed at `input_usd_per_mtok` (what a provider without a
    /// cache discount charges).
    #[serde(default, deserialize_with = "optional_usd")]
    pub cached_input_usd_per_mtok: Option<f64>,
    /// Reasoning tokens are output tokens: they are billed at this price.
    #[serde(deserialize_with = "usd")]
    pub output_usd_per_mtok: f64,
}

/// Prices of one image model: USD per image by `"<size>/<quality>"` (`"1536x1024/high"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImagePrice {
    #[serde(deserialize_with = "per_image")]
    pub usd_per_image: BTreeMap<String, f64>,
}

/// `[pricing]`: `text."<model>"` and `image."<model>"` entries over the built-in table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PricingSection {
    #[serde(default)]
    pub text: BTreeMap<String, TextPrice>,
    #[serde(default)]
    pub image: BTreeMap<String, ImagePrice>,
}

fn usd<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    let value = f64::deserialize(deserializer)?;
    check_usd(value).map_err(D::Error::custom)
}

fn optional_usd<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<f64>, D::Error> {
    usd(deserializer).map(Some)
}

fn check_usd(value: f64) -> Result<f64, String> {
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err("must be a price in USD, a number at least 0".to_owned())
    }
}

fn per_image<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, f64>, D::Error> {
    let table = BTreeMap::<String, f64>::deserialize(deserializer)?;
    for (key, value) in &table {
        let well_formed = matches!(key.split_once('/'), Some((size, quality))
            if !size.is_empty() && !quality.is_empty() && !quality.contains('/'));
        if !well_formed {
            return Err(D::Error::custom(format!(
                "has the key `{key}`, which is not `<size>/<quality>`\n\nwrite it as `backend.image.size` and `backend.image.quality` are written, e.g. `\"1536x1024/high\" = 0.25`"
            )));
        }
        check_usd(*value).map_err(|message| D::Error::custom(format!("`{key}` {message}")))?;
    }
    Ok(table)
}
