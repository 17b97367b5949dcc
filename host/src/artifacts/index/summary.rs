//! The summary of one experiment in `experiments_index.json`: its paths (the plan, the files
//! next to it that exist, and the plugin's own files under `plugin/`), its variants with their labels (from the first run of each variant, in
//! plan order, that has a runs-index record) and its counts of planned, executed and succeeded
//! runs and of images.
//!
//! Not here: reading the plan ([`super::plan`]) or the document around the summaries
//! ([`super::document`]).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::files::{PLUGIN_ARTIFACTS_DIR, SIDE_FILES};
use super::plan::{Plan, PlannedRun};
use super::sources::Sources;
use super::store::Store;

/// A plan name or variant name: one when the variant agrees, else all of them (sorted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn of(names: BTreeSet<String>) -> Option<OneOrMany> {
        match names.len() {
            0 => None,
            1 => names.into_iter().next().map(OneOrMany::One),
            _ => Some(OneOrMany::Many(names.into_iter().collect())),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct VariantSummary {
    key: String,
    planned_plan: Option<OneOrMany>,
    planned_variant_name: Option<OneOrMany>,
    /// Labels from the first run of the variant, in plan order, that has a runs-index record.
    experiment_variant: Option<String>,
    notes: Option<String>,
    tags: Vec<String>,
    planned_runs: usize,
    executed_runs: usize,
}

/// A file of an experiment listed by path and kind.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ListedFile {
    path: String,
    kind: String,
}

/// The kind of the files a plugin wrote under `plugin/`.
const PLUGIN_ARTIFACT_KIND: &str = "plugin_artifact";

/// One experiment in `experiments_index.json` (and in the cache, for a cached group).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct ExperimentSummary {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    store: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    store_root: Option<String>,
    schema_version: u32,
    experiment_id: String,
    experiment_name: Option<String>,
    pub experiment_dir: String,
    plan_path: String,
    plan_full_path: Option<String>,
    results_path: Option<String>,
    results_jsonl_path: Option<String>,
    pairs_path: Option<String>,
    runs_index_path: Option<String>,
    titles_manifest_path: Option<String>,
    /// The files under the experiment's `plugin/` (written through `write_artifact`), each of
    /// kind `plugin_artifact`; left out when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    plugin_artifacts: Vec<ListedFile>,
    run_mode: Option<String>,
    base_seed: Option<u64>,
    variant_keys: Vec<String>,
    variants: Vec<VariantSummary>,
    planned_runs: usize,
    /// Planned generation ids with a runs-index record (retries count once).
    pub executed_runs: usize,
    /// Planned generation ids whose latest record says `success`.
    succeeded_runs: usize,
    /// Planned generation ids with a titles-manifest row.
    images: usize,
}

impl ExperimentSummary {
    /// The summary of `plan`, whose runs' records are in `sources`.
    pub(super) fn of(plan: &Plan, store: &Store, sources: &Sources) -> ExperimentSummary {
        let runs = &plan.runs;
        let dir = &plan.dir;
        let mut variant_keys: Vec<String> = Vec::new();
        for run in runs {
            if !variant_keys.contains(&run.planned.variant_key) {
                variant_keys.push(run.planned.variant_key.clone());
            }
        }
        let variants = variant_keys
            .iter()
            .map(|key| {
                let of_variant: Vec<&PlannedRun> = runs
                    .iter()
                    .filter(|run| &run.planned.variant_key == key)
                    .collect();
                let exemplar = of_variant
                    .iter()
                    .find_map(|run| sources.runs.get(&run.generation_id));
                VariantSummary {
                    key: key.clone(),
                    planned_plan: OneOrMany::of(
                        of_variant
                            .iter()
                            .filter_map(|run| run.planned.plan.clone())
                            .collect(),
                    ),
                    planned_variant_name: OneOrMany::of(
                        of_variant
                            .iter()
                            .filter_map(|run| run.planned.variant_name.clone())
                            .collect(),
                    ),
                    experiment_variant: exemplar.and_then(|record| record.variant.clone()),
                    notes: exemplar.and_then(|record| record.notes.clone()),
                    tags: exemplar
                        .map(|record| record.tags.clone())
                        .unwrap_or_default(),
                    planned_runs: of_variant.len(),
                    executed_runs: of_variant
                        .iter()
                        .filter(|run| sources.runs.contains_key(&run.generation_id))
                        .count(),
                }
            })
            .collect();

        let present = side_files(dir);
        let existing = |which: usize| present[which].then(|| store.show(&side_file(dir, which)));
        let ids: BTreeSet<&str> = runs.iter().map(|run| run.generation_id.as_str()).collect();
        ExperimentSummary {
            store: None,
            store_root: None,
            schema_version: 1,
            experiment_id: plan.experiment_id.clone(),
            experiment_name: plan.experiment_name.clone(),
            experiment_dir: plan.experiment_dir.clone(),
            plan_path: plan.shown.clone(),
            plan_full_path: existing(0),
            results_path: existing(1),
            results_jsonl_path: existing(2),
            pairs_path: existing(3),
            runs_index_path: existing(4),
            titles_manifest_path: existing(5),
            plugin_artifacts: plugin_artifacts(dir)
                .iter()
                .map(|path| ListedFile {
                    path: store.show(path),
                    kind: PLUGIN_ARTIFACT_KIND.to_owned(),
                })
                .collect(),
            run_mode: plan.run_mode.clone(),
            base_seed: plan.base_seed,
            variant_keys,
            variants,
            planned_runs: runs.len(),
            executed_runs: ids
                .iter()
                .filter(|id| sources.runs.contains_key(**id))
                .count(),
            succeeded_runs: ids
                .iter()
                .filter(|id| {
                    sources
                        .runs
                        .get(**id)
                        .is_some_and(|record| record.status.as_deref() == Some("success"))
                })
                .count(),
            images: ids
                .iter()
                .filter(|id| sources.manifests.contains_key(**id))
                .count(),
        }
    }

    /// The summary as a combined index lists it: labelled with its store.
    pub(super) fn in_store(&self, store: &str, store_root: String) -> ExperimentSummary {
        ExperimentSummary {
            store: Some(store.to_owned()),
            store_root: Some(store_root),
            ..self.clone()
        }
    }
}

/// Which of [`SIDE_FILES`] exist next to a plan in `dir` (the cache compares them too).
pub(super) fn side_files(dir: &Path) -> [bool; 6] {
    std::array::from_fn(|which| side_file(dir, which).is_file())
}

/// The regular files under `plugin/` next to a plan in `dir`, sorted by path, links not
/// followed, hidden names (an unfinished write's temp file) left out. The refresh stamps them
/// with the plan's unit, so a changed artifact refreshes the summary.
pub(super) fn plugin_artifacts(dir: &Path) -> Vec<PathBuf> {
    fn visit(dir: &Path, found: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut entries: Vec<_> = entries.flatten().collect();
        entries.sort_by_key(|entry| entry.file_name());
        for entry in entries {
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => visit(&entry.path(), found),
                Ok(kind) if kind.is_file() => found.push(entry.path()),
                _ => {}
            }
        }
    }
    let mut found = Vec::new();
    visit(&dir.join(PLUGIN_ARTIFACTS_DIR), &mut found);
    found
}

/// The path of [`SIDE_FILES`]`[which]` next to a plan in `dir`.
fn side_file(dir: &Path, which: usize) -> PathBuf {
    SIDE_FILES[which]
        .iter()
        .fold(dir.to_path_buf(), |path, part| path.join(part))
}
