//! `experiments_index.json` of one store: the experiments' summaries, counts, warnings and where
//! the registries are, written after the registries; and the registries' paths, in the order
//! they are written.
//!
//! Not here: a combined index's document ([`super::combined`]), the registries' rows.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::files::{
    EXPERIMENTS_INDEX_FILE, EXPERIMENT_REGISTRY_FILE, IMAGE_REGISTRY_FILE, RUN_REGISTRY_FILE,
};
use super::report::{IndexCounts, IndexReport, IndexWarnings};
use super::store::Store;
use super::summary::ExperimentSummary;
use super::IndexError;
use crate::artifacts::write_json_deferred;
use crate::clock::Timestamp;

/// Where the registries are, in both documents.
#[derive(Debug, Serialize)]
pub(super) struct Registries {
    pub experiment_registry_csv: String,
    pub image_registry_csv: String,
    pub run_registry_csv: String,
}

#[derive(Debug, Serialize)]
struct SingleIndex<'a> {
    schema_version: u32,
    kind: &'static str,
    generated_at: String,
    artifacts_root: String,
    output_dir: String,
    experiments: &'a [ExperimentSummary],
    counts: &'a IndexCounts,
    warnings: &'a IndexWarnings,
    registries: Registries,
}

/// The three registries in `output_dir`: experiment, image, run.
pub(super) fn registry_paths(output_dir: &Path) -> [PathBuf; 3] {
    [
        EXPERIMENT_REGISTRY_FILE,
        IMAGE_REGISTRY_FILE,
        RUN_REGISTRY_FILE,
    ]
    .map(|name| output_dir.join(name))
}

/// Writes `experiments_index.json` of one store, after its registries (see [`super::refresh`]).
pub(super) fn write_document(
    store: &Store,
    output_dir: &Path,
    experiments: &[ExperimentSummary],
    counts: &IndexCounts,
    warnings: &IndexWarnings,
) -> Result<IndexReport, IndexError> {
    let [experiment_csv, image_csv, run_csv] = registry_paths(output_dir);
    let json_path = output_dir.join(EXPERIMENTS_INDEX_FILE);
    let document = SingleIndex {
        schema_version: 1,
        kind: "artifacts_index",
        generated_at: Timestamp::now().iso().to_owned(),
        artifacts_root: store.show(&store.root),
        output_dir: store.show(output_dir),
        experiments,
        counts,
        warnings,
        registries: Registries {
            experiment_registry_csv: store.show(&experiment_csv),
            image_registry_csv: store.show(&image_csv),
            run_registry_csv: store.show(&run_csv),
        },
    };
    write_json_deferred(&json_path, &document)?;
    Ok(IndexReport {
        counts: counts.clone(),
        warnings: warnings.clone(),
        files_written: vec![experiment_csv, image_csv, run_csv, json_path],
    })
}
