//! `[cache]`: the mode, path and age limit of the response cache of the openai text backend.
//! The cache itself (the database, keys, rows) is `backends::cache`.

use serde::de::{Deserializer, Error as _};
use serde::{Deserialize, Serialize};

/// Where the cache lives unless `cache.path` says otherwise (relative to the working
/// directory, like every path in the config).
pub const DEFAULT_PATH: &str = "_artifacts/cache/responses.sqlite";

/// `cache.mode` (and `--cache`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheMode {
    /// Answer from the cache when it holds the request; store every new successful answer.
    #[default]
    Use,
    /// Call every request again, as if the cache were empty when the command started, and
    /// overwrite the stored answers (a request this process already refreshed is answered
    /// from the cache, as it would be starting empty).
    Refresh,
    /// Neither read nor write the database (the file is not even opened).
    Off,
}

impl CacheMode {
    /// The name used in the config and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheMode::Use => "use",
            CacheMode::Refresh => "refresh",
            CacheMode::Off => "off",
        }
    }
}

/// `[cache]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSection {
    /// `cache.mode`: `use` (the default), `refresh` or `off`.
    #[serde(default)]
    pub mode: CacheMode,
    /// `cache.path`: the database file; its directory also holds nothing else of ours.
    #[serde(default = "default_path")]
    pub path: String,
    /// `cache.max_age_days`: older answers are treated as absent (and overwritten by the next
    /// call); unset, answers never expire.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "some_age"
    )]
    pub max_age_days: Option<u32>,
}

impl Default for CacheSection {
    fn default() -> CacheSection {
        CacheSection {
            mode: CacheMode::default(),
            path: default_path(),
            max_age_days: None,
        }
    }
}

fn default_path() -> String {
    DEFAULT_PATH.to_owned()
}

/// At least one day: 0 would make every stored answer stale, which is `mode = "refresh"`.
fn some_age<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u32>, D::Error> {
    let days = u32::deserialize(deserializer)?;
    if days == 0 {
        return Err(D::Error::custom(
            "must be at least 1\n\nto ignore stored answers, set `cache.mode = \"refresh\"`",
        ));
    }
    Ok(Some(days))
}
