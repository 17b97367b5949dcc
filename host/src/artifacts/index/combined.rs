//! The combined index of several stores: every store indexed at once and labelled, their rows
//! put together with `store, store_root` columns first (one image and run row per generation
//! id: the one with more cells filled in, then the earlier store), the summed counts, each
//! store's warnings labelled, and the combined `experiments_index.json`. No cache.
//!
//! Not here: indexing one store ([`super::assemble`]).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::assemble::StoreIndex;
use super::columns::{self, write_csv, Cell, Column};
use super::document::{registry_paths, Registries};
use super::experiment_registry::{ExperimentRow, EXPERIMENT_COLUMNS};
use super::files::EXPERIMENTS_INDEX_FILE;
use super::image_registry::{ImageRow, IMAGE_COLUMNS};
use super::report::{IndexCounts, IndexReport, IndexWarnings};
use super::run_registry::{RunRow, RUN_COLUMNS};
use super::store::{posix, Store};
use super::summary::ExperimentSummary;
use super::IndexError;
use crate::artifacts::write_json_deferred;
use crate::clock::Timestamp;

/// Columns a combined index puts before each registry's own.
const STORE_COLUMNS: [&str; 2] = ["store", "store_root"];

#[derive(Debug, Serialize)]
struct StoreEntry<'a> {
    store: &'a str,
    store_root: String,
    counts: &'a IndexCounts,
}

#[derive(Debug, Serialize)]
struct CombinedIndex<'a> {
    schema_version: u32,
    kind: &'static str,
    generated_at: String,
    output_dir: String,
    stores: Vec<StoreEntry<'a>>,
    experiments: Vec<ExperimentSummary>,
    counts: &'a IndexCounts,
    warnings: &'a IndexWarnings,
    registries: Registries,
}

/// Keeps one row per generation id across stores: the one with more cells filled in, then the
/// earlier store.
fn dedupe<'r, R>(
    rows: Vec<(usize, &'r R)>,
    id: impl Fn(&R) -> &str,
    columns: &[Column<R>],
) -> Vec<(usize, &'r R)> {
    let mut kept: BTreeMap<&str, (usize, &R, usize)> = BTreeMap::new();
    for (store, row) in rows {
        let score = columns::filled(columns, row);
        match kept.get(id(row)) {
            Some((_, _, best)) if *best >= score => {}
            _ => {
                kept.insert(id(row), (store, row, score));
            }
        }
    }
    kept.into_values()
        .map(|(store, row, _)| (store, row))
        .collect()
}

/// Writes one registry of a combined index: the store columns, then the registry's own.
fn write_registry<R>(
    path: &Path,
    stores: &[Store],
    columns: &[Column<R>],
    rows: &[(usize, &R)],
) -> Result<(), IndexError> {
    let header = STORE_COLUMNS
        .into_iter()
        .map(Cow::Borrowed)
        .chain(columns::names(columns));
    let rows = rows.iter().map(|&(store, row)| {
        let store = &stores[store];
        [
            Cell::from(store.label.as_str()),
            Cell::from(store.root_text()),
        ]
        .into_iter()
        .chain(columns::cells(columns, row))
    });
    write_csv(path, header, rows)
}

pub(super) fn write_combined(
    stores: &[Store],
    indexes: &[StoreIndex],
    output_dir: &Path,
) -> Result<IndexReport, IndexError> {
    let mut experiment_rows: Vec<(usize, &ExperimentRow)> = indexes
        .iter()
        .enumerate()
        .flat_map(|(store, index)| index.experiment_rows.iter().map(move |row| (store, row)))
        .collect();
    experiment_rows.sort_by(|a, b| (a.1.sort_key(), a.0).cmp(&(b.1.sort_key(), b.0)));
    let image_rows: Vec<(usize, &ImageRow)> = indexes
        .iter()
        .enumerate()
        .flat_map(|(store, index)| index.image_rows.iter().map(move |row| (store, row)))
        .collect();
    let mut image_rows = dedupe(image_rows, |row| &row.manifest.generation_id, IMAGE_COLUMNS);
    image_rows.sort_by(|a, b| (a.1.sort_key(), a.0).cmp(&(b.1.sort_key(), b.0)));
    let run_rows: Vec<(usize, &RunRow)> = indexes
        .iter()
        .enumerate()
        .flat_map(|(store, index)| index.run_rows.iter().map(move |row| (store, row)))
        .collect();
    let mut run_rows = dedupe(run_rows, |row| &row.generation_id, RUN_COLUMNS);
    run_rows.sort_by(|a, b| (a.1.sort_key(), a.0).cmp(&(b.1.sort_key(), b.0)));

    let [experiment_csv, image_csv, run_csv] = registry_paths(output_dir);
    write_registry(
        &experiment_csv,
        stores,
        EXPERIMENT_COLUMNS,
        &experiment_rows,
    )?;
    write_registry(&image_csv, stores, IMAGE_COLUMNS, &image_rows)?;
    write_registry(&run_csv, stores, RUN_COLUMNS, &run_rows)?;

    let mut counts = IndexCounts::default();
    let mut warnings = IndexWarnings::default();
    let mut experiments = Vec::new();
    for (store, index) in stores.iter().zip(indexes) {
        counts.stores += 1;
        // The registry counts are replaced below, once repeated ids are removed.
        counts.add(&index.counts);
        warnings.absorb(&index.warnings, &store.label);
        experiments.extend(
            index
                .experiments
                .iter()
                .map(|experiment| experiment.in_store(&store.label, store.root_text())),
        );
    }
    counts.images_titled = image_rows.len();
    counts.runs_in_run_registry = run_rows.len();

    let json_path = output_dir.join(EXPERIMENTS_INDEX_FILE);
    let document = CombinedIndex {
        schema_version: 1,
        kind: "combined_artifacts_index",
        generated_at: Timestamp::now().iso().to_owned(),
        output_dir: posix(output_dir),
        stores: stores
            .iter()
            .zip(indexes)
            .map(|(store, index)| StoreEntry {
                store: &store.label,
                store_root: store.root_text(),
                counts: &index.counts,
            })
            .collect(),
        experiments,
        counts: &counts,
        warnings: &warnings,
        registries: Registries {
            experiment_registry_csv: posix(&experiment_csv),
            image_registry_csv: posix(&image_csv),
            run_registry_csv: posix(&run_csv),
        },
    };
    write_json_deferred(&json_path, &document)?;
    Ok(IndexReport {
        counts,
        warnings,
        files_written: vec![experiment_csv, image_csv, run_csv, json_path],
    })
}
