//! The records the runner and a run write, one typed struct each, read back through the same
//! types: a planned-run entry of the plan files, a full-plan run reference, a result entry
//! (`results.jsonl` line, `experiment_results.json` entry), a runs-index line, a titles-manifest
//! row and a generations row. Field order is the order written (serde_json keeps it), so adding
//! a field is one edit here.
//!
//! Readers: [`StoredResult`] (what resume needs of a result line) and the plan-entry types are
//! strict; the CSV readers ([`TitleSeen`], [`PromptSeen`]) read only the columns a run needs.
//! Documents (`experiment_plan*.json`, `pairs.json`) are in `plan_files`, the results document
//! in `runner::results`; where the files are is `layout`, how they are written `artifacts`.

use std::borrow::Cow;
use std::path::Path;

use plugin_api::{RunError, RunMode, RunStatus};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::cost::UsageTotals;

/// One planned run in `experiment_plan.json` (`planned_runs`), and in a schema-1 full plan (with
/// its merged `config` among the flattened fields): the run's labels, then the plugin's `meta`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlannedRunEntry<'a> {
    pub variant: Cow<'a, str>,
    #[serde(default)]
    pub variant_name: Option<Cow<'a, str>>,
    /// `prompt.plan` of the run's config.
    #[serde(default)]
    pub plan: Option<Cow<'a, str>>,
    pub run: u32,
    pub generation_id: Cow<'a, str>,
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default)]
    pub tags: Cow<'a, [String]>,
    #[serde(default)]
    pub notes: Option<Cow<'a, str>>,
    /// The plugin's `meta`, flattened (its keys cannot be the fields above: the plan is checked).
    #[serde(flatten)]
    pub meta: Cow<'a, Map<String, Value>>,
}

/// One run in `experiment_plan_full.json` (`planned_runs_full`, schema 2): its generation id, the
/// index of its overlay, and its preflight result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FullPlanRunEntry<'a> {
    pub generation_id: Cow<'a, str>,
    /// Index into the full plan's `overlays`.
    pub overlay: usize,
    #[serde(flatten)]
    pub preflight: PreflightRecord,
}

/// A run's preflight result in the full plan: one field, either name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PreflightRecord {
    /// Passed: the index of its compiled plan's metadata in `prompt_pipelines`.
    PromptPipeline(usize),
    /// Failed: why.
    ConfigError(ErrorRecord),
}

/// `{type, message}`: why a preflight check or a plugin hook failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorRecord {
    #[serde(rename = "type")]
    pub kind: String,
    pub message: String,
}

/// A finished run's result entry: one line of `results.jsonl`, and (its latest per run) an entry
/// of `experiment_results.json`. Optional parts are left out when a run did not get that far.
#[derive(Debug, Clone, Serialize)]
pub struct ResultEntry {
    pub variant: String,
    pub variant_name: Option<String>,
    pub run: u32,
    pub generation_id: String,
    pub seed: Option<u64>,
    pub status: RunStatus,
    /// What the `run` hook returned; absent when the hook failed or was not called.
    #[serde(flatten)]
    pub outcome: Option<OutcomeFields>,
    /// The run's `{type, message, ...}`, null when it succeeded.
    pub error: Option<Value>,
    /// The plugin's per-run analysis, when it returned one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analysis: Option<Value>,
    /// Why the analysis failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analysis_error: Option<Value>,
    /// The `chat` calls the `analyze` hook made (a judge's prompt and verdict), as transcript
    /// steps; left out when it made none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub analysis_calls: Vec<crate::pipeline::StepRecord>,
    /// The files the plugin wrote through `write_artifact` in the run's `run` and `analyze`
    /// hooks (`plugin/<name>`, each once); left out when it wrote none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub plugin_artifacts: Vec<String>,
    pub usage: UsageTotals,
    pub cost_usd: Option<f64>,
    /// What the run's cache hits would have cost (null when unknown).
    pub saved_cost_usd: Option<f64>,
    /// Why `cost_usd` is null.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cost_missing: Vec<String>,
    /// When the run went; absent for a run whose config did not merge (it never started).
    #[serde(flatten)]
    pub timing: Option<Timing>,
}

/// The fields of a result entry from the run's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct OutcomeFields {
    pub image_path: Option<String>,
    pub final_prompt: Option<String>,
    pub outputs: EntryOutputs,
}

/// `outputs` of a result entry: only the runner's record of the compiled pipeline.
#[derive(Debug, Clone, Serialize)]
pub struct EntryOutputs {
    pub prompt_pipeline: Value,
}

/// When a run started and finished, and how long it took (seconds, to the millisecond).
#[derive(Debug, Clone, Serialize)]
pub struct Timing {
    pub started_at: String,
    pub finished_at: String,
    pub duration_s: f64,
}

/// What resume reads of a stored result line: whose it is, whether it succeeded, and why not.
#[derive(Debug, Clone, Deserialize)]
pub struct StoredResult {
    pub generation_id: String,
    pub status: RunStatus,
    #[serde(default)]
    pub error: Option<Value>,
}

impl StoredResult {
    /// Reads line `number` (from 1) of `path`, parsed; the error names the file, the line and
    /// the field.
    pub fn read(path: &Path, number: usize, line: &Value) -> Result<StoredResult, String> {
        serde_path_to_error::deserialize(line).map_err(|error| {
            let field = error.path().to_string();
            format!(
                "`{}` line {number}: `{field}`: {}",
                path.display(),
                error.inner()
            )
        })
    }
}

/// What the budget of a resumed experiment and `--estimate` read of a stored result entry: its
/// spend, leniently (a missing field is its default; such entries are reported where they are
/// read strictly).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct StoredSpend {
    pub generation_id: String,
    pub status: String,
    pub usage: UsageTotals,
    pub cost_usd: Option<f64>,
}

/// One line of `runs_index.jsonl`, written by every run, whatever its outcome.
#[derive(Debug, Serialize)]
pub struct RunsIndexLine<'a> {
    pub schema_version: u32,
    pub generation_id: &'a str,
    pub created_at: &'a str,
    pub seed: u64,
    pub status: RunStatus,
    /// The phase the run failed in, or `complete`.
    pub phase: &'a str,
    pub run_mode: RunMode,
    /// The run's experiment labels; null when none is set.
    pub experiment: Option<ExperimentLabels<'a>>,
    pub prompt_pipeline: &'a Value,
    pub artifacts: RunArtifacts<'a>,
    pub error: Option<&'a RunError>,
    pub usage: UsageTotals,
    pub cost_usd: Option<f64>,
    pub saved_cost_usd: Option<f64>,
}

/// `experiment {id, variant, notes, tags}` of a transcript and a runs-index line.
#[derive(Debug, Clone, Serialize)]
pub struct ExperimentLabels<'a> {
    pub id: Option<&'a str>,
    pub variant: Option<&'a str>,
    pub notes: Option<&'a str>,
    pub tags: &'a [String],
}

/// A runs-index line's paths of the run's files (null for a file it did not write).
#[derive(Debug, Serialize)]
pub struct RunArtifacts<'a> {
    pub transcript: &'a Path,
    pub oplog: &'a Path,
    pub final_prompt: Option<&'a Path>,
    pub image: Option<&'a Path>,
}

/// The columns of the titles manifest, in order ([`TitlesManifestRow`]'s fields).
pub const TITLES_HEADER: [&str; 12] = [
    "seq",
    "title",
    "generation_id",
    "image_prompt",
    "image_path",
    "created_at",
    "model",
    "size",
    "quality",
    "seed",
    "title_source",
    "title_raw",
];

/// One row of the titles manifest (columns [`TITLES_HEADER`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TitlesManifestRow {
    pub seq: u64,
    pub title: String,
    pub generation_id: String,
    pub image_prompt: String,
    pub image_path: String,
    pub created_at: String,
    pub model: String,
    pub size: String,
    pub quality: String,
    pub seed: u64,
    pub title_source: String,
    pub title_raw: String,
}

/// What a run reads of a titles-manifest row: its sequence number (when it is one) and title.
#[derive(Debug, Clone, Deserialize)]
pub struct TitleSeen {
    #[serde(deserialize_with = "csv::invalid_option")]
    pub seq: Option<u64>,
    pub title: String,
}

/// The columns of the generations CSV, in order ([`GenerationsRow`]'s fields).
pub const GENERATIONS_HEADER: [&str; 6] = [
    "generation_id",
    "selected_concepts",
    "final_image_prompt",
    "image_path",
    "created_at",
    "seed",
];

/// One row of the generations CSV (columns [`GENERATIONS_HEADER`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationsRow {
    pub generation_id: String,
    /// The selected concepts as a JSON array.
    pub selected_concepts: String,
    pub final_image_prompt: String,
    pub image_path: String,
    pub created_at: String,
    pub seed: u64,
}

/// What the novelty history reads of a generations row: its final prompt.
#[derive(Debug, Clone, Deserialize)]
pub struct PromptSeen {
    pub final_image_prompt: String,
}

#[cfg(test)]
mod tests;
