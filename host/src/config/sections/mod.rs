//! The sections of a run config, one file per table: each type with its defaults and the rules
//! its values are checked with when config loads. This is the one home of every section type and
//! of the small enums they are written with; the modules that use a section import it from here.
//!
//! It does not own the whole run config or turning serde's errors into `ConfigError`s
//! (`schema.rs`), nor what any value makes happen (the feature modules).

mod backend;
pub mod cache;
mod context;
mod credentials;
mod limits;
mod pricing;
mod prompt;
mod run;

use serde::de::{Deserializer, Error as _};
use serde::Deserialize;

pub use backend::{
    BackendSection, ImageBackendConfig, Provider, TextBackendConfig, DEFAULT_IMAGE_LATENCY_HINT_MS,
    DEFAULT_TEXT_LATENCY_HINT_MS,
};
pub use cache::{CacheMode, CacheSection};
pub use context::{
    ContextSection, Hemisphere, HolidaySection, InjectionLocation, Injector, SeasonSection,
};
pub use credentials::{check_credentials, DEFAULT_BASE_URL};
pub use limits::{check_budget, BudgetSection, DataSection, DEFAULT_MAX_FILE_BYTES};
pub use pricing::{ImagePrice, PricingSection, TextPrice};
pub use prompt::{OutputConfig, PromptSection, SequenceItem, StageConfigs, StagesConfig};
pub use run::{ExperimentSection, ImageSection, RunSection};

fn non_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let text = String::deserialize(deserializer)?;
    if text.trim().is_empty() {
        return Err(D::Error::custom("must not be empty"));
    }
    Ok(text)
}

/// A non-empty string; a type of its own so that an error inside an array names the index.
struct NonEmpty(String);

impl<'de> Deserialize<'de> for NonEmpty {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        non_empty(deserializer).map(NonEmpty)
    }
}
