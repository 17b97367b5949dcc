//! `[data]` and `[budget]`: the limits a run works within (the largest data file it reads, what
//! an experiment may spend). Reading the files is `data`'s business, counting the spend `cost`'s.

use serde::de::{Deserializer, Error as _};
use serde::{Deserialize, Serialize};

/// The size cap [`read_data`] applies: data files are small tables and text, so anything larger
/// than this is a mistake (a wrong path, a dump), refused before it is read into memory.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// A budget in USD: a finite number above 0 (a budget of 0 would refuse every run).
pub fn check_budget(usd: f64) -> Result<f64, String> {
    if usd.is_finite() && usd > 0.0 {
        Ok(usd)
    } else {
        Err("must be a budget in USD, a number above 0".to_owned())
    }
}

/// `[budget]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetSection {
    /// `budget.max_cost_usd`: an experiment stops dispatching before it would spend more
    /// (`--max-cost` wins over it); none: no budget.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "some_budget"
    )]
    pub max_cost_usd: Option<f64>,
}

fn some_budget<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<f64>, D::Error> {
    let usd = f64::deserialize(deserializer)?;
    check_budget(usd).map(Some).map_err(D::Error::custom)
}

/// `[data]`: limits on the data files a run reads (categories, profiles, hints, concept lists,
/// and files plugins read through `read_data`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSection {
    /// `data.max_file_bytes`: a larger file is refused, naming it; default 64 MiB.
    #[serde(
        default = "default_max_file_bytes",
        deserialize_with = "positive_file_size"
    )]
    pub max_file_bytes: u64,
}

/// A file-size cap: at least 1 (0 would refuse every file).
fn positive_file_size<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    let bytes = u64::deserialize(deserializer)?;
    if bytes == 0 {
        return Err(serde::de::Error::custom(
            "must be at least 1\n\n0 would refuse every data file",
        ));
    }
    Ok(bytes)
}

impl Default for DataSection {
    fn default() -> DataSection {
        DataSection {
            max_file_bytes: default_max_file_bytes(),
        }
    }
}

fn default_max_file_bytes() -> u64 {
    DEFAULT_MAX_FILE_BYTES
}
