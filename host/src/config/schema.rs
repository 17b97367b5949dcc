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

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::{ConfigError, Layer};
use super::key;
use super::sections::{
    BackendSection, BudgetSection, CacheSection, ContextSection, DataSection, ExperimentSection,
    ImageSection, PricingSection, PromptSection, RunSection,
};
use super::suggest::did_you_mean;
use super::RUNNERS_KEY;

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
    use crate::config::{Hemisphere, InjectionLocation, Injector};
    use plugin_api::RunMode;
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
