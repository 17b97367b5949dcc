//! `image_registry.csv`: one row per titled image (generation id with a titles-manifest row),
//! oldest first; the manifest row joined with the run's plan and latest runs-index record. Its
//! columns are [`IMAGE_COLUMNS`].
//!
//! Not here: reading the manifests, plans and records ([`super::sources`], [`super::plan`]).

use super::columns::{cell, display_cell, image_id, image_label, text_cell, Column};
use super::plan::Planned;
use super::sources::{ManifestRow, RunRecord};

/// One row of `image_registry.csv`.
#[derive(Debug, Clone)]
pub(super) struct ImageRow {
    pub manifest: ManifestRow,
    seed: Option<u64>,
    planned: Option<Planned>,
    experiment_id: Option<String>,
    run_mode: Option<String>,
    status: Option<String>,
    transcript_path: Option<String>,
}

/// The columns of `image_registry.csv`, in order (a combined index puts `store, store_root`
/// first).
pub(super) static IMAGE_COLUMNS: &[Column<ImageRow>] = &[
    ("generation_id", |row| cell(&row.manifest.generation_id)),
    ("title_seq", |row| display_cell(row.manifest.title_seq)),
    ("title", |row| text_cell(row.manifest.title.as_deref())),
    ("image_id", |row| image_id(row.manifest.title_seq)),
    ("image_label", |row| {
        image_label(row.manifest.title_seq, row.manifest.title.as_deref())
    }),
    ("image_path", |row| {
        text_cell(row.manifest.image_path.as_deref())
    }),
    ("created_at", |row| {
        text_cell(row.manifest.created_at.as_deref())
    }),
    ("seed", |row| display_cell(row.seed)),
    ("model", |row| text_cell(row.manifest.model.as_deref())),
    ("size", |row| text_cell(row.manifest.size.as_deref())),
    ("quality", |row| text_cell(row.manifest.quality.as_deref())),
    ("manifest_path", |row| cell(&row.manifest.manifest_path)),
    ("experiment_id", |row| {
        text_cell(row.experiment_id.as_deref())
    }),
    ("experiment_dir", |row| {
        text_cell(row.planned().map(|planned| &*planned.experiment_dir))
    }),
    ("experiment_run_id", |row| {
        text_cell(row.planned().and_then(|planned| planned.run_id.as_deref()))
    }),
    ("variant_key", |row| {
        text_cell(row.planned().map(|planned| planned.variant_key.as_str()))
    }),
    ("planned_plan", |row| {
        text_cell(row.planned().and_then(|planned| planned.plan.as_deref()))
    }),
    ("planned_variant_name", |row| {
        text_cell(
            row.planned()
                .and_then(|planned| planned.variant_name.as_deref()),
        )
    }),
    ("run_mode", |row| text_cell(row.run_mode.as_deref())),
    ("status", |row| text_cell(row.status.as_deref())),
    ("transcript_path", |row| {
        text_cell(row.transcript_path.as_deref())
    }),
];

impl ImageRow {
    /// The row of a manifest row, with the run's plan and latest record when there are some.
    pub(super) fn of(
        manifest: &ManifestRow,
        planned: Option<&Planned>,
        record: Option<&RunRecord>,
    ) -> ImageRow {
        ImageRow {
            seed: manifest
                .seed
                .or_else(|| record.and_then(|record| record.seed))
                .or_else(|| planned.and_then(|planned| planned.seed)),
            experiment_id: planned
                .map(|planned| planned.experiment_id.to_string())
                .or_else(|| record.and_then(|record| record.experiment_id.clone())),
            run_mode: record
                .and_then(|record| record.run_mode.clone())
                .or_else(|| {
                    planned.and_then(|planned| planned.run_mode.as_deref().map(str::to_owned))
                }),
            status: record.and_then(|record| record.status.clone()),
            transcript_path: record.and_then(|record| record.transcript.clone()),
            planned: planned.cloned(),
            manifest: manifest.clone(),
        }
    }

    fn planned(&self) -> Option<&Planned> {
        self.planned.as_ref()
    }

    /// The registry's order: `created_at`, manifest, title number, generation id.
    pub(super) fn sort_key(&self) -> (&str, &str, u64, &str) {
        let row = &self.manifest;
        (
            row.created_at.as_deref().unwrap_or(""),
            &row.manifest_path,
            row.title_seq.unwrap_or(0),
            &row.generation_id,
        )
    }
}
