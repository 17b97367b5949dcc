//! The formats of `experiment_plan.json`, `experiment_plan_full.json` and `pairs.json`
//! (reference §2.8–2.9 and §2.15, with DESIGN §4's changes: `base_seed` at the top, the plugin
//! by name and library, `config_meta` without a repo root).

use std::path::Path;

use serde::Serialize;
use serde_json::{Map, Value};

/// The plugin that planned the experiment.
#[derive(Debug, Clone, Serialize)]
pub struct PluginRecord {
    pub name: String,
    pub summary: String,
    pub library: String,
    pub interface_version: String,
}

/// The runner's flags as given.
#[derive(Debug, Clone, Serialize)]
pub struct RunnerFlags {
    pub dry_run: bool,
    pub resume: bool,
    pub continue_on_error: bool,
    pub jobs: Option<u64>,
}

/// What the runner contributed to every run's config.
#[derive(Debug, Clone, Serialize)]
pub struct RunnerRecord {
    pub standard_overrides: Value,
    pub flags: RunnerFlags,
}

/// `experiment_plan.json`; with `generation_defaults` and `planned_runs_full`, the full plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlanDocument {
    pub schema_version: u32,
    pub kind: &'static str,
    pub generated_at: String,
    pub base_seed: u64,
    pub experiment_name: String,
    pub experiment_id: String,
    pub output_root: String,
    pub run_mode: String,
    pub config_meta: Value,
    pub plugin: PluginRecord,
    pub runner: RunnerRecord,
    pub experiment_args: Map<String, Value>,
    pub experiment_meta: Map<String, Value>,
    /// For A/B experiments: `{a, b}`, the variants paired at each run index.
    pub pairing: Option<plugin_api::Pairing>,
    pub planned_runs: Vec<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation_defaults: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub planned_runs_full: Option<Vec<Map<String, Value>>>,
}

/// File names inside an experiment directory.
pub const PLAN_FILE: &str = "experiment_plan.json";
pub const PLAN_FULL_FILE: &str = "experiment_plan_full.json";
pub const PAIRS_FILE: &str = "pairs.json";
pub const LOG_FILE: &str = "experiment.log";

/// `pairs.json`.
#[derive(Debug, Clone, Serialize)]
pub struct PairsDocument {
    pub schema_version: u32,
    pub experiment_id: String,
    pub created_at: String,
    pub pairs: Vec<PairEntry>,
}

/// One A/B pair.
#[derive(Debug, Clone, Serialize)]
pub struct PairEntry {
    pub run_index: u32,
    pub a_generation_id: String,
    pub b_generation_id: String,
    pub metadata: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub a_error: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub b_error: Option<Value>,
}

/// Writes both plan files (the summary plan, then the full plan) atomically.
pub fn write_plan_files(
    dir: &Path,
    summary: &PlanDocument,
    full: &PlanDocument,
) -> Result<(), super::ArtifactError> {
    super::write_json(&dir.join(PLAN_FILE), summary)?;
    super::write_json(&dir.join(PLAN_FULL_FILE), full)
}
