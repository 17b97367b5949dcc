//! Stage-owned config: the typed getters every stage reads its knobs through, recording what was
//! read (defaults included) so unknown keys fail at compile time, before any model call.
//! Reference: python-pipeline.md §1.5.
//!
//! A stage's builder gets one [`StageConfig`] (its merged `defaults[kind]` + `instances[id]`
//! table). Every getter marks its key consumed and records the value it returned, default or not,
//! as the *effective* value; [`StageConfig::assert_consumed`] then refuses any key no getter read,
//! and [`StageConfig::effective`] is what plans and transcripts show under
//! `stage_configs_effective`. Messages name the full dotted key, quoted the way TOML needs it
//! (`prompt.stage_configs.resolved."ab.scene_draft".temperature`), so it can be pasted into `--set`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use crate::config::key;
use crate::config::suggest::did_you_mean;

/// Where the compiler puts every stage's resolved config.
pub const RESOLVED_PATH: &str = "prompt.stage_configs.resolved";

/// A stage's merged config (`defaults[kind]` then `instances[id]`) under a dotted path.
#[derive(Debug, Clone)]
pub struct StageConfig {
    path: String,
    /// The stage instance this config belongs to, for messages.
    stage: Option<String>,
    data: Map<String, Value>,
    consumed: BTreeSet<String>,
    /// Values read, in read order.
    effective: Map<String, Value>,
    /// Child namespaces, in the order they were opened.
    children: Vec<(String, StageConfig)>,
    /// The config table each top-level key was written in (for messages).
    origins: BTreeMap<String, String>,
}

/// A knob with the wrong type or value, or keys no getter read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StageConfigError {
    pub message: String,
}

impl StageConfigError {
    fn new(message: String) -> StageConfigError {
        StageConfigError { message }
    }
}

/// `a string`, `an integer`, ...: how messages name the type of a value they got.
pub fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a float",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "a table",
    }
}

/// Floats always show a fraction (`1.0`, `0.25`), so bounds read like the values users write.
fn float_text(value: f64) -> String {
    format!("{value:?}")
}

impl StageConfig {
    /// The config at `path` (e.g. `prompt.stage_configs.resolved."ab.scene_draft"`).
    pub fn new(path: &str, data: Map<String, Value>) -> StageConfig {
        StageConfig {
            path: path.to_owned(),
            stage: None,
            data,
            consumed: BTreeSet::new(),
            effective: Map::new(),
            children: Vec::new(),
            origins: BTreeMap::new(),
        }
    }

    /// Records which table each top-level key came from (`prompt.stage_configs.defaults."x"` or
    /// `.instances."x"`), so errors name the key where the user wrote it.
    pub fn with_origins(mut self, origins: BTreeMap<String, String>) -> StageConfig {
        self.origins = origins;
        self
    }

    /// The config of stage instance `instance_id`, at `prompt.stage_configs.resolved.<id>`.
    pub fn for_stage(instance_id: &str, data: Map<String, Value>) -> StageConfig {
        let mut config = StageConfig::new(&key::child(RESOLVED_PATH, instance_id), data);
        config.stage = Some(instance_id.to_owned());
        config
    }

    /// The dotted path of this namespace.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The dotted path of `key` in this namespace.
    pub fn key_path(&self, key: &str) -> String {
        match self.origins.get(key) {
            Some(table) => key::child(table, key),
            None => key::child(&self.path, key),
        }
    }

    fn error(&self, key: &str, problem: impl std::fmt::Display) -> StageConfigError {
        StageConfigError::new(format!("{} {problem}", self.key_path(key)))
    }

    fn type_error(&self, key: &str, expected: &str, got: &Value) -> StageConfigError {
        self.error(
            key,
            format_args!("must be {expected} (got {})", describe(got)),
        )
    }

    /// Marks `key` consumed and returns its value; `None` when absent.
    fn take(&mut self, key: &str) -> Option<Value> {
        self.consumed.insert(key.to_owned());
        self.data.get(key).cloned()
    }

    fn record(&mut self, key: &str, value: Value) {
        self.effective.insert(key.to_owned(), value);
    }

    /// A boolean knob (a real TOML boolean, never a string or a number).
    pub fn get_bool(&mut self, key: &str, default: bool) -> Result<bool, StageConfigError> {
        let value = match self.take(key) {
            None | Some(Value::Null) => default,
            Some(Value::Bool(b)) => b,
            Some(other) => return Err(self.type_error(key, "a boolean", &other)),
        };
        self.record(key, Value::Bool(value));
        Ok(value)
    }

    fn int_value(&self, key: &str, raw: &Value, expected: &str) -> Result<i64, StageConfigError> {
        match raw {
            Value::Number(n) if !n.is_f64() => n
                .as_i64()
                .ok_or_else(|| self.error(key, format_args!("is out of range (got {n})"))),
            other => Err(self.type_error(key, expected, other)),
        }
    }

    fn check_int_range(
        &self,
        key: &str,
        value: i64,
        min: Option<i64>,
        max: Option<i64>,
    ) -> Result<(), StageConfigError> {
        if let Some(min) = min.filter(|min| value < *min) {
            return Err(self.error(key, format_args!("must be >= {min} (got {value})")));
        }
        if let Some(max) = max.filter(|max| value > *max) {
            return Err(self.error(key, format_args!("must be <= {max} (got {value})")));
        }
        Ok(())
    }

    /// An integer knob within `[min, max]` (bounds apply to configured values, not the default).
    pub fn get_int(
        &mut self,
        key: &str,
        default: i64,
        min: Option<i64>,
        max: Option<i64>,
    ) -> Result<i64, StageConfigError> {
        let value = match self.take(key) {
            None | Some(Value::Null) => default,
            Some(raw) => {
                let value = self.int_value(key, &raw, "an integer")?;
                self.check_int_range(key, value, min, max)?;
                value
            }
        };
        self.record(key, Value::from(value));
        Ok(value)
    }

    /// An integer knob that may be unset: absent gives `default`, null gives `None`.
    pub fn get_optional_int(
        &mut self,
        key: &str,
        default: Option<i64>,
        min: Option<i64>,
        max: Option<i64>,
    ) -> Result<Option<i64>, StageConfigError> {
        let value = match self.take(key) {
            None => default,
            Some(Value::Null) => None,
            Some(raw) => {
                let value = self.int_value(key, &raw, "an integer or null")?;
                self.check_int_range(key, value, min, max)?;
                Some(value)
            }
        };
        self.record(key, value.map_or(Value::Null, Value::from));
        Ok(value)
    }

    fn float_value(&self, key: &str, raw: &Value, expected: &str) -> Result<f64, StageConfigError> {
        match raw {
            Value::Number(n) => n
                .as_f64()
                .ok_or_else(|| self.error(key, format_args!("is out of range (got {n})"))),
            other => Err(self.type_error(key, expected, other)),
        }
    }

    fn check_float_range(
        &self,
        key: &str,
        value: f64,
        min: Option<f64>,
        max: Option<f64>,
    ) -> Result<(), StageConfigError> {
        if let Some(min) = min.filter(|min| value < *min) {
            let (min, value) = (float_text(min), float_text(value));
            return Err(self.error(key, format_args!("must be >= {min} (got {value})")));
        }
        if let Some(max) = max.filter(|max| value > *max) {
            let (max, value) = (float_text(max), float_text(value));
            return Err(self.error(key, format_args!("must be <= {max} (got {value})")));
        }
        Ok(())
    }

    /// A number knob within `[min, max]`; an integer is accepted where a float is expected.
    pub fn get_float(
        &mut self,
        key: &str,
        default: f64,
        min: Option<f64>,
        max: Option<f64>,
    ) -> Result<f64, StageConfigError> {
        let value = match self.take(key) {
            None | Some(Value::Null) => default,
            Some(raw) => {
                let value = self.float_value(key, &raw, "a number")?;
                self.check_float_range(key, value, min, max)?;
                value
            }
        };
        self.record(key, float_json(value));
        Ok(value)
    }

    /// A number knob that may be unset: absent gives `default`, null gives `None`.
    pub fn get_optional_float(
        &mut self,
        key: &str,
        default: Option<f64>,
        min: Option<f64>,
        max: Option<f64>,
    ) -> Result<Option<f64>, StageConfigError> {
        let value = match self.take(key) {
            None => default,
            Some(Value::Null) => None,
            Some(raw) => {
                let value = self.float_value(key, &raw, "a number or null")?;
                self.check_float_range(key, value, min, max)?;
                Some(value)
            }
        };
        self.record(key, value.map_or(Value::Null, float_json));
        Ok(value)
    }

    /// The trimmed text of `key`, `None` when absent or null; wrong types are errors.
    fn text(&mut self, key: &str) -> Result<Option<String>, StageConfigError> {
        match self.take(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
            Some(other) => Err(self.type_error(key, "a string", &other)),
        }
    }

    fn check_choice(
        &self,
        key: &str,
        value: &str,
        choices: Option<&[&str]>,
    ) -> Result<(), StageConfigError> {
        match choices {
            Some(choices) if !choices.contains(&value) => Err(self.error(
                key,
                format_args!(
                    "must be one of: {} (got {})",
                    choices.join(", "),
                    Value::String(value.to_owned())
                ),
            )),
            _ => Ok(()),
        }
    }

    /// A non-empty, trimmed string knob; `default` `None` makes the key required. With
    /// `choices`, the value must be one of them.
    pub fn get_str(
        &mut self,
        key: &str,
        default: Option<&str>,
        choices: Option<&[&str]>,
    ) -> Result<String, StageConfigError> {
        let value = match (self.text(key)?, default) {
            (Some(value), _) => {
                if value.is_empty() {
                    return Err(self.error(key, "must not be empty"));
                }
                self.check_choice(key, &value, choices)?;
                value
            }
            (None, Some(default)) => default.to_owned(),
            (None, None) => {
                return Err(StageConfigError::new(format!(
                    "missing required config key `{}`",
                    self.key_path(key)
                )))
            }
        };
        self.record(key, Value::String(value.clone()));
        Ok(value)
    }

    /// A trimmed string knob that may be empty.
    pub fn get_str_allow_empty(
        &mut self,
        key: &str,
        default: &str,
    ) -> Result<String, StageConfigError> {
        let value = self.text(key)?.unwrap_or_else(|| default.to_owned());
        self.record(key, Value::String(value.clone()));
        Ok(value)
    }

    /// A non-empty, trimmed string knob that may be unset (absent or null).
    pub fn get_optional_str(&mut self, key: &str) -> Result<Option<String>, StageConfigError> {
        let value = self.text(key)?;
        if value.as_deref() == Some("") {
            return Err(self.error(key, "must not be empty"));
        }
        self.record(key, value.clone().map_or(Value::Null, Value::String));
        Ok(value)
    }

    /// A list of non-empty, trimmed strings; an empty list is an error unless `allow_empty`.
    pub fn get_list_str(
        &mut self,
        key: &str,
        default: &[&str],
        allow_empty: bool,
    ) -> Result<Vec<String>, StageConfigError> {
        let items: Vec<String> = match self.take(key) {
            None | Some(Value::Null) => default.iter().map(|s| s.trim().to_owned()).collect(),
            Some(Value::Array(raw)) => {
                let mut items = Vec::with_capacity(raw.len());
                for (index, item) in raw.iter().enumerate() {
                    let mut item_path = self.key_path(key);
                    key::push_index(&mut item_path, index);
                    match item {
                        Value::String(s) if !s.trim().is_empty() => items.push(s.trim().to_owned()),
                        Value::String(_) => {
                            return Err(StageConfigError::new(format!(
                                "{item_path} must not be empty"
                            )))
                        }
                        other => {
                            return Err(StageConfigError::new(format!(
                                "{item_path} must be a string (got {})",
                                describe(other)
                            )))
                        }
                    }
                }
                items
            }
            Some(other) => return Err(self.type_error(key, "an array of strings", &other)),
        };
        if items.is_empty() && !allow_empty {
            return Err(self.error(key, "must not be empty"));
        }
        self.record(key, Value::from(items.clone()));
        Ok(items)
    }

    /// The raw value of `key` for stage-specific parsing (`None` when absent); recorded as
    /// effective as it is, unless the stage records something else with [`Self::set_effective`].
    pub fn get_raw(&mut self, key: &str) -> Option<Value> {
        let value = self.take(key);
        if let Some(value) = &value {
            self.record(key, value.clone());
        }
        value
    }

    /// The child namespace under `key` (absent or null is an empty table). Its keys are checked
    /// by [`Self::assert_consumed`] and its effective values nest under `key`.
    pub fn namespace(&mut self, key: &str) -> Result<&mut StageConfig, StageConfigError> {
        if let Some(index) = self.children.iter().position(|(name, _)| name == key) {
            return Ok(&mut self.children[index].1);
        }
        let data = match self.take(key) {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(map)) => map,
            Some(other) => return Err(self.type_error(key, "a table", &other)),
        };
        let mut child = StageConfig::new(&self.key_path(key), data);
        child.stage.clone_from(&self.stage);
        self.children.push((key.to_owned(), child));
        let last = self.children.len() - 1;
        Ok(&mut self.children[last].1)
    }

    /// Marks `key` consumed and records `value` as its effective value (for knobs a stage
    /// parses itself, or values it derives).
    pub fn set_effective(&mut self, key: &str, value: Value) {
        self.consumed.insert(key.to_owned());
        self.record(key, value);
    }

    /// Refuses keys that no getter read, here and in every child namespace.
    pub fn assert_consumed(&self) -> Result<(), StageConfigError> {
        let unknown: Vec<&str> = {
            let mut keys: Vec<&str> = self
                .data
                .keys()
                .map(String::as_str)
                .filter(|k| !self.consumed.contains(*k))
                .collect();
            keys.sort_unstable();
            keys
        };
        if !unknown.is_empty() {
            let known: Vec<&str> = self.consumed.iter().map(String::as_str).collect();
            let known_text = if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            };
            let context = match &self.stage {
                Some(stage) => format!("stage `{stage}`; known: {known_text}"),
                None => format!("known: {known_text}"),
            };
            let noun = if unknown.len() == 1 { "key" } else { "keys" };
            let paths: Vec<String> = unknown
                .iter()
                .map(|k| format!("`{}`", self.key_path(k)))
                .collect();
            let mut message = format!("unknown config {noun} {} ({context})", paths.join(", "));
            if let [only] = unknown.as_slice() {
                if let Some(suggestion) = did_you_mean(only, known.iter().copied()) {
                    message.push_str(&format!("\n\ndid you mean `{suggestion}`?"));
                }
            }
            return Err(StageConfigError::new(message));
        }
        self.children
            .iter()
            .try_for_each(|(_, child)| child.assert_consumed())
    }

    /// Every value read (defaults included), child namespaces nested under their key (only
    /// when they read something).
    pub fn effective(&self) -> Value {
        let mut out = self.effective.clone();
        for (name, child) in &self.children {
            let child_effective = child.effective();
            if child_effective.as_object().is_some_and(|m| !m.is_empty()) {
                out.insert(name.clone(), child_effective);
            }
        }
        Value::Object(out)
    }
}

/// A float as JSON (non-finite values, which TOML can spell, become null).
fn float_json(value: f64) -> Value {
    serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number)
}

/// Stage builders report errors as text; `?` on a getter converts.
impl From<StageConfigError> for String {
    fn from(error: StageConfigError) -> String {
        error.message
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(data: Value) -> StageConfig {
        let Value::Object(map) = data else {
            panic!("test config must be a table")
        };
        StageConfig::for_stage("ab.scene_draft", map)
    }

    const P: &str = r#"prompt.stage_configs.resolved."ab.scene_draft""#;

    fn err(result: Result<impl std::fmt::Debug, StageConfigError>) -> String {
        result.expect_err("expected an error").message
    }

    #[test]
    fn path_quotes_the_stage_id() {
        let cfg = config(json!({}));
        assert_eq!(cfg.path(), P);
        assert_eq!(cfg.key_path("temperature"), format!("{P}.temperature"));
        assert_eq!(StageConfig::new("a.b", Map::new()).key_path("c"), "a.b.c");
    }

    #[test]
    fn bools_must_be_booleans() {
        let mut cfg = config(json!({"on": true, "off": "false"}));
        assert!(cfg.get_bool("on", false).unwrap());
        assert!(!cfg.get_bool("missing", false).unwrap());
        assert_eq!(
            err(cfg.get_bool("off", true)),
            format!("{P}.off must be a boolean (got a string)")
        );
    }

    #[test]
    fn ints_are_typed_and_bounded() {
        let mut cfg = config(json!({"n": 3, "zero": 0, "big": 11, "f": 2.0, "s": "3", "b": true}));
        assert_eq!(cfg.get_int("n", 1, Some(1), Some(10)).unwrap(), 3);
        assert_eq!(cfg.get_int("absent", 7, Some(1), None).unwrap(), 7);
        assert_eq!(
            err(cfg.get_int("zero", 1, Some(1), None)),
            format!("{P}.zero must be >= 1 (got 0)")
        );
        assert_eq!(
            err(cfg.get_int("big", 1, None, Some(10))),
            format!("{P}.big must be <= 10 (got 11)")
        );
        assert_eq!(
            err(cfg.get_int("f", 1, None, None)),
            format!("{P}.f must be an integer (got a float)")
        );
        assert_eq!(
            err(cfg.get_int("s", 1, None, None)),
            format!("{P}.s must be an integer (got a string)")
        );
        assert_eq!(
            err(cfg.get_int("b", 1, None, None)),
            format!("{P}.b must be an integer (got a boolean)")
        );
    }

    #[test]
    fn optional_ints_accept_null() {
        let mut cfg = config(json!({"a": null, "b": 4, "c": "x"}));
        assert_eq!(
            cfg.get_optional_int("a", Some(3), None, None).unwrap(),
            None
        );
        assert_eq!(
            cfg.get_optional_int("b", None, Some(5), None)
                .map_err(|e| e.message),
            Err(format!("{P}.b must be >= 5 (got 4)"))
        );
        assert_eq!(
            cfg.get_optional_int("absent", Some(3), None, None).unwrap(),
            Some(3)
        );
        assert_eq!(
            err(cfg.get_optional_int("c", None, None, None)),
            format!("{P}.c must be an integer or null (got a string)")
        );
        assert_eq!(cfg.effective(), json!({"a": null, "absent": 3}));
    }

    #[test]
    fn floats_accept_ints_and_are_bounded() {
        let mut cfg = config(json!({"t": 1, "u": 0.25, "low": -0.5, "s": "hot"}));
        assert_eq!(cfg.get_float("t", 0.7, Some(0.0), Some(2.0)).unwrap(), 1.0);
        assert_eq!(cfg.get_float("u", 0.7, None, None).unwrap(), 0.25);
        assert_eq!(cfg.get_float("absent", 0.7, None, None).unwrap(), 0.7);
        assert_eq!(
            err(cfg.get_float("low", 0.7, Some(0.0), None)),
            format!("{P}.low must be >= 0.0 (got -0.5)")
        );
        assert_eq!(
            err(cfg.get_float("s", 0.7, None, None)),
            format!("{P}.s must be a number (got a string)")
        );
        let mut cfg = config(json!({"hi": 3}));
        assert_eq!(
            err(cfg.get_float("hi", 0.7, None, Some(2.0))),
            format!("{P}.hi must be <= 2.0 (got 3.0)")
        );
        let mut cfg = config(json!({"o": null, "p": 2}));
        assert_eq!(
            cfg.get_optional_float("o", Some(1.0), None, None).unwrap(),
            None
        );
        assert_eq!(
            cfg.get_optional_float("p", None, None, None).unwrap(),
            Some(2.0)
        );
        assert_eq!(
            cfg.get_optional_float("q", Some(0.5), None, None).unwrap(),
            Some(0.5)
        );
        assert_eq!(cfg.effective(), json!({"o": null, "p": 2.0, "q": 0.5}));
    }

    #[test]
    fn strings_are_trimmed_checked_and_chosen() {
        let mut cfg = config(json!({"mode": "  a ", "bad": "x", "empty": "  ", "n": 1}));
        assert_eq!(cfg.get_str("mode", None, Some(&["a", "b"])).unwrap(), "a");
        assert_eq!(
            err(cfg.get_str("bad", None, Some(&["a", "b"]))),
            format!(r#"{P}.bad must be one of: a, b (got "x")"#)
        );
        assert_eq!(
            err(cfg.get_str("empty", Some("d"), None)),
            format!("{P}.empty must not be empty")
        );
        assert_eq!(
            err(cfg.get_str("n", None, None)),
            format!("{P}.n must be a string (got an integer)")
        );
        assert_eq!(
            err(cfg.get_str("needed", None, None)),
            format!("missing required config key `{P}.needed`")
        );
        assert_eq!(cfg.get_str("dflt", Some("z"), None).unwrap(), "z");

        let mut cfg = config(json!({"empty": " ", "opt": "v"}));
        assert_eq!(cfg.get_str_allow_empty("empty", "d").unwrap(), "");
        assert_eq!(cfg.get_str_allow_empty("absent", "d").unwrap(), "d");
        assert_eq!(cfg.get_optional_str("opt").unwrap().as_deref(), Some("v"));
        assert_eq!(cfg.get_optional_str("none").unwrap(), None);
    }

    #[test]
    fn string_lists_are_checked_item_by_item() {
        let mut cfg = config(
            json!({"l": [" a", "b "], "e": [], "bad": ["a", 3], "blank": ["a", " "], "s": "a"}),
        );
        assert_eq!(cfg.get_list_str("l", &[], false).unwrap(), ["a", "b"]);
        assert_eq!(
            err(cfg.get_list_str("e", &["x"], false)),
            format!("{P}.e must not be empty")
        );
        assert_eq!(cfg.get_list_str("absent", &["x"], false).unwrap(), ["x"]);
        assert_eq!(
            err(cfg.get_list_str("bad", &[], false)),
            format!("{P}.bad[1] must be a string (got an integer)")
        );
        assert_eq!(
            err(cfg.get_list_str("blank", &[], false)),
            format!("{P}.blank[1] must not be empty")
        );
        assert_eq!(
            err(cfg.get_list_str("s", &[], false)),
            format!("{P}.s must be an array of strings (got a string)")
        );
        let mut cfg = config(json!({"e": []}));
        assert_eq!(
            cfg.get_list_str("e", &[], true).unwrap(),
            Vec::<String>::new()
        );
    }

    #[test]
    fn unread_keys_are_refused_with_the_known_ones() {
        let mut cfg = config(json!({"temperature": 0.5, "foo": 1, "bar": 2}));
        cfg.get_float("temperature", 0.7, None, None).unwrap();
        cfg.get_bool("verbose", false).unwrap();
        assert_eq!(
            err(cfg.assert_consumed()),
            format!("unknown config keys `{P}.bar`, `{P}.foo` (stage `ab.scene_draft`; known: temperature, verbose)")
        );

        let mut cfg = config(json!({"temprature": 0.5}));
        cfg.get_float("temperature", 0.7, None, None).unwrap();
        assert_eq!(
            err(cfg.assert_consumed()),
            format!("unknown config key `{P}.temprature` (stage `ab.scene_draft`; known: temperature)\n\ndid you mean `temperature`?")
        );

        let cfg = StageConfig::new("x", json!({"a": 1}).as_object().unwrap().clone());
        assert_eq!(
            err(cfg.assert_consumed()),
            "unknown config key `x.a` (known: none)"
        );
    }

    #[test]
    fn namespaces_nest_paths_checks_and_effective_values() {
        let mut cfg = config(json!({"judge": {"n": 2, "extra": true}, "top": 1}));
        cfg.get_int("top", 0, None, None).unwrap();
        let judge = cfg.namespace("judge").unwrap();
        assert_eq!(judge.path(), format!("{P}.judge"));
        assert_eq!(judge.get_int("n", 1, None, None).unwrap(), 2);
        assert_eq!(
            err(cfg.assert_consumed()),
            format!("unknown config key `{P}.judge.extra` (stage `ab.scene_draft`; known: n)")
        );
        cfg.namespace("judge")
            .unwrap()
            .get_bool("extra", false)
            .unwrap();
        cfg.namespace("empty").unwrap();
        cfg.assert_consumed().unwrap();
        assert_eq!(
            cfg.effective(),
            json!({"top": 1, "judge": {"n": 2, "extra": true}})
        );

        let mut cfg = config(json!({"judge": 3}));
        assert_eq!(
            err(cfg.namespace("judge")),
            format!("{P}.judge must be a table (got an integer)")
        );
    }

    #[test]
    fn effective_values_include_defaults_and_set_values() {
        let mut cfg = config(json!({"raw": {"x": [1]}, "custom": "v"}));
        cfg.get_float("temperature", 0.7, None, None).unwrap();
        cfg.get_str("mode", Some("a"), None).unwrap();
        assert_eq!(cfg.get_raw("raw"), Some(json!({"x": [1]})));
        assert_eq!(cfg.get_raw("absent_raw"), None);
        cfg.set_effective("custom", json!("parsed"));
        cfg.assert_consumed().unwrap();
        assert_eq!(
            cfg.effective(),
            json!({"temperature": 0.7, "mode": "a", "raw": {"x": [1]}, "custom": "parsed"})
        );
    }
}
