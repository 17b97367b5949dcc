//! The formats of `experiment_plan.json`, `experiment_plan_full.json` and `pairs.json`
//! (reference §2.8–2.9 and §2.15, with DESIGN §4's changes: `base_seed` at the top, the plugin
//! by name and library, `config_meta` without a repo root), and how they are committed.
//!
//! The full plan stores its runs by reference (schema 2): the base config once, each distinct
//! overlay once (`overlays`), each distinct preflight result once (`prompt_pipelines`), and per
//! run only its generation id and the indexes of its overlay and preflight metadata (or its
//! `config_error`). Its labels and seed are those of the same run, at the same position, in
//! `experiment_plan.json`. A run's config is rebuilt by the runner (`runner::plan`). Plans of
//! schema 1 (labels and one merged `config` per full-plan entry) are still read.
//!
//! Commit: every plan file is written and synced under a temp name first, then renamed into
//! place, `experiment_plan.json` last. That file marks a committed plan: a directory without
//! it holds no plan, whatever else a crash left there ([`remove_uncommitted_plan`]).

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::formats::PlannedRunEntry;
use super::{commit_atomic, one_line_each, stage_json, ArtifactError};

/// The plan files' names (declared in `layout`; the index reads them from here).
pub use super::layout::{LOG_FILE, PAIRS_FILE, PLAN_FILE, PLAN_FULL_FILE};

/// The schema of the full plan this program writes.
pub const PLAN_FULL_SCHEMA: u32 = 2;

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

/// The fields both plan files start with.
#[derive(Debug, Clone, Serialize)]
pub struct PlanHeader {
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
}

/// `experiment_plan.json`: the header and one entry per planned run.
#[derive(Serialize)]
pub struct PlanDocument<'a, R: Serialize> {
    pub schema_version: u32,
    pub kind: &'static str,
    #[serde(flatten)]
    pub header: &'a PlanHeader,
    pub planned_runs: R,
}

/// `experiment_plan_full.json`: the header, the base config, the distinct overlays and preflight
/// metadata, and per run its references to them.
#[derive(Serialize)]
pub struct FullPlanDocument<'a, O: Serialize, R: Serialize> {
    pub schema_version: u32,
    pub kind: &'static str,
    #[serde(flatten)]
    pub header: &'a PlanHeader,
    pub generation_defaults: Value,
    pub base_config: &'a Value,
    pub overlays: O,
    pub prompt_pipelines: &'a [Value],
    pub planned_runs_full: R,
}

/// `experiment_plan_full.json` as read back for `--resume`: only what resuming needs.
#[derive(Debug, Deserialize)]
pub struct StoredPlan {
    #[serde(default = "schema_one")]
    pub schema_version: u32,
    pub experiment_name: String,
    pub experiment_id: String,
    pub base_seed: u64,
    pub run_mode: String,
    #[serde(default)]
    pub pairing: Option<plugin_api::Pairing>,
    /// The flags and the plan's `meta`, for the analysis context of a resumed experiment.
    #[serde(default)]
    pub experiment_args: Map<String, Value>,
    #[serde(default)]
    pub experiment_meta: Map<String, Value>,
    pub runner: StoredRunner,
    /// Schema 2: the config every run's overlay applies to.
    #[serde(default)]
    pub base_config: Option<Value>,
    /// Schema 2: the distinct overlays.
    #[serde(default)]
    pub overlays: Vec<Value>,
    /// Schema 1: [`PlannedRunEntry`]s with their `config`; schema 2: [`FullPlanRunEntry`](super::formats::FullPlanRunEntry)s.
    pub planned_runs_full: Vec<Box<serde_json::value::RawValue>>,
}

fn schema_one() -> u32 {
    1
}

/// `runner` of a stored plan.
#[derive(Debug, Deserialize)]
pub struct StoredRunner {
    pub standard_overrides: Value,
}

/// `experiment_plan.json` as read back for `--resume`: the runs' labels and seeds.
#[derive(Debug, Deserialize)]
pub struct StoredSummary {
    pub planned_runs: Vec<PlannedRunEntry<'static>>,
}

/// `pairs.json`.
#[derive(Debug, Clone, Serialize)]
pub struct PairsDocument {
    pub schema_version: u32,
    pub experiment_id: String,
    pub created_at: String,
    /// The control's pairs with the first treatment (1.0's `a`–`b` pairs).
    #[serde(serialize_with = "one_line_each")]
    pub pairs: Vec<PairEntry>,
    /// Every treatment's pairs with the control, only when there is more than one treatment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arms: Option<Vec<ArmEntry>>,
}

/// One treatment's pairs with the control (`arms` of `pairs.json`).
#[derive(Debug, Clone, Serialize)]
pub struct ArmEntry {
    pub control: String,
    pub treatment: String,
    #[serde(serialize_with = "one_line_each")]
    pub pairs: Vec<PairEntry>,
}

/// One pair: the control's run (`a`) and a treatment's run (`b`) at one run index.
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

/// Writes `pairs.json` atomically, one pair per line.
pub fn write_pairs(dir: &Path, pairs: &PairsDocument) -> Result<(), ArtifactError> {
    super::write_json(&dir.join(PAIRS_FILE), pairs)
}

/// Writes the plan files (and `pairs.json`) so that a crash leaves either no plan or a complete
/// one: all are staged first, then renamed into place with `experiment_plan.json` last.
pub fn commit_plan_files<S: Serialize, F: Serialize>(
    dir: &Path,
    summary: &S,
    full: &F,
    pairs: Option<&PairsDocument>,
) -> Result<(), ArtifactError> {
    let pairs = match pairs {
        Some(pairs) => Some(stage_json(&dir.join(PAIRS_FILE), pairs)?),
        None => None,
    };
    let full = stage_json(&dir.join(PLAN_FULL_FILE), full)?;
    let summary = stage_json(&dir.join(PLAN_FILE), summary)?;
    if let Some(pairs) = pairs {
        // Synced with the full plan's rename, which follows in the same directory.
        super::commit_atomic_unsynced_dir(pairs, &dir.join(PAIRS_FILE))?;
    }
    commit_atomic(full, &dir.join(PLAN_FULL_FILE))?;
    commit_atomic(summary, &dir.join(PLAN_FILE))
}

/// Whether `dir` holds a committed plan.
pub fn plan_committed(dir: &Path) -> bool {
    dir.join(PLAN_FILE).exists()
}

/// Removes what an interrupted [`commit_plan_files`] left in `dir` (a full plan or pairs file
/// without the summary plan that commits them). Does nothing when a plan is committed. Call it
/// only while holding the directory's lock. Returns the names removed.
pub fn remove_uncommitted_plan(dir: &Path) -> Result<Vec<&'static str>, ArtifactError> {
    let mut removed = Vec::new();
    if plan_committed(dir) {
        return Ok(removed);
    }
    for name in [PLAN_FULL_FILE, PAIRS_FILE] {
        let path = dir.join(name);
        match std::fs::remove_file(&path) {
            Ok(()) => removed.push(name),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(ArtifactError::Write { path, source }),
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_committed_plan_survives_cleanup() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(PLAN_FULL_FILE), "{}").unwrap();
        std::fs::write(dir.path().join(PAIRS_FILE), "{}").unwrap();
        assert_eq!(
            remove_uncommitted_plan(dir.path()).unwrap(),
            [PLAN_FULL_FILE, PAIRS_FILE]
        );
        commit_plan_files(
            dir.path(),
            &serde_json::json!({"a": 1}),
            &serde_json::json!({"b": 2}),
            None,
        )
        .unwrap();
        assert!(remove_uncommitted_plan(dir.path()).unwrap().is_empty());
        assert!(dir.path().join(PLAN_FULL_FILE).exists() && plan_committed(dir.path()));
    }
}
