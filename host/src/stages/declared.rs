//! Stage kinds a plugin declares as data (`plugin_api::StageSpec`, plugin-api 1.1): the rules a
//! declaration must follow at load time ([`check_declared`]), the stage kind `<plugin>.<name>` it
//! becomes ([`declared_stages`]) and the one builder every declared stage shares: a chat stage
//! whose step `draft` sends the declared template rendered with the outputs it reads, and whose
//! answer is checked against the declared shape before it is stored under the declared output.
//!
//! It does not own which runs see these stages (only the declaring plugin's: the runner compiles
//! that plugin's plans with a registry holding them), nor how they are listed (`describe`).

use std::collections::BTreeSet;
use std::sync::Arc;

use plugin_api::{StageResponse, StageSpec};
use serde_json::{Map, Value};

use super::keys::{self, check_output_key};
use super::{Builder, StageBuild, StageDef, StageIo, StageKind};
use crate::backends::ResponseShape;
use crate::errors::quoted;
use crate::pipeline::{chat_stage_block, Block, ChatStep, PromptFn, RunState};

/// The one knob a declared stage has.
pub const TEMPERATURE_KNOB: &str = "temperature";

/// The temperature of a declared stage that declares none.
pub const DEFAULT_TEMPERATURE: f64 = 0.7;

/// The lowest temperature a declared stage may declare or be configured with.
pub const MIN_TEMPERATURE: f64 = 0.0;

/// The highest temperature a declared stage may declare or be configured with.
pub const MAX_TEMPERATURE: f64 = 2.0;

/// The response shape of a declared `json_object` stage: JSON mode where the backend has it; the
/// offline backend answers a schema it has no sample for with `{"answer": ...}`.
pub const DECLARED_JSON: ResponseShape = ResponseShape::Json {
    schema: "declared.json_object",
};

/// One declared stage kind, as the registry holds it.
#[derive(Debug)]
pub struct DeclaredStage {
    /// `<plugin>.<name>`.
    pub id: String,
    /// The experiment (plugin) that declared it.
    pub plugin: String,
    pub spec: StageSpec,
}

impl DeclaredStage {
    /// The shape the chat step asks the backend for.
    pub fn shape(&self) -> ResponseShape {
        match self.spec.response {
            StageResponse::Text => ResponseShape::Text,
            StageResponse::Line => ResponseShape::Line { format: None },
            StageResponse::JsonObject => DECLARED_JSON,
        }
    }

    /// The declared default temperature, else [`DEFAULT_TEMPERATURE`] (checked at load time).
    pub fn default_temperature(&self) -> f64 {
        self.spec
            .knobs
            .get(TEMPERATURE_KNOB)
            .and_then(Value::as_f64)
            .unwrap_or(DEFAULT_TEMPERATURE)
    }

    /// One instance: a chat stage (step `draft`) at the configured temperature (the stage
    /// config's `temperature` over the declared default), capturing the checked answer.
    pub(super) fn build(&'static self, build: &mut StageBuild<'_, '_>) -> Result<Block, String> {
        let temperature = build
            .config
            .get_float(
                TEMPERATURE_KNOB,
                self.default_temperature(),
                Some(MIN_TEMPERATURE),
                Some(MAX_TEMPERATURE),
            )
            .map_err(|error| error.to_string())?;
        let prompt: PromptFn = Arc::new(move |state: &RunState| {
            crate::prompts::render_text(
                &self.id,
                &self.spec.template,
                template_values(&self.spec.reads, state)?,
            )
        });
        let mut step = ChatStep::new("draft", temperature, self.shape(), prompt);
        step.capture_key = Some(self.spec.writes.clone());
        let response = self.spec.response;
        step.answer = Some(Arc::new(move |text: &str| check_answer(response, text)));
        Ok(chat_stage_block(build.instance_id, step))
    }
}

/// Why a plugin's stage declarations are refused, naming the plugin, the stage and what was
/// expected; `Ok` when every one follows the rules.
pub fn check_declared(plugin: &str, specs: &[StageSpec]) -> Result<(), String> {
    if specs.is_empty() {
        // Most plugins declare none; the built-in catalogue is not worth building for them.
        return Ok(());
    }
    let builtin = super::catalogue();
    let mut names: Vec<&str> = Vec::new();
    for spec in specs {
        let fail = |problem: String| {
            format!(
                "plugin `{plugin}`, declared stage `{}`: {problem}",
                spec.name
            )
        };
        let name = spec.name.as_str();
        if !is_name(name, |c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'
        }) {
            return Err(fail(
                "invalid name (expected lowercase letters, digits and `_`)".to_owned(),
            ));
        }
        if names.contains(&name) {
            return Err(fail("declared twice".to_owned()));
        }
        names.push(name);
        let id = stage_id(plugin, name);
        if builtin.iter().any(|stage| stage.id == id) {
            return Err(fail(format!(
                "its id `{id}` is a built-in stage kind (expected a name no built-in `{plugin}.*` stage has)"
            )));
        }
        check_spec(spec).map_err(fail)?;
    }
    Ok(())
}

/// One declaration's template, outputs and knobs.
fn check_spec(spec: &StageSpec) -> Result<(), String> {
    for key in &spec.reads {
        check_output_key(key).map_err(|problem| format!("`reads`: {problem}"))?;
    }
    check_output_key(&spec.writes).map_err(|problem| format!("`writes`: {problem}"))?;
    // What the run writes before the pipeline, and the final prompt the compiler captures: a
    // declared stage may read them, never write them.
    if keys::RUN_WRITTEN.contains(&spec.writes.as_str()) || spec.writes == keys::IMAGE_PROMPT {
        return Err(format!(
            "`writes` is `{}`, which the run itself writes (expected an output of the stage's own)",
            spec.writes
        ));
    }
    // A template variable is a read key, or the first segment of dotted ones (`a.b` is
    // `{{ a.b }}`), so no read key may also be a group of others.
    let mut roots: BTreeSet<&str> = BTreeSet::new();
    for key in &spec.reads {
        if let Some(group) = spec
            .reads
            .iter()
            .find(|other| other.starts_with(&format!("{key}.")))
        {
            return Err(format!(
                "`reads` has `{key}` and `{group}`, so the template variable `{key}` would be \
                 both a text and a group (expected no read key to be a prefix of another)"
            ));
        }
        roots.insert(key.split('.').next().unwrap_or(key));
    }
    if spec.template.trim().is_empty() {
        return Err(
            "the template is empty (expected the user message, in Jinja syntax)".to_owned(),
        );
    }
    let variables = crate::prompts::template_variables(&spec.name, &spec.template)
        .map_err(|problem| format!("the template {problem}"))?;
    let undeclared: Vec<&str> = variables
        .iter()
        .map(String::as_str)
        .filter(|variable| !roots.contains(variable))
        .collect();
    if !undeclared.is_empty() {
        let allowed = if roots.is_empty() {
            "none, since `reads` is empty".to_owned()
        } else {
            roots.iter().copied().collect::<Vec<_>>().join(", ")
        };
        return Err(format!(
            "the template uses {}, not in `reads` (expected only the variables of `reads`: {allowed})",
            quoted(&undeclared)
        ));
    }
    for (knob, value) in &spec.knobs {
        if knob != TEMPERATURE_KNOB {
            return Err(format!(
                "unknown knob `{knob}` (expected only `{TEMPERATURE_KNOB}`)"
            ));
        }
        if !value
            .as_f64()
            .is_some_and(|t| (MIN_TEMPERATURE..=MAX_TEMPERATURE).contains(&t))
        {
            return Err(format!(
                "knob `{TEMPERATURE_KNOB}` is {value} (expected a number from {MIN_TEMPERATURE} \
                 to {MAX_TEMPERATURE})"
            ));
        }
    }
    Ok(())
}

/// The stage kinds of a plugin's declarations, which [`check_declared`] accepted. Each lives as
/// long as the process (the registry's ids and IO are `'static`): a plugin is loaded once.
pub fn declared_stages(plugin: &str, specs: &[StageSpec]) -> Vec<StageDef> {
    specs
        .iter()
        .map(|spec| {
            let stage: &'static DeclaredStage = Box::leak(Box::new(DeclaredStage {
                id: stage_id(plugin, &spec.name),
                plugin: plugin.to_owned(),
                spec: spec.clone(),
            }));
            let requires: Vec<&'static str> = stage.spec.reads.iter().map(String::as_str).collect();
            StageDef {
                id: &stage.id,
                kind: StageKind::Chat,
                doc: &stage.spec.doc,
                // What it writes is listed as provided: its one output, whatever step holds it.
                io: StageIo {
                    requires: requires.leak(),
                    provides: std::slice::from_ref(Box::leak(Box::new(stage.spec.writes.as_str()))),
                    captures: &[],
                },
                build: Builder::Declared(stage),
            }
        })
        .collect()
}

/// Whether `text` is a name made only of the characters `allowed` accepts (and not empty): the
/// one form of a plugin's names (its experiment, its flags, its declared stages), each kind with
/// its own characters.
pub fn is_name(text: &str, allowed: impl Fn(char) -> bool) -> bool {
    !text.is_empty() && text.chars().all(allowed)
}

/// `<plugin>.<name>`.
pub fn stage_id(plugin: &str, name: &str) -> String {
    format!("{plugin}.{name}")
}

/// What the template sees: each read output's text (a value that is not text as its JSON),
/// under its key; a dotted key nests (`a.b` is `{{ a.b }}`).
fn template_values(reads: &[String], state: &RunState) -> Result<Value, String> {
    let mut values = Map::new();
    for key in reads {
        let text = match state.outputs.get(key) {
            Some(Value::String(text)) => text.clone(),
            Some(other) => other.to_string(),
            None => return Err(format!("missing required output `{key}`")),
        };
        let mut segments: Vec<&str> = key.split('.').collect();
        let last = segments.pop().unwrap_or(key);
        let mut table = &mut values;
        for segment in segments {
            let entry = table
                .entry(segment.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            table = match entry {
                Value::Object(inner) => inner,
                // Not reached for a declaration `check_declared` accepted: a segment holds a text
                // only when a read key is a prefix of another, which `check_spec` refuses. The
                // keys are a plugin's, so an error rather than a panic all the same.
                _ => return Err(format!("`reads` key `{key}` clashes with another read")),
            };
        }
        table.insert(last.to_owned(), Value::String(text));
    }
    Ok(Value::Object(values))
}

/// The text a declared stage stores for `answer`, or what the answer should have been.
fn check_answer(response: StageResponse, answer: &str) -> Result<String, String> {
    match response {
        StageResponse::Text => {
            let text = answer.trim();
            if text.is_empty() {
                return Err("this stage asks for text; the answer is empty".to_owned());
            }
            Ok(text.to_owned())
        }
        StageResponse::Line => {
            let lines: Vec<&str> = answer
                .lines()
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .collect();
            match lines.as_slice() {
                [line] => Ok((*line).to_owned()),
                _ => Err(format!(
                    "this stage asks for exactly one non-empty line; the answer has {}",
                    lines.len()
                )),
            }
        }
        StageResponse::JsonObject => {
            match serde_json::from_str::<Value>(crate::answers::extract_json(answer).trim()) {
                Ok(Value::Object(object)) => Ok(Value::Object(object).to_string()),
                Ok(other) => Err(format!(
                    "this stage asks for one JSON object; the answer is {}",
                    crate::pipeline::stage_config::describe(&other)
                )),
                Err(error) => Err(format!(
                    "this stage asks for one JSON object; the answer does not parse as JSON: {error}"
                )),
            }
        }
    }
}

#[cfg(test)]
mod tests;
