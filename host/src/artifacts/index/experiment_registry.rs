//! `experiment_registry.csv`: one row per planned run, in order of experiment directory, variant,
//! run and generation id; what the plan says joined with what the run's latest runs-index record
//! and titles-manifest row say (`planned` when the run has no record). Its columns are
//! [`EXPERIMENT_COLUMNS`].
//!
//! Not here: reading the plans and records ([`super::plan`], [`super::sources`]).

use super::columns::{cell, display_cell, image_id, image_label, text_cell, Column};
use super::plan::{Planned, PlannedRun};
use super::sources::Sources;

/// One row of `experiment_registry.csv`.
#[derive(Debug, Clone)]
pub(super) struct ExperimentRow {
    pub planned: Planned,
    pub generation_id: String,
    status: String,
    created_at: Option<String>,
    title_seq: Option<u64>,
    title: Option<String>,
    image_path: Option<String>,
    transcript_path: Option<String>,
    final_prompt_path: Option<String>,
    oplog_path: Option<String>,
    titles_manifest_path: Option<String>,
}

/// The columns of `experiment_registry.csv`, in order (a combined index puts `store, store_root`
/// first).
pub(super) static EXPERIMENT_COLUMNS: &[Column<ExperimentRow>] = &[
    ("experiment_id", |row| cell(&row.planned.experiment_id)),
    ("experiment_dir", |row| cell(&row.planned.experiment_dir)),
    ("run_id", |row| text_cell(row.planned.run_id.as_deref())),
    ("generation_id", |row| cell(&row.generation_id)),
    ("variant_key", |row| cell(&row.planned.variant_key)),
    ("run", |row| display_cell(row.planned.run)),
    ("seed", |row| display_cell(row.planned.seed)),
    ("run_mode", |row| text_cell(row.planned.run_mode.as_deref())),
    ("status", |row| cell(&row.status)),
    ("created_at", |row| text_cell(row.created_at.as_deref())),
    ("title_seq", |row| display_cell(row.title_seq)),
    ("title", |row| text_cell(row.title.as_deref())),
    ("image_id", |row| image_id(row.title_seq)),
    ("image_label", |row| {
        image_label(row.title_seq, row.title.as_deref())
    }),
    ("image_path", |row| text_cell(row.image_path.as_deref())),
    ("transcript_path", |row| {
        text_cell(row.transcript_path.as_deref())
    }),
    ("final_prompt_path", |row| {
        text_cell(row.final_prompt_path.as_deref())
    }),
    ("oplog_path", |row| text_cell(row.oplog_path.as_deref())),
    ("titles_manifest_path", |row| {
        text_cell(row.titles_manifest_path.as_deref())
    }),
];

impl ExperimentRow {
    /// The row of a planned run.
    pub(super) fn of(run: PlannedRun, sources: &Sources) -> ExperimentRow {
        let PlannedRun {
            generation_id,
            planned,
        } = run;
        let record = sources.runs.get(&generation_id);
        let manifest = sources.manifests.get(&generation_id);
        ExperimentRow {
            status: record
                .and_then(|record| record.status.clone())
                .unwrap_or_else(|| "planned".to_owned()),
            created_at: record
                .and_then(|record| record.created_at.clone())
                .or_else(|| manifest.and_then(|manifest| manifest.created_at.clone())),
            title_seq: manifest.and_then(|manifest| manifest.title_seq),
            title: manifest.and_then(|manifest| manifest.title.clone()),
            image_path: manifest
                .and_then(|manifest| manifest.image_path.clone())
                .or_else(|| record.and_then(|record| record.image.clone())),
            transcript_path: record.and_then(|record| record.transcript.clone()),
            final_prompt_path: record.and_then(|record| record.final_prompt.clone()),
            oplog_path: record.and_then(|record| record.oplog.clone()),
            titles_manifest_path: manifest.map(|manifest| manifest.manifest_path.clone()),
            generation_id,
            planned,
        }
    }

    /// The registry's order: experiment directory, variant, run, generation id.
    pub(super) fn sort_key(&self) -> (&str, &str, u64, &str) {
        let planned = &self.planned;
        (
            &planned.experiment_dir,
            &planned.variant_key,
            planned.run.unwrap_or(0),
            &self.generation_id,
        )
    }
}
