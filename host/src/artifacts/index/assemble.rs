//! Indexing one store, or one id-disjoint group of its files, at once: read the sources, then the
//! plans in walk order (the first plan of a generation id wins; a second is a warning), then
//! join everything by generation id into the summaries, the three registries' rows (sorted) and
//! the counts.
//!
//! Not here: how each source is read or each row is made (their modules), or writing.

use std::collections::{BTreeMap, BTreeSet};

use super::experiment_registry::ExperimentRow;
use super::image_registry::ImageRow;
use super::plan::Plan;
use super::report::{warning, IndexCounts, IndexWarnings};
use super::run_registry::RunRow;
use super::sources::Sources;
use super::stamp::Trust;
use super::store::Store;
use super::summary::ExperimentSummary;
use super::walk::{self, Found};

/// Everything one store contributes to an index.
pub(super) struct StoreIndex {
    pub experiments: Vec<ExperimentSummary>,
    pub experiment_rows: Vec<ExperimentRow>,
    pub image_rows: Vec<ImageRow>,
    pub run_rows: Vec<RunRow>,
    pub counts: IndexCounts,
    pub warnings: IndexWarnings,
}

/// Indexes a whole store at once (for a combined index).
pub(super) fn index_store(store: &Store) -> StoreIndex {
    let walked = walk::walk(store, None, &Trust::nothing());
    let mut index = index_files(store, &walked.found);
    index.warnings.walk_errors = walked.walk_errors;
    index
}

/// Indexes `found`: the whole store, or files that share no generation id with the rest of it
/// (see [`super::refresh`]). Walk errors are the caller's.
pub(super) fn index_files(store: &Store, found: &Found) -> StoreIndex {
    let mut warnings = IndexWarnings::default();
    let sources = Sources::read(store, found, &mut warnings);

    // Experiments, in walk order; the first plan of a generation id wins.
    let mut experiments = Vec::new();
    let mut experiment_rows: Vec<ExperimentRow> = Vec::new();
    // Each generation id's first planned row, by position in `experiment_rows` before sorting
    // (a plan of 200,000 runs is indexed without a second copy of its runs).
    let mut first_row_of_id: BTreeMap<String, usize> = BTreeMap::new();
    for path in &found.plans {
        let Some(plan) = Plan::read(path, store, &mut warnings) else {
            continue;
        };
        let summary = ExperimentSummary::of(&plan, store, &sources);
        for run in plan.runs {
            if let Some(&first) = first_row_of_id.get(&run.generation_id) {
                let message = format!(
                    "generation id `{}` is also planned in `{}`",
                    run.generation_id, experiment_rows[first].planned.plan_path
                );
                warnings.experiment_plan_errors.push(warning(
                    run.planned.plan_path.to_string(),
                    None,
                    &message,
                ));
            } else {
                first_row_of_id.insert(run.generation_id.clone(), experiment_rows.len());
            }
            experiment_rows.push(ExperimentRow::of(run, &sources));
        }
        experiments.push(summary);
    }
    experiments.sort_by(|a, b| b.experiment_dir.cmp(&a.experiment_dir));
    let planned_by_id = |id: &str| {
        first_row_of_id
            .get(id)
            .map(|&row| &experiment_rows[row].planned)
    };

    let mut image_rows: Vec<ImageRow> = sources
        .manifests
        .values()
        .map(|manifest| {
            let planned = planned_by_id(&manifest.generation_id);
            ImageRow::of(manifest, planned, sources.runs.get(&manifest.generation_id))
        })
        .collect();
    // Every sort key ends with the generation id, which is unique per list (experiment rows
    // share one only for an id planned twice in one plan, rows alike but for that), so an
    // unstable sort gives the stable order without a buffer of half the rows.
    image_rows.sort_unstable_by(|a, b| a.sort_key().cmp(&b.sort_key()));

    let ids: BTreeSet<&String> = sources
        .runs
        .keys()
        .chain(sources.manifests.keys())
        .chain(sources.generations.keys())
        .chain(first_row_of_id.keys())
        .collect();
    let mut run_rows: Vec<RunRow> = ids
        .into_iter()
        .map(|id| RunRow::of(id, planned_by_id(id), &sources))
        .collect();
    run_rows.sort_unstable_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    drop(first_row_of_id);
    experiment_rows.sort_unstable_by(|a, b| a.sort_key().cmp(&b.sort_key()));

    let counts = IndexCounts {
        stores: 1,
        experiments: experiments.len(),
        experiment_runs_planned: experiment_rows.len(),
        experiment_runs_executed: experiments
            .iter()
            .map(|experiment| experiment.executed_runs)
            .sum(),
        manifest_files: found.manifests.len(),
        images_titled: image_rows.len(),
        run_index_files: found.runs_indexes.len(),
        run_index_entries: sources.runs.len(),
        generation_csv_files: found.generations.len(),
        generation_csv_rows: sources.generations.len(),
        runs_in_run_registry: run_rows.len(),
    };
    StoreIndex {
        experiments,
        experiment_rows,
        image_rows,
        run_rows,
        counts,
        warnings,
    }
}
