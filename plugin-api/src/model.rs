//! The JSON payloads of every hook and host service, as serde types.
//!
//! These types are the schema of the boundary. They evolve by adding optional fields with serde
//! defaults, so a plugin built against an older 1.x `plugin-api` still reads and writes them.

use std::collections::BTreeMap;

use crate::stage::StageSpec;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

/// How far a run goes: a final prompt only, or a prompt plus an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunMode {
    Full,
    PromptOnly,
}

impl RunMode {
    /// The spelling used in configs and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            RunMode::Full => "full",
            RunMode::PromptOnly => "prompt_only",
        }
    }

    /// Parses `full` or `prompt_only`.
    pub fn parse(text: &str) -> Option<RunMode> {
        match text {
            "full" => Some(RunMode::Full),
            "prompt_only" => Some(RunMode::PromptOnly),
            _ => None,
        }
    }
}

impl std::fmt::Display for RunMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an experiment is and which flags it takes (the `descriptor` hook).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Descriptor {
    /// The experiment's name on the command line (`experiments run <name>`).
    pub name: String,
    /// One line shown by `experiments list`.
    pub summary: String,
    /// The mode used when `--mode` is not given.
    pub default_run_mode: RunMode,
    /// The experiment's own flags, in the order `--help` shows them.
    #[serde(default)]
    pub args: Vec<ArgSpec>,
    /// Keys accepted under `experiment_runners.<name>` in the config; any other key is an error.
    #[serde(default)]
    pub runner_keys: Vec<String>,
    /// Names of optional hooks this plugin answers through `call`.
    #[serde(default)]
    pub optional_hooks: Vec<String>,
    /// The oldest host interface this plugin works with, as `MAJOR.MINOR` (`"1.1"`); `None`
    /// means any 1.x host. A host whose interface minor is lower refuses the plugin at load time
    /// naming both versions. Added in 1.1: a 1.0 host ignores it, so declare it whenever the
    /// plugin uses anything added after 1.0 (a `float` flag, `required`, `min`/`max`, ...).
    #[serde(default)]
    pub requires_interface: Option<String>,
    /// Pipeline stages this plugin declares as data (1.1), registered as `<plugin>.<name>` for
    /// this plugin's runs. See [`StageSpec`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<StageSpec>,
}

impl Descriptor {
    /// A descriptor with no flags and no runner keys.
    pub fn new(name: &str, summary: &str, default_run_mode: RunMode) -> Descriptor {
        Descriptor {
            name: name.to_owned(),
            summary: summary.to_owned(),
            default_run_mode,
            args: Vec::new(),
            runner_keys: Vec::new(),
            optional_hooks: Vec::new(),
            requires_interface: None,
            stages: Vec::new(),
        }
    }

    /// Declares a pipeline stage (1.1; see [`StageSpec`]).
    pub fn stage(mut self, stage: StageSpec) -> Descriptor {
        self.stages.push(stage);
        self
    }

    /// Declares the oldest host interface the plugin works with (`"1.1"`); see
    /// [`Descriptor::requires_interface`](struct.Descriptor.html#structfield.requires_interface).
    pub fn requires_interface(mut self, major_minor: &str) -> Descriptor {
        self.requires_interface = Some(major_minor.to_owned());
        self
    }

    /// Adds a flag.
    pub fn arg(mut self, arg: ArgSpec) -> Descriptor {
        self.args.push(arg);
        self
    }

    /// Adds a key accepted under `experiment_runners.<name>`.
    pub fn runner_key(mut self, key: &str) -> Descriptor {
        self.runner_keys.push(key.to_owned());
        self
    }
}

/// The type of a plugin flag's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArgKind {
    Int,
    String,
    Bool,
    Choice,
    /// A finite decimal number (added in 1.1).
    Float,
}

impl ArgKind {
    /// The spelling used in `describe` and in the descriptor JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ArgKind::Int => "int",
            ArgKind::String => "string",
            ArgKind::Bool => "bool",
            ArgKind::Choice => "choice",
            ArgKind::Float => "float",
        }
    }
}

/// One plugin flag. `name` is the long flag without dashes (`runs-per-set`); the plan receives
/// its value under the snake_case key (`runs_per_set`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArgSpec {
    pub name: String,
    pub kind: ArgKind,
    /// The value used when the flag is absent (`null`: the plan sees `null`).
    #[serde(default)]
    pub default: Value,
    /// Allowed values of a `choice` flag.
    #[serde(default)]
    pub choices: Vec<String>,
    /// The flag may be given several times; the plan receives an array. Its default is an
    /// array too (or `null`), used only when the flag is absent: given values replace it.
    #[serde(default)]
    pub repeatable: bool,
    /// One line of help.
    #[serde(default)]
    pub help: String,
    /// The flag must be given; it has no default (added in 1.1).
    #[serde(default)]
    pub required: bool,
    /// The smallest value an `int` or `float` flag accepts, inclusive (added in 1.1).
    #[serde(default)]
    pub min: Option<Number>,
    /// The largest value an `int` or `float` flag accepts, inclusive (added in 1.1).
    #[serde(default)]
    pub max: Option<Number>,
    /// One line of help per value of a `choice` flag, keyed by the value (added in 1.1).
    #[serde(default)]
    pub choice_help: BTreeMap<String, String>,
}

/// A bound of [`ArgSpec::min`]/[`ArgSpec::max`]: an integer, or a finite `f64` for a `float`
/// flag.
pub trait ArgBound {
    /// The bound as a JSON number.
    ///
    /// # Panics
    ///
    /// For a NaN or infinite `f64` (a mistake in the descriptor: the panic is reported at load
    /// time as an error naming the plugin).
    fn into_number(self) -> Number;
}

macro_rules! integer_bounds {
    ($($int:ty),*) => {$(
        impl ArgBound for $int {
            fn into_number(self) -> Number {
                Number::from(self)
            }
        }
    )*};
}
integer_bounds!(i32, i64, u32, u64, usize);

impl ArgBound for f64 {
    fn into_number(self) -> Number {
        Number::from_f64(self)
            .unwrap_or_else(|| panic!("a flag bound must be a finite number, not {self}"))
    }
}

impl ArgSpec {
    fn new(name: &str, kind: ArgKind, help: &str) -> ArgSpec {
        ArgSpec {
            name: name.to_owned(),
            kind,
            default: Value::Null,
            choices: Vec::new(),
            repeatable: false,
            help: help.to_owned(),
            required: false,
            min: None,
            max: None,
            choice_help: BTreeMap::new(),
        }
    }

    /// An integer flag.
    pub fn int(name: &str, help: &str) -> ArgSpec {
        ArgSpec::new(name, ArgKind::Int, help)
    }

    /// A decimal flag (finite numbers only; added in 1.1).
    pub fn float(name: &str, help: &str) -> ArgSpec {
        ArgSpec::new(name, ArgKind::Float, help)
    }

    /// A string flag.
    pub fn string(name: &str, help: &str) -> ArgSpec {
        ArgSpec::new(name, ArgKind::String, help)
    }

    /// A boolean switch (present means `true`).
    pub fn bool(name: &str, help: &str) -> ArgSpec {
        ArgSpec::new(name, ArgKind::Bool, help).default_value(false)
    }

    /// A flag whose value is one of `choices`.
    pub fn choice(name: &str, choices: &[&str], help: &str) -> ArgSpec {
        let mut arg = ArgSpec::new(name, ArgKind::Choice, help);
        arg.choices = choices.iter().map(|c| (*c).to_owned()).collect();
        arg
    }

    /// A `choice` flag with one line of help per value (added in 1.1).
    pub fn choice_with_help(name: &str, choices: &[(&str, &str)], help: &str) -> ArgSpec {
        let values: Vec<&str> = choices.iter().map(|(value, _)| *value).collect();
        let mut arg = ArgSpec::choice(name, &values, help);
        arg.choice_help = choices
            .iter()
            .map(|(value, help)| ((*value).to_owned(), (*help).to_owned()))
            .collect();
        arg
    }

    /// Makes the flag required: the host refuses a run without it before `plan` is called.
    pub fn required(mut self) -> ArgSpec {
        self.required = true;
        self
    }

    /// The smallest accepted value of an `int` or `float` flag, inclusive; the host refuses a
    /// smaller one before `plan` is called.
    pub fn min(mut self, value: impl ArgBound) -> ArgSpec {
        self.min = Some(value.into_number());
        self
    }

    /// The largest accepted value of an `int` or `float` flag, inclusive.
    pub fn max(mut self, value: impl ArgBound) -> ArgSpec {
        self.max = Some(value.into_number());
        self
    }

    /// Sets the default value.
    pub fn default_value(mut self, value: impl Into<Value>) -> ArgSpec {
        self.default = value.into();
        self
    }

    /// Makes the flag repeatable.
    pub fn repeatable(mut self) -> ArgSpec {
        self.repeatable = true;
        self
    }

    /// The key under which the plan receives this flag's value.
    pub fn key(&self) -> String {
        self.name.replace('-', "_")
    }
}

/// Input of the `plan` hook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanRequest {
    /// The loaded config with the runner's standard overrides, without `experiment_runners`.
    pub base_config: Value,
    /// `experiment_runners.<name>` from the config (an empty table when absent).
    #[serde(default)]
    pub runner_config: Map<String, Value>,
    /// Flag values keyed by snake_case name; absent flags carry their default.
    #[serde(default)]
    pub args: Map<String, Value>,
    pub run_mode: RunMode,
    pub experiment_id: String,
    /// The experiment's base seed; per-run seeds derive from it.
    pub base_seed: u64,
}

impl PlanRequest {
    /// An integer flag (`None` when absent or null).
    pub fn arg_int(&self, key: &str) -> Option<i64> {
        self.args.get(key).and_then(Value::as_i64)
    }

    /// A float flag (`None` when absent or null; an integer reads as a float).
    pub fn arg_float(&self, key: &str) -> Option<f64> {
        self.args.get(key).and_then(Value::as_f64)
    }

    /// A string flag (`None` when absent or null).
    pub fn arg_str(&self, key: &str) -> Option<&str> {
        self.args.get(key).and_then(Value::as_str)
    }

    /// A boolean switch (`false` when absent).
    pub fn arg_bool(&self, key: &str) -> bool {
        self.args.get(key).and_then(Value::as_bool).unwrap_or(false)
    }

    /// A repeatable string flag (empty when absent).
    pub fn arg_strings(&self, key: &str) -> Vec<String> {
        match self.args.get(key) {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|item| item.as_str().map(str::to_owned))
                .collect(),
            Some(Value::String(one)) => vec![one.clone()],
            _ => Vec::new(),
        }
    }

    /// A string under `runner_config` (`None` when absent or not a string).
    pub fn runner_str(&self, key: &str) -> Option<&str> {
        self.runner_config.get(key).and_then(Value::as_str)
    }
}

/// Output of the `plan` hook: the runs in execution order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub runs: Vec<PlannedRun>,
    /// Experiment-level facts recorded as `experiment_meta` in the plan files.
    #[serde(default)]
    pub meta: Map<String, Value>,
    /// For A/B experiments: which two variants form a pair at each run index.
    #[serde(default)]
    pub pairing: Option<Pairing>,
}

/// Parses a [`Plan`] handing each run to `on_run` instead of collecting them (the host's
/// streaming read of a large plan); the plan returned has no runs.
#[doc(hidden)]
pub struct PlanSeed<'a> {
    pub on_run: &'a mut dyn FnMut(PlannedRun) -> bool,
}

impl<'de> serde::de::DeserializeSeed<'de> for PlanSeed<'_> {
    type Value = Plan;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Plan, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for PlanSeed<'_> {
    type Value = Plan;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("a plan object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Plan, A::Error> {
        let mut plan = Plan::default();
        let mut saw_runs = false;
        let on_run = self.on_run;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "runs" => {
                    map.next_value_seed(RunsSeed {
                        on_run: &mut *on_run,
                    })?;
                    saw_runs = true;
                }
                "meta" => plan.meta = map.next_value()?,
                "pairing" => plan.pairing = map.next_value()?,
                _ => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        if !saw_runs {
            return Err(serde::de::Error::missing_field("runs"));
        }
        Ok(plan)
    }
}

struct RunsSeed<'a> {
    on_run: &'a mut dyn FnMut(PlannedRun) -> bool,
}

impl<'de> serde::de::DeserializeSeed<'de> for RunsSeed<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for RunsSeed<'_> {
    type Value = ();

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("a list of planned runs")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        while let Some(run) = seq.next_element::<PlannedRun>()? {
            if !(self.on_run)(run) {
                return Err(serde::de::Error::custom(format!(
                    "the host stopped reading the plan at runs[{index}]"
                )));
            }
            index += 1;
        }
        Ok(())
    }
}

/// One planned run, as the plugin describes it. The host merges `overlay` onto the base config,
/// assigns the generation id and writes the labels into the run's `experiment.*` keys.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlannedRun {
    /// Group key, `[A-Za-z0-9_-]+` (`A`, `B`, ...).
    pub variant: String,
    /// Human label of the variant (`no_refinement_block`).
    #[serde(default)]
    pub variant_name: Option<String>,
    /// 1-based index within the variant.
    pub run: u32,
    /// The run's prompt seed, derived from the base seed by the plugin.
    #[serde(default)]
    pub seed: Option<u64>,
    /// Config overlay for this run (a table; merged onto the base config by the host).
    #[serde(default)]
    pub overlay: Value,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub notes: Option<String>,
    /// Extra per-run facts recorded in the plan files.
    #[serde(default)]
    pub meta: Map<String, Value>,
}

/// The variants paired at each run index: one control (`a`) and one or more treatments (`b`,
/// then `more_treatments`), each treatment compared with the control run by run.
///
/// 1.0 knew `{a, b}` only, and that keeps its meaning: `a` is the control, `b` the first
/// treatment. `more_treatments` (1.1) adds arms; a 1.0 host ignores it, so declare
/// `requires_interface("1.1")` when you use it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pairing {
    /// The control variant.
    pub a: String,
    /// The first treatment variant.
    pub b: String,
    /// Further treatment variants, each paired with the control like `b` (1.1).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more_treatments: Vec<String>,
}

impl Pairing {
    /// `treatment` compared with `control` at every run index.
    pub fn new(control: impl Into<String>, treatment: impl Into<String>) -> Pairing {
        Pairing {
            a: control.into(),
            b: treatment.into(),
            more_treatments: Vec::new(),
        }
    }

    /// Adds a treatment arm, compared with the control like the first (1.1).
    pub fn and(mut self, treatment: impl Into<String>) -> Pairing {
        self.more_treatments.push(treatment.into());
        self
    }

    /// The control variant (`a`).
    pub fn control(&self) -> &str {
        &self.a
    }

    /// Every treatment variant in order: `b`, then `more_treatments`.
    pub fn treatments(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.b.as_str()).chain(self.more_treatments.iter().map(String::as_str))
    }
}

/// A planned run after the host assigned its generation id and merged its config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    pub variant: String,
    #[serde(default)]
    pub variant_name: Option<String>,
    pub run: u32,
    #[serde(default)]
    pub seed: Option<u64>,
    pub generation_id: String,
    /// The run's fully merged pipeline config.
    pub config: Value,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub notes: Option<String>,
    #[serde(default)]
    pub meta: Map<String, Value>,
}

/// Input of the `run` hook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRequest {
    pub spec: RunSpec,
}

/// Whether a run produced its final prompt (and image).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Success,
    Error,
}

/// The output of a `run_pipeline` outcome in which the host reports what the run's pipeline
/// steps cost: `{"chat_steps": <model requests>, "model_calls": <HTTP attempts, retries
/// included>}`. The host adds it next to `prompt_pipeline`; it is not a capture key.
pub const PIPELINE_STATS_OUTPUT: &str = "pipeline_stats";

/// Output of the `run` hook and of the `run_pipeline` host service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunOutcome {
    pub status: RunStatus,
    #[serde(default)]
    pub final_prompt: Option<String>,
    /// Captured pipeline outputs, keyed by capture key, plus the host's `prompt_pipeline` and
    /// [`PIPELINE_STATS_OUTPUT`].
    #[serde(default)]
    pub outputs: Map<String, Value>,
    #[serde(default)]
    pub image_path: Option<String>,
    #[serde(default)]
    pub error: Option<RunError>,
}

impl Default for RunOutcome {
    /// A successful outcome with nothing in it yet; fill it with the builders or struct update
    /// syntax (`RunOutcome { final_prompt: Some(text), ..RunOutcome::default() }`).
    fn default() -> RunOutcome {
        RunOutcome {
            status: RunStatus::Success,
            final_prompt: None,
            outputs: Map::new(),
            image_path: None,
            error: None,
        }
    }
}

impl RunOutcome {
    /// A successful run that produced `final_prompt`.
    pub fn success(final_prompt: impl Into<String>) -> RunOutcome {
        RunOutcome {
            final_prompt: Some(final_prompt.into()),
            ..RunOutcome::default()
        }
    }

    /// A failed run: `kind` is a short error type (`ValidationError`), `message` what went wrong.
    pub fn failure(kind: impl Into<String>, message: impl Into<String>) -> RunOutcome {
        RunOutcome {
            status: RunStatus::Error,
            error: Some(RunError {
                kind: kind.into(),
                message: message.into(),
                phase: None,
                step: None,
            }),
            ..RunOutcome::default()
        }
    }

    /// Adds a captured output under `key`.
    pub fn with_output(mut self, key: impl Into<String>, value: impl Into<Value>) -> RunOutcome {
        self.outputs.insert(key.into(), value.into());
        self
    }

    /// Whether the run succeeded.
    pub fn is_success(&self) -> bool {
        self.status == RunStatus::Success
    }
}

/// Why a run failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunError {
    #[serde(rename = "type")]
    pub kind: String,
    pub message: String,
    #[serde(default)]
    pub phase: Option<String>,
    #[serde(default)]
    pub step: Option<String>,
}

/// Input of the `analyze` hook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "scope",
    rename_all = "snake_case",
    try_from = "AnalyzeRequestWire"
)]
// Built once per hook call; boxing the large variant would only burden plugin authors.
#[allow(clippy::large_enum_variant)]
pub enum AnalyzeRequest {
    /// One finished run.
    Run { spec: RunSpec, outcome: RunOutcome },
    /// The whole experiment: the stored result entries (also those of earlier, resumed sessions),
    /// in plan order, each without its `outputs` (the runner's record of the compiled pipeline,
    /// which stays in `results.jsonl`).
    Summary { results: Vec<Value> },
}

/// [`AnalyzeRequest`] as it is read: a plain struct, because serde reads an internally tagged
/// enum by buffering the whole input first, which doubles the memory a summary of many results
/// takes.
#[derive(Deserialize)]
struct AnalyzeRequestWire {
    scope: AnalyzeScope,
    spec: Option<RunSpec>,
    outcome: Option<RunOutcome>,
    results: Option<Vec<Value>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum AnalyzeScope {
    Run,
    Summary,
}

impl TryFrom<AnalyzeRequestWire> for AnalyzeRequest {
    type Error = String;

    fn try_from(wire: AnalyzeRequestWire) -> Result<AnalyzeRequest, String> {
        match (wire.scope, wire.spec, wire.outcome, wire.results) {
            (AnalyzeScope::Run, Some(spec), Some(outcome), _) => {
                Ok(AnalyzeRequest::Run { spec, outcome })
            }
            (AnalyzeScope::Run, _, _, _) => {
                Err("an `analyze` request of scope `run` needs `spec` and `outcome`".to_owned())
            }
            (AnalyzeScope::Summary, _, _, Some(results)) => Ok(AnalyzeRequest::Summary { results }),
            (AnalyzeScope::Summary, _, _, None) => {
                Err("an `analyze` request of scope `summary` needs `results`".to_owned())
            }
        }
    }
}

/// One message of a chat request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    /// A message of `role` (`system`, `user`, `assistant`).
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> ChatMessage {
        ChatMessage {
            role: role.into(),
            content: content.into(),
        }
    }
}

/// Input of the `chat` host service: one recorded model call.
///
/// ```
/// # use plugin_api::ChatRequest;
/// # let config = plugin_api::serde_json::json!({});
/// let request = ChatRequest::new("judge", config)
///     .system("You judge prompts.")
///     .user("Rate this prompt from 0 to 10.")
///     .temperature(0.0);
/// assert_eq!(request.messages.len(), 2);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The step name recorded in the transcript.
    pub name: String,
    pub messages: Vec<ChatMessage>,
    #[serde(default)]
    pub temperature: Option<f64>,
    /// The config of the run the call belongs to (selects the backend and the transcript).
    #[serde(default)]
    pub config: Value,
    /// A model other than the text backend's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The answer's completion-token limit, over the backend's `max_completion_tokens`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    /// Free text (the default) or one JSON object.
    #[serde(default)]
    pub response_format: ResponseFormat,
    /// Asked-for reasoning effort (`low`, `medium`, `high`). The host's text backend sets it per
    /// backend (`backend.text.reasoning_effort`), not per call: the host records it as not applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<String>,
}

/// The shape of the answer a `chat` call asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseFormat {
    /// Free text.
    #[default]
    Text,
    /// One JSON object (JSON mode, where the backend has it switched on).
    Json,
}

impl ChatRequest {
    /// A request recorded as step `name`, for the run whose config is `config` (the run spec's
    /// `config`: it selects the backend and the transcript).
    pub fn new(name: impl Into<String>, config: Value) -> ChatRequest {
        ChatRequest {
            name: name.into(),
            config,
            ..ChatRequest::default()
        }
    }

    /// Appends a message of `role`.
    pub fn message(mut self, role: impl Into<String>, content: impl Into<String>) -> ChatRequest {
        self.messages.push(ChatMessage::new(role, content));
        self
    }

    /// Appends a `system` message.
    pub fn system(self, content: impl Into<String>) -> ChatRequest {
        self.message("system", content)
    }

    /// Appends a `user` message.
    pub fn user(self, content: impl Into<String>) -> ChatRequest {
        self.message("user", content)
    }

    /// Sets the sampling temperature (the backend's default when unset).
    pub fn temperature(mut self, temperature: f64) -> ChatRequest {
        self.temperature = Some(temperature);
        self
    }

    /// Asks `model` instead of the backend's default.
    pub fn model(mut self, model: impl Into<String>) -> ChatRequest {
        self.model = Some(model.into());
        self
    }

    /// Limits the answer to `max_tokens` completion tokens.
    pub fn max_tokens(mut self, max_tokens: u64) -> ChatRequest {
        self.max_tokens = Some(max_tokens);
        self
    }

    /// Asks for one JSON object as the answer.
    pub fn json(mut self) -> ChatRequest {
        self.response_format = ResponseFormat::Json;
        self
    }

    /// Asks for a reasoning effort (recorded; see the field for why it is not applied per call).
    pub fn reasoning_effort(mut self, effort: impl Into<String>) -> ChatRequest {
        self.reasoning_effort = Some(effort.into());
        self
    }
}

/// Output of the `chat` host service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    pub text: String,
}

/// The error a hook returns across the boundary, as JSON (host-only wire type).
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookFailure {
    pub kind: HookFailureKind,
    pub message: String,
}

/// How a hook call failed (host-only wire type).
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HookFailureKind {
    /// The hook returned an error.
    Failed,
    /// The hook panicked; the panic was caught inside the plugin.
    Panicked,
    /// The hook's input did not parse as the expected payload.
    BadInput,
    /// `call` was asked for a hook the plugin does not answer.
    UnknownHook,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_requests_of_1_0_plugins_read_with_the_new_options_unset() {
        let old: ChatRequest = serde_json::from_value(serde_json::json!({
            "name": "judge", "messages": [{"role": "user", "content": "Rate it."}],
        }))
        .unwrap();
        assert_eq!(old.model, None);
        assert_eq!(old.max_tokens, None);
        assert_eq!(old.response_format, ResponseFormat::Text);
        assert_eq!(old.reasoning_effort, None);
        let new = ChatRequest::new("judge", Value::Null)
            .user("Rate it.")
            .model("m")
            .max_tokens(9)
            .json()
            .reasoning_effort("low");
        let text = serde_json::to_value(&new).unwrap();
        assert_eq!(text["response_format"], "json");
        assert_eq!(text["max_tokens"], 9);
        assert_eq!(serde_json::from_value::<ChatRequest>(text).unwrap(), new);
    }

    #[test]
    fn analyze_requests_read_back_as_written() {
        let summary = AnalyzeRequest::Summary {
            results: vec![serde_json::json!({"generation_id": "A1_x"})],
        };
        let text = serde_json::to_string(&summary).unwrap();
        assert!(text.starts_with(r#"{"scope":"summary""#), "{text}");
        assert_eq!(
            serde_json::from_str::<AnalyzeRequest>(&text).unwrap(),
            summary
        );
        let run: AnalyzeRequest = serde_json::from_value(serde_json::json!({
            "scope": "run",
            "spec": {"variant": "A", "run": 1, "generation_id": "A1_x", "config": {}},
            "outcome": {"status": "success"},
        }))
        .unwrap();
        assert!(matches!(&run, AnalyzeRequest::Run { spec, .. } if spec.generation_id == "A1_x"));
        let text = serde_json::to_string(&run).unwrap();
        assert_eq!(serde_json::from_str::<AnalyzeRequest>(&text).unwrap(), run);
        let error = serde_json::from_str::<AnalyzeRequest>(r#"{"scope":"summary"}"#)
            .unwrap_err()
            .to_string();
        assert!(error.contains("needs `results`"), "{error}");
        assert!(serde_json::from_str::<AnalyzeRequest>(r#"{"scope":"other"}"#).is_err());
    }
}
