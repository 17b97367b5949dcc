//! The run-config schema: [`RunConfig`], the typed form of one run's merged config, and
//! [`parse_run_config`], which builds it and refuses anything the schema does not know.
//!
//! A run config is the merged tree without `experiment_runners` (the runner takes that out).
//! Every key is listed here, with its type; an unknown key, a wrong type, a missing required key
//! or a bad value is a [`ConfigError`] naming the dotted key (DESIGN §6). The values under
//! `prompt.stage_configs.*` and `prompt.stages.overrides.*` are free-form here: the stages own
//! those knobs and check them when the plan compiles. Paths are kept as written; they resolve
//! against the working directory where they are used.
//!
//! How: the structs derive serde's `Deserialize` with `deny_unknown_fields`, the value checks
//! are `deserialize_with` functions, and `serde_path_to_error` gives the path of the first
//! failure. serde's message is then sorted into [`ConfigError::UnknownKey`],
//! [`ConfigError::MissingKey`], [`ConfigError::WrongType`] or [`ConfigError::InvalidValue`];
//! only its type names and field lists are used, never the value it quotes, and the type found is
//! read from the tree itself.
//!
//! [`load`](super::load) checks the merged tree with [`check_layers`], which also names the layer
//! that set the offending key; the runner calls [`parse_run_config`] on each run's config, so
//! plugin overlays pass the same schema.

use plugin_api::RunMode;
use serde::de::{Deserializer, Error as _};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::{ConfigError, Layer};
use super::key;
use super::suggest::did_you_mean;
use super::RUNNERS_KEY;
use crate::backends::{CacheSection, ImageBackendConfig, TextBackendConfig};
use crate::context::{Hemisphere, InjectionLocation, Injector};
use crate::cost::PricingSection;
use crate::pipeline::compiler::{OutputConfig, StageConfigs, StagesConfig};

/// One run's config: every key a run reads, typed and checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// `[run]`.
    #[serde(default)]
    pub run: RunSection,
    /// `[image]`.
    pub image: ImageSection,
    /// `[prompt]`.
    pub prompt: PromptSection,
    /// `[context]`.
    #[serde(default)]
    pub context: ContextSection,
    /// `[experiment]`.
    #[serde(default)]
    pub experiment: ExperimentSection,
    /// `[backend]`.
    pub backend: BackendSection,
    /// `[data]`.
    #[serde(default)]
    pub data: DataSection,
    /// `[pricing]`: prices over the built-in table (`host/data/prices.toml`).
    #[serde(default)]
    pub pricing: PricingSection,
    /// `[budget]`: what an experiment may spend.
    #[serde(default)]
    pub budget: BudgetSection,
    /// `[cache]`: the response cache of the openai text backend.
    #[serde(default)]
    pub cache: CacheSection,
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
    crate::cost::check_budget(usd)
        .map(Some)
        .map_err(D::Error::custom)
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
    crate::data::DEFAULT_MAX_FILE_BYTES
}

/// `[run]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSection {
    /// `run.mode`: `full` (prompt and image) or `prompt_only`; default `full`.
    #[serde(default = "full")]
    pub mode: RunMode,
}

impl Default for RunSection {
    fn default() -> Self {
        RunSection { mode: full() }
    }
}

fn full() -> RunMode {
    RunMode::Full
}

/// `[image]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageSection {
    /// `image.log_path`: where run logs go.
    pub log_path: String,
    /// `image.generation_path`: where generated images go.
    pub generation_path: String,
}

/// `[prompt]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptSection {
    /// `prompt.plan`, lowercased.
    #[serde(deserialize_with = "plan")]
    pub plan: String,
    /// `prompt.random_seed`: the run seed, when pinned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub random_seed: Option<u64>,
    /// `prompt.categories_path`: the concept table (a path or `builtin:<name>`).
    #[serde(deserialize_with = "non_empty")]
    pub categories_path: String,
    /// `prompt.profile_path`: the taste profile (a path or `builtin:<name>`).
    #[serde(deserialize_with = "non_empty")]
    pub profile_path: String,
    /// `prompt.generations_path`: the CSV recording every generation.
    pub generations_path: String,
    /// `prompt.titles_manifest_path`: the CSV of generated titles.
    pub titles_manifest_path: String,
    /// `prompt.stages`.
    #[serde(default)]
    pub stages: StagesConfig,
    /// `prompt.output`.
    #[serde(default)]
    pub output: OutputConfig,
    /// `prompt.stage_configs`; the knobs inside are checked by the stages when the plan compiles.
    #[serde(default)]
    pub stage_configs: StageConfigs,
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

/// `[experiment]`: labels recorded with a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentSection {
    /// `experiment.id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `experiment.variant`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// `experiment.notes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// `experiment.tags`: non-empty strings; default none.
    #[serde(default, deserialize_with = "tags")]
    pub tags: Vec<String>,
}

/// `[backend]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendSection {
    /// `[backend.text]` (its cross-key checks, such as `base_url` against `base_urls`, run here).
    #[serde(deserialize_with = "crate::backends::text_backend_section")]
    pub text: TextBackendConfig,
    /// `[backend.image]`.
    pub image: ImageBackendConfig,
}

/// Builds the [`RunConfig`] of a merged run config (without `experiment_runners`).
///
/// # Errors
///
/// [`ConfigError::UnknownKey`], [`ConfigError::WrongType`], [`ConfigError::MissingKey`] or
/// [`ConfigError::InvalidValue`] for the first problem found, naming its dotted key. The layer
/// is not known here; [`load`](super::load) names it.
pub fn parse_run_config(tree: &Value) -> Result<RunConfig, ConfigError> {
    parse(tree).map_err(|failure| failure.into_error(tree, None))
}

/// A config layer as it was merged: its name and its own tree.
pub(crate) type LayerTree = (Layer, Value);

/// Checks a merged tree (with or without `experiment_runners`) against the schema; an error
/// names the highest of `layers` that set the offending key, when one did.
pub(crate) fn check_layers(tree: &Value, layers: &[LayerTree]) -> Result<(), ConfigError> {
    let mut run_tree = tree.clone();
    if let Some(root) = run_tree.as_object_mut() {
        root.shift_remove(RUNNERS_KEY);
    }
    match parse(&run_tree) {
        Ok(_) => Ok(()),
        Err(failure) => {
            let layer = layers
                .iter()
                .rev()
                .find(|(_, overlay)| sets(overlay, &failure.path))
                .map(|(layer, _)| layer.clone());
            Err(failure.into_error(&run_tree, layer))
        }
    }
}

/// Whether a layer's own tree sets the value at `path` (an array sets everything inside it:
/// arrays replace, they do not merge).
fn sets(mut value: &Value, path: &[Segment]) -> bool {
    for segment in path {
        match (value, segment) {
            (Value::Array(_), _) => return true,
            (Value::Object(map), Segment::Key(name)) => match map.get(name) {
                Some(child) => value = child,
                None => return false,
            },
            _ => return false,
        }
    }
    true
}

// --- the value checks ---------------------------------------------------------------------------

fn plan<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let plan = non_empty(deserializer)?;
    Ok(plan.to_lowercase())
}

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

fn tags<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    let tags = Vec::<NonEmpty>::deserialize(deserializer)?;
    Ok(tags.into_iter().map(|tag| tag.0).collect())
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

// --- from serde's errors to ConfigError -------------------------------------------------------

/// One step of a path into the tree.
#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Key(String),
    Index(usize),
}

/// The first problem found, before the layer is known.
#[derive(Debug)]
struct Failure {
    /// Where: the offending key (for a missing key, the key that should be there).
    path: Vec<Segment>,
    problem: Problem,
}

#[derive(Debug)]
enum Problem {
    /// The key is not in its table; `accepted` are the table's keys.
    UnknownKey {
        accepted: Vec<String>,
    },
    Missing,
    /// `expected` is a phrase with its article (`a string`).
    WrongType {
        expected: String,
    },
    /// `message` is the predicate (`must not be empty`).
    InvalidValue {
        message: String,
    },
}

fn parse(tree: &Value) -> Result<RunConfig, Failure> {
    check_sequence(tree)?;
    serde_path_to_error::deserialize(tree).map_err(|err| {
        let path = err
            .path()
            .iter()
            .filter_map(|segment| match segment {
                serde_path_to_error::Segment::Map { key } => Some(Segment::Key(key.clone())),
                serde_path_to_error::Segment::Seq { index } => Some(Segment::Index(*index)),
                _ => None,
            })
            .collect();
        classify(&err.into_inner().to_string(), path, tree)
    })
}

impl Failure {
    fn into_error(self, tree: &Value, layer: Option<Layer>) -> ConfigError {
        let key = spell(&self.path);
        match self.problem {
            Problem::UnknownKey { accepted } => {
                let table = spell(&self.path[..self.path.len().saturating_sub(1)]);
                let name = match self.path.last() {
                    Some(Segment::Key(name)) => name.as_str(),
                    _ => "",
                };
                let suggestion = did_you_mean(name, accepted.iter().map(String::as_str))
                    .map(|known| key::child(&table, known));
                ConfigError::UnknownKey {
                    key,
                    layer,
                    table,
                    accepted: accepted.into_boxed_slice(),
                    suggestion,
                }
            }
            Problem::Missing => ConfigError::MissingKey { key },
            Problem::WrongType { expected } => ConfigError::WrongType {
                key,
                layer,
                expected,
                found: lookup(tree, &self.path).map_or("value", plugin_api::merge::shape),
            },
            Problem::InvalidValue { message } => ConfigError::InvalidValue {
                key,
                layer,
                message,
            },
        }
    }
}

/// The dotted key of `path`, spelled by [`key`].
fn spell(path: &[Segment]) -> String {
    let mut spelled = String::new();
    for segment in path {
        match segment {
            Segment::Key(name) => key::push(&mut spelled, name),
            Segment::Index(index) => key::push_index(&mut spelled, *index),
        }
    }
    spelled
}

fn lookup<'a>(mut value: &'a Value, path: &[Segment]) -> Option<&'a Value> {
    for segment in path {
        value = match segment {
            Segment::Key(name) => value.get(name)?,
            Segment::Index(index) => value.get(index)?,
        };
    }
    Some(value)
}

/// Sorts serde's message into a [`Problem`]. Only type names and field or variant names are
/// taken from it: the value it may quote is never used.
fn classify(message: &str, mut path: Vec<Segment>, tree: &Value) -> Failure {
    let expected = || {
        message
            .rfind(", expected ")
            .map_or("", |at| &message[at + ", expected ".len()..])
    };
    let problem = if let Some(rest) = message.strip_prefix("unknown field `") {
        let name = rest.split('`').next().unwrap_or_default();
        if path.last() != Some(&Segment::Key(name.to_owned())) {
            path.push(Segment::Key(name.to_owned()));
        }
        Problem::UnknownKey {
            accepted: quoted_names(expected()),
        }
    } else if let Some(rest) = message.strip_prefix("missing field `") {
        path.push(Segment::Key(
            rest.split('`').next().unwrap_or_default().to_owned(),
        ));
        Problem::Missing
    } else if message.starts_with("invalid type: ") {
        Problem::WrongType {
            expected: friendly(expected()).to_owned(),
        }
    } else if message.starts_with("invalid value: ") {
        let message = match expected() {
            "u8" | "u16" | "u32" => format!(
                "must be an integer from 0 to {}",
                match expected() {
                    "u8" => u64::from(u8::MAX),
                    "u16" => u64::from(u16::MAX),
                    _ => u64::from(u32::MAX),
                }
            ),
            other => format!("must be {}", friendly(other)),
        };
        Problem::InvalidValue { message }
    } else if message.starts_with("unknown variant `") {
        let variants = quoted_names(expected());
        let mut message = format!("must be {}", one_of(&variants));
        let given = lookup(tree, &path)
            .and_then(Value::as_str)
            .unwrap_or_default();
        if let Some(close) = did_you_mean(given, variants.iter().map(String::as_str)) {
            message.push_str(&format!("\n\ndid you mean `{close}`?"));
        }
        Problem::InvalidValue { message }
    } else if message.starts_with("data did not match any variant of untagged enum") {
        // Only `prompt.stages.sequence` items; `check_sequence` has ruled out bad tables.
        Problem::WrongType {
            expected: "a stage id or a table `{ stage = \"...\", name = \"...\" }`".to_owned(),
        }
    } else {
        // The value checks of this module, whose messages are predicates.
        Problem::InvalidValue {
            message: message.to_owned(),
        }
    };
    Failure { path, problem }
}

/// serde's name of an expected type, as config speaks of it.
fn friendly(expected: &str) -> &str {
    match expected {
        "a boolean" => "a boolean",
        "a string" | "a borrowed string" | "string or map" | "unit variant" => "a string",
        "u8" | "u16" | "u32" | "u64" | "usize" => "an integer ≥ 0",
        "i8" | "i16" | "i32" | "i64" | "isize" => "an integer",
        "f32" | "f64" => "a number",
        "a sequence" => "an array",
        "a map" => "a table",
        other if other.starts_with("struct ") => "a table",
        other if other.starts_with("enum ") => "a string",
        other => other,
    }
}

/// The names between backticks in serde's list (`` `a`, `b` or `c` ``).
fn quoted_names(list: &str) -> Vec<String> {
    list.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// `` `a` ``, `` `a` or `b` ``, `` one of `a`, `b`, `c` ``.
fn one_of(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|name| format!("`{name}`")).collect();
    match quoted.as_slice() {
        [] => "something else".to_owned(),
        [one] => one.clone(),
        [a, b] => format!("{a} or {b}"),
        more => format!("one of {}", more.join(", ")),
    }
}

/// `prompt.stages.sequence` items that are tables must be `{ stage, name }` with strings, and
/// nothing else. serde's untagged enum would ignore extra keys and say nothing useful about the
/// rest, so these are checked first.
fn check_sequence(tree: &Value) -> Result<(), Failure> {
    const ITEM_KEYS: [&str; 2] = ["stage", "name"];
    let Some(Value::Array(items)) = tree.pointer("/prompt/stages/sequence") else {
        return Ok(());
    };
    let base = ["prompt", "stages", "sequence"].map(|name| Segment::Key(name.to_owned()));
    for (index, item) in items.iter().enumerate() {
        let Value::Object(table) = item else {
            continue;
        };
        let at = |name: &str| {
            let mut path = base.to_vec();
            path.push(Segment::Index(index));
            path.push(Segment::Key(name.to_owned()));
            path
        };
        if let Some(unknown) = table
            .keys()
            .find(|name| !ITEM_KEYS.contains(&name.as_str()))
        {
            return Err(Failure {
                path: at(unknown),
                problem: Problem::UnknownKey {
                    accepted: ITEM_KEYS.map(str::to_owned).to_vec(),
                },
            });
        }
        for name in ITEM_KEYS {
            let problem = match table.get(name) {
                None => Problem::Missing,
                Some(Value::String(_)) => continue,
                Some(_) => Problem::WrongType {
                    expected: "a string".to_owned(),
                },
            };
            return Err(Failure {
                path: at(name),
                problem,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::PathBuf;

    /// The embedded default, as a run config (without `experiment_runners`).
    fn default_run_tree() -> Value {
        let mut tree = super::super::default_tree().unwrap();
        tree.as_object_mut().unwrap().shift_remove(RUNNERS_KEY);
        tree
    }

    /// The default with `patch` merged on top.
    fn with(patch: Value) -> Value {
        let mut tree = default_run_tree();
        plugin_api::merge::deep_merge(&mut tree, &patch).unwrap();
        tree
    }

    fn error(patch: Value) -> ConfigError {
        parse_run_config(&with(patch)).unwrap_err()
    }

    /// The default with the value at `pointer` replaced (or added), whatever its type.
    fn error_at(pointer: &str, value: Value) -> ConfigError {
        let mut tree = with(json!({"experiment": {}}));
        let (parent, name) = pointer.rsplit_once('/').unwrap();
        tree.pointer_mut(parent)
            .unwrap_or_else(|| panic!("{pointer}"))[name] = value;
        parse_run_config(&tree).unwrap_err()
    }

    #[test]
    fn the_embedded_default_parses() {
        let config = parse_run_config(&default_run_tree()).unwrap();
        assert_eq!(config.run.mode, RunMode::Full);
        assert_eq!(config.image.log_path, "_artifacts/logs");
        assert_eq!(config.prompt.plan, "custom");
        assert_eq!(config.prompt.random_seed, None);
        assert_eq!(config.prompt.stages.sequence.len(), 4);
        assert_eq!(config.prompt.output.capture_stage, None);
        assert!(!config.context.enabled);
        assert_eq!(config.context.today, None);
        assert_eq!(config.experiment, ExperimentSection::default());
        assert_eq!(config.backend.text.max_concurrency, 4);
        assert_eq!(config.backend.text.timeout_s, 120.0);
        assert_eq!(config.backend.image.size, "1536x1024");
    }

    #[test]
    fn every_key_is_read() {
        let config = parse_run_config(&with(json!({
            "run": {"mode": "prompt_only"},
            "prompt": {
                "plan": "Simple_No_Concepts",
                "random_seed": 42,
                "stages": {
                    "sequence": ["ab.scene_draft", {"stage": "ab.scene_draft", "name": "again"}],
                    "include": ["a"],
                    "exclude": ["b"],
                    "overrides": {"ab.scene_draft": {"anything": {"goes": 1}}},
                },
                "output": {"capture_stage": "ab.scene_draft"},
                "stage_configs": {
                    "defaults": {"ab.scene_draft": {"temperature": 0.5}},
                    "instances": {"ab.scene_draft#2": {"free": ["form"]}},
                },
            },
            "context": {"enabled": true, "today": "2024-02-29"},
            "experiment": {"id": "e1", "variant": "A", "notes": "n", "tags": ["x", "y"]},
            "backend": {
                "text": {"provider": "openai", "reasoning_effort": "low", "timeout_s": 2.5,
                         "base_urls": ["http://127.0.0.1:8080/v1", "http://127.0.0.1:8081/v1"],
                         "requests_per_minute": 600, "tokens_per_minute": 90000},
                "image": {"moderation": "low", "base_url": "http://127.0.0.1:8080/v1",
                          "api_key_env": "LOCAL_KEY", "timeout_s": 30, "max_retries": 1,
                          "images_per_minute": 5},
            },
        })))
        .unwrap();
        assert_eq!(config.run.mode, RunMode::PromptOnly);
        assert_eq!(config.prompt.plan, "simple_no_concepts", "lowercased");
        assert_eq!(config.prompt.random_seed, Some(42));
        assert_eq!(config.prompt.stages.sequence.len(), 2);
        assert_eq!(
            config.prompt.output.capture_stage.as_deref(),
            Some("ab.scene_draft")
        );
        assert_eq!(config.context.today.as_deref(), Some("2024-02-29"));
        assert_eq!(config.experiment.tags, ["x", "y"]);
        assert_eq!(config.backend.text.timeout_s, 2.5);
        assert_eq!(
            config.backend.text.base_urls.as_ref().map(Vec::len),
            Some(2)
        );
        assert_eq!(config.backend.text.requests_per_minute, Some(600));
        assert_eq!(config.backend.text.tokens_per_minute, Some(90000));
        assert_eq!(config.backend.image.images_per_minute, Some(5));
        assert_eq!(
            config.backend.image.timeout_s,
            Some(30.0),
            "an integer is a number"
        );
    }

    #[test]
    fn sections_with_defaults_may_be_left_out() {
        let mut tree = default_run_tree();
        let root = tree.as_object_mut().unwrap();
        for section in ["run", "context", "experiment"] {
            root.shift_remove(section);
        }
        root["prompt"]
            .as_object_mut()
            .unwrap()
            .shift_remove("stages");
        let config = parse_run_config(&tree).unwrap();
        assert_eq!(config.run.mode, RunMode::Full);
        assert!(!config.context.enabled);
        assert!(config.experiment.tags.is_empty());
        assert!(config.prompt.stages.sequence.is_empty());
    }

    #[test]
    fn a_parsed_config_serializes_back_to_one_that_parses() {
        let config = parse_run_config(&with(json!({"experiment": {"tags": ["t"]}}))).unwrap();
        let tree = serde_json::to_value(&config).unwrap();
        assert_eq!(tree["run"]["mode"], "full");
        assert!(
            tree["prompt"].get("random_seed").is_none(),
            "unset is absent"
        );
        assert_eq!(parse_run_config(&tree).unwrap(), config);
    }

    #[test]
    fn relative_paths_are_kept_as_given() {
        let config =
            parse_run_config(&with(json!({"image": {"log_path": "../logs/./x"}}))).unwrap();
        assert_eq!(config.image.log_path, "../logs/./x");
    }

    #[test]
    fn pricing_is_read_and_its_mistakes_name_the_key() {
        let config = parse_run_config(&with(json!({"pricing": {
            "text": {"gpt-5.2": {"input_usd_per_mtok": 1, "output_usd_per_mtok": 8.5}},
            "image": {"img": {"usd_per_image": {"1536x1024/high": 0.25}}},
        }})))
        .unwrap();
        assert_eq!(config.pricing.text["gpt-5.2"].input_usd_per_mtok, 1.0);
        assert_eq!(
            config.pricing.image["img"].usd_per_image["1536x1024/high"],
            0.25
        );
        let unknown = error(json!({"pricing": {"text": {"gpt-5.2": {"input_usd": 1}}}}));
        assert!(
            unknown
                .to_string()
                .starts_with("unknown config key `pricing.text.\"gpt-5.2\".input_usd`"),
            "{unknown}"
        );
        let negative = error(json!({"pricing": {"text": {"m": {
            "input_usd_per_mtok": -1, "output_usd_per_mtok": 1}}}}));
        assert!(
            negative
                .to_string()
                .contains("`pricing.text.m.input_usd_per_mtok`"),
            "{negative}"
        );
        let key = error(json!({"pricing": {"image": {"m": {"usd_per_image": {"high": 1}}}}}));
        assert!(key.to_string().contains("not `<size>/<quality>`"), "{key}");
    }

    #[test]
    fn a_budget_is_a_positive_number_of_usd() {
        let config = parse_run_config(&with(json!({"budget": {"max_cost_usd": 5}}))).unwrap();
        assert_eq!(config.budget.max_cost_usd, Some(5.0));
        let zero = error(json!({"budget": {"max_cost_usd": 0}}));
        assert!(
            zero.to_string().contains("`budget.max_cost_usd`")
                && zero.to_string().contains("above 0"),
            "{zero}"
        );
    }

    #[test]
    fn an_unknown_top_level_key_lists_the_sections() {
        let err = error(json!({"upscale": {}}));
        assert!(
            matches!(err, ConfigError::UnknownKey { ref key, ref table, suggestion: None, .. }
                if key == "upscale" && table.is_empty()),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "unknown config key `upscale`\n\nthe sections are `run`, `image`, `prompt`, \
             `context`, `experiment`, `backend`, `data`, `pricing`, `budget`, `cache`"
        );
    }

    #[test]
    fn an_unknown_nested_key_is_named_with_a_suggestion() {
        let err = error(json!({"run": {"moed": "full"}}));
        assert_eq!(
            err.to_string(),
            "unknown config key `run.moed`\n\ndid you mean `run.mode`? the keys of `run` are `mode`"
        );
        let err = error(json!({"backend": {"text": {"max_retry": 3}}}));
        match &err {
            ConfigError::UnknownKey {
                key,
                layer: None,
                table,
                suggestion,
                ..
            } => {
                assert_eq!(key, "backend.text.max_retry");
                assert_eq!(table, "backend.text");
                assert_eq!(suggestion.as_deref(), Some("backend.text.max_retries"));
            }
            other => panic!("{other:?}"),
        }
        let err = error(json!({"prompt": {"output": {"capture_stag": "x"}}}));
        assert!(err.to_string().starts_with(
            "unknown config key `prompt.output.capture_stag`\n\ndid you mean `prompt.output.capture_stage`?"
        ));
        let err = error(json!({"prompt": {"extensions": {}}}));
        assert!(
            matches!(err, ConfigError::UnknownKey { ref key, suggestion: None, .. } if key == "prompt.extensions"),
            "{err:?}"
        );
    }

    #[test]
    fn sequence_items_are_strings_or_stage_and_name() {
        let sequence = |item: Value| json!({"prompt": {"stages": {"sequence": ["ab.x", item]}}});
        let err = error(sequence(json!({"stage": "ab.x", "nmae": "y"})));
        assert!(
            matches!(err, ConfigError::UnknownKey { ref key, ref suggestion, .. }
                if key == "prompt.stages.sequence[1].nmae"
                && suggestion.as_deref() == Some("prompt.stages.sequence[1].name")),
            "{err:?}"
        );
        let err = error(sequence(json!({"stage": "ab.x"})));
        assert_eq!(
            err.to_string(),
            "missing required config key `prompt.stages.sequence[1].name`"
        );
        let err = error(sequence(json!({"stage": 1, "name": "y"})));
        assert_eq!(
            err.to_string(),
            "`prompt.stages.sequence[1].stage` must be a string, not an integer"
        );
        let err = error(sequence(json!(3)));
        assert!(
            matches!(err, ConfigError::WrongType { ref key, found: "integer", .. } if key == "prompt.stages.sequence[1]"),
            "{err:?}"
        );
    }

    #[test]
    fn free_form_tables_take_anything() {
        parse_run_config(&with(json!({"prompt": {
            "stages": {"overrides": {"ab.x": {"nonsense": [1, {"deep": true}]}}},
            "stage_configs": {"defaults": {"ab.x": {"whatever": 1}}},
        }})))
        .unwrap();
        let err = error(json!({"prompt": {"stage_configs": {"default": {}}}}));
        assert!(err
            .to_string()
            .contains("did you mean `prompt.stage_configs.defaults`?"));
    }

    #[test]
    fn a_wrong_type_names_key_expected_and_found() {
        let cases = [
            (
                "/backend/text/timeout_s",
                json!("60"),
                "`backend.text.timeout_s` must be a number, not a string",
            ),
            (
                "/backend/text/max_retries",
                json!(1.5),
                "`backend.text.max_retries` must be an integer ≥ 0, not a float",
            ),
            (
                "/context/enabled",
                json!("yes"),
                "`context.enabled` must be a boolean, not a string",
            ),
            (
                "/experiment/tags",
                json!("a"),
                "`experiment.tags` must be an array, not a string",
            ),
            (
                "/experiment/tags",
                json!(["a", 1]),
                "`experiment.tags[1]` must be a string, not an integer",
            ),
            (
                "/image/log_path",
                json!(["a"]),
                "`image.log_path` must be a string, not an array",
            ),
            (
                "/run/mode",
                json!(1),
                "`run.mode` must be a string, not an integer",
            ),
            (
                "/backend/image/provider",
                json!(true),
                "`backend.image.provider` must be a string, not a boolean",
            ),
            (
                "/prompt/stages",
                json!({"include": "a"}),
                "`prompt.stages.include` must be an array, not a string",
            ),
            (
                "/prompt/stage_configs",
                json!({"defaults": []}),
                "`prompt.stage_configs.defaults` must be a table, not an array",
            ),
            // A section that is not a table (the section check catches this in files first).
            ("/run", json!("full"), "`run` must be a table, not a string"),
        ];
        for (pointer, value, expected) in cases {
            let err = error_at(pointer, value);
            assert!(matches!(err, ConfigError::WrongType { .. }), "{err:?}");
            assert_eq!(err.to_string(), expected);
        }
    }

    #[test]
    fn a_wrong_type_never_shows_the_value() {
        let err = error_at("/backend/text/api_key_env", json!(["sk-live-123"]));
        assert!(!err.to_string().contains("sk-live-123"), "{err}");
        assert!(!format!("{err:?}").contains("sk-live-123"));
    }

    #[test]
    fn a_missing_required_key_is_named() {
        for (section, name, expected) in [
            ("prompt", "plan", "prompt.plan"),
            ("image", "log_path", "image.log_path"),
            ("prompt", "categories_path", "prompt.categories_path"),
        ] {
            let mut tree = default_run_tree();
            tree[section].as_object_mut().unwrap().shift_remove(name);
            let err = parse_run_config(&tree).unwrap_err();
            assert!(
                matches!(err, ConfigError::MissingKey { ref key } if key == expected),
                "{err:?}"
            );
            assert_eq!(
                err.to_string(),
                format!("missing required config key `{expected}`")
            );
        }
        let mut tree = default_run_tree();
        tree["backend"]
            .as_object_mut()
            .unwrap()
            .shift_remove("text");
        assert_eq!(
            parse_run_config(&tree).unwrap_err().to_string(),
            "missing required config key `backend.text`"
        );
    }

    #[test]
    fn run_mode_must_be_a_known_mode() {
        let err = error(json!({"run": {"mode": "fast"}}));
        assert!(
            matches!(err, ConfigError::InvalidValue { ref key, .. } if key == "run.mode"),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "`run.mode` must be `full` or `prompt_only`"
        );
        let err = error(json!({"run": {"mode": "prompt-only"}}));
        assert_eq!(
            err.to_string(),
            "`run.mode` must be `full` or `prompt_only`\n\ndid you mean `prompt_only`?"
        );
        let err = error(json!({"backend": {"text": {"provider": "ollama"}}}));
        assert_eq!(
            err.to_string(),
            "`backend.text.provider` must be `offline` or `openai`"
        );
    }

    #[test]
    fn context_today_must_be_a_real_date() {
        for good in ["2026-01-31", "2024-02-29", "2000-02-29", "1999-12-01"] {
            let config = parse_run_config(&with(json!({"context": {"today": good}}))).unwrap();
            assert_eq!(config.context.today.as_deref(), Some(good));
        }
        for bad in [
            "2026-1-31",
            "31-01-2026",
            "2026/01/31",
            "2026-01-31T00:00",
            "",
            "２０２６-01-31",
        ] {
            let err = error(json!({"context": {"today": bad}}));
            assert!(
                matches!(err, ConfigError::InvalidValue { ref key, .. } if key == "context.today"),
                "{bad}: {err:?}"
            );
            assert!(
                err.to_string()
                    .starts_with("`context.today` must be a date written `YYYY-MM-DD`"),
                "{bad}: {err}"
            );
        }
        for unreal in [
            "2026-02-29",
            "1900-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-04-31",
            "2026-01-00",
        ] {
            let err = error(json!({"context": {"today": unreal}}));
            assert!(
                err.to_string()
                    .starts_with("`context.today` is not a real date\n\n"),
                "{unreal}: {err}"
            );
        }
    }

    #[test]
    fn empty_strings_are_refused_where_they_mean_nothing() {
        let err = error(json!({"experiment": {"tags": ["ok", ""]}}));
        assert!(
            matches!(err, ConfigError::InvalidValue { ref key, .. } if key == "experiment.tags[1]"),
            "{err:?}"
        );
        assert_eq!(err.to_string(), "`experiment.tags[1]` must not be empty");
        assert_eq!(
            error(json!({"experiment": {"tags": ["  "]}})).to_string(),
            "`experiment.tags[0]` must not be empty"
        );
        for name in ["categories_path", "profile_path", "plan"] {
            let err = error(json!({"prompt": {name: " "}}));
            assert_eq!(
                err.to_string(),
                format!("`prompt.{name}` must not be empty")
            );
        }
    }

    #[test]
    fn random_seed_is_a_non_negative_integer() {
        let err = error(json!({"prompt": {"random_seed": -1}}));
        assert_eq!(
            err.to_string(),
            "`prompt.random_seed` must be an integer ≥ 0"
        );
        let err = error_at("/prompt/random_seed", json!("7"));
        assert_eq!(
            err.to_string(),
            "`prompt.random_seed` must be an integer ≥ 0, not a string"
        );
        let err = error(json!({"backend": {"text": {"max_retries": 5_000_000_000_u64}}}));
        assert_eq!(
            err.to_string(),
            "`backend.text.max_retries` must be an integer from 0 to 4294967295"
        );
    }

    #[test]
    fn check_layers_names_the_highest_layer_that_set_the_key() {
        let file = Layer::File(PathBuf::from("/w/c.toml"));
        let set = Layer::Set("run.moed".into());
        let default = default_run_tree();
        let file_tree =
            json!({"run": {"mode": "full"}, "prompt": {"stages": {"sequence": ["a", 1]}}});
        let set_tree = json!({"run": {"moed": "full"}});
        let layers = [
            (Layer::Default, default.clone()),
            (file.clone(), file_tree.clone()),
            (set.clone(), set_tree.clone()),
        ];
        let mut tree = default;
        plugin_api::merge::deep_merge(&mut tree, &file_tree).unwrap();

        // An array item: the layer that set the array.
        let err = check_layers(&tree, &layers[..2]).unwrap_err();
        assert!(
            matches!(err, ConfigError::WrongType { ref layer, .. } if *layer == Some(file.clone())),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "`prompt.stages.sequence[1]` in `/w/c.toml` must be a stage id or a table \
             `{ stage = \"...\", name = \"...\" }`, not an integer"
        );

        // The first error in the tree wins (`run` comes before `prompt`): here, the set's key.
        plugin_api::merge::deep_merge(&mut tree, &set_tree).unwrap();
        let err = check_layers(&tree, &layers).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown config key `run.moed` in `--set run.moed`\n\n\
             did you mean `run.mode`? the keys of `run` are `mode`"
        );

        // `experiment_runners` is not part of a run config, and is left alone.
        let mut ok = default_run_tree();
        ok["experiment_runners"] = json!({"x": {"anything": 1}});
        check_layers(&ok, &[]).unwrap();
    }

    #[test]
    fn context_knobs_have_defaults() {
        let config = parse_run_config(&default_run_tree()).unwrap();
        assert_eq!(config.context, ContextSection::default());
        let context = config.context;
        assert_eq!(context.injection_location, InjectionLocation::System);
        assert_eq!(context.injectors, [Injector::Season, Injector::Holiday]);
        assert_eq!(context.season.hemisphere, Hemisphere::Northern);
        assert_eq!(context.holiday.lookahead_days, 14);
        assert_eq!(context.holiday.base_probability, 0.15);
        assert_eq!(context.holiday.max_probability, 0.55);
    }

    #[test]
    fn context_knobs_are_read() {
        let config = parse_run_config(&with(json!({"context": {
            "enabled": true,
            "injection_location": "both",
            "injectors": ["holiday"],
            "season": {"hemisphere": "southern"},
            "holiday": {"lookahead_days": 0, "base_probability": 0, "max_probability": 1},
        }})))
        .unwrap();
        let context = &config.context;
        assert_eq!(context.injection_location, InjectionLocation::Both);
        assert_eq!(context.injectors, [Injector::Holiday]);
        assert_eq!(context.season.hemisphere, Hemisphere::Southern);
        assert_eq!(context.holiday.lookahead_days, 0);
        assert_eq!(
            context.holiday.base_probability, 0.0,
            "an integer is a number"
        );
        assert_eq!(context.holiday.max_probability, 1.0);
        // Round trip, and an empty list is allowed (no injector, no guidance).
        let tree = serde_json::to_value(&config).unwrap();
        assert_eq!(tree["context"]["injectors"], json!(["holiday"]));
        assert_eq!(parse_run_config(&tree).unwrap(), config);
        let config = parse_run_config(&with(json!({"context": {"injectors": []}}))).unwrap();
        assert!(config.context.injectors.is_empty());
    }

    #[test]
    fn context_knob_errors() {
        let cases = [
            (
                json!({"injection_location": "user"}),
                "`context.injection_location` must be one of `system`, `prompt`, `both`",
            ),
            (
                json!({"injectors": ["season", "holidays"]}),
                "`context.injectors[1]` must be `season` or `holiday`\n\ndid you mean `holiday`?",
            ),
            (
                json!({"injectors": ["weather"]}),
                "`context.injectors[0]` must be `season` or `holiday`",
            ),
            (
                json!({"injectors": ["season", "calendar"]}),
                "`context.injectors[1]` names `calendar`, an injector that is not implemented\n\n\
                 the available injectors are `season` and `holiday`",
            ),
            (
                json!({"injectors": ["season", "holiday", "season"]}),
                "`context.injectors` must not list an injector twice\n\n`season` is there more \
                 than once",
            ),
            (
                json!({"injectors": "season"}),
                "`context.injectors` must be an array, not a string",
            ),
            (
                json!({"injectors": [1]}),
                "`context.injectors[0]` must be a string, not an integer",
            ),
            (
                json!({"season": {"hemisphere": "south"}}),
                "`context.season.hemisphere` must be `northern` or `southern`",
            ),
            (
                json!({"holiday": {"lookahead_days": -1}}),
                "`context.holiday.lookahead_days` must be an integer from 0 to 4294967295",
            ),
            (
                json!({"holiday": {"lookahead_days": 1.5}}),
                "`context.holiday.lookahead_days` must be an integer ≥ 0, not a float",
            ),
            (
                json!({"holiday": {"base_probability": 1.5}}),
                "`context.holiday.base_probability` must be a number from 0 to 1",
            ),
            (
                json!({"holiday": {"max_probability": -0.1}}),
                "`context.holiday.max_probability` must be a number from 0 to 1",
            ),
            (
                json!({"holiday": {"max_probability": "high"}}),
                "`context.holiday.max_probability` must be a number, not a string",
            ),
            (
                json!({"holiday": {"base_probability": 0.6}}),
                "`context.holiday` must have `max_probability` at least `base_probability`\n\n\
                 the chance of a holiday theme rises from `base_probability` (at the edge of the \
                 window) to `max_probability` (on the day)",
            ),
        ];
        for (patch, expected) in cases {
            let err = error(json!({ "context": patch }));
            assert_eq!(err.to_string(), expected, "{patch}");
        }
        // Unknown keys, at every level.
        let err = error(json!({"context": {"calendar": {"enabled": true}}}));
        assert!(
            matches!(err, ConfigError::UnknownKey { ref key, .. } if key == "context.calendar"),
            "{err:?}"
        );
        let err = error(json!({"context": {"holiday": {"lookahead": 3}}}));
        assert_eq!(
            err.to_string(),
            "unknown config key `context.holiday.lookahead`\n\n\
             the keys of `context.holiday` are `lookahead_days`, `base_probability`, \
             `max_probability`"
        );
        let err = error(json!({"context": {"season": {"hemisphere": "northern", "x": 1}}}));
        assert!(
            matches!(err, ConfigError::UnknownKey { ref key, .. } if key == "context.season.x"),
            "{err:?}"
        );
    }

    #[test]
    fn a_key_pasted_into_api_key_env_is_refused_without_being_echoed() {
        let key = "sk-proj-PASTEDkey0123456789abcdef";
        for pointer in ["/backend/text/api_key_env", "/backend/image/api_key_env"] {
            let err = error_at(pointer, json!(key));
            let msg = format!("{err}\n{err:?}");
            assert!(!msg.contains(key), "{msg}");
            assert!(
                matches!(&err, ConfigError::InvalidValue { key, .. } if *key == pointer[1..].replace('/', ".")),
                "{err:?}"
            );
            assert!(
                msg.contains("must be the name of an environment variable"),
                "{msg}"
            );
        }
    }

    #[test]
    fn credentials_in_base_urls_are_refused_without_being_echoed() {
        let secret = "s3cretPASSWORD";
        let cases = [
            (
                json!({"backend": {"text": {"base_url": format!("https://me:{secret}@h/v1")}}}),
                "backend.text.base_url",
            ),
            (
                json!({"backend": {"text": {"base_urls": ["https://h/v1", format!("https://h2/v1?api-key={secret}")]}}}),
                "backend.text.base_urls[1]",
            ),
            (
                json!({"backend": {"image": {"base_url": format!("https://h/v1?sig={secret}")}}}),
                "backend.image.base_url",
            ),
        ];
        for (patch, expected) in cases {
            let err = error(patch);
            let msg = format!("{err}\n{err:?}");
            assert!(!msg.contains(secret), "{msg}");
            assert!(msg.contains("must not hold credentials"), "{msg}");
            assert!(msg.contains("`api_key_env`"), "{msg}");
            assert!(
                matches!(&err, ConfigError::InvalidValue { key, .. } if key == expected),
                "{err:?}"
            );
        }
    }

    #[test]
    fn base_url_and_base_urls_exclude_each_other() {
        let err = error(json!({"backend": {"text": {
            "base_url": "http://a/v1", "base_urls": ["http://b/v1"],
        }}}));
        assert_eq!(
            err.to_string().lines().next(),
            Some("`backend.text` must set `base_url` or `base_urls`, not both")
        );
        for (urls, fragment) in [
            (json!([]), "must list at least one API root"),
            (
                json!(["http://b/v1", "http://b/v1/"]),
                "must not list an API root twice",
            ),
        ] {
            let err = error(json!({"backend": {"text": {"base_urls": urls}}}));
            assert!(err.to_string().contains(fragment), "{err}");
        }
    }

    #[test]
    fn the_data_file_cap_is_at_least_one_byte() {
        let err = error_at("/data/max_file_bytes", json!(0));
        assert!(err.to_string().contains("must be at least 1"), "{err}");
        let err = error_at("/data/max_size", json!(1));
        assert!(err.to_string().contains("data.max_size"), "{err}");
    }

    #[test]
    fn per_minute_limits_are_at_least_one() {
        for pointer in [
            "/backend/text/requests_per_minute",
            "/backend/text/tokens_per_minute",
            "/backend/image/images_per_minute",
        ] {
            let err = error_at(pointer, json!(0));
            assert!(err.to_string().contains("must be at least 1"), "{err}");
            let err = error_at(pointer, json!(-5));
            assert!(err.to_string().contains("must be an integer"), "{err}");
        }
    }

    #[test]
    fn serde_messages_are_sorted_without_values() {
        assert_eq!(
            quoted_names("one of `a`, `b`, `c`"),
            ["a", "b", "c"].map(String::from)
        );
        assert!(quoted_names("there are no fields").is_empty());
        assert_eq!(one_of(&["a".into()]), "`a`");
        assert_eq!(
            one_of(&["a".into(), "b".into(), "c".into()]),
            "one of `a`, `b`, `c`"
        );
        let failure = classify(
            "invalid value: string \"sk-secret\", expected a string",
            vec![],
            &Value::Null,
        );
        assert!(!format!("{failure:?}").contains("sk-secret"));
    }
}
